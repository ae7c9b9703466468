/**
 * gRPC over the client port's own HTTP/2 connections (connection.ts): the
 * services registered by `@kv/kvserver` run here unchanged. Each call gets
 * an object that behaves as grpc-js 1.14's server call does for the parts
 * our handlers use (unary: `ServerUnaryCall` and its callback; server
 * streaming: a Writable; bidirectional: a Duplex), and the answers are
 * grpc-js's: the same status codes and messages, trailers-only errors,
 * deadlines, size limits, `cancelled` after every call, response headers.
 * Unary calls, the hot path, avoid Node streams altogether; streaming calls
 * use real object-mode streams so that backpressure (`write` returning
 * false, 'drain') and the end of a call work as handlers expect.
 */
import { EventEmitter } from 'node:events';
import { Duplex, Writable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import zlib from 'node:zlib';
import { Metadata, status } from '@grpc/grpc-js';
import type {
  MethodDefinition,
  ServerUnaryCall,
  ServiceDefinition,
  UntypedServiceImplementation,
  handleUnaryCall,
  sendUnaryData,
} from '@grpc/grpc-js';
import { H2Connection } from './connection';
import type { H2Stream } from './connection';
import type { HeaderFields, HeaderMap } from './hpack';
import {
  MessageReader,
  NOT_METADATA,
  SEND_ERROR_DETAILS,
  errorToStatus,
  timeoutMs,
} from '../grpc-compat';
import type { Status } from '../grpc-compat';

type AuthContext = ReturnType<ServerUnaryCall<unknown, unknown>['getAuthContext']>;
type MetricsRecorder = ReturnType<ServerUnaryCall<unknown, unknown>['getMetricsRecorder']>;

type MethodKind = 'unary' | 'serverStream' | 'bidi';

interface Method {
  readonly path: string;
  readonly kind: MethodKind;
  readonly deserialize: (bytes: Buffer) => unknown;
  readonly serialize: (value: unknown) => Buffer;
  readonly handler: (...args: never[]) => void;
}

/**
 * A framed message: one buffer (prefix and body), or for large bodies the
 * 5-byte prefix and the body apart, so the body is never copied just to sit
 * behind its prefix (a range of 1,000 keys is ~300 KB).
 */
type Framed = Buffer | readonly [prefix: Buffer, body: Buffer];
/** Bodies up to this size are copied behind their prefix: one buffer, one DATA frame. */
const COPY_BODY_LIMIT = 16 * 1024;

const RESPONSE_HEADERS: HeaderFields = [
  [':status', '200'],
  ['content-type', 'application/grpc+proto'],
  ['grpc-accept-encoding', 'identity,deflate,gzip'],
  ['grpc-encoding', 'identity'],
];
const OK_TRAILERS: HeaderFields = [
  ['grpc-status', '0'],
  ['grpc-message', 'OK'],
];
const UNSUPPORTED_MEDIA_TYPE: HeaderFields = [[':status', '415']];

/**
 * The response fields every call repeats go into the client's HPACK table
 * once and are one-byte indexes from then on (less to parse for clients);
 * error messages and metadata stay literals.
 */
const INDEXED_NAMES = new Set([
  'content-type',
  'grpc-accept-encoding',
  'grpc-encoding',
  'grpc-status',
]);
function indexable(name: string, value: string): boolean {
  return INDEXED_NAMES.has(name) || (name === 'grpc-message' && value === 'OK');
}
/** HTTP/2 header fields of metadata (grpc-js's toHttp2Headers, flattened). */
function metadataFields(md: Metadata | null | undefined, into: [string, string][]): void {
  if (md === null || md === undefined) return;
  const headers = md.toHttp2Headers();
  for (const name of Object.keys(headers)) {
    const v = headers[name];
    if (Array.isArray(v)) for (const x of v) into.push([name, String(x)]);
    else if (v !== undefined) into.push([name, String(v)]);
  }
}

function statusFields(s: Status, trailersOnly: boolean): HeaderFields {
  const custom = s.metadata ?? undefined;
  if (!trailersOnly && s.code === 0 && s.details === 'OK' && custom === undefined) {
    return OK_TRAILERS;
  }
  // Pseudo-headers come first in a block (grpc-js lists them last; Node reorders).
  const fields: [string, string][] = trailersOnly
    ? [
        [':status', '200'],
        ['content-type', 'application/grpc+proto'],
      ]
    : [];
  fields.push(['grpc-status', String(s.code)], ['grpc-message', encodeURI(s.details)]);
  metadataFields(custom, fields);
  return fields;
}

function headerString(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** The metadata grpc-js hands a handler: every header but pseudo and transport ones. */
function requestMetadata(headers: HeaderMap): Metadata {
  const wanted: Record<string, string | string[]> = {};
  for (const key of Object.keys(headers)) {
    if (key.charCodeAt(0) !== 58 /* ':' */ && !NOT_METADATA.has(key)) wanted[key] = headers[key]!;
  }
  return Metadata.fromHttp2Headers(wanted);
}

function peerOf(stream: H2Stream): string {
  const socket = stream.peer as { remoteAddress?: string; remotePort?: number };
  if (socket.remoteAddress) {
    return socket.remotePort
      ? `${socket.remoteAddress}:${socket.remotePort}`
      : socket.remoteAddress;
  }
  return 'unknown';
}

function authContextOf(stream: H2Stream): AuthContext {
  const socket = stream.peer;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return {};
  const cert = socket.getPeerCertificate();
  return {
    transportSecurityType: 'ssl',
    sslPeerCertificate: cert.raw ? cert : undefined,
  } as AuthContext;
}

/**
 * The state every call shares: the request's framing (5-byte gRPC prefix,
 * size limit, decompression), the deadline, and sending headers, messages
 * and the status on the HTTP/2 stream.
 */
abstract class CallCore extends EventEmitter {
  cancelled = false;
  readonly metadata: Metadata;
  /** Set by streaming calls: the transport can take more after write() said no. */
  onDrain: (() => void) | undefined;
  #deadline = Infinity;
  #timer: NodeJS.Timeout | undefined;
  #headersSent = false;
  /** A status has been sent, or the stream is gone: nothing more is written. */
  #done = false;
  #encoding: string;
  readonly #reader: MessageReader;
  /** Refused at the start (a malformed timeout): nothing the client sends counts. */
  #rejected = false;

  constructor(
    readonly method: Method,
    readonly stream: H2Stream,
    readonly maxReceive: number,
    readonly maxSend: number,
  ) {
    super();
    this.#reader = new MessageReader(maxReceive);
    this.metadata = requestMetadata(stream.headers);
    this.#encoding = headerString(stream.headers, 'grpc-encoding') ?? 'identity';
    stream.onData = (chunk) => {
      if (!this.#rejected) this.#onData(chunk);
    };
    stream.onEnd = () => {
      if (!this.#done && !this.#rejected) this.onHalfClose();
    };
    stream.onAbort = () => this.#gone();
    stream.onDrain = () => this.onDrain?.();
    const timeout = headerString(stream.headers, 'grpc-timeout');
    if (timeout !== undefined) this.#startDeadline(timeout);
  }

  /** A complete request message. */
  protected abstract onMessage(message: unknown): void;
  /** The client has sent everything. */
  protected abstract onHalfClose(): void;
  /** The call is over (answered, reset, or lost): grpc-js's onCancel. */
  protected abstract onCancel(): void;

  get done(): boolean {
    return this.#done;
  }

  #startDeadline(header: string): void {
    const ms = timeoutMs(header);
    if (ms === undefined) {
      const s = { code: status.INTERNAL, details: `Invalid grpc-timeout value "${header}"` };
      // As grpc-js: the handler never runs; the status goes once the
      // constructor has finished.
      this.#rejected = true;
      process.nextTick(() => this.sendStatus(s));
      return;
    }
    this.#deadline = Date.now() + ms;
    this.#timer = setTimeout(() => {
      this.sendStatus({ code: status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
    }, ms);
  }

  #onData(chunk: Buffer): void {
    if (this.#done) return;
    const tooLarge = this.#reader.push(chunk, (message, compressed) => {
      this.#deliver(message, compressed);
      return !this.#done;
    });
    if (tooLarge !== undefined) this.sendStatus(tooLarge);
  }

  #deliver(raw: Buffer, compressed: boolean): void {
    let bytes = raw;
    if (compressed && this.#encoding !== 'identity') {
      const encoding = this.#encoding;
      if (encoding !== 'gzip' && encoding !== 'deflate') {
        this.sendStatus({
          code: status.UNIMPLEMENTED,
          details: `Received message compressed with unsupported encoding "${encoding}"`,
        });
        return;
      }
      const options = this.maxReceive === -1 ? {} : { maxOutputLength: this.maxReceive };
      try {
        bytes =
          encoding === 'gzip' ? zlib.gunzipSync(raw, options) : zlib.inflateSync(raw, options);
      } catch (err) {
        const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
        this.sendStatus(
          tooLarge
            ? {
                code: status.RESOURCE_EXHAUSTED,
                details: `Received message that decompresses to a size larger than ${this.maxReceive}`,
              }
            : { code: status.INTERNAL, details: 'Failed to decompress message' },
        );
        return;
      }
    }
    let message: unknown;
    try {
      message = this.method.deserialize(bytes);
    } catch (err) {
      this.sendStatus({
        code: status.INTERNAL,
        details: SEND_ERROR_DETAILS
          ? `Error deserializing request: ${(err as Error).message}`
          : 'Error deserializing request',
      });
      return;
    }
    this.onMessage(message);
  }

  /** Handler threw: grpc-js answers UNKNOWN. */
  protected handlerThrew(err: unknown): void {
    this.sendStatus({
      code: status.UNKNOWN,
      details: SEND_ERROR_DETAILS
        ? `Server method handler threw error ${(err as Error).message}`
        : 'Unknown error',
    });
  }

  sendMetadata(md?: Metadata): void {
    if (this.#headersSent || this.#isGone()) return;
    this.#headersSent = true;
    const fields = [...RESPONSE_HEADERS] as [string, string][];
    metadataFields(md, fields);
    this.stream.respond(
      fields.length === RESPONSE_HEADERS.length ? RESPONSE_HEADERS : fields,
      false,
    );
  }

  /** Serialises and frames one response; undefined after sending an error status. */
  frame(value: unknown): Framed | undefined {
    let body: Buffer;
    try {
      body = this.method.serialize(value);
    } catch (e) {
      this.sendStatus({
        code: status.INTERNAL,
        details: SEND_ERROR_DETAILS
          ? `Error serializing response: ${(e as Error).message}`
          : 'Error serializing response',
      });
      return undefined;
    }
    if (this.maxSend !== -1 && body.length > this.maxSend) {
      this.sendStatus({
        code: status.RESOURCE_EXHAUSTED,
        details: `Sent message larger than max (${body.length + 5} vs. ${this.maxSend})`,
      });
      return undefined;
    }
    const large = body.length > COPY_BODY_LIMIT;
    const out = Buffer.allocUnsafe(large ? 5 : body.length + 5);
    out[0] = 0;
    out.writeUInt32BE(body.length, 1);
    if (large) return [out, body];
    body.copy(out, 5);
    return out;
  }

  /** Writes already framed messages; false when the caller should wait for onDrain. */
  writeFramed(bytes: Framed): boolean {
    if (this.#isGone()) return true;
    if (!this.#headersSent) this.sendMetadata();
    if (Buffer.isBuffer(bytes)) return this.stream.write(bytes);
    this.stream.write(bytes[0]);
    return this.stream.write(bytes[1]);
  }

  /** One response message and the OK status, as one write (unary calls). */
  respondUnary(framed: Framed, trailer: Metadata | undefined): void {
    if (this.#isGone()) return;
    this.#done = true;
    this.#clearDeadline();
    const trailers =
      trailer === undefined
        ? OK_TRAILERS
        : statusFields({ code: status.OK, details: 'OK', metadata: trailer }, false);
    if (!Buffer.isBuffer(framed)) {
      if (!this.#headersSent) {
        this.#headersSent = true;
        this.stream.respond(RESPONSE_HEADERS, false);
      }
      this.stream.write(framed[0]);
      this.stream.write(framed[1]);
      this.stream.end(trailers);
    } else if (this.#headersSent) {
      this.stream.write(framed);
      this.stream.end(trailers);
    } else {
      this.#headersSent = true;
      this.stream.respondUnary(RESPONSE_HEADERS, framed, trailers);
    }
    this.#notifyCancel();
  }

  /** grpc-js's sendStatus: trailers only, or trailers after sent headers. */
  sendStatus(s: Status): void {
    if (this.#isGone()) return;
    this.#done = true;
    this.#clearDeadline();
    if (this.#headersSent) this.stream.end(statusFields(s, false));
    else {
      this.#headersSent = true;
      this.stream.respond(statusFields(s, true), true);
    }
    this.#notifyCancel();
  }

  #isGone(): boolean {
    if (this.#done) return true;
    if (this.stream.closed) {
      this.#gone();
      return true;
    }
    return false;
  }

  /** Reset by the client or lost with the connection. */
  #gone(): void {
    this.#done = true;
    this.#clearDeadline();
    this.#notifyCancel();
  }

  #notifyCancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    process.nextTick(() => this.onCancel());
  }

  #clearDeadline(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  getDeadline(): number {
    return this.#deadline;
  }

  getPeer(): string {
    return peerOf(this.stream);
  }

  getPath(): string {
    return this.method.path;
  }

  getHost(): string {
    return (
      headerString(this.stream.headers, ':authority') ??
      headerString(this.stream.headers, 'host') ??
      ''
    );
  }

  getAuthContext(): AuthContext {
    return authContextOf(this.stream);
  }

  getMetricsRecorder(): MetricsRecorder {
    // ORCA per-call metrics: not enabled on this server (grpc-js only sends
    // them with grpc.server_call_metric_recording).
    throw new Error('per-request metric recording is not available on this server');
  }
}

/** A unary call: also the call object its handler sees. */
class UnaryCall extends CallCore implements ServerUnaryCall<unknown, unknown> {
  request: unknown = undefined;
  #received = false;

  protected onMessage(message: unknown): void {
    if (this.#received) {
      this.sendStatus({
        code: status.UNIMPLEMENTED,
        details: `Received a second request message for server streaming method ${this.method.path}`,
      });
      return;
    }
    this.#received = true;
    this.request = message;
  }

  protected onHalfClose(): void {
    if (!this.#received) {
      this.sendStatus({
        code: status.UNIMPLEMENTED,
        details: `Received no request message for server streaming method ${this.method.path}`,
      });
      return;
    }
    const handler = this.method.handler as unknown as handleUnaryCall<unknown, unknown>;
    try {
      handler(this, this.#respond);
    } catch (err) {
      this.handlerThrew(err);
    }
  }

  protected onCancel(): void {
    // grpc-js tells a unary call it is over (its 'cancelled' event)
    // whenever the stream closes, answered or not.
    if (this.listenerCount('cancelled') > 0) this.emit('cancelled', 'cancelled');
  }

  readonly #respond: sendUnaryData<unknown> = (err, value, trailer) => {
    if (err) {
      this.sendStatus(errorToStatus(err, trailer));
      return;
    }
    if (this.done) return;
    const framed = this.frame(value);
    if (framed !== undefined) this.respondUnary(framed, trailer);
  };
}

/**
 * What a streaming handler writes to: grpc-js's ServerWritableStream /
 * ServerDuplexStream behaviour on a real object-mode stream. Emitting
 * 'error' ends the call with that error's status; end() with OK.
 */
interface StreamingHandlerCall extends Writable {
  cancelled: boolean;
  readonly metadata: Metadata;
  pendingStatus: Status;
  trailingMetadata: Metadata;
}

/**
 * The raw sink of framed messages a watch stream writes through (see
 * `rawHttp2Stream` in @kv/kvserver's watch service): the same few members a
 * node:http2 stream offers.
 */
export class RawFrameSink extends EventEmitter {
  constructor(readonly core: { writeFramed(bytes: Buffer): boolean; readonly done: boolean }) {
    super();
  }
  get destroyed(): boolean {
    return this.core.done;
  }
  get closed(): boolean {
    return this.core.done;
  }
  get writableEnded(): boolean {
    return this.core.done;
  }
  write(bytes: Buffer): boolean {
    return this.core.writeFramed(bytes);
  }
}

function decorate(target: StreamingHandlerCall, core: StreamCall): void {
  target.cancelled = false;
  target.pendingStatus = { code: status.OK, details: 'OK' };
  target.trailingMetadata = new Metadata();
  target.on('error', (err: Error) => {
    target.pendingStatus = errorToStatus(err);
    target.end();
  });
  const t = target as unknown as Record<string, unknown>;
  t['getPeer'] = () => core.getPeer();
  t['sendMetadata'] = (md: Metadata) => core.sendMetadata(md);
  t['getDeadline'] = () => core.getDeadline();
  t['getPath'] = () => core.getPath();
  t['getHost'] = () => core.getHost();
  t['getAuthContext'] = () => core.getAuthContext();
  t['getMetricsRecorder'] = () => core.getMetricsRecorder();
  t['rawFrames'] = core.raw;
}

function writeMessage(
  core: StreamCall,
  chunk: unknown,
  callback: (error?: Error | null) => void,
): void {
  if (core.done) {
    callback();
    return;
  }
  const framed = core.frame(chunk);
  if (framed === undefined || core.writeFramed(framed)) {
    callback();
    return;
  }
  core.waitDrain(() => callback());
}

function finalStatus(core: StreamCall, call: StreamingHandlerCall): void {
  core.sendStatus({
    ...call.pendingStatus,
    metadata: call.pendingStatus.metadata ?? call.trailingMetadata,
  });
}

class ServerWritableCall extends Writable {
  declare cancelled: boolean;
  declare pendingStatus: Status;
  declare trailingMetadata: Metadata;
  constructor(
    readonly core: StreamCall,
    readonly metadata: Metadata,
    readonly request: unknown,
  ) {
    super({ objectMode: true });
    decorate(this, core);
  }
  override _write(chunk: unknown, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    writeMessage(this.core, chunk, cb);
  }
  override _final(cb: (error?: Error | null) => void): void {
    cb(null);
    finalStatus(this.core, this);
  }
  override end(metadata?: unknown): this {
    if (metadata instanceof Metadata) this.trailingMetadata = metadata;
    return super.end();
  }
}

class ServerDuplexCall extends Duplex {
  declare cancelled: boolean;
  declare pendingStatus: Status;
  declare trailingMetadata: Metadata;
  constructor(
    readonly core: StreamCall,
    readonly metadata: Metadata,
  ) {
    super({ objectMode: true });
    decorate(this, core);
  }
  override _read(): void {
    // Messages are pushed as they arrive (HTTP/2 flow control bounds them).
  }
  override _write(chunk: unknown, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    writeMessage(this.core, chunk, cb);
  }
  override _final(cb: (error?: Error | null) => void): void {
    cb(null);
    finalStatus(this.core, this);
  }
  override end(metadata?: unknown): this {
    if (metadata instanceof Metadata) this.trailingMetadata = metadata;
    return super.end();
  }
}

/** A server-streaming or bidirectional call. */
class StreamCall extends CallCore {
  readonly raw = new RawFrameSink(this);
  #call: ServerWritableCall | ServerDuplexCall | undefined;
  #request: unknown;
  #received = false;
  #drainWaiters: (() => void)[] = [];

  start(): void {
    this.onDrain = () => {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const w of waiters) w();
      this.raw.emit('drain');
    };
    if (this.method.kind !== 'bidi') return;
    // Bidirectional: the handler runs as soon as the headers are in.
    const call = new ServerDuplexCall(this, this.metadata);
    this.#call = call;
    this.#run(call);
  }

  waitDrain(fn: () => void): void {
    this.#drainWaiters.push(fn);
  }

  #run(call: ServerWritableCall | ServerDuplexCall): void {
    try {
      (this.method.handler as unknown as (c: unknown) => void)(call);
    } catch (err) {
      this.handlerThrew(err);
    }
  }

  protected onMessage(message: unknown): void {
    if (this.#call instanceof ServerDuplexCall) {
      this.#call.push(message);
      return;
    }
    if (this.#received) {
      this.sendStatus({
        code: status.UNIMPLEMENTED,
        details: `Received a second request message for server streaming method ${this.method.path}`,
      });
      return;
    }
    this.#received = true;
    this.#request = message;
  }

  protected onHalfClose(): void {
    if (this.#call instanceof ServerDuplexCall) {
      this.#call.push(null);
      return;
    }
    if (!this.#received) {
      this.sendStatus({
        code: status.UNIMPLEMENTED,
        details: `Received no request message for server streaming method ${this.method.path}`,
      });
      return;
    }
    const call = new ServerWritableCall(this, this.metadata, this.#request);
    this.#call = call;
    this.#run(call);
  }

  protected onCancel(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
    this.raw.emit('close');
    const call = this.#call;
    if (call === undefined) return;
    call.cancelled = true;
    call.emit('cancelled', 'cancelled');
    call.destroy();
  }
}

export interface GrpcH2ServerOptions {
  /** grpc.max_receive_message_length (-1: none). */
  readonly maxReceiveMessageLength: number;
  /** grpc.max_send_message_length (-1: none). */
  readonly maxSendMessageLength: number;
  /** A connection closed on a protocol error (for logging). */
  readonly onConnectionError?: (err: Error) => void;
  /** Server keepalive PINGs (grpc-js's keepalive_time_ms / keepalive_timeout_ms). */
  readonly keepalive?: { readonly intervalMs: number; readonly timeoutMs: number };
}

/**
 * The etcd services on our own HTTP/2: `addService` as grpc-js's, then
 * `handleConnection` for each accepted socket (plain or TLS) that starts
 * with the HTTP/2 preface.
 */
export class GrpcH2Server {
  readonly #methods = new Map<string, Method>();
  readonly #connections = new Set<H2Connection>();
  readonly #options: GrpcH2ServerOptions;
  #draining = false;

  constructor(options: GrpcH2ServerOptions) {
    this.#options = options;
  }

  addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    for (const name of Object.keys(service)) {
      const def = service[name] as MethodDefinition<unknown, unknown>;
      if (def.requestStream && !def.responseStream) {
        throw new Error(`client-streaming method ${def.path}: not supported by this server`);
      }
      let impl = implementation[name];
      if (impl === undefined && typeof def.originalName === 'string') {
        impl = implementation[def.originalName];
      }
      if (impl === undefined) continue;
      const bound = (impl as (...args: never[]) => void).bind(implementation);
      this.#methods.set(def.path, {
        path: def.path,
        kind: def.requestStream ? 'bidi' : def.responseStream ? 'serverStream' : 'unary',
        deserialize: def.requestDeserialize,
        serialize: (value) => def.responseSerialize(value),
        handler: bound,
      });
    }
  }

  /** Serves one accepted connection whose first bytes are the HTTP/2 preface. */
  handleConnection(socket: Duplex): void {
    const connection = new H2Connection(socket, {
      onStream: (stream) => this.#onStream(stream),
      indexable,
      ...(this.#options.onConnectionError !== undefined
        ? { onError: this.#options.onConnectionError }
        : {}),
      ...(this.#options.keepalive !== undefined ? { keepalive: this.#options.keepalive } : {}),
    });
    this.#connections.add(connection);
    socket.once('close', () => this.#connections.delete(connection));
    if (this.#draining) connection.goAway(false);
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Refuses new calls (GOAWAY) and resolves once every connection has
   * closed, or after `graceMs`, when the rest are closed by force.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.#draining = true;
    const all = [...this.#connections];
    const closed = all.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.socket.destroyed) resolve();
          else c.socket.once('close', () => resolve());
        }),
    );
    for (const c of all) c.goAway(false);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(closed),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    for (const c of this.#connections) c.destroy();
  }

  #onStream(stream: H2Stream): void {
    const contentType = headerString(stream.headers, 'content-type');
    if (contentType === undefined || !contentType.startsWith('application/grpc')) {
      stream.respond(UNSUPPORTED_MEDIA_TYPE, true);
      return;
    }
    const path = headerString(stream.headers, ':path') ?? '';
    const method = this.#methods.get(path);
    const { maxReceiveMessageLength: maxReceive, maxSendMessageLength: maxSend } = this.#options;
    if (method === undefined) {
      // grpc-js sends this message as it is, not percent-encoded.
      stream.respond(
        [
          [':status', '200'],
          ['content-type', 'application/grpc+proto'],
          ['grpc-status', String(status.UNIMPLEMENTED)],
          ['grpc-message', `The server does not implement the method ${path}`],
        ],
        true,
      );
      return;
    }
    if (method.kind === 'unary') new UnaryCall(method, stream, maxReceive, maxSend);
    else new StreamCall(method, stream, maxReceive, maxSend).start();
  }
}
