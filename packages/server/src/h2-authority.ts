/**
 * Go's gRPC (etcdctl, clientv3) dials an endpoint written with a scheme,
 * `--endpoints=http://127.0.0.1:2379`, through its passthrough resolver and
 * sends the whole string as the `:authority` pseudo-header. etcd's Go HTTP/2
 * server accepts that; Node's nghttp2 validates `:authority` (and `host`)
 * against RFC 3986's authority characters and answers RST_STREAM
 * PROTOCOL_ERROR for the '/' in it, before grpc-js ever sees the request.
 *
 * This filter sits between the client's socket and Node's HTTP/2 server and
 * repairs such values on the way in: it follows the HPACK state of the
 * client's header blocks (RFC 7541, including the dynamic table and Huffman
 * coding) and rewrites only the string of an `:authority`/`host` field whose
 * value nghttp2 would reject, to the URL's authority part
 * (`http://127.0.0.1:2379` → `127.0.0.1:2379`). Every other byte passes
 * through unchanged. A repaired value is never longer than the original, so
 * the server's copy of the dynamic table never evicts an entry the client
 * still references: indices stay in step without re-encoding anything else.
 */
import { Duplex } from 'node:stream';
import type net from 'node:net';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, STATIC_NAMES } from './hpack-tables';

const PREFACE_LENGTH = 24;
const FRAME_HEADER = 9;
const TYPE_HEADERS = 0x1;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** SETTINGS_MAX_FRAME_SIZE's initial value: a peer always accepts frames this large. */
const MAX_FRAME = 16_384;
/** SETTINGS_HEADER_TABLE_SIZE's initial value (Node's server keeps it). */
const DEFAULT_TABLE_SIZE = 4096;

// nghttp2's VALID_AUTHORITY_CHARS: unreserved, sub-delims, ':', '@', '%', '[', ']'.
const AUTHORITY_CHARS = new Uint8Array(256);
for (const c of "-._~!$&'()*+,;=:%@[]") AUTHORITY_CHARS[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) AUTHORITY_CHARS[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) {
  AUTHORITY_CHARS[c] = 1;
  AUTHORITY_CHARS[c + 0x20] = 1;
}

/** Whether nghttp2 accepts this `:authority` / `host` value. */
export function isValidAuthority(value: Uint8Array): boolean {
  for (const b of value) if (AUTHORITY_CHARS[b] === 0) return false;
  return true;
}

/**
 * An acceptable value no longer than `value`: the authority part of
 * `scheme://authority/...`, else `localhost`, else the value with every
 * rejected character replaced by '_'.
 */
export function repairAuthority(value: Uint8Array): Buffer {
  const s = Buffer.from(value).toString('latin1');
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(s);
  const part = m?.[1];
  if (part !== undefined && part.length > 0) {
    const b = Buffer.from(part, 'latin1');
    if (isValidAuthority(b)) return b;
  }
  if (value.length >= 'localhost'.length) return Buffer.from('localhost');
  const out = Buffer.from(value);
  for (let i = 0; i < out.length; i++) if (AUTHORITY_CHARS[out[i]!] === 0) out[i] = 0x5f;
  return out;
}

// ---------------------------------------------------------------- Huffman

/** Decoding tree: node n has children tree[2n], tree[2n+1]; a leaf is -(symbol + 1). */
const HUFFMAN_TREE: Int32Array = (() => {
  const tree = new Int32Array(2 * 512).fill(0);
  let next = 1;
  for (let sym = 0; sym < 257; sym++) {
    const code = HUFFMAN_CODES[sym]!;
    const len = HUFFMAN_LENGTHS[sym]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1;
      const slot = 2 * node + bit;
      if (i === 0) {
        tree[slot] = -(sym + 1);
      } else {
        if (tree[slot] === 0) tree[slot] = next++;
        node = tree[slot]!;
      }
    }
  }
  return tree;
})();

class HpackError extends Error {}

const STATIC: readonly string[] = [...STATIC_NAMES];
const STATIC_COUNT = STATIC.length;

/** Where strings are decoded: reused, as a decoded string is copied out at once. */
let scratch = Buffer.allocUnsafeSlow(256);

/**
 * Decodes a Huffman-coded string (RFC 7541 §5.2) into `scratch` (grown as
 * needed) and returns its length in symbols; with `count` only counts.
 */
function huffman(src: Uint8Array, count: boolean): number {
  // The shortest code is 5 bits long.
  if (!count && scratch.length < Math.ceil((src.length * 8) / 5))
    scratch = Buffer.allocUnsafeSlow(Math.max(scratch.length * 2, Math.ceil((src.length * 8) / 5)));
  const out = scratch;
  let symbols = 0;
  let node = 0;
  let depth = 0;
  let allOnes = true;
  for (const byte of src) {
    for (let i = 7; i >= 0; i--) {
      const bit = (byte >> i) & 1;
      const child = HUFFMAN_TREE[2 * node + bit]!;
      depth++;
      if (bit === 0) allOnes = false;
      if (child < 0) {
        const sym = -child - 1;
        if (sym === 256) throw new HpackError('EOS in Huffman string');
        if (!count) out[symbols] = sym;
        symbols++;
        node = 0;
        depth = 0;
        allOnes = true;
      } else if (child === 0) {
        throw new HpackError('bad Huffman code');
      } else {
        node = child;
      }
    }
  }
  if (depth > 7 || !allOnes) throw new HpackError('bad Huffman padding');
  return symbols;
}

/** Decodes a Huffman-coded string (RFC 7541 §5.2). */
export function huffmanDecode(src: Uint8Array): Buffer {
  return Buffer.from(scratch.subarray(0, huffman(src, false)));
}

/** Decodes a Huffman-coded string (RFC 7541 §5.2) straight to a latin1 string. */
export function huffmanDecodeLatin1(src: Uint8Array): string {
  return scratch.toString('latin1', 0, huffman(src, false));
}

// ---------------------------------------------------------------- HPACK

interface Edit {
  /** Byte range of the value's string literal (length prefix included) in the block. */
  readonly start: number;
  readonly end: number;
  readonly replacement: Buffer;
}

/**
 * Mirrors the decoder state the server keeps for one connection's requests
 * and finds the `:authority` / `host` strings that need repairing.
 */
export class HpackMirror {
  /** Newest first: names and sizes (RFC 7541 §4.1) of the dynamic table. */
  private names: string[] = [];
  private sizes: number[] = [];
  private used = 0;
  private max = DEFAULT_TABLE_SIZE;

  /** The block being scanned and the read position in it. */
  private block: Buffer = Buffer.alloc(0);
  private pos = 0;

  /** The edits that repair `block`; updates the table as the server will. */
  scan(block: Buffer): Edit[] {
    const edits: Edit[] = [];
    this.block = block;
    this.pos = 0;
    while (this.pos < block.length) {
      const b = block[this.pos]!;
      if (b & 0x80) {
        // Indexed field: the server already holds a repaired value.
        this.nameAt(this.int(7));
        continue;
      }
      if ((b & 0xe0) === 0x20) {
        this.max = this.int(5);
        this.evict(0);
        continue;
      }
      const indexing = (b & 0xc0) === 0x40;
      const index = this.int(indexing ? 6 : 4);
      let name: string;
      if (index === 0) {
        const nameStart = this.pos;
        const len = this.str();
        const raw = block.subarray(this.pos - len, this.pos);
        const coded = (block[nameStart]! & 0x80) !== 0;
        name = coded ? huffmanDecodeLatin1(raw) : raw.toString('latin1');
      } else {
        name = this.nameAt(index);
      }
      const start = this.pos;
      const length = this.str();
      const coded = (block[start]! & 0x80) !== 0;
      const raw = block.subarray(this.pos - length, this.pos);
      let valueLength: number;
      if (name === ':authority' || name === 'host') {
        let value = coded ? huffmanDecode(raw) : raw;
        if (!isValidAuthority(value)) {
          value = repairAuthority(value);
          edits.push({ start, end: this.pos, replacement: value });
        }
        valueLength = value.length;
      } else if (indexing) {
        valueLength = coded ? huffman(raw, true) : length;
      } else {
        continue;
      }
      if (indexing) this.add(name, name.length + valueLength + 32);
    }
    return edits;
  }

  private int(prefixBits: number): number {
    const block = this.block;
    const mask = (1 << prefixBits) - 1;
    if (this.pos >= block.length) throw new HpackError('truncated integer');
    let v = block[this.pos++]! & mask;
    if (v < mask) return v;
    let m = 0;
    for (;;) {
      if (this.pos >= block.length) throw new HpackError('truncated integer');
      const b = block[this.pos++]!;
      v += (b & 0x7f) * 2 ** m;
      m += 7;
      if ((b & 0x80) === 0) return v;
      if (m > 28) throw new HpackError('integer overflow');
    }
  }

  /** Skips a string literal; returns its length in octets as sent. */
  private str(): number {
    if (this.pos >= this.block.length) throw new HpackError('truncated string');
    const len = this.int(7);
    if (this.pos + len > this.block.length) throw new HpackError('truncated string');
    this.pos += len;
    return len;
  }

  private nameAt(index: number): string {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_COUNT) return STATIC[index - 1]!;
    const name = this.names[index - STATIC_COUNT - 1];
    if (name === undefined) throw new HpackError('index out of range');
    return name;
  }

  private add(name: string, size: number): void {
    this.evict(size);
    if (size > this.max) return;
    this.names.unshift(name);
    this.sizes.unshift(size);
    this.used += size;
  }

  /** Evicts the oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.sizes.length > 0 && this.used + room > this.max) {
      this.used -= this.sizes.pop()!;
      this.names.pop();
    }
  }
}

/** A raw (not Huffman-coded) HPACK string literal. */
function encodeString(value: Buffer): Buffer {
  const prefix: number[] = [];
  let n = value.length;
  if (n < 0x7f) prefix.push(n);
  else {
    prefix.push(0x7f);
    n -= 0x7f;
    while (n >= 0x80) {
      prefix.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    prefix.push(n);
  }
  return Buffer.concat([Buffer.from(prefix), value]);
}

function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.alloc(FRAME_HEADER);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return h;
}

// ---------------------------------------------------------------- frames

interface HeldFrame {
  readonly header: Buffer;
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer[];
}

/**
 * Client-to-server byte filter: passes the connection preface and every
 * frame through, holds back a header block until its END_HEADERS and
 * re-frames it only when it needed a repair. Malformed input switches it
 * to plain pass-through, so nghttp2 reports the error as it would have.
 */
export class AuthorityRepairFilter {
  private readonly hpack = new HpackMirror();
  private prefaceLeft = PREFACE_LENGTH;
  /** The bytes read so far of a frame header cut by a chunk end (not yet passed on). */
  private partial: Buffer = Buffer.alloc(0);
  /** Payload bytes left in the current frame; -1 while reading a frame header. */
  private left = -1;
  /** The current frame when it belongs to a header block. */
  private current: HeldFrame | undefined;
  /** The frames of the header block being collected. */
  private held: HeldFrame[] = [];
  private passthrough = false;
  /** Header fields repaired so far. */
  repaired = 0;

  /** The bytes to hand to the HTTP/2 server for this chunk of client bytes. */
  transform(chunk: Buffer): Buffer[] {
    if (this.passthrough) return [chunk];
    const out: Buffer[] = [];
    let pos = Math.min(this.prefaceLeft, chunk.length);
    this.prefaceLeft -= pos;
    /** Start of the run of chunk bytes passed on unchanged. */
    let run = 0;
    const flushRun = (to: number): void => {
      if (to > run) out.push(chunk.subarray(run, to));
      run = to;
    };
    while (pos < chunk.length) {
      if (this.left < 0) {
        const take = Math.min(FRAME_HEADER - this.partial.length, chunk.length - pos);
        const start = pos;
        pos += take;
        const split = this.partial.length > 0;
        if (split || take < FRAME_HEADER) {
          this.partial = Buffer.concat([this.partial, chunk.subarray(start, pos)]);
          if (this.partial.length < FRAME_HEADER) {
            // The header's bytes wait in `partial` for the next chunk.
            flushRun(start);
            run = pos;
            break;
          }
        }
        const h = split ? this.partial : chunk.subarray(start, pos);
        this.partial = Buffer.alloc(0);
        const length = h.readUIntBE(0, 3);
        const type = h[3]!;
        if (this.held.length > 0 && type !== TYPE_CONTINUATION) {
          // A header block interrupted: a protocol error nghttp2 will report.
          flushRun(start);
          this.giveUp(out);
          out.push(Buffer.from(h), chunk.subarray(pos));
          return out;
        }
        if (type === TYPE_HEADERS || type === TYPE_CONTINUATION) {
          flushRun(start);
          run = pos;
          this.current = {
            header: Buffer.from(h),
            type,
            flags: h[4]!,
            stream: h.readUInt32BE(5) & 0x7fffffff,
            payload: [],
          };
          this.held.push(this.current);
        } else if (split) {
          flushRun(start);
          out.push(h);
          run = pos;
        }
        this.left = length;
      } else {
        const take = Math.min(this.left, chunk.length - pos);
        if (this.current !== undefined) {
          // Socket chunks are never reused, so holding a view is safe.
          this.current.payload.push(chunk.subarray(pos, pos + take));
          run = pos + take;
        }
        pos += take;
        this.left -= take;
      }
      if (this.left === 0) {
        this.left = -1;
        const frame = this.current;
        this.current = undefined;
        if (frame !== undefined && (frame.flags & FLAG_END_HEADERS) !== 0) {
          if (!this.endBlock(out)) {
            out.push(chunk.subarray(pos));
            return out;
          }
        }
      }
    }
    flushRun(pos);
    return out;
  }

  /** Emits the complete header block held, repaired if needed; false after giving up. */
  private endBlock(out: Buffer[]): boolean {
    const frames = this.held;
    const first = frames[0]!;
    let block: Buffer;
    let priority: Buffer = Buffer.alloc(0);
    let edits: Edit[];
    try {
      if (first.type !== TYPE_HEADERS) throw new HpackError('CONTINUATION without HEADERS');
      const fragments = frames.map((f) =>
        f.payload.length === 1 ? f.payload[0]! : Buffer.concat(f.payload),
      );
      let p = fragments[0]!;
      let padLength = 0;
      if (first.flags & FLAG_PADDED) {
        if (p.length < 1) throw new HpackError('bad padding');
        padLength = p[0]!;
        p = p.subarray(1);
      }
      if (first.flags & FLAG_PRIORITY) {
        if (p.length < 5) throw new HpackError('bad priority');
        priority = p.subarray(0, 5);
        p = p.subarray(5);
      }
      if (padLength > p.length) throw new HpackError('bad padding');
      fragments[0] = p.subarray(0, p.length - padLength);
      block = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
      edits = this.hpack.scan(block);
    } catch (e) {
      if (!(e instanceof HpackError)) throw e;
      this.giveUp(out);
      return false;
    }
    this.held = [];
    if (edits.length === 0) {
      for (const f of frames) out.push(f.header, ...f.payload);
      // A client names one authority per connection: when its first request
      // needs no repair, none will, and the rest passes through unparsed.
      if (this.repaired === 0) this.passthrough = true;
      return true;
    }
    this.repaired += edits.length;
    const pieces: Buffer[] = [];
    let at = 0;
    for (const e of edits) {
      pieces.push(block.subarray(at, e.start), encodeString(e.replacement));
      at = e.end;
    }
    pieces.push(block.subarray(at));
    const fixed = Buffer.concat(pieces);
    // Re-framed without padding, in frames no larger than any peer accepts.
    const flags = first.flags & ~(FLAG_PADDED | FLAG_END_HEADERS);
    let offset = 0;
    let type = TYPE_HEADERS;
    do {
      const lead = type === TYPE_HEADERS ? priority : Buffer.alloc(0);
      const piece = fixed.subarray(offset, offset + MAX_FRAME - lead.length);
      offset += piece.length;
      const end = offset >= fixed.length ? FLAG_END_HEADERS : 0;
      const f = type === TYPE_HEADERS ? flags | end : end;
      out.push(frameHeader(lead.length + piece.length, type, f, first.stream), lead, piece);
      type = TYPE_CONTINUATION;
    } while (offset < fixed.length);
    return true;
  }

  /** Passes everything on unchanged from now on, starting with what was held. */
  private giveUp(out: Buffer[]): void {
    this.passthrough = true;
    for (const f of this.held) out.push(f.header, ...f.payload);
    this.held = [];
    this.current = undefined;
  }
}

/**
 * Wraps an accepted client socket for Node's HTTP/2 server: writes go to the
 * socket unchanged, reads pass through an {@link AuthorityRepairFilter}.
 */
export class AuthorityRepairStream extends Duplex {
  readonly repair = new AuthorityRepairFilter();

  constructor(readonly socket: net.Socket) {
    super({ allowHalfOpen: false });
    socket.on('data', (chunk: Buffer) => {
      const out = this.repair.transform(chunk);
      const more =
        out.length === 1 ? this.push(out[0]) : out.length === 0 || this.push(Buffer.concat(out));
      if (!more) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
    socket.on('timeout', () => this.emit('timeout'));
    socket.pause();
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    cb: (err?: Error | null) => void,
  ): void {
    if (this.socket.write(chunk)) cb();
    else this.socket.once('drain', () => cb());
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    cb: (err?: Error | null) => void,
  ): void {
    this.socket.cork();
    let ok = true;
    for (const c of chunks) ok = this.socket.write(c.chunk);
    this.socket.uncork();
    if (ok) cb();
    else this.socket.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy(err ?? undefined);
    cb(err);
  }

  // What Node's HTTP/2 session and grpc-js read from or call on a socket.
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.socket.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }
  get localPort(): number | undefined {
    return this.socket.localPort;
  }
  setTimeout(ms: number, cb?: () => void): this {
    this.socket.setTimeout(ms, cb);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.socket.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, delay?: number): this {
    this.socket.setKeepAlive(enable, delay);
    return this;
  }
}
