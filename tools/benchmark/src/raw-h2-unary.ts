// The generator's own HTTP/2 client for unary gRPC calls (--transport raw).
// node:http2's client spends ~100 µs of CPU per call on this machine
// (stream objects, header objects, async hooks), more than the servers
// under test spend answering: with one core for the generator it was the
// bottleneck of every 100-client row. This client writes each call as one
// pre-encoded HEADERS frame and one DATA frame, reads frames straight from
// the socket, and decodes only the header blocks (which HPACK requires, to
// keep the table in step) to find grpc-status.
//
// Scope: what a benchmark needs against etcd and our server. Cleartext
// (h2c with prior knowledge), no push, no priorities, one request message
// per stream; response bodies are counted for flow control and dropped.

import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { HpackDecoder } from '@kv/server';
import type { HeaderMap } from '@kv/server';
import { etcdserverpb } from '@kv/api';
import type { Cancellable, StatusError, UnaryKV } from './http2-unary';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

const DATA = 0;
const HEADERS = 1;
const RST_STREAM = 3;
const SETTINGS = 4;
const PING = 6;
const GOAWAY = 7;
const WINDOW_UPDATE = 8;
const CONTINUATION = 9;

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

const SETTINGS_HEADER_TABLE_SIZE = 0x1;
const SETTINGS_ENABLE_PUSH = 0x2;
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_MAX_FRAME_SIZE = 0x5;

/** Our receive window per stream: larger than any response a row asks for. */
const STREAM_WINDOW = 64 * 1024 * 1024;
/** The connection's receive window is topped up once this much has arrived. */
const CONNECTION_TOP_UP = 8 * 1024 * 1024;
const MAX_HEADER_LIST = 1024 * 1024;
const DEFAULT_SEND_WINDOW = 65_535;
const DEFAULT_MAX_FRAME = 16_384;

const CANCEL = 0x8;
const UNAVAILABLE = 14;
const INTERNAL = 13;
const CANCELLED = 1;

interface Call {
  readonly id: number;
  readonly path: string;
  readonly cb: (err: unknown) => void;
  /** The gRPC-framed request; `sent` bytes of it are on the wire. */
  readonly body: Buffer;
  sent: number;
  /** The peer's receive window for this stream (our send window). */
  window: number;
  opened: boolean;
  status: StatusError | null | undefined;
  /** Header block being continued (HEADERS without END_HEADERS). */
  block: Buffer[] | undefined;
  /** The block being continued ends the stream. */
  blockEnds: boolean;
}

/** Frame header: length (24 bits), type, flags, stream id (31 bits). */
function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.allocUnsafe(9);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return h;
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  return Buffer.concat([frameHeader(payload.length, type, flags, stream), payload]);
}

function statusOf(h: HeaderMap): StatusError | null | undefined {
  const s = h['grpc-status'];
  if (s === undefined) return undefined;
  const code = Number(Array.isArray(s) ? s[0] : s);
  if (code === 0) return null;
  const m = h['grpc-message'];
  const msg = Array.isArray(m) ? m[0] : m;
  let details = msg ?? '';
  try {
    details = decodeURIComponent(details);
  } catch {
    // Not percent-encoded after all: keep it as sent.
  }
  return { code, details };
}

/**
 * HPACK encoding of the request headers, as gRPC clients do it: the fields
 * every call repeats (the method's path, the authority, content-type, te)
 * are added to the server's dynamic table the first time and sent as a
 * one-byte index after that. The table only grows (six fields, well under
 * the 4,096 bytes every peer here allows), so no entry is ever evicted; but
 * indexes count from the newest entry (62), so each addition shifts the
 * older ones and retires every block built before it.
 */
class RequestHeaders {
  /** The peer's SETTINGS_HEADER_TABLE_SIZE (RFC 7541's default until it says). */
  limit = 4096;
  /** Bytes of our entries in the peer's table (name + value + 32 each). */
  tableBytes = 0;
  /** Our entries, oldest first, as name + NUL + value. */
  readonly #added: string[] = [];
  readonly #blocks = new Map<string, Buffer>();

  constructor(private readonly authority: string) {}

  /** The header block of a call to `path`. */
  block(path: string): Buffer {
    const cached = this.#blocks.get(path);
    if (cached !== undefined) return cached;
    const parts: number[] = [0x83, 0x86]; // :method POST, :scheme http (static table)
    // Name index in the static table (0: a new name), name, value.
    const fields: Array<[number, string, string]> = [
      [4, ':path', path],
      [1, ':authority', this.authority],
      [31, 'content-type', 'application/grpc'],
      [0, 'te', 'trailers'],
    ];
    let complete = true;
    for (const [nameIndex, name, value] of fields) {
      const key = `${name}\0${value}`;
      const at = this.#added.indexOf(key);
      if (at >= 0) {
        parts.push(0x80 | (62 + this.#added.length - 1 - at));
        continue;
      }
      const size = name.length + value.length + 32;
      const indexing = this.tableBytes + size <= Math.min(this.limit, 4096);
      // Literal with incremental indexing (0x40) or without indexing (0x00).
      parts.push((indexing ? 0x40 : 0x00) | nameIndex);
      if (nameIndex === 0) pushString(parts, name);
      pushString(parts, value);
      if (indexing) {
        this.#added.push(key);
        this.tableBytes += size;
        // Indexes count from the newest entry: every block built before is stale.
        this.#blocks.clear();
      }
      complete = false;
    }
    const block = Buffer.from(parts);
    // Once every field is in the table the block stays the same; until then
    // (the first call of each path) it changes as fields are added.
    if (complete) this.#blocks.set(path, block);
    return block;
  }
}

/** An HPACK string literal without Huffman coding (the lengths here are below 127). */
function pushString(out: number[], s: string): void {
  const bytes = Buffer.from(s, 'latin1');
  if (bytes.length >= 127) throw new Error('header value too long for this client');
  out.push(bytes.length, ...bytes);
}

/** One HTTP/2 connection; calls fail with UNAVAILABLE if it breaks. */
class RawH2Connection {
  readonly #socket: Socket;
  readonly #decoder = new HpackDecoder();
  readonly #calls = new Map<number, Call>();
  readonly #headers: RequestHeaders;
  #nextStream = 1;
  #pending: Buffer | undefined;
  #received = 0;
  /** The peer's connection receive window (our send window). */
  #sendWindow = DEFAULT_SEND_WINDOW;
  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE: each new stream's send window. */
  #initialWindow = DEFAULT_SEND_WINDOW;
  #maxFrame = DEFAULT_MAX_FRAME;
  #maxStreams = Infinity;
  #open = 0;
  /** Calls not yet opened (the peer's stream limit), in order. */
  #waiting: Call[] = [];
  /** Opened calls with body still to send, in order. */
  #sending: Call[] = [];
  /** A header block being continued for a stream that is no longer ours (cancelled). */
  #orphanBlock: { stream: number; block: Buffer[]; ends: boolean } | undefined;
  /** No new calls: the peer sent GOAWAY, or the connection broke. */
  #dead = false;
  /** The connection broke: nothing more is read from it. */
  #broken = false;
  readonly ready: Promise<void>;

  constructor(readonly endpoint: string) {
    const colon = endpoint.lastIndexOf(':');
    const host = endpoint.slice(0, colon);
    const port = Number(endpoint.slice(colon + 1));
    this.#headers = new RequestHeaders(endpoint);
    this.#socket = netConnect({ host, port, noDelay: true });
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(SETTINGS_ENABLE_PUSH, 0);
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 6);
    settings.writeUInt32BE(STREAM_WINDOW, 8);
    const topUp = Buffer.allocUnsafe(4);
    topUp.writeUInt32BE(STREAM_WINDOW, 0);
    this.#socket.write(
      Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, settings), frame(WINDOW_UPDATE, 0, 0, topUp)]),
    );
    this.ready = new Promise((resolve, reject) => {
      this.#socket.once('connect', () => resolve());
      this.#socket.once('error', reject);
    });
    this.ready.catch(() => undefined);
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#socket.on('error', () => this.#fail('connection error'));
    this.#socket.on('close', () => this.#fail('connection closed'));
  }

  get dead(): boolean {
    return this.#dead;
  }

  call(path: string, message: Uint8Array, cb: (err: unknown) => void): Cancellable {
    const body = Buffer.allocUnsafe(5 + message.length);
    body[0] = 0;
    body.writeUInt32BE(message.length, 1);
    body.set(message, 5);
    const id = this.#nextStream;
    this.#nextStream += 2;
    if (this.#dead) {
      process.nextTick(() => cb({ code: UNAVAILABLE, details: 'connection closed' }));
      return { cancel: () => undefined };
    }
    const call: Call = {
      id,
      path,
      cb,
      body,
      sent: 0,
      window: 0,
      opened: false,
      status: undefined,
      block: undefined,
      blockEnds: false,
    };
    this.#calls.set(id, call);
    if (this.#waiting.length === 0 && this.#open < this.#maxStreams) this.#openStream(call);
    else this.#waiting.push(call);
    return {
      cancel: () => {
        if (this.#calls.get(id) !== call) return;
        if (call.opened) {
          const code = Buffer.allocUnsafe(4);
          code.writeUInt32BE(CANCEL, 0);
          this.#socket.write(frame(RST_STREAM, 0, id, code));
        }
        this.#finish(call, { code: CANCELLED, details: 'cancelled' });
      },
    };
  }

  close(): void {
    this.#socket.end();
  }

  #openStream(call: Call): void {
    call.opened = true;
    call.window = this.#initialWindow;
    this.#open++;
    const block = this.#headers.block(call.path);
    const n = call.body.length;
    if (
      this.#sending.length === 0 &&
      n <= this.#sendWindow &&
      n <= call.window &&
      n <= this.#maxFrame
    ) {
      // The usual case: HEADERS and all of DATA in one write (one syscall, one segment).
      this.#sendWindow -= n;
      call.window -= n;
      call.sent = n;
      this.#socket.write(
        Buffer.concat([
          frameHeader(block.length, HEADERS, END_HEADERS, call.id),
          block,
          frameHeader(n, DATA, END_STREAM, call.id),
          call.body,
        ]),
      );
      return;
    }
    this.#socket.write(
      Buffer.concat([frameHeader(block.length, HEADERS, END_HEADERS, call.id), block]),
    );
    this.#sending.push(call);
    this.#pump();
  }

  /** Sends what the windows allow of the calls' remaining bodies, in order. */
  #pump(): void {
    let i = 0;
    while (i < this.#sending.length && this.#sendWindow > 0) {
      const call = this.#sending[i]!;
      while (call.sent < call.body.length && call.window > 0 && this.#sendWindow > 0) {
        const n = Math.min(
          call.body.length - call.sent,
          call.window,
          this.#sendWindow,
          this.#maxFrame,
        );
        const last = call.sent + n === call.body.length;
        this.#socket.write(
          Buffer.concat([
            frameHeader(n, DATA, last ? END_STREAM : 0, call.id),
            call.body.subarray(call.sent, call.sent + n),
          ]),
        );
        call.sent += n;
        call.window -= n;
        this.#sendWindow -= n;
      }
      if (call.sent === call.body.length) this.#sending.splice(i, 1);
      else i++;
    }
  }

  /** The call is over: its callback runs once, and a waiting call may open. */
  #finish(call: Call, outcome: unknown): void {
    this.#calls.delete(call.id);
    if (call.opened) {
      this.#open--;
      const s = this.#sending.indexOf(call);
      if (s >= 0) this.#sending.splice(s, 1);
    } else {
      const w = this.#waiting.indexOf(call);
      if (w >= 0) this.#waiting.splice(w, 1);
    }
    call.cb(outcome);
    while (this.#waiting.length > 0 && this.#open < this.#maxStreams && !this.#dead) {
      this.#openStream(this.#waiting.shift()!);
    }
    // A connection that is going away closes once its last call is over.
    if (this.#dead && !this.#broken && this.#calls.size === 0) this.#socket.end();
  }

  #onData(chunk: Buffer): void {
    let buf = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    let pos = 0;
    try {
      while (buf.length - pos >= 9) {
        const length = buf.readUIntBE(pos, 3);
        if (buf.length - pos < 9 + length) break;
        const type = buf[pos + 3]!;
        const flags = buf[pos + 4]!;
        const stream = buf.readUInt32BE(pos + 5) & 0x7fffffff;
        const payload = buf.subarray(pos + 9, pos + 9 + length);
        pos += 9 + length;
        this.#onFrame(type, flags, stream, payload);
        if (this.#broken) return;
      }
    } catch (err) {
      this.#fail(`protocol error: ${(err as Error).message}`);
      this.#socket.destroy();
      return;
    }
    buf = buf.subarray(pos);
    this.#pending = buf.length === 0 ? undefined : Buffer.from(buf);
  }

  #onFrame(type: number, flags: number, stream: number, payload: Buffer): void {
    switch (type) {
      case DATA: {
        this.#received += payload.length;
        if (this.#received >= CONNECTION_TOP_UP) {
          const inc = Buffer.allocUnsafe(4);
          inc.writeUInt32BE(this.#received, 0);
          this.#received = 0;
          this.#socket.write(frame(WINDOW_UPDATE, 0, 0, inc));
        }
        if (flags & END_STREAM) this.#end(stream);
        return;
      }
      case HEADERS: {
        let start = 0;
        let end = payload.length;
        if (flags & PADDED) {
          end -= payload[0]!;
          start = 1;
        }
        if (flags & PRIORITY) start += 5;
        if (start > end) throw new Error('bad HEADERS padding');
        const fragment = payload.subarray(start, end);
        if (flags & END_HEADERS) this.#onHeaderBlock(stream, fragment, (flags & END_STREAM) !== 0);
        else {
          const call = this.#calls.get(stream);
          const block = [Buffer.from(fragment)];
          if (call !== undefined) {
            call.block = block;
            call.blockEnds = (flags & END_STREAM) !== 0;
          } else this.#orphanBlock = { stream, block, ends: (flags & END_STREAM) !== 0 };
        }
        return;
      }
      case CONTINUATION: {
        const call = this.#calls.get(stream);
        const open =
          call?.block ??
          (this.#orphanBlock?.stream === stream ? this.#orphanBlock.block : undefined);
        if (open === undefined) throw new Error('CONTINUATION without HEADERS');
        open.push(Buffer.from(payload));
        if (flags & END_HEADERS) {
          const ends = call?.block !== undefined ? call.blockEnds : this.#orphanBlock!.ends;
          if (call !== undefined) call.block = undefined;
          this.#orphanBlock = undefined;
          this.#onHeaderBlock(stream, Buffer.concat(open), ends);
        }
        return;
      }
      case RST_STREAM: {
        const call = this.#calls.get(stream);
        if (call === undefined) return;
        const code = payload.length >= 4 ? payload.readUInt32BE(0) : 0;
        this.#finish(call, {
          code: code === CANCEL ? CANCELLED : UNAVAILABLE,
          details: `stream reset (HTTP/2 error ${code})`,
        });
        return;
      }
      case SETTINGS: {
        if (flags & ACK) return;
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          const id = payload.readUInt16BE(i);
          const value = payload.readUInt32BE(i + 2);
          if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
            // Applies to open streams too, by the difference (RFC 9113 6.9.2).
            const delta = value - this.#initialWindow;
            this.#initialWindow = value;
            for (const call of this.#calls.values()) if (call.opened) call.window += delta;
          } else if (id === SETTINGS_MAX_FRAME_SIZE) this.#maxFrame = value;
          else if (id === SETTINGS_HEADER_TABLE_SIZE && value < this.#headers.tableBytes) {
            // Fields we indexed may be gone from the peer's table; start over on a new connection.
            throw new Error('peer shrank its HPACK table below what this client indexed');
          } else if (id === SETTINGS_HEADER_TABLE_SIZE) this.#headers.limit = value;
          else if (id === SETTINGS_MAX_CONCURRENT_STREAMS) this.#maxStreams = value;
        }
        this.#socket.write(frameHeader(0, SETTINGS, ACK, 0));
        this.#pump();
        return;
      }
      case PING: {
        if (!(flags & ACK)) this.#socket.write(frame(PING, ACK, 0, Buffer.from(payload)));
        return;
      }
      case GOAWAY: {
        // Calls up to the last stream the peer took still finish here; later
        // ones (and the waiting ones) fail, and new calls get a new connection.
        const last = payload.readUInt32BE(0) & 0x7fffffff;
        this.#dead = true;
        for (const [id, call] of [...this.#calls]) {
          if (id > last)
            this.#finish(call, { code: UNAVAILABLE, details: 'connection going away' });
        }
        if (this.#calls.size === 0) this.#socket.end();
        return;
      }
      case WINDOW_UPDATE: {
        const inc = payload.readUInt32BE(0) & 0x7fffffff;
        if (stream === 0) this.#sendWindow += inc;
        else {
          const call = this.#calls.get(stream);
          if (call !== undefined) call.window += inc;
        }
        this.#pump();
        return;
      }
      default:
        // PRIORITY, PUSH_PROMISE (refused by our settings) and unknown types: ignored.
        return;
    }
  }

  #onHeaderBlock(stream: number, block: Buffer, ends: boolean): void {
    const headers: HeaderMap = {};
    // Every block is decoded, in order, even for cancelled calls: HPACK's table depends on it.
    this.#decoder.decode(block, headers, MAX_HEADER_LIST);
    const call = this.#calls.get(stream);
    if (call === undefined) return;
    const s = statusOf(headers);
    if (s !== undefined) call.status = s;
    if (ends) this.#end(stream);
  }

  #end(stream: number): void {
    const call = this.#calls.get(stream);
    if (call === undefined) return;
    this.#finish(
      call,
      call.status === undefined ? { code: INTERNAL, details: 'no grpc-status' } : call.status,
    );
  }

  #fail(details: string): void {
    this.#dead = true;
    this.#broken = true;
    for (const call of [...this.#calls.values()])
      this.#finish(call, { code: UNAVAILABLE, details });
  }
}

/** {@link UnaryKV} over {@link RawH2Connection}; a broken connection is replaced on the next call. */
export class RawH2UnaryKV implements UnaryKV {
  #conn: RawH2Connection | undefined;

  constructor(private readonly endpoint: string) {}

  /** Resolves once the TCP connection is up. */
  ready(): Promise<void> {
    return this.#current().ready;
  }

  #current(): RawH2Connection {
    const c = this.#conn;
    if (c !== undefined && !c.dead) return c;
    const fresh = new RawH2Connection(this.endpoint);
    this.#conn = fresh;
    return fresh;
  }

  put(req: etcdserverpb.PutRequest, cb: (err: unknown) => void): Cancellable {
    return this.#current().call(
      '/etcdserverpb.KV/Put',
      etcdserverpb.PutRequest.encode(req).finish(),
      cb,
    );
  }

  range(req: etcdserverpb.RangeRequest, cb: (err: unknown) => void): Cancellable {
    return this.#current().call(
      '/etcdserverpb.KV/Range',
      etcdserverpb.RangeRequest.encode(req).finish(),
      cb,
    );
  }

  txn(req: etcdserverpb.TxnRequest, cb: (err: unknown) => void): Cancellable {
    return this.#current().call(
      '/etcdserverpb.KV/Txn',
      etcdserverpb.TxnRequest.encode(req).finish(),
      cb,
    );
  }

  close(): void {
    this.#conn?.close();
  }
}
