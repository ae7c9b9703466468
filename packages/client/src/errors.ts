import { status as Status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';

/**
 * Base class of every error the client raises for a failed call. `code` is the
 * gRPC status code, `details` the server's message verbatim (etcd clients
 * match on it).
 */
export class EtcdError extends Error {
  /** gRPC status code of the failed call. */
  readonly code: number;
  /** The server's (or transport's) message, unchanged. */
  readonly details: string;
  constructor(code: number, details: string, options?: { cause?: unknown }) {
    super(details, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** The requested revision has been compacted away. */
export class CompactedError extends EtcdError {
  /** The compaction revision; 0n when the server did not say (Range, Txn). */
  readonly compactRevision: bigint;
  constructor(details: string, compactRevision = 0n, options?: { cause?: unknown }) {
    super(Status.OUT_OF_RANGE, details, options);
    this.compactRevision = compactRevision;
  }
}
/** The requested revision is greater than the current one. */
export class FutureRevisionError extends EtcdError {}
/** The cluster has no leader (or the member lost it). */
export class NoLeaderError extends EtcdError {}
/** The member is not the leader (MoveLeader, some maintenance calls). */
export class NotLeaderError extends EtcdError {}
/** The leader changed while the request was in flight; its outcome is unknown. */
export class LeaderChangedError extends EtcdError {}
/** The request timed out inside the server; its outcome is unknown. */
export class RequestTimeoutError extends EtcdError {}
/** The authenticated user lacks the permission. */
export class PermissionDeniedError extends EtcdError {}
/** Wrong user name or password, or an invalid/expired token. */
export class AuthenticationError extends EtcdError {}
/** The lease does not exist (never granted, revoked or expired). */
export class LeaseNotFoundError extends EtcdError {}
/** A keep-alive got no renewal before the lease's TTL ran out. */
export class LeaseExpiredError extends EtcdError {}
/** A key is missing or a request argument is invalid. */
export class InvalidArgumentError extends EtcdError {}
/** The database quota is exhausted (NOSPACE alarm raised). */
export class NoSpaceError extends EtcdError {}
/** Something named by the request does not exist (member, ...). */
export class NotFoundError extends EtcdError {}
/** A member, user or role operation hit a precondition (exists, not found...). */
export class FailedPreconditionError extends EtcdError {}
/** No endpoint could be reached, or the connection dropped. */
export class UnavailableError extends EtcdError {}
/** The call's deadline passed before it completed. */
export class DeadlineExceededError extends EtcdError {}
/** The caller's AbortSignal fired, or the client was closed. */
export class AbortedError extends EtcdError {
  constructor(details = 'call aborted', options?: { cause?: unknown }) {
    super(Status.CANCELLED, details, options);
  }
}
/** A watch was canceled by the server for a reason other than compaction. */
export class WatchCanceledError extends EtcdError {}

/** gRPC status codes as plain numbers (grpc-js exports a TS enum). */
export const Code = {
  CANCELLED: Status.CANCELLED as number,
  INTERNAL: Status.INTERNAL as number,
  UNAVAILABLE: Status.UNAVAILABLE as number,
  DEADLINE_EXCEEDED: Status.DEADLINE_EXCEEDED as number,
  NOT_FOUND: Status.NOT_FOUND as number,
} as const;

type ErrorClass = new (code: number, details: string) => EtcdError;

// Exact etcd messages (rpctypes) to classes; a message wins over the code
// because one code (UNAVAILABLE, FAILED_PRECONDITION) covers many causes.
const byMessage: ReadonlyMap<string, ErrorClass> = new Map<string, ErrorClass>([
  ['etcdserver: mvcc: required revision is a future revision', FutureRevisionError],
  ['etcdserver: no leader', NoLeaderError],
  ['etcdserver: not leader', NotLeaderError],
  ['etcdserver: leader changed', LeaderChangedError],
  ['etcdserver: request timed out', RequestTimeoutError],
  ['etcdserver: request timed out, possibly due to previous leader failure', RequestTimeoutError],
  ['etcdserver: request timed out, possibly due to connection lost', RequestTimeoutError],
  ['etcdserver: permission denied', PermissionDeniedError],
  ['etcdserver: authentication failed, invalid user ID or password', AuthenticationError],
  ['etcdserver: invalid auth token', AuthenticationError],
  ['etcdserver: user name is empty', InvalidArgumentError],
  ['etcdserver: requested lease not found', LeaseNotFoundError],
  ['etcdserver: mvcc: database space exceeded', NoSpaceError],
  ['etcdserver: watch canceled', WatchCanceledError],
  // Go's context error as etcd's lock and election services return it (code Unknown).
  ['context deadline exceeded', DeadlineExceededError],
]);

const byCode: ReadonlyMap<number, ErrorClass> = new Map<number, ErrorClass>([
  [Status.UNAVAILABLE, UnavailableError],
  [Status.DEADLINE_EXCEEDED, DeadlineExceededError],
  [Status.PERMISSION_DENIED, PermissionDeniedError],
  [Status.UNAUTHENTICATED, AuthenticationError],
  [Status.INVALID_ARGUMENT, InvalidArgumentError],
  [Status.FAILED_PRECONDITION, FailedPreconditionError],
  [Status.NOT_FOUND, NotFoundError],
  [Status.RESOURCE_EXHAUSTED, NoSpaceError],
]);

/** The compaction message, shared by Range, Txn and Watch. */
export const COMPACTED_MESSAGE = 'etcdserver: mvcc: required revision has been compacted';

/** Maps a grpc-js error to the matching typed error (unknown ones stay EtcdError). */
export function fromGrpcError(err: unknown): EtcdError {
  if (err instanceof EtcdError) return err;
  const se = err as Partial<ServiceError>;
  const code = typeof se.code === 'number' ? se.code : Status.UNKNOWN;
  const details = typeof se.details === 'string' ? se.details : String(err);
  if (details === COMPACTED_MESSAGE) return new CompactedError(details, 0n, { cause: err });
  const cls = byMessage.get(details) ?? byCode.get(code) ?? EtcdError;
  const e = new cls(code, details);
  Object.defineProperty(e, 'cause', { value: err, enumerable: false });
  return e;
}
