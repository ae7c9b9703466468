/**
 * What a Raft entry carries: one client request (or an internal one) tagged
 * with the proposing member's request ID, so the member that proposed it can
 * hand the apply result back to the waiting caller.
 *
 * Layout: [kind: u8][id: u64 big-endian][payload]. The payload is the request
 * in etcd's protobuf encoding (from @kv/api) or, for internal requests, the
 * encoding named by its kind. The format is ours (etcd's InternalRaftRequest
 * is not part of the public API), versioned by the kind byte.
 */

export const RequestKind = {
  Put: 1,
  DeleteRange: 2,
  Txn: 3,
  Compaction: 4,
  LeaseGrant: 5,
  LeaseRevoke: 6,
  LeaseCheckpoint: 7,
  Alarm: 8,
  AuthEnable: 9,
  AuthDisable: 10,
  Authenticate: 11,
  AuthUserAdd: 12,
  AuthUserDelete: 13,
  AuthUserChangePassword: 14,
  AuthUserGrantRole: 15,
  AuthUserRevokeRole: 16,
  AuthRoleAdd: 17,
  AuthRoleDelete: 18,
  AuthRoleGrantPermission: 19,
  AuthRoleRevokePermission: 20,
  /** A member publishes its name and client URLs (JSON). */
  MemberAttributes: 21,
  /** Bumps the applied index without effect: used to commit an entry in a new term. */
  Noop: 22,
} as const;
export type RequestKind = (typeof RequestKind)[keyof typeof RequestKind];

export interface InternalRequest {
  readonly kind: RequestKind;
  readonly id: bigint;
  readonly payload: Uint8Array;
}

const HEADER = 9;

export function encodeInternalRequest(req: InternalRequest): Uint8Array {
  const out = Buffer.allocUnsafe(HEADER + req.payload.length);
  out[0] = req.kind;
  out.writeBigUInt64BE(req.id, 1);
  out.set(req.payload, HEADER);
  return out;
}

export function decodeInternalRequest(data: Uint8Array): InternalRequest {
  if (data.length < HEADER) throw new Error(`internal request too short (${data.length} bytes)`);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return {
    kind: buf[0] as RequestKind,
    id: buf.readBigUInt64BE(1),
    payload: buf.subarray(HEADER),
  };
}

/**
 * Request IDs unique per member across restarts: the member ID's low 16 bits,
 * then a 48-bit counter seeded from the wall clock (in ms, shifted) so that a
 * restarted member never reuses an ID still present in its log.
 */
export class RequestIdGenerator {
  #prefix: bigint;
  #next: bigint;

  constructor(memberId: bigint, nowMs: number) {
    this.#prefix = (memberId & 0xffffn) << 48n;
    this.#next = (BigInt(Math.floor(nowMs)) << 8n) & 0xffff_ffff_ffffn;
  }

  next(): bigint {
    this.#next = (this.#next + 1n) & 0xffff_ffff_ffffn;
    return this.#prefix | this.#next;
  }
}
