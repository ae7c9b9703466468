// In-process grpc-js servers implementing just enough of etcd's KV and
// Maintenance services to test balancing and retry decisions.
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { KVService, MaintenanceService } from '@kv/api';
import type { etcdserverpb } from '@kv/api';

export interface FakeMember {
  address: string;
  server: Server;
  ranges: number;
  puts: number;
  statuses: number;
  /** When set, the next Range/Put fails with this code and message (after being counted). */
  failNext: { code: status; details: string } | undefined;
  /** When true, every Range/Put fails with UNAVAILABLE (after being counted). */
  down: boolean;
  /** Never answer Range (tests deadlines). */
  hang: boolean;
  stop(): Promise<void>;
}

const header = { clusterId: 1n, memberId: 1n, revision: 1n, raftTerm: 1n };

export async function startFakeMember(
  kvs: etcdserverpb.RangeResponse['kvs'] = [],
): Promise<FakeMember> {
  const server = new Server();
  const m: FakeMember = {
    address: '',
    server,
    ranges: 0,
    puts: 0,
    statuses: 0,
    failNext: undefined,
    down: false,
    hang: false,
    stop: () =>
      new Promise((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
  const fail = (cb: sendUnaryData<never>): boolean => {
    const f =
      m.failNext ?? (m.down ? { code: status.UNAVAILABLE, details: 'member down' } : undefined);
    if (!f) return false;
    m.failNext = undefined;
    cb({ code: f.code, details: f.details }, null);
    return true;
  };
  server.addService(KVService, {
    range: (
      _call: ServerUnaryCall<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>,
      cb: sendUnaryData<etcdserverpb.RangeResponse>,
    ) => {
      m.ranges++;
      if (m.hang) return;
      if (fail(cb)) return;
      cb(null, { header, kvs, more: false, count: BigInt(kvs.length) });
    },
    put: (
      _call: ServerUnaryCall<etcdserverpb.PutRequest, etcdserverpb.PutResponse>,
      cb: sendUnaryData<etcdserverpb.PutResponse>,
    ) => {
      m.puts++;
      if (fail(cb)) return;
      cb(null, { header, prevKv: undefined });
    },
    deleteRange: (_c: unknown, cb: sendUnaryData<never>) =>
      cb({ code: status.UNIMPLEMENTED }, null),
    txn: (_c: unknown, cb: sendUnaryData<never>) => cb({ code: status.UNIMPLEMENTED }, null),
    compact: (_c: unknown, cb: sendUnaryData<never>) => cb({ code: status.UNIMPLEMENTED }, null),
  });
  server.addService(MaintenanceService, {
    status: (_call: unknown, cb: sendUnaryData<etcdserverpb.StatusResponse>) => {
      m.statuses++;
      if (m.down) {
        cb({ code: status.UNAVAILABLE, details: 'member down' }, null);
        return;
      }
      cb(null, {
        header,
        version: 'fake',
        dbSize: 0n,
        leader: 1n,
        raftIndex: 1n,
        raftTerm: 1n,
        raftAppliedIndex: 1n,
        errors: [],
        dbSizeInUse: 0n,
        isLearner: false,
        storageVersion: '',
        dbSizeQuota: 0n,
        downgradeInfo: undefined,
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  m.address = `127.0.0.1:${port}`;
  return m;
}
