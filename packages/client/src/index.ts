/**
 * @kv/client — an etcd v3 client: round-robin balancing over long-lived
 * HTTP/2 connections, failover and safe retries, deadlines and aborts on
 * every call, watches that resume without gaps, background lease renewal,
 * typed errors. Keys and values are `string | Uint8Array`; int64 values are
 * `bigint` (as in @kv/api); responses are @kv/api's message types.
 *
 * @packageDocumentation
 */

/** The client; see README for every method. */
export { Client, type ClientOptions } from './client';
/** Options common to every call (`deadlineMs`, `signal`, `requireLeader`) and retry tuning. */
export type { CallOptions, RetryOptions } from './transport';
/** KV service, its options, and the transaction builder. */
export {
  KV,
  TxnBuilder,
  /** Transaction guards: `compare.value('k', '=', 'v')`, `compare.version(...)`, ... */
  compare,
  /** Transaction operations: `op.put('k', 'v')`, `op.get(...)`, `op.delete(...)`, `op.txn(...)`. */
  op,
  type CompareOp,
  type GetOptions,
  type PutOptions,
  type DeleteOptions,
  type RangeSelector,
  type Int64,
} from './kv';
/** Keys and values as strings or bytes, and the prefix range-end helper. */
export { type Bytes, prefixEnd } from './bytes';
/** Watches as async iterables that resume across failures. */
export { Watcher, type WatchOptions, type WatchBatch } from './watch';
/** Leases and background keep-alive. */
export { Lease, KeepAlive, type KeepAliveEvents } from './lease';
/** Cluster, Maintenance and Auth services. */
export {
  Cluster,
  Maintenance,
  Auth,
  type AlarmName,
  type MemberCallOptions,
  type PermissionType,
} from './services';
/** Lock and election helpers (etcd's v3lock and v3election services). */
export { Election, type LockHandle, type SessionOptions } from './concurrency';
/** Typed errors mapped from etcd's messages and gRPC codes. */
export {
  EtcdError,
  CompactedError,
  FutureRevisionError,
  NoLeaderError,
  NotLeaderError,
  LeaderChangedError,
  RequestTimeoutError,
  PermissionDeniedError,
  AuthenticationError,
  LeaseNotFoundError,
  LeaseExpiredError,
  InvalidArgumentError,
  NoSpaceError,
  NotFoundError,
  FailedPreconditionError,
  UnavailableError,
  DeadlineExceededError,
  AbortedError,
  WatchCanceledError,
  fromGrpcError,
} from './errors';
