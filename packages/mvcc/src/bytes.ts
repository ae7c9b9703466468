/**
 * Byte helpers. Keys live in the index as "binary strings" (one char per
 * byte, code points 0..255): V8 stores them compactly as one-byte strings,
 * compares them natively in byte order and hashes them for Map lookups,
 * which beats a Uint8Array per key on both memory and speed.
 */

/** Bytewise comparison of two arrays (like memcmp, shorter prefix first). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

const CHUNK = 8192;

/** Bytes → binary string (one char per byte). */
export function bytesToBinary(b: Uint8Array): string {
  if (b.length <= CHUNK) {
    return String.fromCharCode.apply(null, b as unknown as number[]);
  }
  let s = '';
  for (let i = 0; i < b.length; i += CHUNK) {
    s += String.fromCharCode.apply(null, b.subarray(i, i + CHUNK) as unknown as number[]);
  }
  return s;
}

/** Binary string → bytes (a fresh copy). */
export function binaryToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A copy of the bytes with one zero byte appended: the smallest key greater than `b`. */
export function successor(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/** Equality of two byte arrays. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * etcd rangeEnd semantics turned into a binary-string interval [start, end):
 * `null` end means "single key", `undefined` end means "no upper bound".
 */
export interface KeyInterval {
  readonly start: string;
  /** Exclusive end; undefined = unbounded; null = the single key `start`. */
  readonly end: string | undefined | null;
}

/** Interpret (key, rangeEnd) as etcd does: empty/absent end = one key, [0] = all keys >= key. */
export function toInterval(key: Uint8Array, end: Uint8Array | undefined): KeyInterval {
  const start = bytesToBinary(key);
  if (end === undefined || end.length === 0) return { start, end: null };
  if (end.length === 1 && end[0] === 0) return { start, end: undefined };
  return { start, end: bytesToBinary(end) };
}

/** Whether the binary-string key falls inside the interval. */
export function inInterval(k: string, iv: KeyInterval): boolean {
  if (iv.end === null) return k === iv.start;
  return k >= iv.start && (iv.end === undefined || k < iv.end);
}
