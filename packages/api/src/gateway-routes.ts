// etcd's HTTP/JSON gateway routes, kept as data so @kv/grpc-gateway can mount
// them without re-reading the .proto files (whose google.api.http options
// were deliberately left out).

/** A service that the gateway exposes. */
export type GatewayService =
  'KV' | 'Watch' | 'Lease' | 'Cluster' | 'Maintenance' | 'Auth' | 'Lock' | 'Election';

/** How a gateway route streams: unary, server stream, or bidirectional. */
export type GatewayStreaming = 'none' | 'server' | 'bidi';

/** One HTTP POST route of etcd's JSON gateway. */
export interface GatewayRoute {
  /** HTTP path; every route is POST with a JSON body. */
  readonly path: string;
  /** gRPC service the route forwards to. */
  readonly service: GatewayService;
  /** etcd's gRPC method name, exactly as in the .proto (e.g. `LeaseGrant`). */
  readonly method: string;
  /** Streaming shape of the method. */
  readonly streaming: GatewayStreaming;
}

/** Fully qualified gRPC service name for each gateway service. */
export const grpcServiceNames = {
  KV: 'etcdserverpb.KV',
  Watch: 'etcdserverpb.Watch',
  Lease: 'etcdserverpb.Lease',
  Cluster: 'etcdserverpb.Cluster',
  Maintenance: 'etcdserverpb.Maintenance',
  Auth: 'etcdserverpb.Auth',
  Lock: 'v3lockpb.Lock',
  Election: 'v3electionpb.Election',
} as const satisfies Record<GatewayService, string>;

/** The gRPC path (`/etcdserverpb.KV/Range`) that a gateway route forwards to. */
export function grpcPathOf(route: Pick<GatewayRoute, 'service' | 'method'>): string {
  return `/${grpcServiceNames[route.service]}/${route.method}`;
}

function r(
  path: string,
  service: GatewayService,
  method: string,
  streaming: GatewayStreaming = 'none',
): GatewayRoute {
  return Object.freeze({ path, service, method, streaming });
}

/**
 * Every route of etcd 3.6's gateway: 44 for the core services (including
 * the three `/v3/kv/lease/*` aliases) plus 7 for Lock and Election.
 */
export const gatewayRoutes: readonly GatewayRoute[] = Object.freeze([
  r('/v3/kv/range', 'KV', 'Range'),
  r('/v3/kv/put', 'KV', 'Put'),
  r('/v3/kv/deleterange', 'KV', 'DeleteRange'),
  r('/v3/kv/txn', 'KV', 'Txn'),
  r('/v3/kv/compaction', 'KV', 'Compact'),

  // Responses are newline-delimited JSON objects of the form {"result": ...}.
  r('/v3/watch', 'Watch', 'Watch', 'bidi'),

  r('/v3/lease/grant', 'Lease', 'LeaseGrant'),
  r('/v3/lease/revoke', 'Lease', 'LeaseRevoke'),
  r('/v3/kv/lease/revoke', 'Lease', 'LeaseRevoke'),
  r('/v3/lease/keepalive', 'Lease', 'LeaseKeepAlive', 'bidi'),
  r('/v3/lease/timetolive', 'Lease', 'LeaseTimeToLive'),
  r('/v3/kv/lease/timetolive', 'Lease', 'LeaseTimeToLive'),
  r('/v3/lease/leases', 'Lease', 'LeaseLeases'),
  r('/v3/kv/lease/leases', 'Lease', 'LeaseLeases'),

  r('/v3/cluster/member/add', 'Cluster', 'MemberAdd'),
  r('/v3/cluster/member/remove', 'Cluster', 'MemberRemove'),
  r('/v3/cluster/member/update', 'Cluster', 'MemberUpdate'),
  r('/v3/cluster/member/list', 'Cluster', 'MemberList'),
  r('/v3/cluster/member/promote', 'Cluster', 'MemberPromote'),

  r('/v3/maintenance/alarm', 'Maintenance', 'Alarm'),
  r('/v3/maintenance/status', 'Maintenance', 'Status'),
  r('/v3/maintenance/defragment', 'Maintenance', 'Defragment'),
  r('/v3/maintenance/hash', 'Maintenance', 'Hash'),
  r('/v3/maintenance/hashkv', 'Maintenance', 'HashKV'),
  r('/v3/maintenance/snapshot', 'Maintenance', 'Snapshot', 'server'),
  r('/v3/maintenance/transfer-leadership', 'Maintenance', 'MoveLeader'),
  r('/v3/maintenance/downgrade', 'Maintenance', 'Downgrade'),

  r('/v3/auth/enable', 'Auth', 'AuthEnable'),
  r('/v3/auth/disable', 'Auth', 'AuthDisable'),
  r('/v3/auth/status', 'Auth', 'AuthStatus'),
  r('/v3/auth/authenticate', 'Auth', 'Authenticate'),
  r('/v3/auth/user/add', 'Auth', 'UserAdd'),
  r('/v3/auth/user/get', 'Auth', 'UserGet'),
  r('/v3/auth/user/list', 'Auth', 'UserList'),
  r('/v3/auth/user/delete', 'Auth', 'UserDelete'),
  r('/v3/auth/user/changepw', 'Auth', 'UserChangePassword'),
  r('/v3/auth/user/grant', 'Auth', 'UserGrantRole'),
  r('/v3/auth/user/revoke', 'Auth', 'UserRevokeRole'),
  r('/v3/auth/role/add', 'Auth', 'RoleAdd'),
  r('/v3/auth/role/get', 'Auth', 'RoleGet'),
  r('/v3/auth/role/list', 'Auth', 'RoleList'),
  r('/v3/auth/role/delete', 'Auth', 'RoleDelete'),
  r('/v3/auth/role/grant', 'Auth', 'RoleGrantPermission'),
  r('/v3/auth/role/revoke', 'Auth', 'RoleRevokePermission'),

  r('/v3/lock/lock', 'Lock', 'Lock'),
  r('/v3/lock/unlock', 'Lock', 'Unlock'),

  r('/v3/election/campaign', 'Election', 'Campaign'),
  r('/v3/election/proclaim', 'Election', 'Proclaim'),
  r('/v3/election/leader', 'Election', 'Leader'),
  r('/v3/election/observe', 'Election', 'Observe', 'server'),
  r('/v3/election/resign', 'Election', 'Resign'),
]);

/**
 * Path prefix that etcd 3.4 also accepted for every route (`/v3beta/kv/range`
 * and so on). etcd 3.5 and later serve only `/v3/...`; a gateway that wants
 * 3.4 compatibility can strip this prefix and look the rest up under `/v3`.
 */
export const GATEWAY_V3BETA_PREFIX = '/v3beta';

/**
 * Differences of etcd 3.4's gateway from 3.6's, for a gateway that emulates
 * 3.4: `/v3/auth/status`, `/v3/maintenance/hashkv` and
 * `/v3/maintenance/downgrade` did not exist, and `/v3/maintenance/hash`
 * was bound to both Hash and HashKV (Hash answered).
 */
export const gatewayRoutesAddedAfter34: readonly string[] = Object.freeze([
  '/v3/auth/status',
  '/v3/maintenance/hashkv',
  '/v3/maintenance/downgrade',
]);
