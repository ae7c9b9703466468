/**
 * v3lockpb.Lock, and the waiting queue it shares with v3electionpb.Election.
 *
 * A lock (or an election) named N is the set of keys under `N/`. Each holder
 * owns the key `N/<lease in hex>`, attached to its lease; the key with the
 * smallest create revision holds the lock. A waiter watches only the key
 * just ahead of it in that order (no thundering herd) and re-reads after each
 * delete, so it wakes when every older key is gone — released, revoked or
 * expired. This is the recipe of etcd's client/v3/concurrency, run inside the
 * server: every write is a Raft proposal through EtcdServer, every read a
 * linearizable range, every wait an MVCC watch on the member's own state.
 *
 * Errors leave these services with gRPC code Unknown and etcd's message, as
 * etcd 3.4 reports them (its services sit on an in-process client that drops
 * the status codes); the interceptor checks keep their codes.
 */
import { status } from '@grpc/grpc-js';
import { etcdserverpb, v3lockpb } from '@kv/api';
import type { LockServer, mvccpb } from '@kv/api';
import { EventType, MvccError } from '@kv/mvcc';
import type { MvccEvent, WatchRequest, WatchStream } from '@kv/mvcc';
import type { EtcdServer } from '../etcd-server';
import { EtcdError } from '../errors';
import type { CallerContext, Interceptors } from './interceptors';

const SERVICE = 'v3lockpb.Lock';

/** TTL of the lease granted when a caller passes lease 0 (etcd's default session TTL). */
export const DEFAULT_SESSION_TTL = 60;

const SLASH = Buffer.from('/');
const EMPTY = Buffer.alloc(0);

/** concurrency.ErrSessionExpired: the caller's queue key vanished while it waited. */
export function sessionExpired(): EtcdError {
  return new EtcdError(status.UNKNOWN, 'mutex: session is expired');
}

/** The call was cancelled by the client (or its deadline passed). */
export function cancelled(): EtcdError {
  return new EtcdError(status.CANCELLED, 'context canceled');
}

/** `name/` — the prefix holding a lock's or an election's queue. */
export function queuePrefix(name: Uint8Array): Buffer {
  return Buffer.concat([name, SLASH]);
}

/** `name/<lease hex>`, as etcd's `fmt.Sprintf("%s%x", prefix, leaseID)`. */
export function queueKey(name: Uint8Array, lease: bigint): Buffer {
  return Buffer.concat([queuePrefix(name), Buffer.from(lease.toString(16))]);
}

/** The range end covering every key that starts with `prefix` (clientv3's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Uint8Array): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  // Every byte is 0xff: the range runs to the end of the keyspace.
  return Buffer.from([0]);
}

/** The range request for the first key of a queue, by create revision. */
export function firstCreated(prefix: Buffer): etcdserverpb.RangeRequest {
  return etcdserverpb.RangeRequest.fromPartial({
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    limit: 1n,
    sortTarget: etcdserverpb.RangeRequest_SortTarget.CREATE,
    sortOrder: etcdserverpb.RangeRequest_SortOrder.ASCEND,
  });
}

function createRevisionIs(key: Buffer, rev: bigint): etcdserverpb.Compare {
  return etcdserverpb.Compare.fromPartial({
    key,
    target: etcdserverpb.Compare_CompareTarget.CREATE,
    result: etcdserverpb.Compare_CompareResult.EQUAL,
    targetUnion: { $case: 'createRevision', value: rev },
  });
}

function rangeOp(r: etcdserverpb.RangeRequest): etcdserverpb.RequestOp {
  return { request: { $case: 'requestRange', value: r } };
}

function rangeResult(resp: etcdserverpb.TxnResponse, i: number): mvccpb.KeyValue[] {
  const r = resp.responses[i]?.response;
  return r?.$case === 'responseRange' ? r.value.kvs : [];
}

/** A grpc-js call, as far as cancellation goes. */
export interface CancellableCall {
  readonly cancelled: boolean;
  once(event: 'cancelled', listener: () => void): unknown;
}

/** An AbortSignal that fires when the client cancels the call (or its deadline passes). */
export function callSignal(call: CancellableCall): AbortSignal {
  const ac = new AbortController();
  if (call.cancelled) ac.abort();
  else call.once('cancelled', () => ac.abort());
  return ac.signal;
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw cancelled();
}

/** Maps errors to what etcd's lock and election services answer: code Unknown, etcd's text. */
export function asServiceError(err: unknown): unknown {
  if (err instanceof EtcdError && err.grpcCode !== status.CANCELLED) {
    return new EtcdError(status.UNKNOWN, err.message);
  }
  return err;
}

/** Runs a handler body with its errors mapped as etcd's services report them. */
export async function etcdErrors<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw asServiceError(err);
  }
}

/**
 * With auth on, the caller needs what the underlying KV calls need (etcd's
 * services run them with the caller's token): read on the whole queue
 * prefix, and write on `writeKey` when given.
 */
export function authorizeQueue(
  ic: Interceptors,
  call: CallerContext,
  name: Uint8Array,
  writeKey?: Buffer,
): void {
  ic.authorize(call, (user, auth) => {
    const prefix = queuePrefix(name);
    auth.checkRange(user, 'read', prefix, prefixEnd(prefix));
    if (writeKey !== undefined) auth.checkRange(user, 'write', writeKey, EMPTY);
  });
}

/** With auth on: read and write on one key (a compare-and-put or compare-and-delete). */
export function authorizeKey(ic: Interceptors, call: CallerContext, key: Buffer): void {
  ic.authorize(call, (user, auth) => {
    auth.checkRange(user, 'read', key, EMPTY);
    auth.checkRange(user, 'write', key, EMPTY);
  });
}

/** The lease a queue key is attached to; lease 0 gets a fresh one, as an etcd session would. */
export async function sessionLease(server: EtcdServer, lease: bigint): Promise<bigint> {
  if (lease !== 0n) return lease;
  const g = await server.leaseGrant({ TTL: BigInt(DEFAULT_SESSION_TTL), ID: 0n });
  return g.ID;
}

/** A place in a queue. */
export interface QueueEntry {
  readonly key: Buffer;
  /** Create revision of the key: its place in the queue. */
  readonly rev: bigint;
  /** Header of the joining txn. */
  readonly header: etcdserverpb.ResponseHeader;
  /** True when no older key exists: the entry holds the lock / leads already. */
  readonly first: boolean;
  /** The key as found, when it already existed (the caller's lease queued before). */
  readonly existing?: mvccpb.KeyValue;
}

/**
 * Joins the queue of `name` with one txn: creates `name/<lease>` if absent,
 * otherwise reuses it, and reads the current first key in the same revision.
 * A lease that does not exist fails the txn with etcd's lease-not-found error.
 */
export async function enqueue(
  server: EtcdServer,
  name: Uint8Array,
  lease: bigint,
  value: Buffer,
): Promise<QueueEntry> {
  const prefix = queuePrefix(name);
  const key = queueKey(name, lease);
  const resp = await server.txn(
    etcdserverpb.TxnRequest.fromPartial({
      compare: [createRevisionIs(key, 0n)],
      success: [
        {
          request: {
            $case: 'requestPut',
            value: etcdserverpb.PutRequest.fromPartial({ key, value, lease }),
          },
        },
        rangeOp(firstCreated(prefix)),
      ],
      failure: [
        rangeOp(etcdserverpb.RangeRequest.fromPartial({ key })),
        rangeOp(firstCreated(prefix)),
      ],
    }),
  );
  const header = resp.header!;
  const existing = resp.succeeded ? undefined : rangeResult(resp, 0)[0];
  const rev = existing?.createRevision ?? header.revision;
  const owner = rangeResult(resp, 1)[0];
  const first = owner === undefined || owner.createRevision === rev;
  return { key, rev, header, first, ...(existing !== undefined ? { existing } : {}) };
}

/** Deletes `key` if it is still the generation created at `rev`; the header of that txn. */
export async function dequeue(
  server: EtcdServer,
  key: Buffer,
  rev: bigint,
): Promise<etcdserverpb.ResponseHeader> {
  const resp = await server.txn(
    etcdserverpb.TxnRequest.fromPartial({
      compare: [createRevisionIs(key, rev)],
      success: [
        {
          request: {
            $case: 'requestDeleteRange',
            value: etcdserverpb.DeleteRangeRequest.fromPartial({ key }),
          },
        },
      ],
    }),
  );
  return resp.header!;
}

/**
 * Runs one MVCC watcher on the member's current store and hands each batch of
 * events to `onEvents` until it returns true (→ true). Returns false when the
 * watcher could not continue — its start revision was compacted, the store
 * was replaced by a snapshot or closed — or the signal fired; callers then
 * re-read the state instead of trusting a broken watch.
 */
export async function watchUntil(
  server: EtcdServer,
  request: WatchRequest,
  signal: AbortSignal,
  onEvents: (events: readonly MvccEvent[], revision: number) => boolean | Promise<boolean>,
): Promise<boolean> {
  if (signal.aborted) return false;
  let stream: WatchStream;
  try {
    stream = server.mvcc.watchStream();
  } catch (err) {
    // A store closed for a snapshot restore: the caller's next read decides.
    if (err instanceof MvccError) return false;
    throw err;
  }
  const stop = (): void => stream.close();
  signal.addEventListener('abort', stop, { once: true });
  try {
    stream.watch(request);
    for await (const r of stream) {
      if (signal.aborted) return false;
      if (r.compactRevision !== undefined || r.canceled === true) return false;
      if (r.watchId < 0 || r.events.length === 0) continue;
      if (await onEvents(r.events, r.revision)) return true;
    }
    return false;
  } catch (err) {
    if (err instanceof MvccError) return false;
    throw err;
  } finally {
    signal.removeEventListener('abort', stop);
    stream.close();
  }
}

/**
 * Waits until no key under `prefix` has a create revision ≤ `maxCreateRev`:
 * reads the youngest such key, watches it until it is deleted, and repeats.
 * Returns the header of the final read, which saw none.
 *
 * The reads are local (serializable): "no older key" never becomes false
 * again once true — new keys get newer create revisions — so this member's
 * applied state is enough to decide it, and a lagging member only waits
 * longer. That saves a ReadIndex round per hand-off; the caller's final
 * check of its own key stays linearizable.
 */
export async function waitDeletes(
  server: EtcdServer,
  prefix: Buffer,
  maxCreateRev: bigint,
  signal: AbortSignal,
): Promise<etcdserverpb.ResponseHeader> {
  const request = etcdserverpb.RangeRequest.fromPartial({
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    limit: 1n,
    sortTarget: etcdserverpb.RangeRequest_SortTarget.CREATE,
    sortOrder: etcdserverpb.RangeRequest_SortOrder.DESCEND,
    maxCreateRevision: maxCreateRev,
    serializable: true,
  });
  for (;;) {
    throwIfAborted(signal);
    const resp = await server.range(request);
    throwIfAborted(signal);
    const ahead = resp.kvs[0];
    if (ahead === undefined) return resp.header!;
    // The key ahead existed at the read's revision; any delete of it comes later.
    await watchUntil(
      server,
      {
        key: ahead.key,
        startRevision: Number(resp.header!.revision) + 1,
        filters: { noPut: true },
      },
      signal,
      (events) => events.some((e) => e.type === EventType.Delete),
    );
  }
}

/**
 * Joins a queue and waits to be first. The caller's key is removed again if
 * the wait fails or the call is cancelled, so an abandoned waiter does not
 * block the ones behind it. After the wait the key is read once more: if its
 * lease expired meanwhile the caller is not the holder, whatever the queue
 * says (the check Jepsen found missing in etcd 3.4.3's lock).
 */
export async function acquire(
  server: EtcdServer,
  name: Uint8Array,
  lease: bigint,
  value: Buffer,
  signal: AbortSignal,
  onJoined?: (entry: QueueEntry) => Promise<void>,
): Promise<{ entry: QueueEntry; header: etcdserverpb.ResponseHeader }> {
  const entry = await enqueue(server, name, lease, value);
  try {
    throwIfAborted(signal);
    await onJoined?.(entry);
    if (entry.first) return { entry, header: entry.header };
    await waitDeletes(server, queuePrefix(name), entry.rev - 1n, signal);
    const own = await server.range(etcdserverpb.RangeRequest.fromPartial({ key: entry.key }));
    throwIfAborted(signal);
    if (own.kvs[0]?.createRevision !== entry.rev) throw sessionExpired();
    return { entry, header: own.header! };
  } catch (err) {
    // Best effort, and only for our generation of the key: when the server
    // itself is failing this fails too, and the lease's expiry removes it.
    await dequeue(server, entry.key, entry.rev).catch(() => undefined);
    throw err;
  }
}

/** Lock: waits until the caller's key is the oldest under `name/`. */
export async function lock(
  server: EtcdServer,
  req: v3lockpb.LockRequest,
  signal: AbortSignal,
): Promise<v3lockpb.LockResponse> {
  const lease = await sessionLease(server, req.lease);
  const { entry, header } = await acquire(server, req.name, lease, EMPTY, signal);
  return v3lockpb.LockResponse.fromPartial({ header, key: entry.key });
}

/** Unlock: deletes the lock key (a missing key is not an error, as in etcd). */
export async function unlock(
  server: EtcdServer,
  req: v3lockpb.UnlockRequest,
): Promise<v3lockpb.UnlockResponse> {
  const resp = await server.deleteRange(
    etcdserverpb.DeleteRangeRequest.fromPartial({ key: req.key }),
  );
  return v3lockpb.UnlockResponse.fromPartial({ header: resp.header });
}

/** v3lockpb.Lock over an EtcdServer. */
export function lockService(server: EtcdServer, ic: Interceptors): LockServer {
  return {
    lock: ic.unary(SERVICE, 'Lock', 'forbidden', (r: v3lockpb.LockRequest, call) =>
      etcdErrors(async () => {
        const signal = callSignal(call);
        authorizeQueue(ic, call, r.name);
        const lease = await sessionLease(server, r.lease);
        authorizeQueue(ic, call, r.name, queueKey(r.name, lease));
        return lock(server, { ...r, lease }, signal);
      }),
    ),
    unlock: ic.unary(SERVICE, 'Unlock', 'forbidden', (r: v3lockpb.UnlockRequest, call) =>
      etcdErrors(async () => {
        ic.authorize(call, (user, auth) => auth.checkRange(user, 'write', r.key, EMPTY));
        return unlock(server, r);
      }),
    ),
  };
}
