/** etcdserverpb.Lease over an EtcdServer. */
import { status } from '@grpc/grpc-js';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { LeaseServer, etcdserverpb } from '@kv/api';
import type { EtcdServer } from '../etcd-server';
import { EtcdError, Errors } from '../errors';
import type { Interceptors } from './interceptors';

const SERVICE = 'etcdserverpb.Lease';

export function leaseService(server: EtcdServer, ic: Interceptors): LeaseServer {
  const leaseGrant = ic.unary(
    SERVICE,
    'LeaseGrant',
    'forbidden',
    (r: etcdserverpb.LeaseGrantRequest) => server.leaseGrant(r),
  );
  const leaseRevoke = ic.unary(
    SERVICE,
    'LeaseRevoke',
    'forbidden',
    async (r: etcdserverpb.LeaseRevokeRequest, call): Promise<etcdserverpb.LeaseRevokeResponse> => {
      // Revoking deletes the attached keys: the caller must be allowed to write
      // them (a lease without keys needs no user at all, as in etcd).
      const keys = [...(server.lessor.get(r.ID)?.keys.values() ?? [])];
      if (keys.length > 0) {
        ic.authorize(call, (user, auth) => {
          for (const key of keys) auth.checkRange(user, 'write', key, Buffer.alloc(0));
        });
      }
      return server.leaseRevoke(r);
    },
  );
  const leaseTimeToLive = ic.unary(
    SERVICE,
    'LeaseTimeToLive',
    'forbidden',
    async (
      r: etcdserverpb.LeaseTimeToLiveRequest,
    ): Promise<etcdserverpb.LeaseTimeToLiveResponse> => {
      const info = await server.leaseTimeToLive(r.ID);
      if (info === undefined) {
        // etcd answers a missing lease with TTL -1 rather than an error.
        return { header: server.header(), ID: r.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
      }
      return {
        header: server.header(),
        ID: r.ID,
        TTL: BigInt(info.ttl),
        grantedTTL: BigInt(info.granted),
        keys: r.keys ? info.keys.map((k) => Buffer.from(k)) : [],
      };
    },
  );
  const leaseLeases = ic.unary(
    SERVICE,
    'LeaseLeases',
    'forbidden',
    async (): Promise<etcdserverpb.LeaseLeasesResponse> => {
      await server.linearizableReadBarrier();
      return {
        header: server.header(),
        leases: server.lessor.list().map((l) => ({ ID: l.id })),
      };
    },
  );

  const leaseKeepAlive = (
    call: ServerDuplexStream<
      etcdserverpb.LeaseKeepAliveRequest,
      etcdserverpb.LeaseKeepAliveResponse
    >,
  ): void => {
    const counted = ic.streamStarted(SERVICE, 'LeaseKeepAlive');
    let finished = false;
    const done = (code: number): void => {
      if (finished) return;
      finished = true;
      counted(code);
    };
    try {
      ic.check(call.metadata, 'forbidden', undefined);
    } catch (err) {
      const e = err as EtcdError;
      call.emit('error', { code: e.grpcCode, details: e.message });
      done(e.grpcCode);
      return;
    }
    // As etcd: one request at a time, each answered before the next is read,
    // and the stream ends (OK) once the client half-closes and every request
    // before that has been answered.
    let chain = Promise.resolve();
    let failed = false;
    call.on('data', (req: etcdserverpb.LeaseKeepAliveRequest) => {
      chain = chain.then(async () => {
        if (failed || call.cancelled) return;
        try {
          const ttl = await server.leaseRenew(req.ID);
          call.write({ header: server.header(), ID: req.ID, TTL: BigInt(ttl) });
        } catch (err) {
          if (err instanceof EtcdError && err.message === Errors.leaseNotFound().message) {
            // etcd reports an unknown lease in-band with TTL 0.
            call.write({ header: server.header(), ID: req.ID, TTL: 0n });
            return;
          }
          failed = true;
          const e = err instanceof EtcdError ? err : Errors.notCapable();
          call.emit('error', { code: e.grpcCode, details: e.message });
          done(e.grpcCode);
        }
      });
    });
    call.on('end', () => {
      void chain.then(() => {
        if (failed || call.cancelled) return;
        call.end();
        done(status.OK);
      });
    });
    call.on('cancelled', () => done(status.CANCELLED));
  };

  return { leaseGrant, leaseRevoke, leaseTimeToLive, leaseLeases, leaseKeepAlive };
}
