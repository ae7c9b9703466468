/**
 * @kv/kvserver — the etcd server core: the Raft node loop, apply, linearizable
 * reads, lessor, alarms, membership, the gRPC service implementations and
 * interceptors, and the peer transport. It receives its storage, transport
 * factory and clock from the caller; @kv/server wires them from flags.
 *
 * @packageDocumentation
 */

/** One member of the replicated store; `EtcdServer.start(options)`. */
export { EtcdServer } from './etcd-server';
export type { EtcdServerOptions, ServerCounters } from './etcd-server';

/** etcd's client-visible errors (message text and gRPC code). */
export { EtcdError, Errors } from './errors';
export type { EtcdErrorName } from './errors';

/** Time as a port, with the process clock and a manual clock for tests. */
export { systemClock, ManualClock } from './clock';
export type { Clock, TimerHandle } from './clock';

/** Durable Raft state: the port, an in-memory version and the WAL-backed one. */
export { MemoryMemberStorage } from './member-storage';
export type { MemberStorage, BootState } from './member-storage';
export { WalMemberStorage, memberPaths } from './wal-storage';
export type { WalStorageOptions } from './wal-storage';

/** Membership: etcd-compatible member and cluster IDs, and the member record. */
export {
  computeMemberId,
  computeClusterId,
  parseInitialCluster,
  formatId,
  normalizeUrl,
} from './membership/member-id';
export type { Member } from './membership/cluster';

/** The peer transport (TCP or TLS) and its ports. */
export { PeerTransport, queryMembers } from './transport/peer-transport';
export type { ClusterInfo } from './transport/peer-transport';
export type {
  Transport,
  TransportHandler,
  PeerTransportOptions,
  SnapshotSource,
} from './transport/peer-transport';

/** gRPC: registers KV, Watch, Lease, Cluster and Maintenance on a grpc-js server. */
export { registerEtcdServices } from './grpc/register';
export type { RegisterOptions, ServiceRegistrar } from './grpc/register';
export { SERVER_VERSION, CLUSTER_VERSION } from './grpc/maintenance-service';

/** Logging port (pino-compatible) and Prometheus metrics. */
export { silentLogger } from './logger';
export type { Logger } from './logger';
export { MetricsRegistry, Counter, Gauge, Histogram, exponentialBuckets } from './metrics';

/** Auto-compaction (periodic or by revision), run on the leader. */
export { Compactor, parseRetention } from './compactor';
export type { CompactorTarget, CompactionMode } from './compactor';
