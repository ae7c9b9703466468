/**
 * @kv/mvcc — the multi-version key-value store: every version of every key
 * under its revision in a {@link Backend}, an in-memory B-tree index, write
 * transactions, compaction, lease bookkeeping and watch.
 *
 * @packageDocumentation
 */

/** The store; open it on a backend with {@link MvccStore.open}. */
export { MvccStore } from './store';
/** Tuning options and the write transaction interface of {@link MvccStore}. */
export type { MvccStoreOptions, WriteTxn } from './store';
/** Range options/result and the events a write produces. */
export type {
  EncodedRangeOptions,
  EncodedRangeResult,
  RangeOptions,
  RangeResult,
  MvccEvent,
} from './types';
/** Event type constants (mvccpb.Event numbering): Put = 0, Delete = 1. */
export { EventType } from './types';
/** The error class thrown by the store and its codes. */
export { MvccError, MvccErrorCode } from './errors';
/** A key-value version (mvccpb.KeyValue). */
export type { KeyValue } from './key-value';
/** mvccpb.KeyValue wire-format codec, written by hand. */
export { encodeKeyValue, decodeKeyValue } from './key-value';
/** etcd's on-disk revision key codec (and the 8-byte meta values). */
export { encodeRevision, decodeRevision, encodeUint64, decodeUint64 } from './revision';
/** A revision and a decoded revision key. */
export type { Revision, RevisionKey } from './revision';
/** Watch stream interface, requests and responses. */
export type { WatchStream, WatchRequest, WatchResponse } from './watch/stream';
/** The backend port: bucket names and the interfaces a storage engine implements. */
export { BUCKETS } from './backend';
/** The backend port types. */
export type {
  Backend,
  BackendReader,
  BackendWriter,
  BackendEntry,
  BackendRangeOptions,
  BackendSize,
  BackendSnapshot,
  BucketName,
} from './backend';
/** In-memory backend for tests and benchmarks. */
export { MemoryBackend } from './memory-backend';
/** Options of {@link MemoryBackend}. */
export type { MemoryBackendOptions } from './memory-backend';
/** Bytewise comparison of two byte arrays (memcmp order). */
export { compareBytes } from './bytes';
/** CRC-32C (Castagnoli) of a buffer, and its incremental form. */
export { crc32c, crc32cUpdate } from './crc32c';
