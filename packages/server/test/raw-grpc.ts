// One gRPC call made with raw node:http2, for tests that compare two
// servers' answers byte for byte: headers, trailers, body and reset code.
import http2 from 'node:http2';

export interface RawAnswer {
  headers: Record<string, unknown>;
  trailers: Record<string, unknown>;
  /** The response body, hex. */
  body: string;
  rst: number;
}

/** A gRPC message frame: compressed flag, big-endian length, payload. */
export function grpcFrame(payload: Buffer, compressed = false): Buffer {
  const f = Buffer.alloc(5 + payload.length);
  f[0] = compressed ? 1 : 0;
  f.writeUInt32BE(payload.length, 1);
  payload.copy(f, 5);
  return f;
}

function withoutDate(h: http2.IncomingHttpHeaders): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) if (k !== 'date') out[k] = v;
  return out;
}

/**
 * One request on a new connection; the body is written in the given pieces
 * (separate writes, so that the server sees separate DATA frames).
 */
export function rawGrpcCall(
  port: number,
  path: string,
  headers: http2.OutgoingHttpHeaders,
  pieces: readonly Buffer[],
  settings: http2.Settings = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`, { settings });
    session.on('error', reject);
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    const answer: RawAnswer = { headers: {}, trailers: {}, body: '', rst: 0 };
    const body: Buffer[] = [];
    req.on('response', (h) => (answer.headers = withoutDate(h)));
    req.on('trailers', (h: http2.IncomingHttpHeaders) => (answer.trailers = withoutDate(h)));
    req.on('data', (d: Buffer) => body.push(d));
    req.on('error', () => undefined);
    req.on('close', () => {
      answer.body = Buffer.concat(body).toString('hex');
      answer.rst = req.rstCode ?? 0;
      session.close();
      resolve(answer);
    });
    if (pieces.length === 0) {
      req.end();
      return;
    }
    const write = (i: number): void => {
      if (i === pieces.length - 1) req.end(pieces[i]);
      else req.write(pieces[i], () => setImmediate(() => write(i + 1)));
    };
    write(0);
  });
}
