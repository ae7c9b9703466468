// Key and value generation. Keys are the key prefix followed by the key's
// index in decimal, zero-padded to the key size, so that every key of the
// space sorts under the prefix and ranges over it are predictable.

import type { BenchOptions } from './options';

/** The i-th key of the key space. */
export function keyFor(o: Pick<BenchOptions, 'keyPrefix' | 'keySize'>, i: number): Buffer {
  const prefix = Buffer.from(o.keyPrefix);
  const width = Math.max(0, o.keySize - prefix.length);
  return Buffer.concat([prefix, Buffer.from(String(i).padStart(width, '0'))]);
}

/**
 * etcd's range end for "every key starting with prefix": the prefix with its
 * last byte below 0xff incremented; "\0" (all keys) when there is none.
 */
export function prefixEnd(prefix: Buffer): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = end[i]! + 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

/** The [key, rangeEnd) pair selecting every key of the key prefix. */
export function prefixRange(o: Pick<BenchOptions, 'keyPrefix'>): { key: Buffer; rangeEnd: Buffer } {
  const p = Buffer.from(o.keyPrefix);
  if (p.length === 0) return { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };
  return { key: p, rangeEnd: prefixEnd(p) };
}

/** Hands out key indexes, sequential (wrapping) or uniformly random. */
export class KeyPicker {
  private next: number;
  private readonly cache: Buffer[] | undefined;

  constructor(
    private readonly o: Pick<BenchOptions, 'keyPrefix' | 'keySize' | 'keySpace' | 'sequentialKeys'>,
    /** Where sequential keys start; lets worker threads take different keys. */
    start = 0,
  ) {
    this.next = start % o.keySpace;
    // Small key spaces are prebuilt so the hot loop only indexes an array.
    this.cache =
      o.keySpace <= 100_000
        ? Array.from({ length: o.keySpace }, (_, i) => keyFor(o, i))
        : undefined;
  }

  index(): number {
    if (this.o.sequentialKeys) {
      const i = this.next;
      this.next = (this.next + 1) % this.o.keySpace;
      return i;
    }
    return Math.floor(Math.random() * this.o.keySpace);
  }

  key(i: number = this.index()): Buffer {
    return this.cache?.[i] ?? keyFor(this.o, i);
  }
}
