/** etcdserverpb.KV over an EtcdServer, with etcd's permission checks when auth is on. */
import { EncodedKeyValue, etcdserverpb } from '@kv/api';
import type { KVServer } from '@kv/api';
import type { AuthStore } from '../auth/auth-store';
import { mapMvccError, toSafeNumber } from '../apply/kv';
import type { EtcdServer } from '../etcd-server';
import { checkRange } from '../validate';
import type { Interceptors } from './interceptors';

const SERVICE = 'etcdserverpb.KV';
const NO_END = Buffer.alloc(0);
const { SortOrder, SortTarget } = {
  SortOrder: etcdserverpb.RangeRequest_SortOrder,
  SortTarget: etcdserverpb.RangeRequest_SortTarget,
};

/**
 * A Range whose answer is the stored key-values in key order as they are:
 * no sort other than by key ascending, no revision filters, values wanted.
 * Most reads are; {@link encodedRange} serves them without decoding.
 */
function isPlainRange(r: etcdserverpb.RangeRequest): boolean {
  return (
    !r.keysOnly &&
    !r.countOnly &&
    r.sortTarget === SortTarget.KEY &&
    (r.sortOrder === SortOrder.NONE || r.sortOrder === SortOrder.ASCEND) &&
    r.minModRevision === 0n &&
    r.maxModRevision === 0n &&
    r.minCreateRevision === 0n &&
    r.maxCreateRevision === 0n
  );
}

/**
 * EtcdServer.range for a plain range (same checks, read gate and header),
 * with each key-value carried as the bytes the store keeps, which the Range
 * encoder copies into the response: a large range spent most of its time
 * decoding those bytes into objects and encoding them again.
 */
async function encodedRange(
  server: EtcdServer,
  r: etcdserverpb.RangeRequest,
): Promise<etcdserverpb.RangeResponse> {
  checkRange(r);
  if (!r.serializable) await server.linearizableReadBarrier();
  const requested = toSafeNumber(r.limit);
  let result;
  try {
    result = await server.mvcc.rangeEncoded(
      r.key,
      r.rangeEnd.length === 0 ? undefined : r.rangeEnd,
      {
        revision: toSafeNumber(r.revision),
        // One more than asked tells whether there are more keys.
        limit: requested <= 0 ? 0 : requested + 1,
      },
    );
  } catch (err) {
    throw mapMvccError(err);
  }
  const n = requested > 0 && result.values.length > requested ? requested : result.values.length;
  const kvs: EncodedKeyValue[] = new Array<EncodedKeyValue>(n);
  for (let i = 0; i < n; i++) kvs[i] = new EncodedKeyValue(result.values[i]!);
  return {
    header: server.header(result.revision),
    kvs,
    more: n < result.values.length,
    count: BigInt(result.count),
  };
}

/** A learner may serve serializable reads only. */
function serializableRange(r: unknown): boolean {
  return (r as etcdserverpb.RangeRequest).serializable;
}

/** Every range a txn reads and writes must be permitted. */
function checkTxnAccess(user: string, auth: AuthStore, t: etcdserverpb.TxnRequest): void {
  for (const c of t.compare) auth.checkRange(user, 'read', c.key, c.rangeEnd);
  const ops = (list: readonly etcdserverpb.RequestOp[]): void => {
    for (const op of list) {
      const r = op.request;
      if (r === undefined) continue;
      if (r.$case === 'requestRange') auth.checkRange(user, 'read', r.value.key, r.value.rangeEnd);
      else if (r.$case === 'requestPut') {
        auth.checkRange(user, 'write', r.value.key, NO_END);
        if (r.value.prevKv) auth.checkRange(user, 'read', r.value.key, NO_END);
      } else if (r.$case === 'requestDeleteRange') {
        auth.checkRange(user, 'write', r.value.key, r.value.rangeEnd);
        if (r.value.prevKv) auth.checkRange(user, 'read', r.value.key, r.value.rangeEnd);
      } else checkTxnAccess(user, auth, r.value);
    }
  };
  ops(t.success);
  ops(t.failure);
}

export function kvService(server: EtcdServer, ic: Interceptors): KVServer {
  return {
    range: ic.unary(
      SERVICE,
      'Range',
      serializableRange,
      async (r: etcdserverpb.RangeRequest, call) => {
        ic.authorize(call, (user, auth) => auth.checkRange(user, 'read', r.key, r.rangeEnd));
        return isPlainRange(r) ? encodedRange(server, r) : server.range(r);
      },
    ),
    put: ic.unary(SERVICE, 'Put', 'forbidden', async (r: etcdserverpb.PutRequest, call) => {
      ic.authorize(call, (user, auth) => {
        auth.checkRange(user, 'write', r.key, NO_END);
        if (r.prevKv) auth.checkRange(user, 'read', r.key, NO_END);
      });
      return server.put(r);
    }),
    deleteRange: ic.unary(
      SERVICE,
      'DeleteRange',
      'forbidden',
      async (r: etcdserverpb.DeleteRangeRequest, call) => {
        ic.authorize(call, (user, auth) => {
          auth.checkRange(user, 'write', r.key, r.rangeEnd);
          if (r.prevKv) auth.checkRange(user, 'read', r.key, r.rangeEnd);
        });
        return server.deleteRange(r);
      },
    ),
    txn: ic.unary(SERVICE, 'Txn', 'forbidden', async (r: etcdserverpb.TxnRequest, call) => {
      ic.authorize(call, (user, auth) => checkTxnAccess(user, auth, r));
      return server.txn(r);
    }),
    compact: ic.unary(
      SERVICE,
      'Compact',
      'forbidden',
      // etcd 3.4 checks no permission for Compact, not even a user name.
      async (r: etcdserverpb.CompactionRequest) => server.compact(r),
    ),
  };
}
