import { MvccError, MvccErrorCode } from './errors';

/** A revision: `main` is the transaction's revision, `sub` the operation's index in it. */
export interface Revision {
  readonly main: number;
  readonly sub: number;
}

/** A decoded revision key of the 'key' bucket. */
export interface RevisionKey extends Revision {
  /** True when the key carries the tombstone mark ('t'): a delete. */
  readonly tombstone: boolean;
}

/** Length of a revision key without the tombstone mark. */
export const REVISION_BYTES = 17;
const SEPARATOR = 0x5f; // '_'
const TOMBSTONE = 0x74; // 't'
const TWO_32 = 0x1_0000_0000;

function writeUint64(out: Uint8Array, pos: number, v: number): void {
  const hi = Math.floor(v / TWO_32);
  const lo = v - hi * TWO_32;
  out[pos] = hi >>> 24;
  out[pos + 1] = (hi >>> 16) & 0xff;
  out[pos + 2] = (hi >>> 8) & 0xff;
  out[pos + 3] = hi & 0xff;
  out[pos + 4] = lo >>> 24;
  out[pos + 5] = (lo >>> 16) & 0xff;
  out[pos + 6] = (lo >>> 8) & 0xff;
  out[pos + 7] = lo & 0xff;
}

function readUint64(b: Uint8Array, pos: number): number {
  const hi =
    (((b[pos] as number) << 24) |
      ((b[pos + 1] as number) << 16) |
      ((b[pos + 2] as number) << 8) |
      (b[pos + 3] as number)) >>>
    0;
  const lo =
    (((b[pos + 4] as number) << 24) |
      ((b[pos + 5] as number) << 16) |
      ((b[pos + 6] as number) << 8) |
      (b[pos + 7] as number)) >>>
    0;
  const v = hi * TWO_32 + lo;
  if (!Number.isSafeInteger(v)) throw new MvccError(MvccErrorCode.Corrupt, 'revision beyond 2^53');
  return v;
}

/**
 * etcd's on-disk revision key: 8-byte big-endian main, '_', 8-byte
 * big-endian sub, plus 't' for a tombstone. Keys sort in revision order.
 */
export function encodeRevision(main: number, sub: number, tombstone = false): Uint8Array {
  const out = new Uint8Array(tombstone ? REVISION_BYTES + 1 : REVISION_BYTES);
  writeUint64(out, 0, main);
  out[8] = SEPARATOR;
  writeUint64(out, 9, sub);
  if (tombstone) out[REVISION_BYTES] = TOMBSTONE;
  return out;
}

/** Inverse of {@link encodeRevision}; throws MVCC_CORRUPT on a malformed key. */
export function decodeRevision(b: Uint8Array): RevisionKey {
  const tombstone = b.length === REVISION_BYTES + 1 && b[REVISION_BYTES] === TOMBSTONE;
  if ((b.length !== REVISION_BYTES && !tombstone) || b[8] !== SEPARATOR) {
    throw new MvccError(MvccErrorCode.Corrupt, 'malformed revision key');
  }
  return { main: readUint64(b, 0), sub: readUint64(b, 9), tombstone };
}

/** Big-endian 8-byte encoding of a revision number (meta bucket values). */
export function encodeUint64(v: number): Uint8Array {
  const out = new Uint8Array(8);
  writeUint64(out, 0, v);
  return out;
}

/** Inverse of {@link encodeUint64}. */
export function decodeUint64(b: Uint8Array): number {
  if (b.length !== 8) throw new MvccError(MvccErrorCode.Corrupt, 'malformed uint64');
  return readUint64(b, 0);
}
