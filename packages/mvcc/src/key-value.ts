import { MvccError, MvccErrorCode } from './errors';

/** One version of a key, as etcd's mvccpb.KeyValue. */
export interface KeyValue {
  readonly key: Uint8Array;
  /** Revision of the put that created the key's current generation. */
  readonly createRevision: number;
  /** Revision of the last modification. */
  readonly modRevision: number;
  /** Number of puts since the key was created (1 for a new key). */
  readonly version: number;
  readonly value: Uint8Array;
  /** Attached lease id, 0n for none. */
  readonly lease: bigint;
}

const EMPTY: Uint8Array = new Uint8Array(0);
const TWO_63 = 1n << 63n;

function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function bigVarintSize(v: bigint): number {
  let n = 1;
  while (v >= 128n) {
    v >>= 7n;
    n++;
  }
  return n;
}

class Writer {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  varint(v: number): void {
    // Division rather than bit ops: values may exceed 32 bits.
    while (v >= 128) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  bigVarint(v: bigint): void {
    while (v >= 128n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }
  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

function checkInt(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new MvccError(
      MvccErrorCode.InvalidArgument,
      `${what} must be a non-negative safe integer`,
    );
  }
}

/**
 * Encode in the mvccpb.KeyValue protobuf wire format (proto3: zero fields
 * are omitted, fields in number order), byte-identical to what etcd stores.
 */
export function encodeKeyValue(kv: KeyValue): Uint8Array {
  checkInt(kv.createRevision, 'createRevision');
  checkInt(kv.modRevision, 'modRevision');
  checkInt(kv.version, 'version');
  if (kv.lease < -TWO_63 || kv.lease >= TWO_63) {
    throw new MvccError(MvccErrorCode.InvalidArgument, 'lease must fit in int64');
  }
  // Negative int64 is sent as its 64-bit two's complement (10-byte varint).
  const lease = BigInt.asUintN(64, kv.lease);
  let size = 0;
  if (kv.key.length > 0) size += 1 + varintSize(kv.key.length) + kv.key.length;
  if (kv.createRevision !== 0) size += 1 + varintSize(kv.createRevision);
  if (kv.modRevision !== 0) size += 1 + varintSize(kv.modRevision);
  if (kv.version !== 0) size += 1 + varintSize(kv.version);
  if (kv.value.length > 0) size += 1 + varintSize(kv.value.length) + kv.value.length;
  if (lease !== 0n) size += 1 + bigVarintSize(lease);
  const w = new Writer(new Uint8Array(size));
  if (kv.key.length > 0) {
    w.buf[w.pos++] = 0x0a;
    w.bytes(kv.key);
  }
  if (kv.createRevision !== 0) {
    w.buf[w.pos++] = 0x10;
    w.varint(kv.createRevision);
  }
  if (kv.modRevision !== 0) {
    w.buf[w.pos++] = 0x18;
    w.varint(kv.modRevision);
  }
  if (kv.version !== 0) {
    w.buf[w.pos++] = 0x20;
    w.varint(kv.version);
  }
  if (kv.value.length > 0) {
    w.buf[w.pos++] = 0x2a;
    w.bytes(kv.value);
  }
  if (lease !== 0n) {
    w.buf[w.pos++] = 0x30;
    w.bigVarint(lease);
  }
  return w.buf;
}

function corrupt(why: string): never {
  throw new MvccError(MvccErrorCode.Corrupt, `KeyValue: ${why}`);
}

/** A cursor over protobuf bytes (a class rather than closures: decoding is hot). */
class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}

  bigVarint(): bigint {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.b.length || shift > 63n) corrupt('bad varint');
      const c = this.b[this.pos++] as number;
      v |= BigInt(c & 0x7f) << shift;
      if (c < 0x80) return BigInt.asUintN(64, v);
      shift += 7n;
    }
  }

  varint(): number {
    // Plain arithmetic for up to 7 bytes (49 bits); beyond that, bigint and a range check.
    const b = this.b;
    let v = 0;
    let mul = 1;
    const start = this.pos;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= b.length) corrupt('truncated varint');
      const c = b[this.pos++] as number;
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
    this.pos = start;
    const big = BigInt.asIntN(64, this.bigVarint());
    if (big < 0n || big > BigInt(Number.MAX_SAFE_INTEGER)) corrupt('integer beyond 2^53');
    return Number(big);
  }

  bytes(): Uint8Array {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.b.length) corrupt('truncated bytes');
    // A view, not a copy: copying each small field costs more than the rest of decoding.
    const out = this.b.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  skip(wire: number): void {
    if (wire === 0) this.bigVarint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      const len = this.varint();
      this.pos += len;
    } else if (wire === 5) this.pos += 4;
    else corrupt(`unsupported wire type ${wire}`);
    if (this.pos > this.b.length) corrupt('truncated field');
  }
}

/**
 * Decode mvccpb.KeyValue bytes; unknown fields are skipped. Throws MVCC_CORRUPT
 * if malformed. `key` and `value` are views into `b`, not copies.
 */
export function decodeKeyValue(b: Uint8Array): KeyValue {
  const r = new Reader(b);
  let key: Uint8Array = EMPTY;
  let value: Uint8Array = EMPTY;
  let createRevision = 0;
  let modRevision = 0;
  let version = 0;
  let lease = 0n;
  while (r.pos < b.length) {
    const tag = r.varint();
    const wire = tag & 7;
    switch (tag) {
      case 0x0a:
        key = r.bytes();
        break;
      case 0x10:
        createRevision = r.varint();
        break;
      case 0x18:
        modRevision = r.varint();
        break;
      case 0x20:
        version = r.varint();
        break;
      case 0x2a:
        value = r.bytes();
        break;
      case 0x30:
        lease = BigInt.asIntN(64, r.bigVarint());
        break;
      default:
        r.skip(wire);
    }
  }
  return { key, createRevision, modRevision, version, value, lease };
}

/** Only the `key` field of encoded mvccpb.KeyValue bytes (a view); cheaper than a full decode. */
export function decodeKeyValueKey(b: Uint8Array): Uint8Array {
  const r = new Reader(b);
  while (r.pos < b.length) {
    const tag = r.varint();
    if (tag === 0x0a) return r.bytes();
    r.skip(tag & 7);
  }
  return EMPTY;
}
