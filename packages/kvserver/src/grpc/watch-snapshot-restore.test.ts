/**
 * A watch served by a member that falls behind and catches up by a Raft
 * snapshot from the leader goes on, as in etcd: the member's MVCC store is
 * restored in place, its watchers catch up from their next revision (or are
 * canceled with compact_revision if the snapshot compacted it), and the gRPC
 * stream stays open.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Server, ServerCredentials, credentials } from '@grpc/grpc-js';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { WatchClient, WatchService, etcdserverpb } from '@kv/api';
import { systemClock } from '../clock';
import { silentLogger } from '../logger';
import { MetricsRegistry } from '../metrics';
import { TestCluster } from '../testing/test-cluster';
import type { TestMember } from '../testing/test-cluster';
import { WatchCall } from '../testing/watch-call';
import { Interceptors } from './interceptors';
import { watchService } from './watch-service';

const b = (s: string): Buffer => Buffer.from(s);

/** Events of a watcher as "P key@rev" / "D key@rev". */
function keyEvents(w: WatchCall, watchId: bigint): string[] {
  return w.got
    .filter((r) => r.watchId === watchId)
    .flatMap((r) => r.events)
    .map((e) => `${e.type === 0 ? 'P' : 'D'} ${e.kv!.key.toString()}@${e.kv!.modRevision}`);
}

type Call = ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

interface Fixture {
  readonly cluster: TestCluster;
  readonly leader: TestMember;
  readonly laggard: TestMember;
  /** Backend restores the laggard went through (that is, snapshots it applied). */
  readonly restores: () => number;
  readonly watch: () => WatchCall;
  close(): Promise<void>;
}

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

/** Three members that snapshot every 20 entries and keep 5: a member cut off for long catches up by snapshot. */
async function start(): Promise<Fixture> {
  const cluster = await TestCluster.start({
    size: 3,
    snapshotCount: 20,
    snapshotCatchUpEntries: 5,
  });
  const leader = await cluster.waitForLeader();
  const laggard = cluster.members.find((m) => m !== leader)!;
  let restores = 0;
  const restore = laggard.backend.restore.bind(laggard.backend);
  laggard.backend.restore = (chunks) => {
    restores++;
    return restore(chunks);
  };
  const g = new Server();
  const ic = new Interceptors({
    member: laggard.server,
    logger: silentLogger,
    metrics: new MetricsRegistry(),
  });
  g.addService(WatchService, watchService(laggard.server, ic, { clock: systemClock }));
  const port = await new Promise<number>((resolve, reject) =>
    g.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const client = new WatchClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const calls: Call[] = [];
  fixture = {
    cluster,
    leader,
    laggard,
    restores: () => restores,
    watch: () => {
      const call = client.watch();
      calls.push(call);
      return new WatchCall(call);
    },
    async close() {
      for (const c of calls) c.cancel();
      client.close();
      g.forceShutdown();
      await cluster.close();
    },
  };
  return fixture;
}

function putReq(key: string, value: string): etcdserverpb.PutRequest {
  return etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b(value) });
}

describe('Watch on a member that catches up by snapshot', () => {
  it('keeps delivering every event, with no gap or duplicate, in revision order', async () => {
    const { cluster, leader, laggard, restores, watch } = await start();
    const w = watch();
    w.create({ key: b('w/'), rangeEnd: b('w0') });
    await w.until(() => w.got.some((r) => r.created));
    const id = w.got.find((r) => r.created)!.watchId;
    const want: string[] = [];
    const put = async (key: string, value: string): Promise<void> => {
      const rev = (await leader.server.put(putReq(key, value))).header!.revision;
      if (key.startsWith('w/')) want.push(`P ${key}@${rev}`);
    };
    const del = async (key: string): Promise<void> => {
      const r = await leader.server.deleteRange(
        etcdserverpb.DeleteRangeRequest.fromPartial({ key: b(key) }),
      );
      if (r.deleted > 0n) want.push(`D ${key}@${r.header!.revision}`);
    };

    for (let i = 0; i < 5; i++) await put(`w/${i}`, 'before');
    await w.until(() => keyEvents(w, id).length === want.length);

    cluster.network.isolate(laggard.id);
    for (let i = 0; i < 60; i++) {
      await put(`w/${i % 7}`, `during${i}`);
      if (i % 10 === 3) await del(`w/${(i + 1) % 7}`);
      if (i % 4 === 0) await put(`other/${i}`, 'not watched');
    }
    cluster.network.heal();
    // Once the laggard has applied the snapshot, the cluster goes on.
    await w.until(() => keyEvents(w, id).length === want.length);
    expect(restores()).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) await put(`w/${i}`, 'after');
    await w.until(() => keyEvents(w, id).length >= want.length);

    expect(keyEvents(w, id)).toEqual(want);
    expect(w.got.some((r) => r.canceled)).toBe(false);
    expect(laggard.server.mvcc.watcherCounts()).toEqual({ synced: 1, unsynced: 0, victims: 0 });
  });

  it('cancels with compact_revision a watcher whose next revision the snapshot compacted', async () => {
    const { cluster, leader, laggard, restores, watch } = await start();
    const w = watch();
    w.create({ key: b('w/'), rangeEnd: b('w0') });
    await w.until(() => w.got.filter((r) => r.created).length === 1);
    const behind = w.got.find((r) => r.created)!.watchId;
    const base = (await leader.server.put(putReq('w/0', 'v'))).header!.revision;
    await w.until(() => keyEvents(w, behind).length === 1);
    // A second watcher on the same stream starting (in the future) above the compaction point.
    const from = base + 40n;
    w.create({ key: b('w/'), rangeEnd: b('w0'), startRevision: from });
    await w.until(() => w.got.filter((r) => r.created).length === 2);
    const ahead = w.got.filter((r) => r.created)[1]!.watchId;

    cluster.network.isolate(laggard.id);
    const want: string[] = [];
    for (let i = 0; i < 60; i++) {
      const rev = (await leader.server.put(putReq(`w/${i % 3}`, `${i}`))).header!.revision;
      if (rev >= from) want.push(`P w/${i % 3}@${rev}`);
    }
    const compactAt = base + 30n;
    await leader.server.compact(
      etcdserverpb.CompactionRequest.fromPartial({ revision: compactAt, physical: true }),
    );
    cluster.network.heal();

    await w.until(() => w.got.some((r) => r.watchId === behind && r.canceled));
    await w.until(() => keyEvents(w, ahead).length === want.length);
    expect(restores()).toBeGreaterThan(0);
    const cancel = w.got.find((r) => r.watchId === behind && r.canceled)!;
    expect(cancel.compactRevision).toBe(compactAt);
    expect(keyEvents(w, behind)).toEqual([`P w/0@${base}`]);
    // The stream is still served: the other watcher goes on.
    const last = (await leader.server.put(putReq('w/9', 'last'))).header!.revision;
    want.push(`P w/9@${last}`);
    await w.until(() => keyEvents(w, ahead).length >= want.length);
    expect(keyEvents(w, ahead)).toEqual(want);
  });
});
