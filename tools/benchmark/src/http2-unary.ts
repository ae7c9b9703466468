// A minimal gRPC unary caller on node:http2, for the generator's hot path:
// the generated encoders produce the request bytes, the response body is
// not decoded, and the outcome is the grpc-status trailer. grpc-js does the
// same work through several layers (resolver, load balancer, filters,
// interceptors) that cost a multiple of the server's own time per call.

import { connect, constants } from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import { etcdserverpb } from '@kv/api';

/** Something that can be cancelled while in flight. */
export interface Cancellable {
  cancel(): void;
}

/** The three KV calls the load loop makes; callbacks get only the error. */
export interface UnaryKV {
  put(req: etcdserverpb.PutRequest, cb: (err: unknown) => void): Cancellable | undefined;
  range(req: etcdserverpb.RangeRequest, cb: (err: unknown) => void): Cancellable | undefined;
  txn(req: etcdserverpb.TxnRequest, cb: (err: unknown) => void): Cancellable | undefined;
  close(): void;
}

/** The error shape grpc-js uses, so errorCode() names both alike. */
export interface StatusError {
  code: number;
  details: string;
}

const UNAVAILABLE = 14;
const INTERNAL = 13;

function statusOf(h: IncomingHttpHeaders): StatusError | null | undefined {
  const s = h['grpc-status'];
  if (s === undefined) return undefined;
  const code = Number(s);
  if (code === 0) return null;
  const msg = h['grpc-message'];
  return { code, details: typeof msg === 'string' ? decodeURIComponent(msg) : '' };
}

/** Prepends gRPC's 5-byte message header (uncompressed, big-endian length). */
function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

export class Http2UnaryKV implements UnaryKV {
  private session: ClientHttp2Session | undefined;

  constructor(private readonly endpoint: string) {}

  /** Resolves once the HTTP/2 session is established. */
  ready(): Promise<void> {
    const s = this.current();
    if (!s.connecting) return Promise.resolve();
    return new Promise((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
  }

  private current(): ClientHttp2Session {
    const s = this.session;
    if (s !== undefined && !s.closed && !s.destroyed) return s;
    const fresh = connect(`http://${this.endpoint}`);
    // Failed sessions surface through each stream's error; a new session is
    // made on the next call.
    fresh.on('error', () => undefined);
    this.session = fresh;
    return fresh;
  }

  private call(path: string, body: Buffer, cb: (err: unknown) => void): Cancellable {
    const stream = this.current().request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let status: StatusError | null | undefined;
    let finished = false;
    const finish = (err: unknown): void => {
      if (finished) return;
      finished = true;
      cb(err);
    };
    // A trailers-only response (errors) carries the status in the headers.
    const take = (h: IncomingHttpHeaders): void => {
      const s = statusOf(h);
      if (s !== undefined) status = s;
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', () => undefined);
    stream.on('end', () =>
      finish(status === undefined ? { code: INTERNAL, details: 'no grpc-status' } : status),
    );
    stream.on('error', (e: Error) => finish({ code: UNAVAILABLE, details: e.message }));
    stream.end(body);
    return {
      cancel: () => {
        stream.close(constants.NGHTTP2_CANCEL);
        finish({ code: 1, details: 'cancelled' });
      },
    };
  }

  put(req: etcdserverpb.PutRequest, cb: (err: unknown) => void): Cancellable {
    return this.call(
      '/etcdserverpb.KV/Put',
      frame(etcdserverpb.PutRequest.encode(req).finish()),
      cb,
    );
  }

  range(req: etcdserverpb.RangeRequest, cb: (err: unknown) => void): Cancellable {
    return this.call(
      '/etcdserverpb.KV/Range',
      frame(etcdserverpb.RangeRequest.encode(req).finish()),
      cb,
    );
  }

  txn(req: etcdserverpb.TxnRequest, cb: (err: unknown) => void): Cancellable {
    return this.call(
      '/etcdserverpb.KV/Txn',
      frame(etcdserverpb.TxnRequest.encode(req).finish()),
      cb,
    );
  }

  close(): void {
    this.session?.close();
  }
}
