/**
 * A small HTTP/2 server connection (RFC 9113) for the client port's gRPC
 * traffic, in place of node:http2. Node's HTTP/2 costs ~34 µs of CPU per
 * unary call on this machine before any work is done (a Duplex stream per
 * call, header objects converted both ways, trailers sent from a later
 * turn); this one parses frames straight from the socket's reads, hands each
 * request's headers and body to the gRPC layer, and writes everything a
 * turn produced (for a unary call: headers, DATA and trailers together) in
 * one socket write.
 *
 * Server side only, no push, no priorities (accepted and ignored, as RFC
 * 9113 lets a server do). Flow control: the client's windows are honoured
 * for every DATA frame sent; the client gets generous windows (we consume
 * every byte as it arrives, and the gRPC layer bounds each message's size),
 * replenished as data is read.
 */
import type { Duplex } from 'node:stream';
import {
  DEFAULT_TABLE_SIZE,
  HeaderListTooLarge,
  HpackDecoder,
  HpackEncoder,
  HpackError,
} from './hpack';
import type { HeaderFields, HeaderMap } from './hpack';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_PRIORITY = 0x2;
const FRAME_RST_STREAM = 0x3;
const FRAME_SETTINGS = 0x4;
const FRAME_PUSH_PROMISE = 0x5;
const FRAME_PING = 0x6;
const FRAME_GOAWAY = 0x7;
const FRAME_WINDOW_UPDATE = 0x8;
const FRAME_CONTINUATION = 0x9;

const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

/** Error codes (RFC 9113 §7). */
export const H2_NO_ERROR = 0x0;
export const H2_PROTOCOL_ERROR = 0x1;
export const H2_INTERNAL_ERROR = 0x2;
export const H2_FLOW_CONTROL_ERROR = 0x3;
export const H2_STREAM_CLOSED = 0x5;
export const H2_FRAME_SIZE_ERROR = 0x6;
export const H2_REFUSED_STREAM = 0x7;
export const H2_CANCEL = 0x8;
export const H2_COMPRESSION_ERROR = 0x9;
export const H2_ENHANCE_YOUR_CALM = 0xb;

const SETTINGS_HEADER_TABLE_SIZE = 0x1;
const SETTINGS_ENABLE_PUSH = 0x2;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_MAX_FRAME_SIZE = 0x5;
const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

const DEFAULT_WINDOW = 65_535;
const DEFAULT_MAX_FRAME = 16_384;
const MAX_WINDOW = 2 ** 31 - 1;
/** Each stream's receive window, and the connection's. */
const STREAM_RECEIVE_WINDOW = 1 << 20;
const CONNECTION_RECEIVE_WINDOW = 16 << 20;
/** Decoded header list limit (grpc-go's default for a server is 16 MiB; 1 MiB is plenty). */
const MAX_HEADER_LIST = 1 << 20;
/** Queued outgoing DATA per stream above which write() asks the caller to wait. */
const STREAM_HIGH_WATER = 64 * 1024;

const SERVER_SETTINGS = (() => {
  const b = Buffer.alloc(9 + 18);
  writeFrameHeader(b, 0, 18, FRAME_SETTINGS, 0, 0);
  b.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 9);
  b.writeUInt32BE(STREAM_RECEIVE_WINDOW, 11);
  b.writeUInt16BE(SETTINGS_MAX_HEADER_LIST_SIZE, 15);
  b.writeUInt32BE(MAX_HEADER_LIST, 17);
  b.writeUInt16BE(SETTINGS_ENABLE_PUSH, 21);
  b.writeUInt32BE(0, 23);
  return b;
})();
const SETTINGS_ACK = (() => {
  const b = Buffer.alloc(9);
  writeFrameHeader(b, 0, 0, FRAME_SETTINGS, FLAG_ACK, 0);
  return b;
})();

function writeFrameHeader(
  b: Buffer,
  at: number,
  length: number,
  type: number,
  flags: number,
  stream: number,
): void {
  b[at] = length >>> 16;
  b[at + 1] = (length >>> 8) & 0xff;
  b[at + 2] = length & 0xff;
  b[at + 3] = type;
  b[at + 4] = flags;
  b.writeUInt32BE(stream, at + 5);
}

function windowUpdate(stream: number, increment: number): Buffer {
  const b = Buffer.allocUnsafe(13);
  writeFrameHeader(b, 0, 4, FRAME_WINDOW_UPDATE, 0, stream);
  b.writeUInt32BE(increment, 9);
  return b;
}

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function noop(): void {}

/**
 * The open streams by ID. Client stream IDs count up by two, so open
 * streams take consecutive slots of a ring; one that collides with a live
 * stream goes to a Map. A Map churned by every request would keep
 * rebuilding its table, and a dead table in the old generation keeps the
 * streams it pointed to (and their requests) alive through scavenges until
 * the next full GC; a cleared slot leaves nothing behind.
 */
class StreamTable {
  static readonly #RING = 256;
  readonly #ring: (H2Stream | undefined)[] = new Array<H2Stream | undefined>(
    StreamTable.#RING,
  ).fill(undefined);
  readonly #overflow = new Map<number, H2Stream>();
  size = 0;

  get(id: number): H2Stream | undefined {
    const s = this.#ring[(id >>> 1) & (StreamTable.#RING - 1)];
    if (s !== undefined && s.id === id) return s;
    return this.#overflow.size > 0 ? this.#overflow.get(id) : undefined;
  }

  /** Adds a stream whose ID is not in the table. */
  set(id: number, stream: H2Stream): void {
    const slot = (id >>> 1) & (StreamTable.#RING - 1);
    if (this.#ring[slot] === undefined) this.#ring[slot] = stream;
    else this.#overflow.set(id, stream);
    this.size++;
  }

  delete(stream: H2Stream): void {
    const slot = (stream.id >>> 1) & (StreamTable.#RING - 1);
    if (this.#ring[slot] === stream) this.#ring[slot] = undefined;
    else if (!this.#overflow.delete(stream.id)) return;
    this.size--;
  }

  /** A snapshot of the open streams. */
  all(): H2Stream[] {
    const out: H2Stream[] = [];
    for (const s of this.#ring) if (s !== undefined) out.push(s);
    for (const s of this.#overflow.values()) out.push(s);
    return out;
  }
}

/** What the gRPC layer sees of one request stream. */
export class H2Stream {
  /** The request's body arrives here, chunk by chunk (views: copy what you keep). */
  onData: (chunk: Buffer) => void = noop;
  /** The client has sent its last frame (END_STREAM). */
  onEnd: () => void = noop;
  /** The stream is gone before we finished it: reset by the client, or the connection closed. */
  onAbort: () => void = noop;
  /** Queued DATA fell below the high-water mark after write() returned false. */
  onDrain: () => void = noop;

  /** We have sent END_STREAM (or reset the stream). */
  localEnded = false;
  remoteEnded = false;
  /** Gone from the connection (finished both ways, reset, or connection closed). */
  closed = false;
  headersSent = false;

  sendWindow: number;
  /** DATA waiting for window; trailers (a header block) to follow it. */
  queue: Buffer[] = [];
  queued = 0;
  pendingTrailers: HeaderFields | undefined;
  pendingEnd = false;
  needsDrain = false;
  /** Bytes received since the last stream WINDOW_UPDATE. */
  unacked = 0;

  constructor(
    readonly connection: H2Connection,
    readonly id: number,
    readonly headers: HeaderMap,
    sendWindow: number,
  ) {
    this.sendWindow = sendWindow;
  }

  /** Sends the response headers. */
  respond(fields: HeaderFields, endStream: boolean): void {
    if (this.localEnded) return;
    this.headersSent = true;
    this.connection.sendHeaders(this, fields, endStream);
  }

  /** Sends DATA; false when the caller should wait for onDrain. */
  write(data: Buffer): boolean {
    if (this.localEnded) return false;
    return this.connection.sendData(this, data, false);
  }

  /** Ends the stream: trailers after any queued DATA. */
  end(trailers: HeaderFields): void {
    if (this.localEnded) return;
    this.connection.sendTrailers(this, trailers);
  }

  /**
   * A unary answer: headers, one DATA frame and trailers, in one buffer when
   * the windows allow (they nearly always do).
   */
  respondUnary(headers: HeaderFields, data: Buffer, trailers: HeaderFields): void {
    if (this.localEnded) return;
    this.connection.sendUnary(this, headers, data, trailers);
  }

  reset(code: number): void {
    if (this.closed) return;
    this.connection.resetStream(this, code);
  }

  get peer(): Duplex {
    return this.connection.socket;
  }
}

export interface H2ConnectionOptions {
  /** A request's headers are complete: the handler takes the stream. */
  readonly onStream: (stream: H2Stream) => void;
  /** A protocol error closed the connection (for logging). */
  readonly onError?: (err: Error) => void;
  /**
   * Server keepalive, as grpc-js's keepalive_time_ms / keepalive_timeout_ms:
   * a PING every `intervalMs`; no acknowledgement within `timeoutMs` closes
   * the connection (a client gone without a word).
   */
  readonly keepalive?: { readonly intervalMs: number; readonly timeoutMs: number };
  /**
   * Response fields worth adding to the client's HPACK table (sent as
   * one-byte indexes afterwards); by default none are.
   */
  readonly indexable?: (name: string, value: string) => boolean;
}

/** The payload of our keepalive PINGs. */
const KEEPALIVE_PAYLOAD = Buffer.from('kv-alive');

/** The pseudo-header fields a request may carry (no extended CONNECT). */
const REQUEST_PSEUDO = new Set([':method', ':scheme', ':path', ':authority']);
/** Connection-specific fields HTTP/2 forbids (RFC 9113 8.2.2). */
const CONNECTION_SPECIFIC = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
];

function hasPseudoHeader(headers: HeaderMap): boolean {
  for (const name in headers) if (name.charCodeAt(0) === 0x3a) return true;
  return false;
}

/**
 * RFC 9113 8.3.1 and 8.2.2 for a request's fields (order, case and
 * repetition are the decoder's check): only request pseudo-headers,
 * :method, :scheme and a non-empty :path present, no connection-specific
 * field, te only as "trailers".
 */
function isWellFormedRequest(headers: HeaderMap): boolean {
  for (const name in headers) {
    if (name.charCodeAt(0) === 0x3a && !REQUEST_PSEUDO.has(name)) return false;
  }
  const method = headers[':method'];
  const path = headers[':path'];
  if (method === undefined || headers[':scheme'] === undefined) return false;
  if (path === undefined || path === '') return false;
  for (const name of CONNECTION_SPECIFIC) if (headers[name] !== undefined) return false;
  const te = headers['te'];
  return te === undefined || te === 'trailers';
}

/** One client connection. Starts reading at once; the preface must come first. */
export class H2Connection {
  readonly socket: Duplex;
  readonly #options: H2ConnectionOptions;
  readonly #decoder = new HpackDecoder(DEFAULT_TABLE_SIZE);
  readonly #encoder: HpackEncoder;
  readonly #streams = new StreamTable();
  #pending: Buffer | undefined;
  #prefaceSeen = false;
  #lastStreamId = 0;
  /** HEADERS without END_HEADERS: the stream and the block so far. */
  #continuation: { id: number; flags: number; parts: Buffer[]; size: number } | undefined;

  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = DEFAULT_MAX_FRAME;
  #sendWindow = DEFAULT_WINDOW;
  #receiveUnacked = 0;
  /** Streams with DATA waiting for window, in the order they blocked. */
  readonly #blocked = new Set<H2Stream>();

  #out: Buffer[] = [];
  #outBytes = 0;
  #flushScheduled = false;
  #goingAway = false;
  #closed = false;
  #keepaliveTimer: NodeJS.Timeout | undefined;
  #keepaliveDeadline: NodeJS.Timeout | undefined;

  constructor(socket: Duplex, options: H2ConnectionOptions) {
    this.socket = socket;
    this.#options = options;
    this.#encoder = new HpackEncoder(options.indexable ?? (() => false));
    this.#push(SERVER_SETTINGS);
    this.#push(windowUpdate(0, CONNECTION_RECEIVE_WINDOW - DEFAULT_WINDOW));
    const keepalive = options.keepalive;
    if (keepalive !== undefined) {
      this.#keepaliveTimer = setInterval(
        () => this.#ping(keepalive.timeoutMs),
        keepalive.intervalMs,
      );
      this.#keepaliveTimer.unref();
    }
    socket.on('data', (chunk: Buffer) => this.#onRead(chunk));
    socket.on('close', () => this.#onClosed());
    socket.on('end', () => socket.end());
    socket.on('error', noop);
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /**
   * Stops taking new streams (GOAWAY with NO_ERROR); the open ones go on.
   * With `force`, closes the socket too.
   */
  goAway(force: boolean): void {
    if (!this.#goingAway && !this.#closed) {
      this.#goingAway = true;
      const b = Buffer.alloc(17);
      writeFrameHeader(b, 0, 8, FRAME_GOAWAY, 0, 0);
      b.writeUInt32BE(this.#lastStreamId, 9);
      b.writeUInt32BE(H2_NO_ERROR, 13);
      this.#push(b);
      this.#flush();
    }
    if (force || this.#streams.size === 0) this.#closeSocket();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ---------------------------------------------------------------- reading

  #onRead(chunk: Buffer): void {
    if (this.#closed) return;
    let buf = chunk;
    if (this.#pending !== undefined) {
      buf = Buffer.concat([this.#pending, chunk]);
      this.#pending = undefined;
    }
    let pos = 0;
    try {
      if (!this.#prefaceSeen) {
        if (buf.length < PREFACE.length) {
          if (!PREFACE.subarray(0, buf.length).equals(buf)) {
            throw new ConnectionError(H2_PROTOCOL_ERROR, 'bad connection preface');
          }
          this.#pending = buf;
          return;
        }
        if (!PREFACE.equals(buf.subarray(0, PREFACE.length))) {
          throw new ConnectionError(H2_PROTOCOL_ERROR, 'bad connection preface');
        }
        this.#prefaceSeen = true;
        pos = PREFACE.length;
      }
      while (buf.length - pos >= 9) {
        const length = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
        if (length > DEFAULT_MAX_FRAME) {
          throw new ConnectionError(
            H2_FRAME_SIZE_ERROR,
            'frame larger than SETTINGS_MAX_FRAME_SIZE',
          );
        }
        if (buf.length - pos < 9 + length) break;
        const type = buf[pos + 3]!;
        const flags = buf[pos + 4]!;
        const id = buf.readUInt32BE(pos + 5) & 0x7fffffff;
        const payload = buf.subarray(pos + 9, pos + 9 + length);
        pos += 9 + length;
        this.#onFrame(type, flags, id, payload);
        if (this.#closed) return;
      }
      if (pos < buf.length) this.#pending = buf.subarray(pos);
      this.#ackReceived();
    } catch (err) {
      if (err instanceof ConnectionError) this.#fail(err.code, err);
      else if (err instanceof HpackError) this.#fail(H2_COMPRESSION_ERROR, err);
      else this.#fail(H2_INTERNAL_ERROR, err as Error);
    }
  }

  #onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.#continuation !== undefined && type !== FRAME_CONTINUATION) {
      throw new ConnectionError(H2_PROTOCOL_ERROR, 'expected CONTINUATION');
    }
    switch (type) {
      case FRAME_DATA:
        return this.#onData(flags, id, payload);
      case FRAME_HEADERS:
        return this.#onHeaders(flags, id, payload);
      case FRAME_CONTINUATION: {
        const c = this.#continuation;
        if (c === undefined || c.id !== id) {
          throw new ConnectionError(H2_PROTOCOL_ERROR, 'unexpected CONTINUATION');
        }
        c.parts.push(Buffer.from(payload));
        c.size += payload.length;
        if (c.size > MAX_HEADER_LIST) {
          throw new ConnectionError(H2_ENHANCE_YOUR_CALM, 'header block too large');
        }
        if (flags & FLAG_END_HEADERS) {
          this.#continuation = undefined;
          this.#onHeaderBlock(id, c.flags, Buffer.concat(c.parts, c.size));
        }
        return;
      }
      case FRAME_PRIORITY:
        if (id === 0) throw new ConnectionError(H2_PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) this.#resetId(id, H2_FRAME_SIZE_ERROR);
        return;
      case FRAME_RST_STREAM: {
        if (id === 0) throw new ConnectionError(H2_PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (payload.length !== 4) {
          throw new ConnectionError(H2_FRAME_SIZE_ERROR, 'RST_STREAM length');
        }
        if (id > this.#lastStreamId) {
          throw new ConnectionError(H2_PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
        }
        const stream = this.#streams.get(id);
        if (stream !== undefined) this.#abort(stream);
        return;
      }
      case FRAME_SETTINGS:
        return this.#onSettings(flags, id, payload);
      case FRAME_PUSH_PROMISE:
        throw new ConnectionError(H2_PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      case FRAME_PING: {
        if (id !== 0) throw new ConnectionError(H2_PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new ConnectionError(H2_FRAME_SIZE_ERROR, 'PING length');
        if ((flags & FLAG_ACK) === 0) {
          const b = Buffer.allocUnsafe(17);
          writeFrameHeader(b, 0, 8, FRAME_PING, FLAG_ACK, 0);
          payload.copy(b, 9);
          this.#push(b);
        } else if (payload.equals(KEEPALIVE_PAYLOAD)) {
          clearTimeout(this.#keepaliveDeadline);
          this.#keepaliveDeadline = undefined;
        }
        return;
      }
      case FRAME_GOAWAY:
        if (id !== 0) throw new ConnectionError(H2_PROTOCOL_ERROR, 'GOAWAY on a stream');
        // The client opens no more streams; the open ones finish.
        this.#goingAway = true;
        return;
      case FRAME_WINDOW_UPDATE:
        return this.#onWindowUpdate(id, payload);
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1).
        return;
    }
  }

  #onData(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(H2_PROTOCOL_ERROR, 'DATA on stream 0');
    // Flow control counts the whole payload, padding included.
    this.#receiveUnacked += payload.length;
    let data = payload;
    if (flags & FLAG_PADDED) {
      if (payload.length < 1) throw new ConnectionError(H2_PROTOCOL_ERROR, 'bad padding');
      const pad = payload[0]!;
      if (pad >= payload.length) throw new ConnectionError(H2_PROTOCOL_ERROR, 'bad padding');
      data = payload.subarray(1, payload.length - pad);
    }
    const stream = this.#streams.get(id);
    if (stream === undefined) {
      if (id > this.#lastStreamId) {
        throw new ConnectionError(H2_PROTOCOL_ERROR, 'DATA on an idle stream');
      }
      // A stream we have finished or reset: the client may not know yet.
      return;
    }
    if (stream.remoteEnded) {
      this.resetStream(stream, H2_STREAM_CLOSED);
      return;
    }
    stream.unacked += payload.length;
    if (data.length > 0) stream.onData(data);
    if (flags & FLAG_END_STREAM) this.#remoteEnd(stream);
    else if (!stream.closed && stream.unacked >= STREAM_RECEIVE_WINDOW / 2) {
      this.#push(windowUpdate(id, stream.unacked));
      stream.unacked = 0;
    }
  }

  #onHeaders(flags: number, id: number, payload: Buffer): void {
    if (id === 0 || (id & 1) === 0) {
      throw new ConnectionError(H2_PROTOCOL_ERROR, 'HEADERS on an invalid stream');
    }
    let start = 0;
    let end = payload.length;
    if (flags & FLAG_PADDED) {
      if (payload.length < 1) throw new ConnectionError(H2_PROTOCOL_ERROR, 'bad padding');
      start = 1;
      end -= payload[0]!;
    }
    if (flags & FLAG_PRIORITY) start += 5;
    if (start > end) throw new ConnectionError(H2_PROTOCOL_ERROR, 'bad padding');
    const fragment = payload.subarray(start, end);
    if (flags & FLAG_END_HEADERS) this.#onHeaderBlock(id, flags, fragment);
    else {
      this.#continuation = { id, flags, parts: [Buffer.from(fragment)], size: fragment.length };
    }
  }

  #onHeaderBlock(id: number, flags: number, block: Buffer): void {
    const existing = this.#streams.get(id);
    const headers: HeaderMap = {};
    let wellFormed: boolean;
    try {
      wellFormed = this.#decoder.decode(block, headers, MAX_HEADER_LIST);
    } catch (err) {
      if (!(err instanceof HeaderListTooLarge)) throw err;
      // The table is in step only if the whole block was read: close.
      throw new ConnectionError(H2_ENHANCE_YOUR_CALM, 'header list too large');
    }
    if (existing !== undefined) {
      // Trailers from the client: gRPC clients send none, but they end the stream.
      if (existing.remoteEnded) this.resetStream(existing, H2_STREAM_CLOSED);
      else if (!wellFormed || hasPseudoHeader(headers)) {
        this.resetStream(existing, H2_PROTOCOL_ERROR);
      } else if ((flags & FLAG_END_STREAM) === 0) this.resetStream(existing, H2_PROTOCOL_ERROR);
      else this.#remoteEnd(existing);
      return;
    }
    if (id <= this.#lastStreamId) {
      // A stream already closed (reset by us, or finished).
      throw new ConnectionError(H2_STREAM_CLOSED, 'HEADERS on a closed stream');
    }
    this.#lastStreamId = id;
    if (this.#goingAway) {
      this.#resetId(id, H2_REFUSED_STREAM);
      return;
    }
    if (!wellFormed || !isWellFormedRequest(headers)) {
      // A malformed request (RFC 9113 8.1.1): a stream error, as nghttp2 and
      // Go's HTTP/2 (under grpc-js and grpc-go) answer it.
      this.#resetId(id, H2_PROTOCOL_ERROR);
      return;
    }
    const stream = new H2Stream(this, id, headers, this.#peerInitialWindow);
    this.#streams.set(id, stream);
    if (flags & FLAG_END_STREAM) stream.remoteEnded = true;
    this.#options.onStream(stream);
    if (stream.remoteEnded && !stream.closed) {
      stream.onEnd();
      if (stream.localEnded) this.#close(stream);
    }
  }

  #remoteEnd(stream: H2Stream): void {
    stream.remoteEnded = true;
    stream.onEnd();
    if (stream.localEnded) this.#close(stream);
  }

  #onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(H2_PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & FLAG_ACK) {
      if (payload.length !== 0)
        throw new ConnectionError(H2_FRAME_SIZE_ERROR, 'SETTINGS ack length');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(H2_FRAME_SIZE_ERROR, 'SETTINGS length');
    for (let at = 0; at < payload.length; at += 6) {
      const key = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      switch (key) {
        case SETTINGS_HEADER_TABLE_SIZE:
          this.#encoder.setLimit(value);
          break;
        case SETTINGS_ENABLE_PUSH:
          if (value > 1) throw new ConnectionError(H2_PROTOCOL_ERROR, 'ENABLE_PUSH value');
          break;
        case SETTINGS_INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) {
            throw new ConnectionError(H2_FLOW_CONTROL_ERROR, 'INITIAL_WINDOW_SIZE too large');
          }
          const delta = value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          for (const s of this.#streams.all()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) {
              throw new ConnectionError(H2_FLOW_CONTROL_ERROR, 'stream window overflow');
            }
          }
          if (delta > 0) this.#resumeBlocked();
          break;
        }
        case SETTINGS_MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME || value > 16_777_215) {
            throw new ConnectionError(H2_PROTOCOL_ERROR, 'MAX_FRAME_SIZE value');
          }
          this.#peerMaxFrame = value;
          break;
        default:
          break;
      }
    }
    this.#push(SETTINGS_ACK);
  }

  #onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4)
      throw new ConnectionError(H2_FRAME_SIZE_ERROR, 'WINDOW_UPDATE length');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(H2_PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.#sendWindow += increment;
      if (this.#sendWindow > MAX_WINDOW) {
        throw new ConnectionError(H2_FLOW_CONTROL_ERROR, 'connection window overflow');
      }
      this.#resumeBlocked();
      return;
    }
    const stream = this.#streams.get(id);
    if (stream === undefined) {
      if (id > this.#lastStreamId) {
        throw new ConnectionError(H2_PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
      }
      return;
    }
    if (increment === 0) {
      this.resetStream(stream, H2_PROTOCOL_ERROR);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) {
      this.resetStream(stream, H2_FLOW_CONTROL_ERROR);
      return;
    }
    if (stream.queued > 0 || stream.pendingEnd) this.#drainStream(stream);
  }

  /** Replenishes the connection's receive window once half of it is used. */
  #ackReceived(): void {
    if (this.#receiveUnacked >= CONNECTION_RECEIVE_WINDOW / 2) {
      this.#push(windowUpdate(0, this.#receiveUnacked));
      this.#receiveUnacked = 0;
    }
  }

  #ping(timeoutMs: number): void {
    if (this.#closed || this.#keepaliveDeadline !== undefined) return;
    const b = Buffer.allocUnsafe(17);
    writeFrameHeader(b, 0, 8, FRAME_PING, 0, 0);
    KEEPALIVE_PAYLOAD.copy(b, 9);
    this.#push(b);
    this.#keepaliveDeadline = setTimeout(() => this.socket.destroy(), timeoutMs);
    this.#keepaliveDeadline.unref();
  }

  // ---------------------------------------------------------------- writing

  sendHeaders(stream: H2Stream, fields: HeaderFields, endStream: boolean): void {
    this.#pushHeaderBlock(stream.id, fields, endStream);
    if (endStream) this.#localEnd(stream);
  }

  sendData(stream: H2Stream, data: Buffer, _end: boolean): boolean {
    if (stream.queued > 0) {
      stream.queue.push(data);
      stream.queued += data.length;
    } else {
      const sent = this.#sendDataNow(stream, data, 0);
      if (sent < data.length) {
        const rest = data.subarray(sent);
        stream.queue.push(rest);
        stream.queued += rest.length;
        this.#blocked.add(stream);
      }
    }
    if (stream.queued > STREAM_HIGH_WATER) {
      stream.needsDrain = true;
      return false;
    }
    return true;
  }

  sendTrailers(stream: H2Stream, fields: HeaderFields): void {
    if (stream.queued > 0) {
      stream.pendingTrailers = fields;
      stream.pendingEnd = true;
      return;
    }
    this.#pushHeaderBlock(stream.id, fields, true);
    this.#localEnd(stream);
  }

  sendUnary(
    stream: H2Stream,
    headerFields: HeaderFields,
    data: Buffer,
    trailerFields: HeaderFields,
  ): void {
    const max = this.#peerMaxFrame;
    if (
      stream.queued === 0 &&
      data.length <= stream.sendWindow &&
      data.length <= this.#sendWindow &&
      data.length <= max
    ) {
      // Encoded here, in wire order: the encoder's table follows the client's.
      const headers = this.#encoder.encode(headerFields);
      const trailers = this.#encoder.encode(trailerFields);
      stream.headersSent = true;
      if (headers.length > max || trailers.length > max) {
        this.#pushBlock(stream.id, headers, false);
        this.sendData(stream, data, false);
        this.#pushBlock(stream.id, trailers, true);
        this.#localEnd(stream);
        return;
      }
      const b = Buffer.allocUnsafe(27 + headers.length + data.length + trailers.length);
      let at = 0;
      writeFrameHeader(b, at, headers.length, FRAME_HEADERS, FLAG_END_HEADERS, stream.id);
      at += 9;
      at += headers.copy(b, at);
      writeFrameHeader(b, at, data.length, FRAME_DATA, 0, stream.id);
      at += 9;
      at += data.copy(b, at);
      writeFrameHeader(
        b,
        at,
        trailers.length,
        FRAME_HEADERS,
        FLAG_END_HEADERS | FLAG_END_STREAM,
        stream.id,
      );
      trailers.copy(b, at + 9);
      stream.sendWindow -= data.length;
      this.#sendWindow -= data.length;
      this.#push(b);
      this.#localEnd(stream);
      return;
    }
    this.sendHeaders(stream, headerFields, false);
    this.sendData(stream, data, false);
    this.sendTrailers(stream, trailerFields);
  }

  resetStream(stream: H2Stream, code: number): void {
    if (stream.closed) return;
    this.#resetId(stream.id, code);
    stream.localEnded = true;
    this.#close(stream);
  }

  #resetId(id: number, code: number): void {
    const b = Buffer.allocUnsafe(13);
    writeFrameHeader(b, 0, 4, FRAME_RST_STREAM, 0, id);
    b.writeUInt32BE(code, 9);
    this.#push(b);
  }

  /** Sends as much of `data` from `offset` as the windows allow; returns the new offset. */
  #sendDataNow(stream: H2Stream, data: Buffer, offset: number): number {
    let at = offset;
    while (at < data.length) {
      const n = Math.min(data.length - at, stream.sendWindow, this.#sendWindow, this.#peerMaxFrame);
      if (n <= 0) break;
      const header = Buffer.allocUnsafe(9);
      writeFrameHeader(header, 0, n, FRAME_DATA, 0, stream.id);
      this.#push(header);
      this.#push(at === 0 && n === data.length ? data : data.subarray(at, at + n));
      stream.sendWindow -= n;
      this.#sendWindow -= n;
      at += n;
    }
    return at;
  }

  #drainStream(stream: H2Stream): void {
    while (stream.queue.length > 0) {
      const head = stream.queue[0]!;
      const sent = this.#sendDataNow(stream, head, 0);
      stream.queued -= sent;
      if (sent < head.length) {
        stream.queue[0] = head.subarray(sent);
        this.#blocked.add(stream);
        break;
      }
      stream.queue.shift();
    }
    if (stream.queued === 0) {
      this.#blocked.delete(stream);
      if (stream.pendingEnd) {
        stream.pendingEnd = false;
        const trailers = stream.pendingTrailers;
        stream.pendingTrailers = undefined;
        if (trailers !== undefined) this.#pushHeaderBlock(stream.id, trailers, true);
        this.#localEnd(stream);
      }
    }
    if (stream.needsDrain && stream.queued <= STREAM_HIGH_WATER) {
      stream.needsDrain = false;
      stream.onDrain();
    }
  }

  #resumeBlocked(): void {
    for (const stream of this.#blocked) {
      if (this.#sendWindow <= 0) return;
      this.#drainStream(stream);
    }
  }

  #pushHeaderBlock(id: number, fields: HeaderFields, endStream: boolean): void {
    this.#pushBlock(id, this.#encoder.encode(fields), endStream);
  }

  /** An encoded block as HEADERS and, beyond the client's frame size, CONTINUATION frames. */
  #pushBlock(id: number, block: Buffer, endStream: boolean): void {
    const max = this.#peerMaxFrame;
    let type = FRAME_HEADERS;
    let at = 0;
    do {
      const n = Math.min(block.length - at, max);
      const last = at + n === block.length;
      let flags = last ? FLAG_END_HEADERS : 0;
      if (endStream && type === FRAME_HEADERS) flags |= FLAG_END_STREAM;
      const b = Buffer.allocUnsafe(9 + n);
      writeFrameHeader(b, 0, n, type, flags, id);
      block.copy(b, 9, at, at + n);
      this.#push(b);
      at += n;
      type = FRAME_CONTINUATION;
    } while (at < block.length);
  }

  #localEnd(stream: H2Stream): void {
    stream.localEnded = true;
    if (stream.remoteEnded) this.#close(stream);
    else {
      // Finished before the client was (an early error, say): as grpc-go,
      // tell it to stop sending with RST_STREAM(NO_ERROR).
      this.#resetId(stream.id, H2_NO_ERROR);
      this.#close(stream);
    }
  }

  #close(stream: H2Stream): void {
    if (stream.closed) return;
    stream.closed = true;
    this.#streams.delete(stream);
    this.#blocked.delete(stream);
    stream.queue = [];
    stream.queued = 0;
    if (this.#goingAway && this.#streams.size === 0) {
      // Nothing left to finish after our GOAWAY.
      process.nextTick(() => {
        if (this.#goingAway && this.#streams.size === 0) this.#closeSocket();
      });
    }
  }

  /** Reset by the client or lost with the connection: tell the handler. */
  #abort(stream: H2Stream): void {
    if (stream.closed) return;
    const finished = stream.localEnded;
    stream.localEnded = true;
    stream.remoteEnded = true;
    this.#close(stream);
    if (!finished) stream.onAbort();
  }

  #push(b: Buffer): void {
    this.#out.push(b);
    this.#outBytes += b.length;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const out = this.#out;
    if (out.length === 0 || this.#closed) return;
    this.#out = [];
    const total = this.#outBytes;
    this.#outBytes = 0;
    if (out.length === 1) this.socket.write(out[0]);
    else if (total <= 64 * 1024) this.socket.write(Buffer.concat(out, total));
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
  }

  #fail(code: number, err: Error): void {
    if (this.#closed) return;
    this.#options.onError?.(err);
    const message = Buffer.from(err.message.slice(0, 200), 'latin1');
    const b = Buffer.alloc(17 + message.length);
    writeFrameHeader(b, 0, 8 + message.length, FRAME_GOAWAY, 0, 0);
    b.writeUInt32BE(this.#lastStreamId, 9);
    b.writeUInt32BE(code, 13);
    message.copy(b, 17);
    this.#push(b);
    this.#flush();
    this.#closeSocket();
  }

  #closeSocket(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.socket.end();
    // A client that never closes its side is not waited for.
    const timer = setTimeout(() => this.socket.destroy(), 1000);
    timer.unref();
    this.#onClosed();
  }

  #onClosed(): void {
    this.#closed = true;
    this.#pending = undefined;
    clearInterval(this.#keepaliveTimer);
    clearTimeout(this.#keepaliveDeadline);
    for (const stream of this.#streams.all()) this.#abort(stream);
  }
}
