/**
 * @kv/backend-level — the persistent backend on classic-level (LevelDB):
 * buckets, batched write transactions, a read buffer in front of LevelDB,
 * streamed snapshots with restore, bucket hashes, size and defragment.
 * Satisfies `Backend` from `@kv/mvcc` structurally.
 */

/**
 * The LevelDB-backed backend. `await LevelBackend.open(path, options)`, then
 * use it as a `Backend`; `close()` commits what is buffered.
 */
export { LevelBackend } from './level-backend';

/** Options of {@link LevelBackend.open}: batching, snapshot chunking, LevelDB tuning. */
export type { LevelBackendOptions } from './level-backend';

/** One key/value pair returned by {@link LevelBackend.range}. */
export type { LevelBackendEntry } from './level-backend';

/** Options of {@link LevelBackend.range}: limit and reverse. */
export type { LevelBackendRangeOptions } from './level-backend';

/** Sizes reported by {@link LevelBackend.size}: bytes on disk and bytes in use. */
export type { LevelBackendSize } from './level-backend';

/** Counters returned by {@link LevelBackend.stats}. */
export type { LevelBackendStats } from './level-backend';

/** A snapshot from {@link LevelBackend.snapshot}: a KVSNAP01 byte stream and close(). */
export type { LevelBackendSnapshot } from './level-backend';

/** The bucket names this backend accepts (the same set as `@kv/mvcc`'s BUCKETS). */
export type { BucketName } from './buckets';

/** The error class of this package; match on its `code`. */
export { BackendError } from './errors';

/** The codes a {@link BackendError} carries, as constants and as a union type. */
export { BackendErrorCode } from './errors';

/**
 * CRC-32C (Castagnoli). `crc32c(data)` for one string of bytes,
 * `crc32cUpdate(crc, data)` to continue across pieces (start with 0).
 */
export { crc32c, crc32cUpdate } from './crc32c';
