/**
 * Request checks made before a request is proposed or served, with etcd's
 * errors: a bad request never reaches the Raft log.
 */
import { etcdserverpb } from '@kv/api';
import { Errors } from './errors';

export interface Limits {
  readonly maxTxnOps: number;
}

export function checkRange(r: etcdserverpb.RangeRequest): void {
  if (r.key.length === 0) throw Errors.emptyKey();
  const orders: readonly number[] = Object.values(etcdserverpb.RangeRequest_SortOrder);
  const targets: readonly number[] = Object.values(etcdserverpb.RangeRequest_SortTarget);
  if (!orders.includes(r.sortOrder) || !targets.includes(r.sortTarget)) {
    throw Errors.invalidSortOption();
  }
}

export function checkPut(p: etcdserverpb.PutRequest): void {
  if (p.key.length === 0) throw Errors.emptyKey();
  if (p.ignoreValue && p.value.length !== 0) throw Errors.valueProvided();
  if (p.ignoreLease && p.lease !== 0n) throw Errors.leaseProvided();
}

export function checkDeleteRange(d: etcdserverpb.DeleteRangeRequest): void {
  if (d.key.length === 0) throw Errors.emptyKey();
}

function checkOp(op: etcdserverpb.RequestOp, limits: Limits): void {
  const r = op.request;
  if (r === undefined) return;
  switch (r.$case) {
    case 'requestRange':
      return checkRange(r.value);
    case 'requestPut':
      return checkPut(r.value);
    case 'requestDeleteRange':
      return checkDeleteRange(r.value);
    case 'requestTxn':
      return checkTxn(r.value, limits);
  }
}

export function checkTxn(t: etcdserverpb.TxnRequest, limits: Limits): void {
  const opCount = Math.max(t.compare.length, t.success.length, t.failure.length);
  if (opCount > limits.maxTxnOps) throw Errors.tooManyOps();
  for (const c of t.compare) if (c.key.length === 0) throw Errors.emptyKey();
  for (const op of t.success) checkOp(op, limits);
  for (const op of t.failure) checkOp(op, limits);
  checkNoOverlappingWrites(t.success);
  checkNoOverlappingWrites(t.failure);
}

interface Interval {
  readonly start: Buffer;
  /** Exclusive end; undefined = single key; empty buffer = to infinity. */
  readonly end: Buffer | undefined;
}

interface BranchWrites {
  readonly puts: Map<string, Buffer>;
  readonly dels: Interval[];
}

/**
 * The writes of one list of ops. A key may be put once per branch and not
 * inside a range the same branch deletes; the two branches of a nested txn are
 * alternatives, so they may write the same key, but neither may clash with
 * their siblings.
 */
function branchWrites(ops: readonly etcdserverpb.RequestOp[]): BranchWrites {
  const out: BranchWrites = { puts: new Map(), dels: [] };
  const addPut = (key: Buffer): void => {
    const id = key.toString('latin1');
    if (out.puts.has(id)) throw Errors.duplicateKey();
    out.puts.set(id, key);
  };
  for (const op of ops) {
    const r = op.request;
    if (r === undefined) continue;
    if (r.$case === 'requestPut') addPut(r.value.key);
    else if (r.$case === 'requestDeleteRange') {
      const end = r.value.rangeEnd;
      out.dels.push({
        start: r.value.key,
        end:
          end.length === 0 ? undefined : end.length === 1 && end[0] === 0 ? Buffer.alloc(0) : end,
      });
    } else if (r.$case === 'requestTxn') {
      const s = branchWrites(r.value.success);
      const f = branchWrites(r.value.failure);
      const nested = new Map([...s.puts, ...f.puts]);
      for (const key of nested.values()) addPut(key);
      out.dels.push(...s.dels, ...f.dels);
    }
  }
  for (const key of out.puts.values()) {
    for (const d of out.dels) if (inInterval(key, d)) throw Errors.duplicateKey();
  }
  return out;
}

function inInterval(key: Buffer, iv: Interval): boolean {
  if (iv.end === undefined) return key.equals(iv.start);
  if (Buffer.compare(key, iv.start) < 0) return false;
  return iv.end.length === 0 || Buffer.compare(key, iv.end) < 0;
}

function checkNoOverlappingWrites(ops: readonly etcdserverpb.RequestOp[]): void {
  if (ops.length <= 8 && isFlatPutsAndRanges(ops)) {
    // The common shape (a few puts and ranges, nothing nested, no deletes)
    // compares put keys pairwise: the same verdict without a Map or strings.
    for (let i = 0; i < ops.length; i++) {
      const a = ops[i]!.request;
      if (a?.$case !== 'requestPut') continue;
      for (let j = i + 1; j < ops.length; j++) {
        const b = ops[j]!.request;
        // Buffer.compare, not .equals: callers inside the server may pass Uint8Arrays.
        if (b?.$case === 'requestPut' && Buffer.compare(a.value.key, b.value.key) === 0) {
          throw Errors.duplicateKey();
        }
      }
    }
    return;
  }
  branchWrites(ops);
}

function isFlatPutsAndRanges(ops: readonly etcdserverpb.RequestOp[]): boolean {
  for (const op of ops) {
    const c = op.request?.$case;
    if (c === 'requestTxn' || c === 'requestDeleteRange') return false;
  }
  return true;
}
