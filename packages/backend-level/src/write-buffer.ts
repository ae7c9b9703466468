/**
 * The write buffer: writes accepted since the last commit started, per
 * bucket, newest value per key. Readers overlay it on LevelDB (etcd's
 * txReadBuffer plays the same role). Per bucket it keeps a Map for point
 * lookups and an array for ranges that is kept sorted cheaply when keys
 * arrive in ascending order (MVCC revision keys do) and re-sorted lazily,
 * on the next range, otherwise.
 */

/** A buffered write: a value, or undefined for a delete (a tombstone). */
export interface BufferedWrite {
  readonly key: Uint8Array;
  value: Uint8Array | undefined;
}

/** An immutable copy of a buffered write, taken for a reader. */
export interface OverlayEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array | undefined;
}

/** Map key for a byte key: latin1 maps each byte to one UTF-16 unit, so it is injective. */
function keyString(key: Uint8Array): string {
  return (
    Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength)
  ).toString('latin1');
}

/** Below this length Buffer.from copies into Node's shared pool (half its size, as Node decides). */
const POOLED_BELOW = Buffer.poolSize >>> 1;

/**
 * The bytes a buffered write keeps until its commit has finished (typically
 * longer than two scavenges, so they are promoted to the old generation).
 * A small Uint8Array that is not a Buffer (mvcc's revision keys and encoded
 * values) is copied into the shared pool: the write then holds one view of a
 * shared block instead of its own ArrayBuffer (and, for a key, its Map key
 * no longer needs `.buffer`, which moves a small on-heap array's bytes into
 * a new off-heap allocation). Large arrays and Buffers are kept as given.
 */
function held(bytes: Uint8Array): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes;
  if (bytes.length < POOLED_BELOW) return Buffer.from(bytes);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function byKey(a: BufferedWrite, b: BufferedWrite): number {
  return Buffer.compare(a.key, b.key);
}

/** First index in the sorted list whose key is >= key. */
function lowerBound(list: readonly BufferedWrite[], key: Uint8Array): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(list[mid]!.key, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

class BucketBuffer {
  readonly #map = new Map<string, BufferedWrite>();
  readonly #list: BufferedWrite[] = [];
  #sorted = true;

  set(bytes: Uint8Array, bytesValue: Uint8Array | undefined): void {
    const key = held(bytes);
    const value = bytesValue === undefined ? undefined : held(bytesValue);
    const id = key.toString('latin1');
    const existing = this.#map.get(id);
    if (existing !== undefined) {
      existing.value = value;
      return;
    }
    const write: BufferedWrite = { key, value };
    this.#map.set(id, write);
    const last = this.#list[this.#list.length - 1];
    if (this.#sorted && last !== undefined && Buffer.compare(last.key, key) > 0)
      this.#sorted = false;
    this.#list.push(write);
  }

  lookup(key: Uint8Array): BufferedWrite | undefined {
    return this.#map.get(keyString(key));
  }

  get size(): number {
    return this.#list.length;
  }

  sorted(): readonly BufferedWrite[] {
    if (!this.#sorted) {
      this.#list.sort(byKey);
      this.#sorted = true;
    }
    return this.#list;
  }

  /** Copies of the writes with start <= key < end (end undefined: no bound), ascending. */
  slice(start: Uint8Array, end: Uint8Array | undefined): OverlayEntry[] {
    const list = this.sorted();
    const from = lowerBound(list, start);
    const to = end === undefined ? list.length : lowerBound(list, end);
    const out: OverlayEntry[] = [];
    for (let i = from; i < to; i++) {
      const w = list[i]!;
      out.push({ key: w.key, value: w.value });
    }
    return out;
  }
}

/** All buffered writes of one batch. */
export class WriteBuffer {
  // Indexed by bucket id; slot 0 unused.
  readonly #buckets: (BucketBuffer | undefined)[] = [];
  /** Number of put/delete calls accepted, duplicates included (what batchLimit counts). */
  ops = 0;
  /** Approximate bytes of keys and values written. */
  bytes = 0;

  set(id: number, key: Uint8Array, value: Uint8Array | undefined): void {
    let bucket = this.#buckets[id];
    if (bucket === undefined) {
      bucket = new BucketBuffer();
      this.#buckets[id] = bucket;
    }
    bucket.set(key, value);
    this.ops++;
    this.bytes += key.length + (value === undefined ? 0 : value.length);
  }

  lookup(id: number, key: Uint8Array): BufferedWrite | undefined {
    return this.#buckets[id]?.lookup(key);
  }

  slice(id: number, start: Uint8Array, end: Uint8Array | undefined): OverlayEntry[] {
    return this.#buckets[id]?.slice(start, end) ?? [];
  }

  /** Number of distinct buffered keys in a bucket. */
  bucketSize(id: number): number {
    return this.#buckets[id]?.size ?? 0;
  }
}

/**
 * Overlay `newer` on `older` (both ascending, unique keys): one ascending list
 * in which a key present in both takes newer's write.
 */
export function overlay(newer: OverlayEntry[], older: OverlayEntry[]): OverlayEntry[] {
  if (older.length === 0) return newer;
  if (newer.length === 0) return older;
  const out: OverlayEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < newer.length && j < older.length) {
    const c = Buffer.compare(newer[i]!.key, older[j]!.key);
    if (c <= 0) {
      out.push(newer[i++]!);
      if (c === 0) j++;
    } else {
      out.push(older[j++]!);
    }
  }
  while (i < newer.length) out.push(newer[i++]!);
  while (j < older.length) out.push(older[j++]!);
  return out;
}
