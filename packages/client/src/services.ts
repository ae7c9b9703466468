import { AuthService, ClusterService, MaintenanceService } from '@kv/api';
import type { etcdserverpb } from '@kv/api';
import type { Bytes } from './bytes';
import { toBuffer } from './bytes';
import { fromGrpcError } from './errors';
import type { Int64, RangeSelector } from './kv';
import { rangeEndOf } from './kv';
import type { CallOptions, Transport } from './transport';

/** The Cluster service: membership. */
export class Cluster {
  private readonly t: Transport;
  /** @internal */
  constructor(t: Transport) {
    this.t = t;
  }
  /** Lists members; `linearizable` reads through the leader (etcd ≥ 3.5). */
  memberList(
    opts: { linearizable?: boolean } & CallOptions = {},
  ): Promise<etcdserverpb.MemberListResponse> {
    return this.t.unary(
      ClusterService.memberList,
      { linearizable: opts.linearizable ?? false },
      opts,
      'read',
    );
  }
  /** Adds a member (or a learner). */
  memberAdd(
    peerURLs: string[],
    opts: { isLearner?: boolean } & CallOptions = {},
  ): Promise<etcdserverpb.MemberAddResponse> {
    return this.t.unary(
      ClusterService.memberAdd,
      { peerURLs, isLearner: opts.isLearner ?? false },
      opts,
      'write',
    );
  }
  /** Removes a member. */
  memberRemove(id: Int64, opts: CallOptions = {}): Promise<etcdserverpb.MemberRemoveResponse> {
    return this.t.unary(ClusterService.memberRemove, { ID: BigInt(id) }, opts, 'write');
  }
  /** Changes a member's peer URLs. */
  memberUpdate(
    id: Int64,
    peerURLs: string[],
    opts: CallOptions = {},
  ): Promise<etcdserverpb.MemberUpdateResponse> {
    return this.t.unary(ClusterService.memberUpdate, { ID: BigInt(id), peerURLs }, opts, 'write');
  }
  /** Promotes a learner to a voting member. */
  memberPromote(id: Int64, opts: CallOptions = {}): Promise<etcdserverpb.MemberPromoteResponse> {
    return this.t.unary(ClusterService.memberPromote, { ID: BigInt(id) }, opts, 'write');
  }
}

/** Alarm kinds. */
export type AlarmName = 'none' | 'nospace' | 'corrupt';
const alarmTypes = { none: 0, nospace: 1, corrupt: 2 } as const;

/** Options for calls aimed at one member (maintenance is per member). */
export interface MemberCallOptions extends CallOptions {
  /** The endpoint (as given to the client) to ask; default: round-robin. */
  endpoint?: string;
}

/** The Maintenance service. Calls with `endpoint` go to that member only. */
export class Maintenance {
  private readonly t: Transport;
  /** @internal */
  constructor(t: Transport) {
    this.t = t;
  }
  private target(opts: MemberCallOptions): Transport {
    return opts.endpoint === undefined ? this.t : this.t.only(opts.endpoint);
  }
  /** The member's status (version, db size, leader, raft index and term). */
  status(opts: MemberCallOptions = {}): Promise<etcdserverpb.StatusResponse> {
    return this.target(opts).unary(MaintenanceService.status, {}, opts, 'read');
  }
  /** Lists active alarms. */
  alarmList(opts: CallOptions = {}): Promise<etcdserverpb.AlarmResponse> {
    return this.t.unary(
      MaintenanceService.alarm,
      { action: 0, memberID: 0n, alarm: 0 },
      opts,
      'read',
    );
  }
  /** Disarms an alarm (memberID 0: every member). */
  alarmDisarm(
    alarm: AlarmName,
    memberID: Int64 = 0,
    opts: CallOptions = {},
  ): Promise<etcdserverpb.AlarmResponse> {
    return this.t.unary(
      MaintenanceService.alarm,
      { action: 2, memberID: BigInt(memberID), alarm: alarmTypes[alarm] },
      opts,
      'write',
    );
  }
  /** Defragments one member's backend. */
  defragment(opts: MemberCallOptions = {}): Promise<etcdserverpb.DefragmentResponse> {
    return this.target(opts).unary(MaintenanceService.defragment, {}, opts, 'read');
  }
  /** Hash of the key-value store up to `revision` (0: latest). */
  hashKV(revision: Int64 = 0, opts: MemberCallOptions = {}): Promise<etcdserverpb.HashKVResponse> {
    return this.target(opts).unary(
      MaintenanceService.hashKv,
      { revision: BigInt(revision) },
      opts,
      'read',
    );
  }
  /** Transfers leadership; must be sent to the current leader. */
  moveLeader(
    targetID: Int64,
    opts: MemberCallOptions = {},
  ): Promise<etcdserverpb.MoveLeaderResponse> {
    return this.target(opts).unary(
      MaintenanceService.moveLeader,
      { targetID: BigInt(targetID) },
      opts,
      'write',
    );
  }
  /**
   * Streams a snapshot of one member's backend as Buffers (not retried: a
   * partial stream cannot be resumed). `remaining` in each chunk counts down.
   */
  async *snapshot(opts: MemberCallOptions = {}): AsyncGenerator<Buffer> {
    const { stream } = await this.target(opts).serverStream(MaintenanceService.snapshot, {}, opts);
    try {
      for await (const chunk of stream as AsyncIterable<etcdserverpb.SnapshotResponse>)
        yield chunk.blob;
    } catch (e) {
      throw fromGrpcError(e);
    } finally {
      stream.cancel();
    }
  }
}

/** A permission a role grants. */
export type PermissionType = 'read' | 'write' | 'readwrite';
const permTypes = { read: 0, write: 1, readwrite: 2 } as const;

/** The Auth service: users, roles, enable/disable. */
export class Auth {
  private readonly t: Transport;
  /** @internal */
  constructor(t: Transport) {
    this.t = t;
  }
  /** Turns authentication on (the root user must exist). */
  enable(opts: CallOptions = {}): Promise<etcdserverpb.AuthEnableResponse> {
    return this.t.unary(AuthService.authEnable, {}, opts, 'write');
  }
  /** Turns authentication off. */
  disable(opts: CallOptions = {}): Promise<etcdserverpb.AuthDisableResponse> {
    return this.t.unary(AuthService.authDisable, {}, opts, 'write');
  }
  /** Whether auth is enabled. */
  status(opts: CallOptions = {}): Promise<etcdserverpb.AuthStatusResponse> {
    return this.t.unary(AuthService.authStatus, {}, opts, 'read');
  }
  /** Exchanges a name and password for a token (the client does this itself with `auth`). */
  authenticate(
    name: string,
    password: string,
    opts: CallOptions = {},
  ): Promise<etcdserverpb.AuthenticateResponse> {
    return this.t.unary(AuthService.authenticate, { name, password }, opts, 'read');
  }
  /** Adds a user. */
  userAdd(
    name: string,
    password: string,
    opts: { noPassword?: boolean } & CallOptions = {},
  ): Promise<etcdserverpb.AuthUserAddResponse> {
    return this.t.unary(
      AuthService.userAdd,
      { name, password, options: { noPassword: opts.noPassword ?? false }, hashedPassword: '' },
      opts,
      'write',
    );
  }
  /** A user's roles. */
  userGet(name: string, opts: CallOptions = {}): Promise<etcdserverpb.AuthUserGetResponse> {
    return this.t.unary(AuthService.userGet, { name }, opts, 'read');
  }
  /** Every user name. */
  userList(opts: CallOptions = {}): Promise<etcdserverpb.AuthUserListResponse> {
    return this.t.unary(AuthService.userList, {}, opts, 'read');
  }
  /** Deletes a user. */
  userDelete(name: string, opts: CallOptions = {}): Promise<etcdserverpb.AuthUserDeleteResponse> {
    return this.t.unary(AuthService.userDelete, { name }, opts, 'write');
  }
  /** Changes a user's password. */
  userChangePassword(
    name: string,
    password: string,
    opts: CallOptions = {},
  ): Promise<etcdserverpb.AuthUserChangePasswordResponse> {
    return this.t.unary(
      AuthService.userChangePassword,
      { name, password, hashedPassword: '' },
      opts,
      'write',
    );
  }
  /** Grants a role to a user. */
  userGrantRole(
    user: string,
    role: string,
    opts: CallOptions = {},
  ): Promise<etcdserverpb.AuthUserGrantRoleResponse> {
    return this.t.unary(AuthService.userGrantRole, { user, role }, opts, 'write');
  }
  /** Revokes a role from a user. */
  userRevokeRole(
    name: string,
    role: string,
    opts: CallOptions = {},
  ): Promise<etcdserverpb.AuthUserRevokeRoleResponse> {
    return this.t.unary(AuthService.userRevokeRole, { name, role }, opts, 'write');
  }
  /** Adds a role. */
  roleAdd(name: string, opts: CallOptions = {}): Promise<etcdserverpb.AuthRoleAddResponse> {
    return this.t.unary(AuthService.roleAdd, { name }, opts, 'write');
  }
  /** A role's permissions. */
  roleGet(role: string, opts: CallOptions = {}): Promise<etcdserverpb.AuthRoleGetResponse> {
    return this.t.unary(AuthService.roleGet, { role }, opts, 'read');
  }
  /** Every role name. */
  roleList(opts: CallOptions = {}): Promise<etcdserverpb.AuthRoleListResponse> {
    return this.t.unary(AuthService.roleList, {}, opts, 'read');
  }
  /** Deletes a role. */
  roleDelete(role: string, opts: CallOptions = {}): Promise<etcdserverpb.AuthRoleDeleteResponse> {
    return this.t.unary(AuthService.roleDelete, { role }, opts, 'write');
  }
  /** Grants a permission on a key or range to a role. */
  roleGrantPermission(
    name: string,
    perm: PermissionType,
    key: Bytes,
    opts: RangeSelector & CallOptions = {},
  ): Promise<etcdserverpb.AuthRoleGrantPermissionResponse> {
    const k = toBuffer(key);
    return this.t.unary(
      AuthService.roleGrantPermission,
      { name, perm: { permType: permTypes[perm], key: k, rangeEnd: rangeEndOf(k, opts) } },
      opts,
      'write',
    );
  }
  /** Revokes a role's permission on a key or range. */
  roleRevokePermission(
    role: string,
    key: Bytes,
    opts: RangeSelector & CallOptions = {},
  ): Promise<etcdserverpb.AuthRoleRevokePermissionResponse> {
    const k = toBuffer(key);
    return this.t.unary(
      AuthService.roleRevokePermission,
      { role, key: k, rangeEnd: rangeEndOf(k, opts) },
      opts,
      'write',
    );
  }
}
