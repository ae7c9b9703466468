// JSON codecs per gateway method. The route table in @kv/api names methods
// by etcd's RPC name; this table pairs each with the generated message codecs
// so the handler can turn a JSON body into a request message and a response
// message back into JSON without reading descriptors at run time.
import { etcdJson, etcdserverpb as pb, v3electionpb as ev, v3lockpb as lk } from '@kv/api';
import type { GatewayService } from '@kv/api';

/** Reads a request message from its JSON. */
export interface RequestCodec {
  fromJSON(object: unknown): unknown;
}

/** Writes a response message as etcd's gateway does (original field names). */
export interface ResponseCodec {
  toJSON(message: never): unknown;
}

const pbJ = etcdJson.etcdserverpb;
const evJ = etcdJson.v3electionpb;
const lkJ = etcdJson.v3lockpb;

/** Request and response codecs of one RPC. */
export interface MethodCodecs {
  /** Proto3-JSON reader; accepts original and camel-cased field names. */
  readonly request: RequestCodec;
  /** etcd-gateway JSON writer. */
  readonly response: ResponseCodec;
}

function m(request: RequestCodec, response: ResponseCodec): MethodCodecs {
  return { request, response };
}

/** Codecs keyed by `${service}/${method}` (etcd's RPC names). */
export const methodCodecs: ReadonlyMap<string, MethodCodecs> = new Map<string, MethodCodecs>([
  ['KV/Range', m(pb.RangeRequest, pbJ.RangeResponse)],
  ['KV/Put', m(pb.PutRequest, pbJ.PutResponse)],
  ['KV/DeleteRange', m(pb.DeleteRangeRequest, pbJ.DeleteRangeResponse)],
  ['KV/Txn', m(pb.TxnRequest, pbJ.TxnResponse)],
  ['KV/Compact', m(pb.CompactionRequest, pbJ.CompactionResponse)],
  ['Watch/Watch', m(pb.WatchRequest, pbJ.WatchResponse)],
  ['Lease/LeaseGrant', m(pb.LeaseGrantRequest, pbJ.LeaseGrantResponse)],
  ['Lease/LeaseRevoke', m(pb.LeaseRevokeRequest, pbJ.LeaseRevokeResponse)],
  ['Lease/LeaseKeepAlive', m(pb.LeaseKeepAliveRequest, pbJ.LeaseKeepAliveResponse)],
  ['Lease/LeaseTimeToLive', m(pb.LeaseTimeToLiveRequest, pbJ.LeaseTimeToLiveResponse)],
  ['Lease/LeaseLeases', m(pb.LeaseLeasesRequest, pbJ.LeaseLeasesResponse)],
  ['Cluster/MemberAdd', m(pb.MemberAddRequest, pbJ.MemberAddResponse)],
  ['Cluster/MemberRemove', m(pb.MemberRemoveRequest, pbJ.MemberRemoveResponse)],
  ['Cluster/MemberUpdate', m(pb.MemberUpdateRequest, pbJ.MemberUpdateResponse)],
  ['Cluster/MemberList', m(pb.MemberListRequest, pbJ.MemberListResponse)],
  ['Cluster/MemberPromote', m(pb.MemberPromoteRequest, pbJ.MemberPromoteResponse)],
  ['Maintenance/Alarm', m(pb.AlarmRequest, pbJ.AlarmResponse)],
  ['Maintenance/Status', m(pb.StatusRequest, pbJ.StatusResponse)],
  ['Maintenance/Defragment', m(pb.DefragmentRequest, pbJ.DefragmentResponse)],
  ['Maintenance/Hash', m(pb.HashRequest, pbJ.HashResponse)],
  ['Maintenance/HashKV', m(pb.HashKVRequest, pbJ.HashKVResponse)],
  ['Maintenance/Snapshot', m(pb.SnapshotRequest, pbJ.SnapshotResponse)],
  ['Maintenance/MoveLeader', m(pb.MoveLeaderRequest, pbJ.MoveLeaderResponse)],
  ['Maintenance/Downgrade', m(pb.DowngradeRequest, pbJ.DowngradeResponse)],
  ['Auth/AuthEnable', m(pb.AuthEnableRequest, pbJ.AuthEnableResponse)],
  ['Auth/AuthDisable', m(pb.AuthDisableRequest, pbJ.AuthDisableResponse)],
  ['Auth/AuthStatus', m(pb.AuthStatusRequest, pbJ.AuthStatusResponse)],
  ['Auth/Authenticate', m(pb.AuthenticateRequest, pbJ.AuthenticateResponse)],
  ['Auth/UserAdd', m(pb.AuthUserAddRequest, pbJ.AuthUserAddResponse)],
  ['Auth/UserGet', m(pb.AuthUserGetRequest, pbJ.AuthUserGetResponse)],
  ['Auth/UserList', m(pb.AuthUserListRequest, pbJ.AuthUserListResponse)],
  ['Auth/UserDelete', m(pb.AuthUserDeleteRequest, pbJ.AuthUserDeleteResponse)],
  [
    'Auth/UserChangePassword',
    m(pb.AuthUserChangePasswordRequest, pbJ.AuthUserChangePasswordResponse),
  ],
  ['Auth/UserGrantRole', m(pb.AuthUserGrantRoleRequest, pbJ.AuthUserGrantRoleResponse)],
  ['Auth/UserRevokeRole', m(pb.AuthUserRevokeRoleRequest, pbJ.AuthUserRevokeRoleResponse)],
  ['Auth/RoleAdd', m(pb.AuthRoleAddRequest, pbJ.AuthRoleAddResponse)],
  ['Auth/RoleGet', m(pb.AuthRoleGetRequest, pbJ.AuthRoleGetResponse)],
  ['Auth/RoleList', m(pb.AuthRoleListRequest, pbJ.AuthRoleListResponse)],
  ['Auth/RoleDelete', m(pb.AuthRoleDeleteRequest, pbJ.AuthRoleDeleteResponse)],
  [
    'Auth/RoleGrantPermission',
    m(pb.AuthRoleGrantPermissionRequest, pbJ.AuthRoleGrantPermissionResponse),
  ],
  [
    'Auth/RoleRevokePermission',
    m(pb.AuthRoleRevokePermissionRequest, pbJ.AuthRoleRevokePermissionResponse),
  ],
  ['Lock/Lock', m(lk.LockRequest, lkJ.LockResponse)],
  ['Lock/Unlock', m(lk.UnlockRequest, lkJ.UnlockResponse)],
  ['Election/Campaign', m(ev.CampaignRequest, evJ.CampaignResponse)],
  ['Election/Proclaim', m(ev.ProclaimRequest, evJ.ProclaimResponse)],
  ['Election/Leader', m(ev.LeaderRequest, evJ.LeaderResponse)],
  ['Election/Observe', m(ev.LeaderRequest, evJ.LeaderResponse)],
  ['Election/Resign', m(ev.ResignRequest, evJ.ResignResponse)],
]);

/** Looks up the codecs of `service/method`, or undefined for an unknown RPC. */
export function codecsOf(service: GatewayService, method: string): MethodCodecs | undefined {
  return methodCodecs.get(`${service}/${method}`);
}
