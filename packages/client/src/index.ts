/**
 * @kv/client — an etcd v3 client: round-robin balancing over long-lived
 * HTTP/2 connections, failover and safe retries, deadlines and aborts on
 * every call, watches that resume without gaps, background lease renewal,
 * typed errors. Keys and values are `string | Uint8Array`; int64 values are
 * `bigint` (as in @kv/api); responses are @kv/api's message types.
 *
 * @packageDocumentation
 */

export {
  /** The client: `kv`, `lease`, `cluster`, `maintenance`, `auth`, `watch()`, `lock()`, `election()`, `close()`. */
  Client,
  /** Options of {@link Client}: endpoints, credentials, auth, timeouts, retry tuning. */
  type ClientOptions,
} from './client';
export type {
  /** Options every call takes: `deadlineMs`, `signal`, `requireLeader`. */
  CallOptions,
  /** Retry tuning: attempts and backoff between rounds. */
  RetryOptions,
} from './transport';
export {
  /** The KV service (`client.kv`): get, put, delete, txn, compact. */
  KV,
  /** Transaction builder returned by `client.kv.txn()`. */
  TxnBuilder,
  /** Transaction guards: `compare.value('k', '=', 'v')`, `compare.version(...)`, ... */
  compare,
  /** Transaction operations: `op.put('k', 'v')`, `op.get(...)`, `op.delete(...)`, `op.txn(...)`. */
  op,
  /** Comparison operator of a guard: `'=' | '!=' | '>' | '<'`. */
  type CompareOp,
  /** Every Range option. */
  type GetOptions,
  /** Put options: lease, prevKv, ignoreValue, ignoreLease. */
  type PutOptions,
  /** Delete options: range selection and prevKv. */
  type DeleteOptions,
  /** Range selection: prefix, fromKey or an explicit rangeEnd. */
  type RangeSelector,
  /** An int64 argument: bigint or safe-integer number. */
  type Int64,
} from './kv';
export {
  /** Keys and values: `string | Uint8Array`. */
  type Bytes,
  /** The range end selecting every key with a prefix. */
  prefixEnd,
} from './bytes';
export {
  /** A watch as an async iterable of batches; resumes across failures. */
  Watcher,
  /** Options of `client.watch()`. */
  type WatchOptions,
  /** One watch response: events or a progress notification. */
  type WatchBatch,
} from './watch';
export {
  /** The Lease service (`client.lease`). */
  Lease,
  /** Background renewal of one lease, with `keepalive` and `lost` events. */
  KeepAlive,
  /** Event map of {@link KeepAlive}. */
  type KeepAliveEvents,
} from './lease';
export {
  /** The Cluster service (`client.cluster`): membership. */
  Cluster,
  /** The Maintenance service (`client.maintenance`): status, snapshot, defragment, alarms, hashKV, moveLeader. */
  Maintenance,
  /** The Auth service (`client.auth`): users, roles, enable/disable. */
  Auth,
  /** Alarm names: `'none' | 'nospace' | 'corrupt'`. */
  type AlarmName,
  /** Call options with `endpoint` to pin a per-member call. */
  type MemberCallOptions,
  /** Role permission kinds: `'read' | 'write' | 'readwrite'`. */
  type PermissionType,
} from './services';
export {
  /** Leader election over etcd's v3election service. */
  Election,
  /** A held lock (v3lock service); `unlock()` releases it. */
  type LockHandle,
  /** Session lease options of locks and elections: ttl or an existing lease. */
  type SessionOptions,
} from './concurrency';
export {
  /** Base of every call error: gRPC `code` and the server's `details`. */
  EtcdError,
  /** The revision was compacted; `compactRevision` when the server said it (watch). */
  CompactedError,
  /** The revision is in the future. */
  FutureRevisionError,
  /** The member has no leader. */
  NoLeaderError,
  /** The member is not the leader. */
  NotLeaderError,
  /** The leader changed during the request; outcome unknown. */
  LeaderChangedError,
  /** The server timed the request out; outcome unknown. */
  RequestTimeoutError,
  /** The user lacks the permission. */
  PermissionDeniedError,
  /** Bad credentials or an invalid token. */
  AuthenticationError,
  /** The lease does not exist. */
  LeaseNotFoundError,
  /** A keep-alive got no renewal within the TTL. */
  LeaseExpiredError,
  /** Invalid request argument. */
  InvalidArgumentError,
  /** Database space quota exceeded. */
  NoSpaceError,
  /** Something named by the request does not exist. */
  NotFoundError,
  /** A precondition of the request failed. */
  FailedPreconditionError,
  /** No endpoint reachable, or the connection dropped. */
  UnavailableError,
  /** The call's deadline passed. */
  DeadlineExceededError,
  /** The call's signal fired or the client closed. */
  AbortedError,
  /** The server canceled a watch (not for compaction). */
  WatchCanceledError,
  /** Maps a grpc-js error to the matching typed error. */
  fromGrpcError,
} from './errors';
