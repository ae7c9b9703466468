// On-disk record framing. Every record is
//
//   0  u32 crc      CRC-32C of the payload, continued over bytes [4, 16): so it
//                   covers payload, prevCrc and the header fields
//   4  u32 prevCrc  crc of the record before it in the log (the chain)
//   8  u32 len      payload length
//  12  u8  type     RecordType (0 is never valid, so preallocated zeros never parse)
//  13  u8  pad      zero bytes after the payload that round the record up to 8 bytes
//  14  u16 reserved 0
//  16  payload, then `pad` zero bytes
//
// A record verifies on its own (its crc covers everything but the crc field) and
// also names its predecessor, so a dropped or reordered record breaks the chain
// even if every record is intact. Being self-verifying lets recovery look past a
// damaged record and tell a torn tail (no later write begins after it: every
// batch starts with a Group record) from damage in the middle of the log.
//
// The payload comes first in the checksum so that it can be computed when a
// save is issued (overlapping the sync in flight); only the 12 header bytes
// are checksummed when the record's place in the chain is known.
//
// All integers are little endian; indexes and terms are u64 (JS numbers up to
// 2^53 - 1), the vote is a full u64 bigint.

import { crc32c } from './crc32c';

export const HEADER_SIZE = 16;
const MAX_PAYLOAD = 0x7fff_ffff;

export const RecordType = {
  /** First record of each segment: carries the chain across files and the segment's sequence number. */
  Crc: 1,
  Metadata: 2,
  Entry: 3,
  HardState: 4,
  Snapshot: 5,
  /** First record of every batch written with one write call: marks where a write began. */
  Group: 6,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

const MAX_TYPE = 6;

export function paddedSize(payloadLen: number): number {
  return (HEADER_SIZE + payloadLen + 7) & ~7;
}

const TWO_32 = 0x1_0000_0000;

export function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32LE(v % TWO_32, off);
  buf.writeUInt32LE(Math.floor(v / TWO_32), off + 4);
}

export function readU64(buf: Uint8Array, off: number): number {
  const lo = buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24);
  const hi = buf[off + 4]! | (buf[off + 5]! << 8) | (buf[off + 6]! << 16) | (buf[off + 7]! << 24);
  return (hi >>> 0) * TWO_32 + (lo >>> 0);
}

export function readU32(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
}

/**
 * First half of sealing: with the payload already at `off + HEADER_SIZE`,
 * writes length, type and padding and parks the payload's CRC in the crc
 * field. Returns the record's total size.
 */
export function frameRecord(buf: Buffer, off: number, type: RecordType, len: number): number {
  const total = paddedSize(len);
  const end = off + HEADER_SIZE + len;
  buf.writeUInt32LE(crc32c(0, buf, off + HEADER_SIZE, end), off);
  buf.writeUInt32LE(len, off + 8);
  buf[off + 12] = type;
  buf[off + 13] = total - HEADER_SIZE - len;
  buf[off + 14] = 0;
  buf[off + 15] = 0;
  if (total > HEADER_SIZE + len) buf.fill(0, end, off + total);
  return total;
}

/**
 * Second half: links the framed record at `off` to its predecessor and
 * finishes its checksum. Returns the record's crc (the next one's prevCrc).
 */
export function chainRecord(buf: Buffer, off: number, prevCrc: number): number {
  buf.writeUInt32LE(prevCrc, off + 4);
  const crc = crc32c(buf.readUInt32LE(off), buf, off + 4, off + HEADER_SIZE);
  buf.writeUInt32LE(crc, off);
  return crc;
}

/** Chains every framed record in `buf[0, end)`; returns the last crc. */
export function chainAll(buf: Buffer, end: number, prevCrc: number): number {
  let crc = prevCrc;
  for (let off = 0; off < end; off += paddedSize(buf.readUInt32LE(off + 8))) {
    crc = chainRecord(buf, off, crc);
  }
  return crc;
}

/** Frames and chains in one go, for records written at once. */
export function sealRecord(
  buf: Buffer,
  off: number,
  prevCrc: number,
  type: RecordType,
  len: number,
): number {
  frameRecord(buf, off, type, len);
  return chainRecord(buf, off, prevCrc);
}

/** A record that parsed and whose own checksum matches. */
export interface RawRecord {
  readonly type: RecordType;
  readonly crc: number;
  readonly prevCrc: number;
  readonly payloadStart: number;
  readonly payloadEnd: number;
  /** Offset just past the record's padding. */
  readonly next: number;
}

/** Why a record at some offset did not parse. */
export type BadRecord =
  | { readonly kind: 'short' } // the file ends inside the record
  | { readonly kind: 'header' } // impossible type, reserved bits or length
  | { readonly kind: 'checksum'; readonly payloadEnd: number };

/**
 * Parses one record at `off` (8-aligned) of a file of `end` bytes held in
 * `buf`. Bytes from `buf.length` up to `end` read as zeros: a segment's
 * unwritten tail (preallocated space) is not held in memory. Checks framing and
 * the record's own checksum; the chain (prevCrc) is the caller's business.
 */
export function parseRecord(buf: Uint8Array, off: number, end: number): RawRecord | BadRecord {
  if (off + HEADER_SIZE > end) return { kind: 'short' };
  // A header that reaches into the zero tail is parsed from a zero-extended copy.
  let h = buf;
  let ho = off;
  if (off + HEADER_SIZE > buf.length) {
    h = new Uint8Array(HEADER_SIZE);
    if (off < buf.length) h.set(buf.subarray(off));
    ho = 0;
  }
  const type = h[ho + 12]!;
  const pad = h[ho + 13]!;
  const len = readU32(h, ho + 8);
  if (
    type === 0 ||
    type > MAX_TYPE ||
    h[ho + 14] !== 0 ||
    h[ho + 15] !== 0 ||
    len > MAX_PAYLOAD ||
    pad !== paddedSize(len) - HEADER_SIZE - len
  ) {
    return { kind: 'header' };
  }
  const payloadStart = off + HEADER_SIZE;
  const payloadEnd = payloadStart + len;
  const next = payloadEnd + pad;
  if (next > end) return { kind: 'short' };
  const crc = readU32(h, ho);
  const held = Math.max(payloadStart, Math.min(payloadEnd, buf.length));
  let c = crc32c(0, buf, payloadStart, held);
  if (payloadEnd > held) c = crc32cZeros(c, payloadEnd - held);
  if (crc32c(c, h, ho + 4, ho + HEADER_SIZE) !== crc) return { kind: 'checksum', payloadEnd };
  const padHeld = Math.min(next, buf.length);
  for (let i = payloadEnd; i < padHeld; i++) {
    if (buf[i] !== 0) return { kind: 'checksum', payloadEnd };
  }
  return {
    type: type as RecordType,
    crc,
    prevCrc: readU32(h, ho + 4),
    payloadStart,
    payloadEnd,
    next,
  };
}

let zeroChunk: Uint8Array | undefined;

/** CRC-32C continued over `n` zero bytes. */
function crc32cZeros(crc: number, n: number): number {
  // Allocated on first use only: most opens never checksum past the data.
  zeroChunk ??= new Uint8Array(64 * 1024);
  let c = crc;
  for (let left = n; left > 0; left -= zeroChunk.length) {
    c = crc32c(c, zeroChunk, 0, Math.min(left, zeroChunk.length));
  }
  return c;
}

export function isBad(r: RawRecord | BadRecord): r is BadRecord {
  return 'kind' in r;
}

/**
 * Offset of the first valid record of type `type` at an 8-aligned offset in
 * `(from, end)`, if any (bytes past `buf.length` read as zeros, as in
 * {@link parseRecord}). After damage in the last segment, a later Group record
 * proves that a write began after the damaged one had been synced: the damage
 * is not a torn tail.
 */
export function findRecordAfter(
  buf: Uint8Array,
  from: number,
  end: number,
  type: RecordType,
): number | undefined {
  // Trailing zeros are preallocated space: skip them without probing.
  let last = Math.min(end, buf.length);
  while (last > from && buf[last - 1] === 0) last--;
  for (let off = from + 8; off + HEADER_SIZE <= last; off += 8) {
    if (buf[off + 12] !== type) continue;
    if (!isBad(parseRecord(buf, off, end))) return off;
  }
  return undefined;
}

/** Sector size assumed atomic by the torn-write test (the smallest in use). */
export const SECTOR = 512;

/**
 * True if the damaged record at `off` looks like a write that did not finish:
 * the file ends inside it, or one of the sector-aligned pieces it spans is all
 * zeros (never written). A flipped bit leaves no such zero piece behind.
 * Bytes past `buf.length` read as zeros, as in {@link parseRecord}.
 */
export function looksTorn(buf: Uint8Array, off: number, end: number, bad: BadRecord): boolean {
  if (bad.kind === 'short') return true;
  // For a damaged header we cannot trust the length: the piece up to the next
  // sector boundary is all we can inspect.
  // Padding is zero by design, so it is left out.
  const recEnd =
    bad.kind === 'checksum'
      ? bad.payloadEnd
      : Math.min(end, Math.max(off + HEADER_SIZE, nextSector(off)));
  let p = off;
  while (p < recEnd) {
    const q = Math.min(recEnd, nextSector(p));
    const held = Math.min(q, buf.length);
    let zero = true;
    for (let i = p; i < held; i++) {
      if (buf[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) return true;
    p = q;
  }
  return false;
}

function nextSector(off: number): number {
  return (Math.floor(off / SECTOR) + 1) * SECTOR;
}
