/** etcdserverpb.Maintenance over an EtcdServer. */
import { status as grpcStatus } from '@grpc/grpc-js';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { MaintenanceServer, etcdserverpb } from '@kv/api';
import { BUCKETS } from '@kv/mvcc';
import type { EtcdServer } from '../etcd-server';
import { EtcdError, Errors } from '../errors';
import type { Interceptors } from './interceptors';
import type { BboltFile } from '../snapshot/bbolt-writer';
import { bboltFromBackendSnapshot, snapshotPieces } from '../snapshot/etcd-snapshot';

const SERVICE = 'etcdserverpb.Maintenance';

/** The version this server reports: the etcd API level it implements. */
export const SERVER_VERSION = '3.6.0';
export const CLUSTER_VERSION = '3.6.0';

export function maintenanceService(server: EtcdServer, ic: Interceptors): MaintenanceServer {
  return {
    alarm: ic.unary(SERVICE, 'Alarm', 'forbidden', (r: etcdserverpb.AlarmRequest) =>
      server.alarm(r),
    ),

    status: ic.unary(
      SERVICE,
      'Status',
      'allowed',
      async (): Promise<etcdserverpb.StatusResponse> => {
        const size = await server.refreshDbSize();
        const st = server.raftStatus();
        return {
          header: server.header(),
          version: SERVER_VERSION,
          dbSize: BigInt(size.total),
          leader: server.leader,
          raftIndex: BigInt(st.hardState.commit),
          raftTerm: BigInt(st.hardState.term),
          raftAppliedIndex: BigInt(server.appliedIndex),
          errors: server.alarms
            .list()
            .map((a) => `memberID:${a.memberId.toString()} alarm:${alarmName(a.type)} `),
          dbSizeInUse: BigInt(size.inUse),
          isLearner: server.isLearner,
          storageVersion: '3.6.0',
          dbSizeQuota: BigInt(server.quotaBackendBytes),
          downgradeInfo: { enabled: false, targetVersion: '' },
        };
      },
    ),

    defragment: ic.unary(SERVICE, 'Defragment', 'allowed', async (_r, call) => {
      ic.requireAdminForMaintenance(call);
      await server.backend.commit();
      await server.backend.defragment();
      await server.refreshDbSize();
      // etcd answers Defragment and MoveLeader with an empty message (no header).
      return { header: undefined };
    }),

    hash: ic.unary(
      SERVICE,
      'Hash',
      'allowed',
      async (_r, call): Promise<etcdserverpb.HashResponse> => {
        ic.requireAdminForMaintenance(call);
        await server.backend.commit();
        // One value over every bucket, in bucket order.
        let hash = 0;
        for (const b of BUCKETS)
          hash = (Math.imul(hash, 31) + (await server.backend.hash(b))) >>> 0;
        return { header: server.header(), hash };
      },
    ),

    hashKv: ic.unary(
      SERVICE,
      'HashKV',
      'allowed',
      async (r: etcdserverpb.HashKVRequest, call): Promise<etcdserverpb.HashKVResponse> => {
        ic.requireAdminForMaintenance(call);
        let h: { hash: number; revision: number; compactRevision: number };
        try {
          h = await server.mvcc.hashKV(Number(r.revision));
        } catch (err) {
          const { mapMvccError } = await import('../apply/kv');
          throw mapMvccError(err);
        }
        return {
          header: server.header(h.revision),
          hash: h.hash,
          compactRevision: BigInt(h.compactRevision),
          hashRevision: BigInt(h.revision),
        };
      },
    ),

    snapshot(
      call: ServerWritableStream<etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse>,
    ): void {
      const done = ic.streamStarted(SERVICE, 'Snapshot');
      void (async () => {
        try {
          ic.check(call.metadata, 'allowed', undefined);
          ic.requireAdminForMaintenance(call);
          await server.backend.commit();
          const snap = await server.backend.snapshot();
          let file: BboltFile;
          try {
            // etcdctl expects a bbolt file: re-lay our consistent stream out as one.
            file = await bboltFromBackendSnapshot(snap.chunks(), BUCKETS);
          } finally {
            await snap.close();
          }
          // Resolves on drain or on cancellation, so a client that goes away
          // does not leave the file held by a handler waiting forever.
          const writable = (): Promise<void> =>
            new Promise((resolve) => {
              const wake = (): void => {
                call.off('drain', wake);
                call.off('cancelled', wake);
                resolve();
              };
              call.on('drain', wake);
              call.on('cancelled', wake);
            });
          for (const piece of snapshotPieces(file)) {
            if (call.cancelled) break;
            // As etcd 3.6: no header, the storage version in every chunk.
            if (!call.write({ header: undefined, ...piece, version: SERVER_VERSION })) {
              await writable();
            }
          }
          if (call.cancelled) {
            done(grpcStatus.CANCELLED);
            return;
          }
          call.end();
          done(grpcStatus.OK);
        } catch (err) {
          const e = err instanceof EtcdError ? err : Errors.notCapable();
          call.emit('error', { code: e.grpcCode, details: e.message });
          done(e.grpcCode);
        }
      })();
    },

    moveLeader: ic.unary(
      SERVICE,
      'MoveLeader',
      'forbidden',
      async (r: etcdserverpb.MoveLeaderRequest) => {
        if (!server.isLeader) throw Errors.notLeader();
        const target = server.cluster.member(r.targetID);
        if (target === undefined || target.isLearner) throw Errors.badLeaderTransferee();
        server.raftNode.withRawNode((n) => n.transferLeadership(r.targetID));
        await server.waitForLeaderChange(r.targetID);
        return { header: undefined };
      },
    ),

    downgrade: ic.unary(SERVICE, 'Downgrade', 'forbidden', async () => {
      throw new EtcdError(grpcStatus.UNIMPLEMENTED, 'etcdserver: downgrade is not supported');
    }),
  };
}

function alarmName(type: number): string {
  return type === 1 ? 'NOSPACE' : type === 2 ? 'CORRUPT' : 'NONE';
}
