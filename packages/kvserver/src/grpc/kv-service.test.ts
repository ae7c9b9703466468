import { afterEach, describe, expect, it } from 'vitest';
import { Server, ServerCredentials, credentials } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { FastKVClient, FastKVService, etcdserverpb } from '@kv/api';
import type { KVClient } from '@kv/api';
import { silentLogger } from '../logger';
import { MetricsRegistry } from '../metrics';
import { TestCluster } from '../testing/test-cluster';
import { Interceptors } from './interceptors';
import { kvService } from './kv-service';

const b = (s: string): Buffer => Buffer.from(s);
const { RangeRequest } = etcdserverpb;

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

function rangeCall(
  client: KVClient,
  r: etcdserverpb.RangeRequest,
): Promise<etcdserverpb.RangeResponse> {
  return new Promise((resolve, reject) =>
    client.range(r, (err: ServiceError | null, res: etcdserverpb.RangeResponse) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

describe('KV.Range over gRPC', () => {
  it('answers every kind of range as EtcdServer.range does', async () => {
    const cluster = await TestCluster.start({ size: 1 });
    await cluster.waitForLeader();
    const server = cluster.members[0]!.server;
    const g = new Server();
    const ic = new Interceptors({
      member: server,
      logger: silentLogger,
      metrics: new MetricsRegistry(),
    });
    g.addService(FastKVService, kvService(server, ic));
    const port = await new Promise<number>((resolve, reject) =>
      g.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const client = new FastKVClient(`127.0.0.1:${port}`, credentials.createInsecure());
    close = async () => {
      client.close();
      g.forceShutdown();
      await cluster.close();
    };

    const lease = (
      await server.leaseGrant(etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: 600n }))
    ).ID;
    for (let i = 0; i < 30; i++) {
      await server.put(
        etcdserverpb.PutRequest.fromPartial({
          key: b(`k/${i % 11}`),
          value: b(`value ${i}`.repeat(i % 4)),
          lease: i >= 25 ? lease : 0n,
        }),
      );
    }
    await server.deleteRange(etcdserverpb.DeleteRangeRequest.fromPartial({ key: b('k/4') }));
    const rev = Number(
      (await server.range(RangeRequest.fromPartial({ key: b('k/') }))).header!.revision,
    );
    await server.compact(
      etcdserverpb.CompactionRequest.fromPartial({ revision: 5n, physical: true }),
    );

    const requests: Partial<etcdserverpb.RangeRequest>[] = [
      { key: b('k/'), rangeEnd: b('k0') },
      { key: b('k/'), rangeEnd: b('k0'), limit: 4n },
      { key: b('k/'), rangeEnd: b('k0'), limit: 100n, serializable: true },
      { key: b('k/1'), rangeEnd: b('k/3') },
      { key: b('k/3') },
      { key: b('k/4') },
      { key: b('\0'), rangeEnd: b('\0') },
      { key: b('k/'), rangeEnd: b('k0'), revision: BigInt(rev - 8), limit: 3n },
      { key: b('k/'), rangeEnd: b('k0'), sortOrder: 1 },
      // Not plain: these take the decoding path; the answers must match all the same.
      { key: b('k/'), rangeEnd: b('k0'), sortOrder: 2 },
      { key: b('k/'), rangeEnd: b('k0'), keysOnly: true },
      { key: b('k/'), rangeEnd: b('k0'), countOnly: true },
      { key: b('k/'), rangeEnd: b('k0'), minModRevision: 20n },
      { key: b('k/'), rangeEnd: b('k0'), sortTarget: 3, limit: 2n },
    ];
    for (const partial of requests) {
      const r = RangeRequest.fromPartial(partial);
      const over = await rangeCall(client, r);
      const direct = await server.range(r);
      expect(
        over,
        JSON.stringify(partial, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}` : v)),
      ).toEqual(
        etcdserverpb.RangeResponse.decode(etcdserverpb.RangeResponse.encode(direct).finish()),
      );
    }
    // The leased keys carry their lease in what the fast path copies.
    const leased = await rangeCall(client, RangeRequest.fromPartial({ key: b('k/5') }));
    expect(leased.kvs[0]?.lease).toBe(lease);

    // Errors are etcd's, as on the decoding path.
    for (const partial of [
      { key: b('k/'), rangeEnd: b('k0'), revision: 2n },
      { key: b('k/'), rangeEnd: b('k0'), revision: 1_000_000n },
      { key: b('') },
    ]) {
      const r = RangeRequest.fromPartial(partial);
      const fast = await rangeCall(client, r).then(
        () => 'ok',
        (e: ServiceError) => `${e.code} ${e.details}`,
      );
      const slow = await server.range(r).then(
        () => 'ok',
        (e: Error) => e.message,
      );
      expect(fast).not.toBe('ok');
      expect(fast.endsWith(slow)).toBe(true);
    }
  });
});
