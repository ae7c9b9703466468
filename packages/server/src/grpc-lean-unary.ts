/**
 * A lean HTTP/2 path for the hottest unary gRPC methods (KV Range, Put,
 * DeleteRange, Txn). grpc-js builds, per call, an intercepting call object,
 * a stream decoder, a read queue, promise-based decompression, listener
 * objects and a second metadata object for the response; on CPU-bound rows
 * that set-up and response cost 15–20 % of the server's time. Here one small
 * object handles the stream: parse the 5-byte gRPC frame, decode, run the
 * very handler grpc-js would run (so every interceptor, check, metric and
 * log line is the same code), then write headers, one DATA frame and the
 * trailers.
 *
 * It mirrors grpc-js 1.14's server behaviour call for call (status codes and
 * messages, trailers-only errors, deadlines, the receive size limit, the
 * response headers). Anything unusual — another content type, a
 * grpc-encoding other than identity, an unparsable grpc-timeout — is handed
 * to grpc-js untouched, so its answer is grpc-js's by construction. Every
 * other method, and every stream, is grpc-js's as before.
 */
import { EventEmitter } from 'node:events';
import type http2 from 'node:http2';
import { TLSSocket } from 'node:tls';
import { Metadata, status } from '@grpc/grpc-js';
import type { Server as GrpcServer, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import type { registerEtcdServices } from '@kv/kvserver';
import {
  DEADLINE_REGEX,
  MessageReader,
  NOT_METADATA,
  SEND_ERROR_DETAILS,
  errorToStatus,
  timeoutMs,
} from './grpc-compat';
import type { Status } from './grpc-compat';

/** A unary method the lean path serves (from `registerEtcdServices`). */
export type UnaryRoute = ReturnType<typeof registerEtcdServices>['hotUnary'][number];

type StreamListener = (
  this: http2.Http2Server,
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  flags: number,
  rawHeaders: string[],
) => void;

type AuthContext = ReturnType<ServerUnaryCall<unknown, unknown>['getAuthContext']>;
type MetricsRecorder = ReturnType<ServerUnaryCall<unknown, unknown>['getMetricsRecorder']>;

const RESPONSE_HEADERS: Readonly<http2.OutgoingHttpHeaders> = {
  ':status': 200,
  'content-type': 'application/grpc+proto',
  'grpc-accept-encoding': 'identity,deflate,gzip',
  'grpc-encoding': 'identity',
};
const WAIT_FOR_TRAILERS = { waitForTrailers: true } as const;
const END_STREAM = { endStream: true } as const;
const OK_TRAILERS: Readonly<http2.OutgoingHttpHeaders> = { 'grpc-status': 0, 'grpc-message': 'OK' };
function noop(): void {}

/**
 * Whether grpc-js would treat the call exactly as the lean path does: a gRPC
 * content type, identity (or no) message encoding, and no or a well-formed
 * timeout. Everything else goes to grpc-js.
 */
function leanEligible(headers: http2.IncomingHttpHeaders): boolean {
  const contentType = headers['content-type'];
  if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) return false;
  const encoding = headers['grpc-encoding'];
  if (encoding !== undefined && encoding !== 'identity') return false;
  const timeout = headers['grpc-timeout'];
  if (timeout !== undefined && (typeof timeout !== 'string' || !DEADLINE_REGEX.test(timeout))) {
    return false;
  }
  return true;
}

/** One unary call on the lean path; also the call object its handler sees. */
class LeanUnaryCall extends EventEmitter implements ServerUnaryCall<unknown, unknown> {
  cancelled = false;
  request: unknown = undefined;
  readonly metadata: Metadata;
  readonly #route: UnaryRoute;
  readonly #stream: http2.ServerHttp2Stream;
  readonly #headers: http2.IncomingHttpHeaders;
  readonly #maxSend: number;
  #deadline = Infinity;
  #timer: NodeJS.Timeout | undefined;
  #headersSent = false;
  /** A status has been sent or the stream has gone: nothing more is written. */
  #done = false;
  // Request framing: chunks of the message being read, and how far it got.
  readonly #reader: MessageReader;
  #message: Buffer | undefined;

  constructor(
    route: UnaryRoute,
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    maxReceive: number,
    maxSend: number,
  ) {
    super();
    this.#route = route;
    this.#stream = stream;
    this.#headers = headers;
    this.#reader = new MessageReader(maxReceive);
    this.#maxSend = maxSend;
    // As grpc-js: every error is followed by 'close', which is what counts.
    // (Each of these events fires once: plain listeners spare once's wrapper.)
    stream.on('error', noop);
    stream.on('close', () => this.#finish());
    // grpc-js builds metadata from every header and then removes these;
    // leaving them out first gives the same metadata for less work.
    const wanted: http2.IncomingHttpHeaders = {};
    for (const key of Object.keys(headers)) {
      if (key.charCodeAt(0) !== 58 /* ':' */ && !NOT_METADATA.has(key)) wanted[key] = headers[key];
    }
    this.metadata = Metadata.fromHttp2Headers(wanted);
    const timeout = headers['grpc-timeout'];
    if (typeof timeout === 'string') this.#startDeadline(timeout);
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('end', () => this.#onEnd());
  }

  #startDeadline(header: string): void {
    const ms = timeoutMs(header);
    // leanEligible sent malformed timeouts to grpc-js.
    if (ms === undefined) return;
    this.#deadline = Date.now() + ms;
    this.#timer = setTimeout(() => {
      this.#sendStatus({ code: status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
    }, ms);
  }

  #onData(chunk: Buffer): void {
    if (this.#done) return;
    // The compressed flag is ignored under the identity encoding, as grpc-js
    // does (leanEligible sends other encodings to grpc-js).
    const tooLarge = this.#reader.push(chunk, (message) => {
      if (this.#message !== undefined) {
        this.#sendStatus({
          code: status.UNIMPLEMENTED,
          details: `Received a second request message for server streaming method ${this.#route.path}`,
        });
        return false;
      }
      this.#message = message;
      return true;
    });
    if (tooLarge !== undefined) this.#sendStatus(tooLarge);
  }

  #onEnd(): void {
    if (this.#done) return;
    if (this.#message === undefined) {
      this.#sendStatus({
        code: status.UNIMPLEMENTED,
        details: `Received no request message for server streaming method ${this.#route.path}`,
      });
      return;
    }
    try {
      this.request = this.#route.deserialize(this.#message);
    } catch (err) {
      this.#sendStatus({
        code: status.INTERNAL,
        details: SEND_ERROR_DETAILS
          ? `Error deserializing request: ${(err as Error).message}`
          : 'Error deserializing request',
      });
      return;
    }
    this.#message = undefined;
    try {
      this.#route.handler(this, this.#respond);
    } catch (err) {
      this.#sendStatus({
        code: status.UNKNOWN,
        details: SEND_ERROR_DETAILS
          ? `Server method handler threw error ${(err as Error).message}`
          : 'Unknown error',
      });
    }
  }

  readonly #respond: sendUnaryData<unknown> = (err, value, trailer) => {
    if (err) {
      this.#sendStatus(errorToStatus(err, trailer));
      return;
    }
    if (this.#isGone()) return;
    let body: Buffer;
    try {
      body = this.#route.serialize(value);
    } catch (e) {
      this.#sendStatus({
        code: status.INTERNAL,
        details: SEND_ERROR_DETAILS
          ? `Error serializing response: ${(e as Error).message}`
          : 'Error serializing response',
      });
      return;
    }
    if (this.#maxSend !== -1 && body.length > this.#maxSend) {
      this.#sendStatus({
        code: status.RESOURCE_EXHAUSTED,
        details: `Sent message larger than max (${body.length + 5} vs. ${this.#maxSend})`,
      });
      return;
    }
    const frame = Buffer.allocUnsafe(body.length + 5);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    const stream = this.#stream;
    if (!this.#headersSent) {
      this.#headersSent = true;
      stream.respond(RESPONSE_HEADERS, WAIT_FOR_TRAILERS);
    }
    this.#done = true;
    this.#clearDeadline();
    stream.once('wantTrailers', () => {
      stream.sendTrailers(
        trailer === undefined ? OK_TRAILERS : { ...OK_TRAILERS, ...trailer.toHttp2Headers() },
      );
    });
    // Headers, one DATA frame and the trailers: END_STREAM travels on the
    // trailers (waitForTrailers), as with grpc-js.
    stream.end(frame);
  };

  /** grpc-js's sendStatus: trailers only, or trailers after sent headers. */
  #sendStatus(s: Status): void {
    if (this.#isGone()) return;
    this.#done = true;
    this.#clearDeadline();
    const stream = this.#stream;
    const custom = s.metadata ? s.metadata.toHttp2Headers() : undefined;
    const code = { 'grpc-status': s.code, 'grpc-message': encodeURI(s.details) };
    if (this.#headersSent) {
      stream.once('wantTrailers', () => stream.sendTrailers({ ...code, ...custom }));
      stream.end();
    } else {
      this.#headersSent = true;
      stream.respond({ ...code, ...RESPONSE_HEADERS_TRAILERS_ONLY, ...custom }, END_STREAM);
    }
    // Drain whatever the client still sends, as grpc-js does.
    stream.resume();
  }

  /** The stream has ended or been reset: grpc-js's checkCancelled. */
  #isGone(): boolean {
    if (this.#done) return true;
    if (this.#stream.destroyed || this.#stream.closed) {
      this.#finish();
      return true;
    }
    return false;
  }

  #finish(): void {
    this.#clearDeadline();
    if (this.cancelled) return;
    this.#done = true;
    this.cancelled = true;
    // grpc-js tells a unary call it is over (its 'cancelled' event) whenever
    // the stream closes, answered or not.
    if (this.listenerCount('cancelled') > 0) {
      process.nextTick(() => this.emit('cancelled', 'cancelled'));
    }
  }

  #clearDeadline(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  getPeer(): string {
    const socket = this.#stream.session?.socket;
    if (socket?.remoteAddress) {
      return socket.remotePort
        ? `${socket.remoteAddress}:${socket.remotePort}`
        : socket.remoteAddress;
    }
    return 'unknown';
  }

  sendMetadata(responseMetadata: Metadata): void {
    if (this.#headersSent || this.#isGone()) return;
    this.#headersSent = true;
    this.#stream.respond(
      { ...RESPONSE_HEADERS, ...responseMetadata.toHttp2Headers() },
      WAIT_FOR_TRAILERS,
    );
  }

  getDeadline(): number {
    return this.#deadline;
  }

  getPath(): string {
    return this.#route.path;
  }

  getHost(): string {
    return (this.#headers[':authority'] ?? this.#headers.host) as string;
  }

  getAuthContext(): AuthContext {
    const socket = this.#stream.session?.socket;
    if (!(socket instanceof TLSSocket) || !socket.authorized) return {};
    const cert = socket.getPeerCertificate();
    return {
      transportSecurityType: 'ssl',
      sslPeerCertificate: cert.raw ? cert : undefined,
    } as AuthContext;
  }

  getMetricsRecorder(): MetricsRecorder {
    // ORCA per-call metrics: not enabled on this server (grpc-js only sends
    // them with grpc.server_call_metric_recording).
    throw new Error('per-request metric recording is not available on this server');
  }
}

/** Trailers-only responses carry the response headers too. */
const RESPONSE_HEADERS_TRAILERS_ONLY: Readonly<http2.OutgoingHttpHeaders> = {
  ':status': 200,
  'content-type': 'application/grpc+proto',
};

export interface LeanUnaryOptions {
  readonly routes: readonly UnaryRoute[];
  /** grpc.max_receive_message_length of the grpc-js server (-1: none). */
  readonly maxReceiveMessageLength: number;
  /** grpc.max_send_message_length of the grpc-js server (-1: none). */
  readonly maxSendMessageLength: number;
}

/**
 * Puts the lean path in front of the HTTP/2 server behind a grpc-js
 * connection injector just created on `grpc`: streams for the routes' paths
 * are served here, every other stream goes to grpc-js's own listener.
 * grpc-js exposes no hook for this, so it reaches into the server's private
 * table of HTTP/2 servers; if that is not as expected (another grpc-js
 * version), nothing changes and it returns false.
 */
export function installLeanUnary(grpc: GrpcServer, options: LeanUnaryOptions): boolean {
  const servers = (grpc as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return false;
  let h2: unknown;
  for (const key of servers.keys()) h2 = key;
  if (!(h2 instanceof EventEmitter)) return false;
  const listeners = h2.listeners('stream');
  if (listeners.length !== 1) return false;
  const grpcListener = listeners[0] as StreamListener;
  const routes = new Map<string, UnaryRoute>();
  for (const r of options.routes) routes.set(r.path, r);
  const { maxReceiveMessageLength: maxReceive, maxSendMessageLength: maxSend } = options;
  const lean: StreamListener = function (stream, headers, flags, rawHeaders) {
    const path = headers[':path'];
    const route = path === undefined ? undefined : routes.get(path);
    if (route === undefined || !leanEligible(headers)) {
      grpcListener.call(this, stream, headers, flags, rawHeaders);
      return;
    }
    new LeanUnaryCall(route, stream, headers, maxReceive, maxSend);
  };
  h2.removeListener('stream', grpcListener);
  h2.on('stream', lean);
  return true;
}
