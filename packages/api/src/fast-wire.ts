// Shared pieces of the hand-written encoders: varint sizing and writing with
// 64-bit values kept in plain numbers while they fit in 53 bits, and the
// ResponseHeader and KeyValue sub-messages that every hot response carries.
// All encoders size a message completely, then write it into one Buffer.
import type { ResponseHeader } from './gen/etcdserverpb/rpc';
import type { KeyValue } from './gen/mvccpb/kv';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

export function checkInt64(v: bigint, field: string): void {
  if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`${field}: ${v} does not fit int64`);
}

export function checkUint64(v: bigint, field: string): void {
  if (v < 0n || v > UINT64_MAX) throw new RangeError(`${field}: ${v} does not fit uint64`);
}

export function sizeOfNumber(v: number): number {
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
export function sizeOf64(v: bigint): number {
  if (v >= 0n && v <= SAFE_MAX) return sizeOfNumber(Number(v));
  return bigVarint(v).length;
}

// Cluster and member IDs are random 64-bit values above 2^53 that every
// response header carries; varint-encoding them with bigint arithmetic
// allocates a BigInt per 7 bits (~1 kB per header). The last few such
// values' encodings are remembered instead (looked up by value: no allocation).
const BIG_SLOTS = 4;
const bigValues: (bigint | undefined)[] = new Array<bigint | undefined>(BIG_SLOTS).fill(undefined);
const bigEncodings: Uint8Array[] = new Array<Uint8Array>(BIG_SLOTS).fill(new Uint8Array(0));
let bigNext = 0;

/** Varint bytes of a value outside 0..2^53-1 (negative int64: two's complement, 10 bytes). */
function bigVarint(v: bigint): Uint8Array {
  for (let i = 0; i < BIG_SLOTS; i++) if (bigValues[i] === v) return bigEncodings[i]!;
  const out: number[] = [];
  let u = BigInt.asUintN(64, v);
  while (u > 0x7fn) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
  const enc = Uint8Array.from(out);
  bigValues[bigNext] = v;
  bigEncodings[bigNext] = enc;
  bigNext = (bigNext + 1) % BIG_SLOTS;
  return enc;
}

export function writeNumber(buf: Buffer, pos: number, v: number): number {
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

export function write64(buf: Buffer, pos: number, v: bigint): number {
  if (v >= 0n && v <= SAFE_MAX) return writeNumber(buf, pos, Number(v));
  const enc = bigVarint(v);
  for (let i = 0; i < enc.length; i++) buf[pos++] = enc[i]!;
  return pos;
}

/** Body size of a ResponseHeader; throws RangeError on out-of-range values. */
export function headerSize(h: ResponseHeader): number {
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

/** Body size of a KeyValue; throws RangeError on out-of-range values. */
export function keyValueSize(kv: KeyValue): number {
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

/** Writes a ResponseHeader body (no tag or length) at pos; returns the new position. */
export function writeHeader(buf: Buffer, pos: number, h: ResponseHeader): number {
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
  return pos;
}

/** Writes a KeyValue body (no tag or length) at pos; returns the new position. */
export function writeKeyValue(buf: Buffer, pos: number, kv: KeyValue): number {
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
  return pos;
}
