/** etcdserverpb.KV over an EtcdServer, with etcd's permission checks when auth is on. */
import type { KVServer, etcdserverpb } from '@kv/api';
import type { AuthStore } from '../auth/auth-store';
import type { EtcdServer } from '../etcd-server';
import type { Interceptors } from './interceptors';

const SERVICE = 'etcdserverpb.KV';
const NO_END = Buffer.alloc(0);

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
        return server.range(r);
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
