/**
 * The storage port that @kv/mvcc (and the server built on it) needs from a
 * persistent backend. It is declared here, by its consumer, and satisfied
 * structurally by @kv/backend-level (LevelDB) and by {@link MemoryBackend}.
 *
 * Model: named buckets of byte keys → byte values. Writes go into one shared,
 * buffered batch that the backend commits atomically (on a timer, after a
 * number of writes, or on demand); reads see committed data merged with the
 * buffered writes, so a reader never waits for a commit. Durability across
 * crashes is not this layer's job (the WAL provides it, except where the
 * caller asks for a synced commit), but a crash must never
 * leave a half-applied batch: everything written between two commits lands
 * together or not at all.
 */

/** Bucket names used by the server. A backend accepts any name in this set. */
export const BUCKETS = [
  'key',
  'meta',
  'lease',
  'auth',
  'authUsers',
  'authRoles',
  'members',
  'members_removed',
  'alarm',
  'cluster',
] as const;

export type BucketName = (typeof BUCKETS)[number];

/** One key/value pair returned by a range read. */
export interface BackendEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** Options of {@link BackendReader.range}. */
export interface BackendRangeOptions {
  /** Maximum number of entries returned; 0 or absent means no limit. */
  readonly limit?: number;
  /** Return entries in descending key order. */
  readonly reverse?: boolean;
}

/** Read capability: sees committed data plus writes still buffered. */
export interface BackendReader {
  /** The value of one key, or undefined. */
  get(bucket: BucketName, key: Uint8Array): Promise<Uint8Array | undefined>;
  /** Values of several keys, in the order asked; undefined where absent. */
  getMany(bucket: BucketName, keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]>;
  /**
   * Entries with start <= key < end in key order (bytewise). An undefined end
   * means "to the end of the bucket". Never crosses into another bucket.
   */
  range(
    bucket: BucketName,
    start: Uint8Array,
    end: Uint8Array | undefined,
    options?: BackendRangeOptions,
  ): Promise<BackendEntry[]>;
}

/**
 * Write capability: buffered writes of the current batch. Calls are
 * synchronous and visible to readers at once; they reach disk with the next
 * commit, all together.
 */
export interface BackendWriter {
  put(bucket: BucketName, key: Uint8Array, value: Uint8Array): void;
  delete(bucket: BucketName, key: Uint8Array): void;
}

/** Sizes reported for the quota and for Status. */
export interface BackendSize {
  /** Bytes the backend occupies on disk (or in memory for MemoryBackend). */
  readonly total: number;
  /** Bytes occupied by live data (an estimate is fine). */
  readonly inUse: number;
}

/** A point-in-time, consistent copy of the whole backend as a byte stream. */
export interface BackendSnapshot {
  /** The stream's chunks; the last part carries a checksum the restore verifies. */
  chunks(): AsyncIterable<Uint8Array>;
  /** Release resources held for the snapshot (for example a LevelDB snapshot). */
  close(): Promise<void>;
}

/** The whole backend. */
export interface Backend extends BackendReader, BackendWriter {
  /**
   * Commit the buffered batch now; resolves when it is written atomically.
   * With `sync: true`, also durable on disk (with every earlier commit)
   * when it resolves: for a caller about to drop the log that could redo it.
   */
  commit(options?: { readonly sync?: boolean }): Promise<void>;
  /** A consistent snapshot of committed and buffered data, taken now. */
  snapshot(): Promise<BackendSnapshot>;
  /**
   * Replace the entire contents with a snapshot stream produced by
   * {@link Backend.snapshot} (of this or another backend). Verifies the
   * checksum and leaves the old contents in place if it fails.
   */
  restore(chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** A 32-bit hash (CRC-32C) over every key and value of a bucket, in key order. */
  hash(bucket: BucketName): Promise<number>;
  size(): Promise<BackendSize>;
  /** Reclaim space; reports the sizes before and after. */
  defragment(): Promise<{ readonly before: BackendSize; readonly after: BackendSize }>;
  /** Commit pending writes and release the storage. */
  close(): Promise<void>;
}
