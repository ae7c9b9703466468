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

/** Decode mvccpb.KeyValue bytes; unknown fields are skipped. Throws MVCC_CORRUPT if malformed. */
export function decodeKeyValue(b: Uint8Array): KeyValue {
  let pos = 0;
  const bigVarint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= b.length || shift > 63n) corrupt('bad varint');
      const c = b[pos++] as number;
      v |= BigInt(c & 0x7f) << shift;
      if (c < 0x80) return BigInt.asUintN(64, v);
      shift += 7n;
    }
  };
  const varint = (): number => {
    // Fast path for up to 4 bytes (28 bits), the common case.
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (pos >= b.length) corrupt('truncated varint');
      const c = b[pos++] as number;
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
    pos -= 8;
    const big = BigInt.asIntN(64, bigVarint());
    if (big < 0n || big > BigInt(Number.MAX_SAFE_INTEGER)) corrupt('integer beyond 2^53');
    return Number(big);
  };
  const bytes = (): Uint8Array => {
    const len = varint();
    if (pos + len > b.length) corrupt('truncated bytes');
    const out = b.slice(pos, pos + len);
    pos += len;
    return out;
  };
  let key: Uint8Array = EMPTY;
  let value: Uint8Array = EMPTY;
  let createRevision = 0;
  let modRevision = 0;
  let version = 0;
  let lease = 0n;
  while (pos < b.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) key = bytes();
    else if (field === 2 && wire === 0) createRevision = varint();
    else if (field === 3 && wire === 0) modRevision = varint();
    else if (field === 4 && wire === 0) version = varint();
    else if (field === 5 && wire === 2) value = bytes();
    else if (field === 6 && wire === 0) lease = BigInt.asIntN(64, bigVarint());
    else if (wire === 0) bigVarint();
    else if (wire === 1) pos += 8;
    else if (wire === 2) {
      // Not `pos += varint()`: that would read pos before varint() moves it.
      const len = varint();
      pos += len;
    } else if (wire === 5) pos += 4;
    else corrupt(`unsupported wire type ${wire}`);
    if (pos > b.length) corrupt('truncated field');
  }
  return { key, createRevision, modRevision, version, value, lease };
}
