// Hand-written codec for RangeResponse, the message on every read's hot path.
// It produces exactly the bytes of the generated encoder (same field order,
// defaults omitted) but sizes the whole message first and writes into one
// preallocated Buffer, and keeps 64-bit integers in plain numbers whenever
// they fit in 53 bits instead of splitting every bigint into two halves.
import { makeGenericClientConstructor } from '@grpc/grpc-js';
import { KVService } from './gen/etcdserverpb/rpc';
import type { KVClient, RangeResponse, ResponseHeader } from './gen/etcdserverpb/rpc';
import type { KeyValue } from './gen/mvccpb/kv';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

function checkInt64(v: bigint, field: string): void {
  if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`${field}: ${v} does not fit int64`);
}

function checkUint64(v: bigint, field: string): void {
  if (v < 0n || v > UINT64_MAX) throw new RangeError(`${field}: ${v} does not fit uint64`);
}

function sizeOfNumber(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 4;
  v = Math.floor(v / 0x10000000);
  while (v > 0) {
    n++;
    v = Math.floor(v / 0x80);
  }
  return n;
}

/** Varint size of a 64-bit value; negative int64 always takes 10 bytes. */
function sizeOf64(v: bigint): number {
  if (v < 0n) return 10;
  if (v <= SAFE_MAX) return sizeOfNumber(Number(v));
  let n = 0;
  while (v > 0n) {
    n++;
    v >>= 7n;
  }
  return n;
}

function writeNumber(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80000000) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  while (v > 0x7f) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

function write64(buf: Buffer, pos: number, v: bigint): number {
  if (v >= 0n && v <= SAFE_MAX) return writeNumber(buf, pos, Number(v));
  // Rare path: negative int64 (two's complement, 10 bytes) or above 2^53.
  let u = BigInt.asUintN(64, v);
  while (u > 0x7fn) {
    buf[pos++] = Number(u & 0x7fn) | 0x80;
    u >>= 7n;
  }
  buf[pos++] = Number(u);
  return pos;
}

function headerSize(h: ResponseHeader): number {
  checkUint64(h.clusterId, 'header.cluster_id');
  checkUint64(h.memberId, 'header.member_id');
  checkInt64(h.revision, 'header.revision');
  checkUint64(h.raftTerm, 'header.raft_term');
  return (
    (h.clusterId !== 0n ? 1 + sizeOf64(h.clusterId) : 0) +
    (h.memberId !== 0n ? 1 + sizeOf64(h.memberId) : 0) +
    (h.revision !== 0n ? 1 + sizeOf64(h.revision) : 0) +
    (h.raftTerm !== 0n ? 1 + sizeOf64(h.raftTerm) : 0)
  );
}

function keyValueSize(kv: KeyValue): number {
  checkInt64(kv.createRevision, 'kv.create_revision');
  checkInt64(kv.modRevision, 'kv.mod_revision');
  checkInt64(kv.version, 'kv.version');
  checkInt64(kv.lease, 'kv.lease');
  const k = kv.key.length;
  const v = kv.value.length;
  return (
    (k !== 0 ? 1 + sizeOfNumber(k) + k : 0) +
    (kv.createRevision !== 0n ? 1 + sizeOf64(kv.createRevision) : 0) +
    (kv.modRevision !== 0n ? 1 + sizeOf64(kv.modRevision) : 0) +
    (kv.version !== 0n ? 1 + sizeOf64(kv.version) : 0) +
    (v !== 0 ? 1 + sizeOfNumber(v) + v : 0) +
    (kv.lease !== 0n ? 1 + sizeOf64(kv.lease) : 0)
  );
}

/**
 * Encodes a RangeResponse to protobuf bytes identical to the generated
 * `RangeResponse.encode(msg).finish()`, in one allocation.
 */
export function encodeRangeResponse(msg: RangeResponse): Buffer {
  const kvs = msg.kvs;
  const kvSizes = new Array<number>(kvs.length);
  let total = 0;
  let hSize = -1;
  if (msg.header !== undefined) {
    hSize = headerSize(msg.header);
    total += 1 + sizeOfNumber(hSize) + hSize;
  }
  for (let i = 0; i < kvs.length; i++) {
    const s = keyValueSize(kvs[i]!);
    kvSizes[i] = s;
    total += 1 + sizeOfNumber(s) + s;
  }
  if (msg.more) total += 2;
  if (msg.count !== 0n) {
    checkInt64(msg.count, 'count');
    total += 1 + sizeOf64(msg.count);
  }

  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  const h = msg.header;
  if (h !== undefined) {
    buf[pos++] = 0x0a;
    pos = writeNumber(buf, pos, hSize);
    if (h.clusterId !== 0n) {
      buf[pos++] = 0x08;
      pos = write64(buf, pos, h.clusterId);
    }
    if (h.memberId !== 0n) {
      buf[pos++] = 0x10;
      pos = write64(buf, pos, h.memberId);
    }
    if (h.revision !== 0n) {
      buf[pos++] = 0x18;
      pos = write64(buf, pos, h.revision);
    }
    if (h.raftTerm !== 0n) {
      buf[pos++] = 0x20;
      pos = write64(buf, pos, h.raftTerm);
    }
  }
  for (let i = 0; i < kvs.length; i++) {
    const kv = kvs[i]!;
    buf[pos++] = 0x12;
    pos = writeNumber(buf, pos, kvSizes[i]!);
    if (kv.key.length !== 0) {
      buf[pos++] = 0x0a;
      pos = writeNumber(buf, pos, kv.key.length);
      buf.set(kv.key, pos);
      pos += kv.key.length;
    }
    if (kv.createRevision !== 0n) {
      buf[pos++] = 0x10;
      pos = write64(buf, pos, kv.createRevision);
    }
    if (kv.modRevision !== 0n) {
      buf[pos++] = 0x18;
      pos = write64(buf, pos, kv.modRevision);
    }
    if (kv.version !== 0n) {
      buf[pos++] = 0x20;
      pos = write64(buf, pos, kv.version);
    }
    if (kv.value.length !== 0) {
      buf[pos++] = 0x2a;
      pos = writeNumber(buf, pos, kv.value.length);
      buf.set(kv.value, pos);
      pos += kv.value.length;
    }
    if (kv.lease !== 0n) {
      buf[pos++] = 0x30;
      pos = write64(buf, pos, kv.lease);
    }
  }
  if (msg.more) {
    buf[pos++] = 0x18;
    buf[pos++] = 0x01;
  }
  if (msg.count !== 0n) {
    buf[pos++] = 0x20;
    pos = write64(buf, pos, msg.count);
  }
  if (pos !== total) throw new Error(`encodeRangeResponse: wrote ${pos} of ${total} bytes`);
  return buf;
}

// ---- decoding ----

class Cursor {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }

  varint32(): number {
    const buf = this.buf;
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= buf.length) throw new RangeError('truncated varint');
      const byte = buf[this.pos++]!;
      if (shift < 28) result |= (byte & 0x7f) << shift;
      else result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new RangeError('varint too long');
    }
  }

  /** Reads a varint as a two's-complement int64 (signed) or uint64. */
  varint64(signed: boolean): bigint {
    const buf = this.buf;
    let pos = this.pos;
    if (pos >= buf.length) throw new RangeError('truncated varint');
    let byte = buf[pos++]!;
    if (byte < 0x80) {
      this.pos = pos;
      return BigInt(byte);
    }
    // Up to 7 bytes (49 bits) stay exact in a double.
    let lo = byte & 0x7f;
    let scale = 0x80;
    for (let i = 1; i < 7; i++) {
      if (pos >= buf.length) throw new RangeError('truncated varint');
      byte = buf[pos++]!;
      lo += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        this.pos = pos;
        return BigInt(lo);
      }
      scale *= 0x80;
    }
    let big = BigInt(lo);
    for (let shift = 49n; shift < 70n; shift += 7n) {
      if (pos >= buf.length) throw new RangeError('truncated varint');
      byte = buf[pos++]!;
      big |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.pos = pos;
        big = BigInt.asUintN(64, big);
        return signed ? BigInt.asIntN(64, big) : big;
      }
    }
    throw new RangeError('varint too long');
  }

  bytes(copy: boolean): Buffer {
    const len = this.varint32();
    const end = this.pos + len;
    if (end > this.buf.length) throw new RangeError('truncated bytes field');
    const out = copy
      ? Buffer.from(this.buf.subarray(this.pos, end))
      : this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  /** Skips the payload of an unknown field with the given tag. */
  skip(tag: number): void {
    if (tag >>> 3 === 0) throw new RangeError('invalid field number 0');
    const wireType = tag & 7;
    switch (wireType) {
      case 0:
        this.varint64(false);
        return;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        // Read the length first: `this.pos += this.varint32()` would add it to
        // the position from before the length prefix.
        const len = this.varint32();
        this.pos += len;
        break;
      }
      case 5:
        this.pos += 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.buf.length) throw new RangeError('truncated field');
  }
}

function decodeHeader(c: Cursor, end: number): ResponseHeader {
  const h: ResponseHeader = { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };
  while (c.pos < end) {
    const tag = c.varint32();
    switch (tag) {
      case 0x08:
        h.clusterId = c.varint64(false);
        break;
      case 0x10:
        h.memberId = c.varint64(false);
        break;
      case 0x18:
        h.revision = c.varint64(true);
        break;
      case 0x20:
        h.raftTerm = c.varint64(false);
        break;
      default:
        c.skip(tag);
    }
  }
  return h;
}

function decodeKeyValue(c: Cursor, end: number, copy: boolean): KeyValue {
  const kv: KeyValue = {
    key: EMPTY,
    createRevision: 0n,
    modRevision: 0n,
    version: 0n,
    value: EMPTY,
    lease: 0n,
  };
  while (c.pos < end) {
    const tag = c.varint32();
    switch (tag) {
      case 0x0a:
        kv.key = c.bytes(copy);
        break;
      case 0x10:
        kv.createRevision = c.varint64(true);
        break;
      case 0x18:
        kv.modRevision = c.varint64(true);
        break;
      case 0x20:
        kv.version = c.varint64(true);
        break;
      case 0x2a:
        kv.value = c.bytes(copy);
        break;
      case 0x30:
        kv.lease = c.varint64(true);
        break;
      default:
        c.skip(tag);
    }
  }
  return kv;
}

const EMPTY = Buffer.alloc(0);

/** Options for {@link decodeRangeResponse}. */
export interface DecodeRangeResponseOptions {
  /**
   * Copy key and value bytes out of the input (default true, like the
   * generated decoder). With false they are views into the input buffer:
   * faster, but they change if the caller reuses that buffer.
   */
  readonly copy?: boolean;
}

/**
 * Decodes RangeResponse bytes to the same object the generated
 * `RangeResponse.decode` returns; unknown fields are skipped.
 */
export function decodeRangeResponse(
  input: Uint8Array,
  options: DecodeRangeResponseOptions = {},
): RangeResponse {
  const copy = options.copy ?? true;
  const buf = Buffer.isBuffer(input)
    ? input
    : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const c = new Cursor(buf, 0);
  const msg: RangeResponse = { header: undefined, kvs: [], more: false, count: 0n };
  while (c.pos < buf.length) {
    const tag = c.varint32();
    switch (tag) {
      case 0x0a: {
        const len = c.varint32();
        const end = c.pos + len;
        if (end > buf.length) throw new RangeError('truncated header');
        // A repeated occurrence of a singular message merges, as the spec says.
        const h = decodeHeader(c, end);
        msg.header = msg.header === undefined ? h : mergeHeader(msg.header, h);
        c.pos = end;
        break;
      }
      case 0x12: {
        const len = c.varint32();
        const end = c.pos + len;
        if (end > buf.length) throw new RangeError('truncated key-value');
        msg.kvs.push(decodeKeyValue(c, end, copy));
        c.pos = end;
        break;
      }
      case 0x18:
        msg.more = c.varint64(false) !== 0n;
        break;
      case 0x20:
        msg.count = c.varint64(true);
        break;
      default:
        c.skip(tag);
    }
  }
  return msg;
}

function mergeHeader(a: ResponseHeader, b: ResponseHeader): ResponseHeader {
  return {
    clusterId: b.clusterId !== 0n ? b.clusterId : a.clusterId,
    memberId: b.memberId !== 0n ? b.memberId : a.memberId,
    revision: b.revision !== 0n ? b.revision : a.revision,
    raftTerm: b.raftTerm !== 0n ? b.raftTerm : a.raftTerm,
  };
}

/**
 * `KVService` with the hand-written codec on Range responses; every other
 * method, and every path, is unchanged. Wire bytes are identical, so either
 * side may use it alone.
 */
export const FastKVService: typeof KVService = {
  ...KVService,
  range: {
    ...KVService.range,
    responseSerialize: encodeRangeResponse,
    responseDeserialize: (bytes: Buffer) => decodeRangeResponse(bytes),
  },
};

/** Client constructor for {@link FastKVService}; same API as `KVClient`. */
export const FastKVClient = makeGenericClientConstructor(
  FastKVService,
  'etcdserverpb.KV',
) as unknown as typeof KVClient;
