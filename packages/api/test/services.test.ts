import { describe, expect, it } from 'vitest';
import type { ServiceDefinition } from '@grpc/grpc-js';
import {
  AuthService,
  ClusterService,
  ElectionService,
  ETCD_API_VERSION,
  gatewayRoutes,
  gatewayRoutesAddedAfter34,
  grpcPathOf,
  KVService,
  LeaseService,
  LockService,
  MaintenanceService,
  WatchService,
} from '../src/index';

// etcd 3.6's gRPC methods, written out by hand: [path, client streams, server streams].
const etcdMethods: readonly (readonly [string, boolean, boolean])[] = [
  ['/etcdserverpb.KV/Range', false, false],
  ['/etcdserverpb.KV/Put', false, false],
  ['/etcdserverpb.KV/DeleteRange', false, false],
  ['/etcdserverpb.KV/Txn', false, false],
  ['/etcdserverpb.KV/Compact', false, false],
  ['/etcdserverpb.Watch/Watch', true, true],
  ['/etcdserverpb.Lease/LeaseGrant', false, false],
  ['/etcdserverpb.Lease/LeaseRevoke', false, false],
  ['/etcdserverpb.Lease/LeaseKeepAlive', true, true],
  ['/etcdserverpb.Lease/LeaseTimeToLive', false, false],
  ['/etcdserverpb.Lease/LeaseLeases', false, false],
  ['/etcdserverpb.Cluster/MemberAdd', false, false],
  ['/etcdserverpb.Cluster/MemberRemove', false, false],
  ['/etcdserverpb.Cluster/MemberUpdate', false, false],
  ['/etcdserverpb.Cluster/MemberList', false, false],
  ['/etcdserverpb.Cluster/MemberPromote', false, false],
  ['/etcdserverpb.Maintenance/Alarm', false, false],
  ['/etcdserverpb.Maintenance/Status', false, false],
  ['/etcdserverpb.Maintenance/Defragment', false, false],
  ['/etcdserverpb.Maintenance/Hash', false, false],
  ['/etcdserverpb.Maintenance/HashKV', false, false],
  ['/etcdserverpb.Maintenance/Snapshot', false, true],
  ['/etcdserverpb.Maintenance/MoveLeader', false, false],
  ['/etcdserverpb.Maintenance/Downgrade', false, false],
  ['/etcdserverpb.Auth/AuthEnable', false, false],
  ['/etcdserverpb.Auth/AuthDisable', false, false],
  ['/etcdserverpb.Auth/AuthStatus', false, false],
  ['/etcdserverpb.Auth/Authenticate', false, false],
  ['/etcdserverpb.Auth/UserAdd', false, false],
  ['/etcdserverpb.Auth/UserGet', false, false],
  ['/etcdserverpb.Auth/UserList', false, false],
  ['/etcdserverpb.Auth/UserDelete', false, false],
  ['/etcdserverpb.Auth/UserChangePassword', false, false],
  ['/etcdserverpb.Auth/UserGrantRole', false, false],
  ['/etcdserverpb.Auth/UserRevokeRole', false, false],
  ['/etcdserverpb.Auth/RoleAdd', false, false],
  ['/etcdserverpb.Auth/RoleGet', false, false],
  ['/etcdserverpb.Auth/RoleList', false, false],
  ['/etcdserverpb.Auth/RoleDelete', false, false],
  ['/etcdserverpb.Auth/RoleGrantPermission', false, false],
  ['/etcdserverpb.Auth/RoleRevokePermission', false, false],
  ['/v3lockpb.Lock/Lock', false, false],
  ['/v3lockpb.Lock/Unlock', false, false],
  ['/v3electionpb.Election/Campaign', false, false],
  ['/v3electionpb.Election/Proclaim', false, false],
  ['/v3electionpb.Election/Leader', false, false],
  ['/v3electionpb.Election/Observe', false, true],
  ['/v3electionpb.Election/Resign', false, false],
];

const allDefinitions: ServiceDefinition[] = [
  KVService,
  WatchService,
  LeaseService,
  ClusterService,
  MaintenanceService,
  AuthService,
  LockService,
  ElectionService,
];

const defined = allDefinitions.flatMap((def) =>
  Object.values(def).map((m) => [m.path, m.requestStream, m.responseStream] as const),
);

describe('grpc-js service definitions', () => {
  it("have exactly etcd's method paths and streaming kinds", () => {
    expect(defined).toEqual(etcdMethods);
  });

  it('use camel-cased method keys', () => {
    expect(Object.keys(KVService)).toEqual(['range', 'put', 'deleteRange', 'txn', 'compact']);
    expect(KVService.range.path).toBe('/etcdserverpb.KV/Range');
    expect(MaintenanceService.hashKv.path).toBe('/etcdserverpb.Maintenance/HashKV');
  });

  it('declare the API version', () => {
    expect(ETCD_API_VERSION).toBe('3.6');
  });
});

describe('gateway route table', () => {
  const byPath = new Map(defined.map(([path, cs, ss]) => [path, { cs, ss }]));

  it('has 44 core routes (etcd 3.6) plus 7 for Lock and Election', () => {
    const core = gatewayRoutes.filter((r) => r.service !== 'Lock' && r.service !== 'Election');
    expect(core).toHaveLength(44);
    expect(gatewayRoutes).toHaveLength(51);
  });

  it('has unique POST paths under /v3/', () => {
    const paths = gatewayRoutes.map((r) => r.path);
    expect(new Set(paths).size).toBe(paths.length);
    for (const p of paths) expect(p).toMatch(/^\/v3\/[a-z/-]+$/);
  });

  it('points every route at an existing method with the right streaming kind', () => {
    for (const route of gatewayRoutes) {
      const m = byPath.get(grpcPathOf(route));
      expect(m, route.path).toBeDefined();
      const kind = m!.cs && m!.ss ? 'bidi' : m!.ss ? 'server' : 'none';
      expect(route.streaming, route.path).toBe(kind);
    }
  });

  it('reaches every gRPC method', () => {
    const routed = new Set(gatewayRoutes.map(grpcPathOf));
    expect([...byPath.keys()].filter((p) => !routed.has(p))).toEqual([]);
  });

  it('keeps the /v3/kv/lease/* aliases and the HTTP names that differ from method names', () => {
    const find = (path: string) => gatewayRoutes.find((r) => r.path === path);
    expect(find('/v3/kv/lease/revoke')?.method).toBe('LeaseRevoke');
    expect(find('/v3/kv/lease/timetolive')?.method).toBe('LeaseTimeToLive');
    expect(find('/v3/kv/lease/leases')?.method).toBe('LeaseLeases');
    expect(find('/v3/kv/compaction')?.method).toBe('Compact');
    expect(find('/v3/maintenance/transfer-leadership')?.method).toBe('MoveLeader');
    expect(find('/v3/auth/user/changepw')?.method).toBe('UserChangePassword');
    expect(find('/v3/auth/role/grant')?.method).toBe('RoleGrantPermission');
    for (const p of gatewayRoutesAddedAfter34) expect(find(p), p).toBeDefined();
  });
});
