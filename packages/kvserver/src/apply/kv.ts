/**
 * The KV part of the apply step: Range, Put, DeleteRange, Txn and Compact with
 * etcd's semantics, run against MVCC. Sorting and the min/max revision filters
 * live here (MVCC returns keys in key order), as in etcd's apply layer.
 */
import type { mvccpb } from '@kv/api';
import { etcdserverpb } from '@kv/api';
import { MvccError } from '@kv/mvcc';
import type { KeyValue, MvccStore, RangeResult, WriteTxn } from '@kv/mvcc';
import { Errors } from '../errors';

type RangeRequest = etcdserverpb.RangeRequest;
type RangeResponse = etcdserverpb.RangeResponse;
type PutRequest = etcdserverpb.PutRequest;
type PutResponse = etcdserverpb.PutResponse;
type DeleteRangeRequest = etcdserverpb.DeleteRangeRequest;
type DeleteRangeResponse = etcdserverpb.DeleteRangeResponse;
type TxnRequest = etcdserverpb.TxnRequest;
type TxnResponse = etcdserverpb.TxnResponse;
type Compare = etcdserverpb.Compare;
type ResponseOp = etcdserverpb.ResponseOp;
type RequestOp = etcdserverpb.RequestOp;
type ResponseHeader = etcdserverpb.ResponseHeader;

const { SortOrder, SortTarget } = {
  SortOrder: etcdserverpb.RangeRequest_SortOrder,
  SortTarget: etcdserverpb.RangeRequest_SortTarget,
};

/** What the KV applier needs from the lessor. */
export interface LeaseAttachments {
  exists(lease: bigint): boolean;
  attach(lease: bigint, key: Uint8Array): void;
  detach(lease: bigint, key: Uint8Array): void;
  /** The lease a key is attached to now, or 0n (answered from memory). */
  leaseOf(key: Uint8Array): bigint;
  /** False when no key has a lease, so deletes need not look for any. */
  readonly hasAttachedKeys: boolean;
}

/** Anything that can answer an MVCC range: the store itself or an open write txn. */
interface RangeSource {
  range(
    key: Uint8Array,
    end: Uint8Array | undefined,
    options?: { revision?: number; limit?: number; countOnly?: boolean; keysOnly?: boolean },
  ): Promise<RangeResult>;
}

/** Converts a wire int64 to a JS number, refusing values that would lose precision. */
export function toSafeNumber(value: bigint): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw Errors.futureRev();
  return n;
}

export function emptyHeader(): ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };
}

export function toPbKeyValue(kv: KeyValue): mvccpb.KeyValue {
  return {
    key: asBuffer(kv.key),
    createRevision: BigInt(kv.createRevision),
    modRevision: BigInt(kv.modRevision),
    version: BigInt(kv.version),
    value: asBuffer(kv.value),
    lease: kv.lease,
  };
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Wire range_end → MVCC end: empty means a single key. */
function rangeEndOf(rangeEnd: Uint8Array): Uint8Array | undefined {
  return rangeEnd.length === 0 ? undefined : rangeEnd;
}

/** Maps MVCC errors to etcd's client-visible errors. */
export function mapMvccError(err: unknown): unknown {
  if (err instanceof MvccError) {
    if (err.code === 'MVCC_COMPACTED') return Errors.compacted();
    if (err.code === 'MVCC_FUTURE_REV') return Errors.futureRev();
  }
  return err;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(asBuffer(a), asBuffer(b));
}

function sortKeyValues(kvs: KeyValue[], order: number, target: number): void {
  const pick = (kv: KeyValue): number | Uint8Array => {
    switch (target) {
      case SortTarget.VERSION:
        return kv.version;
      case SortTarget.CREATE:
        return kv.createRevision;
      case SortTarget.MOD:
        return kv.modRevision;
      case SortTarget.VALUE:
        return kv.value;
      default:
        return kv.key;
    }
  };
  const cmp = (a: KeyValue, b: KeyValue): number => {
    const x = pick(a);
    const y = pick(b);
    const c =
      typeof x === 'number' && typeof y === 'number'
        ? x - y
        : compareBytes(x as Uint8Array, y as Uint8Array);
    // Ties keep key order, as etcd's stable sort over key-ordered input does.
    return c !== 0 ? c : compareBytes(a.key, b.key);
  };
  kvs.sort(order === SortOrder.DESCEND ? (a, b) => -cmp(a, b) : cmp);
}

/** Executes a RangeRequest against a store or a write txn; header left for the caller. */
export async function executeRange(source: RangeSource, r: RangeRequest): Promise<RangeResponse> {
  let sortOrder: number = r.sortOrder;
  if (r.sortTarget !== SortTarget.KEY && sortOrder === SortOrder.NONE) {
    // MVCC already returns key order; any other target needs an explicit sort.
    sortOrder = SortOrder.ASCEND;
  }
  const filtered =
    r.minModRevision !== 0n ||
    r.maxModRevision !== 0n ||
    r.minCreateRevision !== 0n ||
    r.maxCreateRevision !== 0n;
  const needsAll =
    filtered ||
    (sortOrder !== SortOrder.NONE &&
      !(sortOrder === SortOrder.ASCEND && r.sortTarget === SortTarget.KEY));
  const requested = toSafeNumber(r.limit);
  // One more than asked tells whether there are more keys.
  const limit = needsAll || requested <= 0 ? 0 : requested + 1;
  let result: RangeResult;
  try {
    result = await source.range(r.key, rangeEndOf(r.rangeEnd), {
      revision: toSafeNumber(r.revision),
      limit,
      countOnly: r.countOnly,
      keysOnly: r.keysOnly,
    });
  } catch (err) {
    throw mapMvccError(err);
  }
  let kvs = result.kvs;
  if (filtered) {
    const minMod = Number(r.minModRevision);
    const maxMod = Number(r.maxModRevision);
    const minCreate = Number(r.minCreateRevision);
    const maxCreate = Number(r.maxCreateRevision);
    kvs = kvs.filter(
      (kv) =>
        (minMod === 0 || kv.modRevision >= minMod) &&
        (maxMod === 0 || kv.modRevision <= maxMod) &&
        (minCreate === 0 || kv.createRevision >= minCreate) &&
        (maxCreate === 0 || kv.createRevision <= maxCreate),
    );
  }
  if (sortOrder !== SortOrder.NONE) sortKeyValues(kvs, sortOrder, r.sortTarget);
  let more = false;
  if (requested > 0 && kvs.length > requested) {
    kvs = kvs.slice(0, requested);
    more = true;
  }
  return {
    header: { ...emptyHeader(), revision: BigInt(result.revision) },
    kvs: r.countOnly ? [] : kvs.map(toPbKeyValue),
    more,
    count: BigInt(result.count),
  };
}

/** Context of one apply: the open MVCC write txn and the lessor. */
export interface ApplyContext {
  readonly txn: WriteTxn;
  readonly leases: LeaseAttachments | undefined;
}

/**
 * Applies a Put. Synchronous (no promise) unless the previous version must
 * be read: reading it costs a backend read, so only when asked (the lease it
 * had is known from memory). The response's header is left for the caller
 * to stamp.
 */
export function applyPut(ctx: ApplyContext, p: PutRequest): PutResponse | Promise<PutResponse> {
  if (p.prevKv || p.ignoreValue || p.ignoreLease) {
    return ctx.txn.range(p.key, undefined, {}).then((r) => putWithPrevious(ctx, p, r.kvs[0]));
  }
  return putWithPrevious(ctx, p, undefined);
}

function putWithPrevious(
  ctx: ApplyContext,
  p: PutRequest,
  prev: KeyValue | undefined,
): PutResponse {
  const resp: PutResponse = { header: undefined, prevKv: undefined };
  let value: Uint8Array = p.value;
  let lease = p.lease;
  if (p.ignoreValue || p.ignoreLease) {
    if (prev === undefined) throw Errors.keyNotFound();
    if (p.ignoreValue) value = prev.value;
    if (p.ignoreLease) lease = prev.lease;
  }
  if (lease !== 0n && ctx.leases !== undefined && !ctx.leases.exists(lease)) {
    throw Errors.leaseNotFound();
  }
  if (p.prevKv && prev !== undefined) resp.prevKv = toPbKeyValue(prev);
  ctx.txn.put(p.key, value, lease);
  if (ctx.leases !== undefined) {
    const oldLease = ctx.leases.leaseOf(p.key);
    if (oldLease !== 0n && oldLease !== lease) ctx.leases.detach(oldLease, p.key);
    if (lease !== 0n) ctx.leases.attach(lease, p.key);
  }
  return resp;
}

export async function applyDeleteRange(
  ctx: ApplyContext,
  d: DeleteRangeRequest,
): Promise<DeleteRangeResponse> {
  const end = rangeEndOf(d.rangeEnd);
  const resp: DeleteRangeResponse = { header: emptyHeader(), deleted: 0n, prevKvs: [] };
  let prevs: KeyValue[] | undefined;
  if (d.prevKv || ctx.leases?.hasAttachedKeys === true) {
    prevs = (await ctx.txn.range(d.key, end, {})).kvs;
    if (d.prevKv) resp.prevKvs = prevs.map(toPbKeyValue);
  }
  resp.deleted = BigInt(ctx.txn.deleteRange(d.key, end));
  if (ctx.leases !== undefined && prevs !== undefined) {
    for (const kv of prevs) if (kv.lease !== 0n) ctx.leases.detach(kv.lease, kv.key);
  }
  return resp;
}

async function evaluateCompare(txn: WriteTxn, c: Compare): Promise<boolean> {
  const { kvs } = await txn.range(c.key, rangeEndOf(c.rangeEnd), {});
  const Target = etcdserverpb.Compare_CompareTarget;
  if (kvs.length === 0) {
    // A missing key has zero version, revisions and lease, and no value.
    if (c.target === Target.VALUE) return false;
    return compareOne(c, undefined);
  }
  return kvs.every((kv) => compareOne(c, kv));
}

function compareOne(c: Compare, kv: KeyValue | undefined): boolean {
  const Target = etcdserverpb.Compare_CompareTarget;
  const Result = etcdserverpb.Compare_CompareResult;
  let diff: number;
  const u = c.targetUnion;
  switch (c.target) {
    case Target.VALUE: {
      const want = u?.$case === 'value' ? u.value : Buffer.alloc(0);
      diff = compareBytes(kv?.value ?? new Uint8Array(0), want);
      break;
    }
    case Target.VERSION:
      diff = bigCompare(BigInt(kv?.version ?? 0), u?.$case === 'version' ? u.value : 0n);
      break;
    case Target.CREATE:
      diff = bigCompare(
        BigInt(kv?.createRevision ?? 0),
        u?.$case === 'createRevision' ? u.value : 0n,
      );
      break;
    case Target.MOD:
      diff = bigCompare(BigInt(kv?.modRevision ?? 0), u?.$case === 'modRevision' ? u.value : 0n);
      break;
    case Target.LEASE:
      diff = bigCompare(kv?.lease ?? 0n, u?.$case === 'lease' ? u.value : 0n);
      break;
    default:
      return false;
  }
  switch (c.result) {
    case Result.EQUAL:
      return diff === 0;
    case Result.GREATER:
      return diff > 0;
    case Result.LESS:
      return diff < 0;
    case Result.NOT_EQUAL:
      return diff !== 0;
    default:
      return false;
  }
}

function bigCompare(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function evaluateCompares(txn: WriteTxn, compares: readonly Compare[]): Promise<boolean> {
  for (const c of compares) {
    if (!(await evaluateCompare(txn, c))) return false;
  }
  return true;
}

/**
 * Applies a Txn: the compares, then the chosen branch's ops in order.
 * Synchronous (no promise) when nothing in it reads (no compares, only puts
 * that need no previous version); otherwise it continues asynchronously from
 * the first op that has to wait. The header is left for the caller to stamp.
 */
export function applyTxn(ctx: ApplyContext, t: TxnRequest): TxnResponse | Promise<TxnResponse> {
  if (t.compare.length === 0) return runOps(ctx, t.success, true, 0, []);
  return evaluateCompares(ctx.txn, t.compare).then((ok) =>
    runOps(ctx, ok ? t.success : t.failure, ok, 0, []),
  );
}

function runOps(
  ctx: ApplyContext,
  ops: readonly RequestOp[],
  succeeded: boolean,
  from: number,
  responses: ResponseOp[],
): TxnResponse | Promise<TxnResponse> {
  for (let i = from; i < ops.length; i++) {
    const r = ops[i]!.request;
    if (r === undefined) continue;
    const resp = applyOp(ctx, r);
    if (resp instanceof Promise) {
      return resp.then((op) => {
        responses.push(op);
        return runOps(ctx, ops, succeeded, i + 1, responses);
      });
    }
    responses.push(resp);
  }
  return { header: undefined, succeeded, responses };
}

function applyOp(
  ctx: ApplyContext,
  r: NonNullable<RequestOp['request']>,
): ResponseOp | Promise<ResponseOp> {
  switch (r.$case) {
    case 'requestRange':
      return executeRange(ctx.txn, r.value).then((value) => ({
        response: { $case: 'responseRange', value },
      }));
    case 'requestPut': {
      const resp = applyPut(ctx, r.value);
      if (resp instanceof Promise) {
        return resp.then((value) => ({ response: { $case: 'responsePut', value } }));
      }
      return { response: { $case: 'responsePut', value: resp } };
    }
    case 'requestDeleteRange':
      return applyDeleteRange(ctx, r.value).then((value) => ({
        response: { $case: 'responseDeleteRange', value },
      }));
    case 'requestTxn': {
      const resp = applyTxn(ctx, r.value);
      if (resp instanceof Promise) {
        return resp.then((value) => ({ response: { $case: 'responseTxn', value } }));
      }
      return { response: { $case: 'responseTxn', value: resp } };
    }
  }
}

/** The result of a compaction: whether to wait for the physical work. */
export function startCompaction(
  mvcc: MvccStore,
  revision: bigint,
): { readonly physical: Promise<void> } {
  try {
    return { physical: mvcc.compact(toSafeNumber(revision)) };
  } catch (err) {
    throw mapMvccError(err);
  }
}

export type { RangeSource };
