/**
 * etcd's client-visible errors: exact message text and gRPC status code, as
 * etcd's rpctypes define them. Clients (etcdctl, clientv3, the etcd3 npm
 * package) match on both, so these strings are wire facts.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

/** An error that crosses the gRPC boundary with etcd's code and message. */
export class EtcdError extends Error {
  override readonly name = 'EtcdError';
  constructor(
    readonly grpcCode: GrpcStatus,
    message: string,
    /** Extra details (for example the compact revision of a compaction error). */
    readonly details?: { readonly compactRevision?: number },
  ) {
    super(message);
  }
}

function def(code: GrpcStatus, message: string): () => EtcdError {
  return () => new EtcdError(code, message);
}

const S = GrpcStatus;

/** Factories for each etcd error; call to get a fresh instance. */
export const Errors = {
  emptyKey: def(S.INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  keyNotFound: def(S.INVALID_ARGUMENT, 'etcdserver: key not found'),
  valueProvided: def(S.INVALID_ARGUMENT, 'etcdserver: value is provided'),
  leaseProvided: def(S.INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  tooManyOps: def(S.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  duplicateKey: def(S.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  invalidSortOption: def(S.INVALID_ARGUMENT, 'etcdserver: invalid sort option'),
  compacted: def(S.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  futureRev: def(S.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  noSpace: def(S.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),
  leaseNotFound: def(S.NOT_FOUND, 'etcdserver: requested lease not found'),
  leaseExist: def(S.FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  leaseTTLTooLarge: def(S.OUT_OF_RANGE, 'etcdserver: too large lease TTL'),
  watchCanceled: def(S.CANCELLED, 'etcdserver: watch canceled'),
  memberExist: def(S.FAILED_PRECONDITION, 'etcdserver: member ID already exist'),
  peerURLExist: def(S.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'),
  memberNotEnoughStarted: def(
    S.FAILED_PRECONDITION,
    'etcdserver: re-configuration failed due to not enough started members',
  ),
  memberBadURLs: def(S.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'),
  memberNotFound: def(S.NOT_FOUND, 'etcdserver: member not found'),
  memberNotLearner: def(S.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'),
  learnerNotReady: def(
    S.FAILED_PRECONDITION,
    'etcdserver: can only promote a learner member which is in sync with leader',
  ),
  tooManyLearners: def(S.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'),
  requestTooLarge: def(S.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  tooManyRequests: def(S.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'),
  rootUserNotExist: def(S.FAILED_PRECONDITION, 'etcdserver: root user does not exist'),
  rootRoleNotExist: def(S.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'),
  userAlreadyExist: def(S.FAILED_PRECONDITION, 'etcdserver: user name already exists'),
  userEmpty: def(S.INVALID_ARGUMENT, 'etcdserver: user name is empty'),
  userNotFound: def(S.FAILED_PRECONDITION, 'etcdserver: user name not found'),
  roleAlreadyExist: def(S.FAILED_PRECONDITION, 'etcdserver: role name already exists'),
  roleNotFound: def(S.FAILED_PRECONDITION, 'etcdserver: role name not found'),
  roleEmpty: def(S.INVALID_ARGUMENT, 'etcdserver: role name is empty'),
  authFailed: def(
    S.INVALID_ARGUMENT,
    'etcdserver: authentication failed, invalid user ID or password',
  ),
  permissionNotGiven: def(S.INVALID_ARGUMENT, 'etcdserver: permission not given'),
  permissionDenied: def(S.PERMISSION_DENIED, 'etcdserver: permission denied'),
  roleNotGranted: def(S.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'),
  permissionNotGranted: def(
    S.FAILED_PRECONDITION,
    'etcdserver: permission is not granted to the role',
  ),
  authNotEnabled: def(S.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'),
  invalidAuthToken: def(S.UNAUTHENTICATED, 'etcdserver: invalid auth token'),
  invalidAuthMgmt: def(S.INVALID_ARGUMENT, 'etcdserver: invalid auth management'),
  authOldRevision: def(S.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'),
  noLeader: def(S.UNAVAILABLE, 'etcdserver: no leader'),
  notLeader: def(S.FAILED_PRECONDITION, 'etcdserver: not leader'),
  leaderChanged: def(S.UNAVAILABLE, 'etcdserver: leader changed'),
  notCapable: def(S.UNAVAILABLE, 'etcdserver: not capable'),
  stopped: def(S.UNAVAILABLE, 'etcdserver: server stopped'),
  timeout: def(S.UNAVAILABLE, 'etcdserver: request timed out'),
  timeoutDueToLeaderFail: def(
    S.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to previous leader failure',
  ),
  timeoutDueToConnectionLost: def(
    S.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to connection lost',
  ),
  unhealthy: def(S.UNAVAILABLE, 'etcdserver: unhealthy cluster'),
  corrupt: def(S.DATA_LOSS, 'etcdserver: corrupt cluster'),
  notSupportedForLearner: def(S.UNAVAILABLE, 'etcdserver: rpc not supported for learner'),
  badLeaderTransferee: def(S.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'),
} as const;

export type EtcdErrorName = keyof typeof Errors;
