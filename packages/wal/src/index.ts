/**
 * @kv/wal: a crash-safe, segmented write-ahead log with group commit, and
 * checksummed snapshot files. It stores opaque entry payloads with their index
 * and term, so it works with any consensus library.
 *
 * @packageDocumentation
 */

/** One log entry: its index, term and opaque, already encoded payload. */
export type { WalEntry } from './types';
/** The state that must survive restarts: term, vote (a u64 member id) and commit index. */
export type { WalHardState } from './types';
/** Index and term of the snapshot the log continues from. */
export type { WalSnapshotMarker } from './types';
/** Segment size, sync and preallocation options shared by `Wal.create` and `Wal.open`. */
export type { WalOptions } from './wal';
/** Per-save options: `sync: false` for saves that may wait for the next fdatasync. */
export type { WalSaveOptions } from './wal';
/** `WalOptions` plus `expectedMetadata`, checked byte for byte at open. */
export type { WalOpenOptions } from './wal';
/** Counters a `Wal` exposes through `wal.stats`. */
export type { WalStats } from './wal';
/** Metadata, last hard state and the entries after the open marker, as returned by `Wal.readAll`. */
export type { WalContents } from './wal';
/** The write-ahead log: create/open, readAll, save (group commit), saveSnapshot, releaseTo, close. */
export { Wal } from './wal';
/** The error every operation throws, with a stable `code` and, for damage, `file` and `offset`. */
export { WalError } from './errors';
/** The string codes a {@link WalError} carries. */
export type { WalErrorCode } from './errors';
/** Checksummed snapshot files: save, load the newest valid one, purge by count. */
export { SnapshotStore } from './snapshot-store';
/** Options of {@link SnapshotStore}: how many snapshots to keep, whether to fsync. */
export type { SnapshotStoreOptions } from './snapshot-store';
/** A snapshot as saved and loaded by {@link SnapshotStore}: index, term and data. */
export type { StoredSnapshot } from './snapshot-store';
/** CRC-32C (Castagnoli) continuing from `crc` over `buf[start, end)`; slicing-by-16. */
export { crc32c } from './crc32c';
