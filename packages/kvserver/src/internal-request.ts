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

import type { etcdserverpb } from '@kv/api';

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
/** Bytes before the payload in an entry: the kind and the request ID. */
export const INTERNAL_HEADER_BYTES = HEADER;

export function encodeInternalRequest(req: InternalRequest): Uint8Array {
  const out = Buffer.allocUnsafe(HEADER + req.payload.length);
  out[0] = req.kind;
  out.writeBigUInt64BE(req.id, 1);
  out.set(req.payload, HEADER);
  return out;
}

export function decodeInternalRequest(data: Uint8Array): InternalRequest {
  if (data.length < HEADER) throw new Error(`internal request too short (${data.length} bytes)`);
  // Entries this member proposed are Buffers already: no view needed.
  const buf = Buffer.isBuffer(data)
    ? data
    : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
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

// ------------------------------------------------------------------ Put fast path
//
// A Put is most of what a write-heavy cluster logs. These two functions write
// and read its entry directly, with the same bytes and the same decoded
// object as `encodeInternalRequest` + ts-proto's PutRequest codec; anything
// they do not handle in the common shape returns undefined and the caller
// uses the generic codec (the equivalence is tested against ts-proto).

type PutRequest = etcdserverpb.PutRequest;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}

function writeBytesField(buf: Buffer, pos: number, tag: number, b: Uint8Array): number {
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, b.length);
  buf.set(b, pos);
  return pos + b.length;
}

/** A PutRequest's encoded size, for a lease already checked to be in 0..2^53. */
function putBodySize(p: PutRequest, lease: number): number {
  const kl = p.key.length;
  const vl = p.value.length;
  let size = 0;
  if (kl !== 0) size += 1 + varintSize(kl) + kl;
  if (vl !== 0) size += 1 + varintSize(vl) + vl;
  if (lease !== 0) size += 1 + varintSize(lease);
  if (p.prevKv) size += 2;
  if (p.ignoreValue) size += 2;
  if (p.ignoreLease) size += 2;
  return size;
}

function writePutBody(out: Buffer, pos: number, p: PutRequest, lease: number): number {
  // Field order and presence as protobuf encoders write them: field number
  // order, default values omitted.
  if (p.key.length !== 0) pos = writeBytesField(out, pos, 10, p.key);
  if (p.value.length !== 0) pos = writeBytesField(out, pos, 18, p.value);
  if (lease !== 0) {
    out[pos++] = 24;
    pos = writeVarint(out, pos, lease);
  }
  if (p.prevKv) {
    out[pos++] = 32;
    out[pos++] = 1;
  }
  if (p.ignoreValue) {
    out[pos++] = 40;
    out[pos++] = 1;
  }
  if (p.ignoreLease) {
    out[pos++] = 48;
    out[pos++] = 1;
  }
  return pos;
}

/** The lease as a number when this fast path writes it (0..2^53), else -1. */
function fastLease(p: PutRequest): number {
  return p.lease < 0n || p.lease > MAX_SAFE ? -1 : Number(p.lease);
}

/**
 * The entry of a Put in one buffer: [kind][id][PutRequest protobuf]. Undefined
 * for a lease outside 0..2^53 (negative int64s take ten varint bytes: left
 * to the generic encoder).
 */
export function encodePutEntry(id: bigint, p: PutRequest): Buffer | undefined {
  const lease = fastLease(p);
  if (lease < 0) return undefined;
  const out = Buffer.allocUnsafe(HEADER + putBodySize(p, lease));
  out[0] = RequestKind.Put;
  out.writeBigUInt64BE(id, 1);
  writePutBody(out, HEADER, p, lease);
  return out;
}

/**
 * The entry of a Txn made only of puts (no compares, an empty failure
 * branch: what a plain transactional write looks like), in one buffer with
 * the bytes ts-proto's TxnRequest encoder writes. Undefined for any other
 * shape, which the caller encodes generically.
 */
export function encodeTxnEntry(id: bigint, t: etcdserverpb.TxnRequest): Buffer | undefined {
  if (t.compare.length !== 0 || t.failure.length !== 0) return undefined;
  let size = HEADER;
  for (const op of t.success) {
    const r = op.request;
    if (r?.$case !== 'requestPut') return undefined;
    const lease = fastLease(r.value);
    if (lease < 0) return undefined;
    const body = putBodySize(r.value, lease);
    const opLen = 1 + varintSize(body) + body;
    size += 1 + varintSize(opLen) + opLen;
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = RequestKind.Txn;
  out.writeBigUInt64BE(id, 1);
  let pos = HEADER;
  for (const op of t.success) {
    const p = (op.request as { value: PutRequest }).value;
    const lease = fastLease(p);
    const body = putBodySize(p, lease);
    // success (field 2) { request_put (field 2) { PutRequest } }
    out[pos++] = 18;
    pos = writeVarint(out, pos, 1 + varintSize(body) + body);
    out[pos++] = 18;
    pos = writeVarint(out, pos, body);
    pos = writePutBody(out, pos, p, lease);
  }
  return out;
}

/**
 * Decodes a TxnRequest payload of the shape encodeTxnEntry writes (success
 * ops that are each exactly one put in the common shape). Undefined for
 * anything else, which the caller hands to the generic decoder.
 */
export function decodeTxnRequest(payload: Uint8Array): etcdserverpb.TxnRequest | undefined {
  const success: etcdserverpb.RequestOp[] = [];
  const end = payload.length;
  let pos = 0;
  while (pos < end) {
    if (payload[pos++] !== 18) return undefined;
    const opLen = readLength(payload, pos, end);
    if (opLen === undefined) return undefined;
    pos = opLen.pos;
    const opEnd = pos + opLen.value;
    // The op holds one field: request_put, spanning all of it.
    if (pos >= opEnd || payload[pos++] !== 18) return undefined;
    const putLen = readLength(payload, pos, opEnd);
    if (putLen === undefined || putLen.pos + putLen.value !== opEnd) return undefined;
    const value = decodePutRequest(payload.subarray(putLen.pos, opEnd));
    if (value === undefined) return undefined;
    success.push({ request: { $case: 'requestPut', value } });
    pos = opEnd;
  }
  return { compare: [], success, failure: [] };
}

/** A length varint (< 2^28) at `pos` whose bytes fit before `end`. */
function readLength(
  b: Uint8Array,
  pos: number,
  end: number,
): { value: number; pos: number } | undefined {
  let v = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) return undefined;
    const byte = b[pos++]!;
    v |= (byte & 0x7f) << shift;
    if (byte < 0x80) return v <= end - pos ? { value: v, pos } : undefined;
  }
  return undefined;
}

/**
 * Decodes a PutRequest payload written in the common shape (the fields of
 * PutRequest, lengths and lease below 2^49, bools as one byte). Undefined for
 * anything else, which the caller hands to the generic decoder. Key and value
 * are copies, as ts-proto's, so they do not keep the entry alive.
 */
export function decodePutRequest(payload: Uint8Array): PutRequest | undefined {
  let key = EMPTY;
  let value = EMPTY;
  let lease = 0;
  let prevKv = false;
  let ignoreValue = false;
  let ignoreLease = false;
  const end = payload.length;
  let pos = 0;
  while (pos < end) {
    const tag = payload[pos++]!;
    // A varint of at most 7 bytes (< 2^49): exact in a double.
    let v = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (i === 7 || pos >= end) return undefined;
      const byte = payload[pos++]!;
      v += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 0x80;
    }
    switch (tag) {
      case 10:
      case 18: {
        if (v > end - pos) return undefined;
        const b = Buffer.allocUnsafe(v);
        b.set(payload.subarray(pos, pos + v));
        pos += v;
        if (tag === 10) key = b;
        else value = b;
        break;
      }
      case 24:
        lease = v;
        break;
      // Bools only as 0 or 1: a larger varint is truncated to 32 bits by the
      // generic reader, which this does not imitate.
      case 32:
        if (v > 1) return undefined;
        prevKv = v === 1;
        break;
      case 40:
        if (v > 1) return undefined;
        ignoreValue = v === 1;
        break;
      case 48:
        if (v > 1) return undefined;
        ignoreLease = v === 1;
        break;
      default:
        return undefined;
    }
  }
  return {
    key: key === EMPTY ? Buffer.alloc(0) : key,
    value: value === EMPTY ? Buffer.alloc(0) : value,
    lease: lease === 0 ? 0n : BigInt(lease),
    prevKv,
    ignoreValue,
    ignoreLease,
  };
}

const EMPTY = Buffer.alloc(0);
