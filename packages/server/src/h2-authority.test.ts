import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AuthorityRepairFilter,
  AuthorityRepairStream,
  huffmanDecode,
  isValidAuthority,
  repairAuthority,
} from './h2-authority';

interface Seen {
  authority: string | undefined;
  headers: http2.IncomingHttpHeaders;
}

/** An HTTP/2 server on 127.0.0.1 whose connections go through the filter (or not). */
async function startServer(filtered: boolean): Promise<{
  port: number;
  seen: Seen[];
  clientBytes: Buffer[];
  close(): Promise<void>;
}> {
  const seen: Seen[] = [];
  const clientBytes: Buffer[] = [];
  const h2 = http2.createServer({ settings: { maxHeaderListSize: 1 << 20 } });
  h2.on('stream', (stream, headers) => {
    seen.push({ authority: headers[':authority'], headers });
    stream.respond({ ':status': 200 });
    stream.end(String(headers[':authority']));
  });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (d: Buffer) => clientBytes.push(Buffer.from(d)));
    h2.emit('connection', filtered ? new AuthorityRepairStream(socket) : socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : 0,
    seen,
    clientBytes,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Sends one request; resolves with the status or the RST_STREAM code. */
function request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
): Promise<{ status: number | undefined; rst: number | undefined; body: string }> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': '/p', ...headers });
    let status: number | undefined;
    let body = '';
    req.setEncoding('utf8');
    req.on('response', (h) => {
      status = h[':status'];
    });
    req.on('data', (d: string) => {
      body += d;
    });
    req.on('error', () => undefined);
    req.on('close', () =>
      resolve({ status, rst: status === undefined ? req.rstCode : undefined, body }),
    );
    req.end('x');
  });
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function connect(
  port: number,
  options: http2.ClientSessionOptions = {},
): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`, options);
  cleanups.push(() => {
    session.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

describe('authority validation', () => {
  it('agrees with nghttp2 on every printable ASCII character', async () => {
    const srv = await startServer(false);
    cleanups.push(() => srv.close());
    const session = await connect(srv.port);
    const mismatches: string[] = [];
    for (let c = 0x21; c < 0x7f; c++) {
      const value = `a${String.fromCharCode(c)}b`;
      const r = await request(session, { ':authority': value });
      const accepted = r.status === 200;
      if (accepted !== isValidAuthority(Buffer.from(value, 'latin1'))) mismatches.push(value);
      // nghttp2 resets only the stream; the session goes on.
      if (!accepted) expect(r.rst).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    }
    expect(mismatches).toEqual([]);
  });

  it('repairs to the URL authority, never longer than the original', () => {
    const cases: [string, string][] = [
      ['http://127.0.0.1:2379', '127.0.0.1:2379'],
      ['https://[::1]:2379/', '[::1]:2379'],
      ['unix://localhost:2379', 'localhost:2379'],
      ['unix:///tmp/etcd.sock', 'localhost'],
      ['/a.sock', '_a.sock'],
    ];
    for (const [bad, good] of cases) {
      const fixed = repairAuthority(Buffer.from(bad));
      expect(fixed.toString()).toBe(good);
      expect(isValidAuthority(fixed)).toBe(true);
      expect(fixed.length).toBeLessThanOrEqual(bad.length);
    }
  });

  it('decodes Huffman strings (RFC 7541 C.4.1)', () => {
    expect(huffmanDecode(Buffer.from('f1e3c2e5f23a6ba0ab90f4ff', 'hex')).toString()).toBe(
      'www.example.com',
    );
    expect(() => huffmanDecode(Buffer.from('f1e3c2e5f23a6ba0ab90f400', 'hex'))).toThrow();
  });
});

describe('AuthorityRepairStream', () => {
  it('serves requests whose :authority nghttp2 rejects, keeping every other header', async () => {
    const srv = await startServer(true);
    cleanups.push(() => srv.close());
    for (const padding of [
      http2.constants.PADDING_STRATEGY_NONE,
      http2.constants.PADDING_STRATEGY_MAX,
    ]) {
      srv.seen.length = 0;
      const session = await connect(srv.port, {
        paddingStrategy: padding,
        settings: { headerTableSize: 4096 },
      });
      const authorities = [
        'http://127.0.0.1:2379',
        '127.0.0.1:2379',
        'unix:///run/etcd.sock',
        '/a.sock',
      ];
      const want: { authority: string; extra: string }[] = [];
      const results = [];
      // Varying custom headers fill and evict the dynamic table; a few
      // blocks exceed 16 KiB and arrive as HEADERS + CONTINUATION frames.
      for (let i = 0; i < 200; i++) {
        const authority = authorities[i % authorities.length]!;
        const extra = `${i}:` + `v${i}-`.repeat(i % 37 === 0 ? 3000 : (i * 7) % 90);
        want.push({ authority, extra });
        results.push(
          request(session, { ':authority': authority, 'x-extra': extra, 'x-same': 'constant' }),
        );
      }
      const got = await Promise.all(results);
      expect(got.filter((r) => r.status !== 200)).toEqual([]);
      const byExtra = new Map(srv.seen.map((s) => [s.headers['x-extra'], s]));
      for (const w of want) {
        const s = byExtra.get(w.extra);
        expect(s?.authority).toBe(repairOrKeep(w.authority));
        expect(s?.headers['x-same']).toBe('constant');
      }
      session.destroy();
    }
  });

  it('gives the same bytes however the client stream is cut into chunks', async () => {
    const srv = await startServer(true);
    cleanups.push(() => srv.close());
    const session = await connect(srv.port, {
      paddingStrategy: http2.constants.PADDING_STRATEGY_MAX,
    });
    for (let i = 0; i < 40; i++) {
      const r = await request(session, {
        ':authority': i % 2 === 0 ? 'http://127.0.0.1:2379' : 'localhost:1',
        'x-extra': 'y'.repeat(i % 5 === 0 ? 20_000 : i),
      });
      expect(r.status).toBe(200);
    }
    const input = Buffer.concat(srv.clientBytes);
    const whole = Buffer.concat(new AuthorityRepairFilter().transform(input));
    expect(whole.equals(input)).toBe(false);
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (const maxChunk of [1, 3, 10, 100, 5000]) {
      const f = new AuthorityRepairFilter();
      const out: Buffer[] = [];
      for (let at = 0; at < input.length;) {
        const n = 1 + rand(maxChunk);
        out.push(...f.transform(input.subarray(at, at + n)));
        at += n;
      }
      expect(Buffer.concat(out).equals(whole)).toBe(true);
    }
  });

  it('leaves a connection whose first request needs no repair byte for byte alone', async () => {
    const srv = await startServer(true);
    cleanups.push(() => srv.close());
    const session = await connect(srv.port);
    for (const authority of ['127.0.0.1:2379', '127.0.0.1:2379', 'x']) {
      expect((await request(session, { ':authority': authority })).status).toBe(200);
    }
    const input = Buffer.concat(srv.clientBytes);
    const f = new AuthorityRepairFilter();
    expect(Buffer.concat(f.transform(input)).equals(input)).toBe(true);
    expect(f.repaired).toBe(0);
  });

  it('passes a malformed header block through for nghttp2 to reject', () => {
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    // HEADERS on stream 1 whose block references dynamic index 70 (empty table).
    const frame = Buffer.from([0, 0, 1, 1, 5, 0, 0, 0, 1, 0x80 | 70]);
    const input = Buffer.concat([preface, frame]);
    const f = new AuthorityRepairFilter();
    expect(Buffer.concat(f.transform(input)).equals(input)).toBe(true);
    expect(f.transform(Buffer.from('abc')).toString()).toBe('abc');
  });
});

function repairOrKeep(value: string): string {
  const b = Buffer.from(value);
  return isValidAuthority(b) ? value : repairAuthority(b).toString();
}
