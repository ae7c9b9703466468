/** etcdserverpb.KV over an EtcdServer. */
import type { KVServer, etcdserverpb } from '@kv/api';
import type { EtcdServer } from '../etcd-server';
import type { Interceptors } from './interceptors';

const SERVICE = 'etcdserverpb.KV';

/** A learner may serve serializable reads only. */
function serializableRange(r: unknown): boolean {
  return (r as etcdserverpb.RangeRequest).serializable;
}

export function kvService(server: EtcdServer, ic: Interceptors): KVServer {
  return {
    range: ic.unary(SERVICE, 'Range', serializableRange, (r: etcdserverpb.RangeRequest) =>
      server.range(r),
    ),
    put: ic.unary(SERVICE, 'Put', 'forbidden', (r: etcdserverpb.PutRequest) => server.put(r)),
    deleteRange: ic.unary(
      SERVICE,
      'DeleteRange',
      'forbidden',
      (r: etcdserverpb.DeleteRangeRequest) => server.deleteRange(r),
    ),
    txn: ic.unary(SERVICE, 'Txn', 'forbidden', (r: etcdserverpb.TxnRequest) => server.txn(r)),
    compact: ic.unary(SERVICE, 'Compact', 'forbidden', (r: etcdserverpb.CompactionRequest) =>
      server.compact(r),
    ),
  };
}
