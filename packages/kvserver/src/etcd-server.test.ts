import { afterEach, describe, expect, it } from 'vitest';
import { etcdserverpb } from '@kv/api';
import { TestCluster } from './testing/test-cluster';

const b = (s: string): Buffer => Buffer.from(s);

function putReq(
  key: string,
  value: string,
  extra: Partial<etcdserverpb.PutRequest> = {},
): etcdserverpb.PutRequest {
  return { ...etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b(value) }), ...extra };
}

function rangeReq(
  key: string,
  extra: Partial<etcdserverpb.RangeRequest> = {},
): etcdserverpb.RangeRequest {
  return { ...etcdserverpb.RangeRequest.fromPartial({ key: b(key) }), ...extra };
}

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('EtcdServer, single member', () => {
  it('puts, reads linearizably and serializably, and keeps revisions', async () => {
    cluster = await TestCluster.start({ size: 1 });
    const leader = await cluster.waitForLeader();
    const s = leader.server;
    const p1 = await s.put(putReq('foo', 'bar'));
    const p2 = await s.put(putReq('foo', 'baz', { prevKv: true }));
    expect(p2.header!.revision).toBe(p1.header!.revision + 1n);
    expect(p2.prevKv?.value.toString()).toBe('bar');
    const r = await s.range(rangeReq('foo'));
    expect(r.kvs.map((kv) => kv.value.toString())).toEqual(['baz']);
    expect(r.kvs[0]!.version).toBe(2n);
    const old = await s.range(
      rangeReq('foo', { revision: p1.header!.revision, serializable: true }),
    );
    expect(old.kvs[0]!.value.toString()).toBe('bar');
    expect(r.header!.clusterId).toBe(cluster.clusterId);
    expect(r.header!.memberId).toBe(leader.id);
  });

  it('syncs the WAL once per write: a commit-only hard state is not synced', async () => {
    cluster = await TestCluster.start({ size: 1 });
    const leader = await cluster.waitForLeader();
    const counts = leader.storage.saveCounts;
    const before = { ...counts };
    for (let i = 0; i < 20; i++) await leader.server.put(putReq(`k${i}`, 'v'));
    // Each put: one synced save of its entry, then one unsynced save of the
    // commit index that the entry's persistence advanced.
    expect(counts.synced - before.synced).toBe(20);
    expect(counts.unsynced - before.unsynced).toBe(20);
    expect(leader.storage.hardState?.commit).toBe(leader.storage.entries.at(-1)?.index);
  });

  it('runs txns with compares and rejects bad requests with etcd errors', async () => {
    cluster = await TestCluster.start({ size: 1 });
    const s = (await cluster.waitForLeader()).server;
    await s.put(putReq('k', 'v1'));
    const txn = etcdserverpb.TxnRequest.fromPartial({
      compare: [
        {
          key: b('k'),
          target: etcdserverpb.Compare_CompareTarget.VALUE,
          result: etcdserverpb.Compare_CompareResult.EQUAL,
          targetUnion: { $case: 'value', value: b('v1') },
        },
      ],
      success: [{ request: { $case: 'requestPut', value: putReq('k', 'v2') } }],
      failure: [{ request: { $case: 'requestRange', value: rangeReq('k') } }],
    });
    const t1 = await s.txn(txn);
    expect(t1.succeeded).toBe(true);
    const t2 = await s.txn(txn);
    expect(t2.succeeded).toBe(false);
    const inner = t2.responses[0]!.response;
    expect(inner?.$case).toBe('responseRange');
    await expect(s.put(putReq('', 'x'))).rejects.toThrow('etcdserver: key is not provided');
    const dup = etcdserverpb.TxnRequest.fromPartial({
      success: [
        { request: { $case: 'requestPut', value: putReq('a', '1') } },
        { request: { $case: 'requestPut', value: putReq('a', '2') } },
      ],
    });
    await expect(s.txn(dup)).rejects.toThrow('etcdserver: duplicate key given in txn request');
    await expect(s.range(rangeReq('k', { revision: 1000n }))).rejects.toThrow(
      'etcdserver: mvcc: required revision is a future revision',
    );
  });

  it('compacts and reports compacted revisions', async () => {
    cluster = await TestCluster.start({ size: 1 });
    const s = (await cluster.waitForLeader()).server;
    for (let i = 0; i < 5; i++) await s.put(putReq('c', `v${i}`));
    const rev = s.mvcc.currentRevision();
    await s.compact({ revision: BigInt(rev - 1), physical: true });
    await expect(s.range(rangeReq('c', { revision: BigInt(rev - 2) }))).rejects.toThrow(
      'etcdserver: mvcc: required revision has been compacted',
    );
    await expect(s.compact({ revision: BigInt(rev - 2), physical: false })).rejects.toThrow(
      'required revision has been compacted',
    );
  });
});

describe('EtcdServer, a recorded snapshot ahead of the backend', () => {
  it("refuses to start when the data of that snapshot is missing, in etcd's words", async () => {
    cluster = await TestCluster.start({ size: 1 });
    const m = await cluster.waitForLeader();
    await m.server.put(putReq('k', 'v'));
    const applied = m.server.appliedIndex;
    await cluster.stopMember(0);
    // As after a crash between recording a leader's snapshot and replacing
    // the backend, with the received data lost.
    const storage = cluster.members[0]!.storage;
    storage.snapshot = {
      data: new Uint8Array(0),
      metadata: {
        index: applied + 50,
        term: 1,
        confState: {
          voters: [m.id],
          learners: [],
          votersOutgoing: [],
          learnersNext: [],
          autoLeave: false,
        },
      },
    };
    storage.hardState = { ...storage.hardState!, commit: applied + 50 };
    await expect(cluster.restartMember(0)).rejects.toThrow(
      `failed to find database snapshot file for index ${applied + 50}`,
    );
  });
});

describe('EtcdServer, three members', () => {
  it('replicates writes and serves linearizable reads on followers', async () => {
    cluster = await TestCluster.start({ size: 3 });
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    await follower.server.put(putReq('x', '1'));
    await leader.server.put(putReq('x', '2'));
    for (const m of cluster.members) {
      const r = await m.server.range(rangeReq('x'));
      expect(r.kvs[0]!.value.toString()).toBe('2');
    }
  });

  it('elects a new leader when the leader is cut off, and loses no acknowledged write', async () => {
    cluster = await TestCluster.start({ size: 3 });
    const leader = await cluster.waitForLeader();
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      await leader.server.put(putReq(`k${i}`, 'v'));
      acked.push(`k${i}`);
    }
    await cluster.stopMember(cluster.members.indexOf(leader));
    const others = cluster.members.filter((m) => m !== leader);
    const newLeader = await (async () => {
      for (;;) {
        const l = others.find((m) => m.server.isLeader);
        if (l !== undefined) return l;
        await others[0]!.server.waitForLeader(10_000).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await newLeader.server.put(putReq('after', 'v'));
    const r = await newLeader.server.range(rangeReq('k', { rangeEnd: b('l') }));
    expect(r.kvs.length).toBe(acked.length);
    const i = cluster.members.indexOf(leader);
    await cluster.restartMember(i);
    const restarted = cluster.members[i]!.server;
    await restarted.waitForLeader(10_000);
    // The old leader catches up: a linearizable read on it sees the new write.
    const after = await restarted.range(rangeReq('after'));
    expect(after.kvs.length).toBe(1);
  });

  it('catches up a lagging member by snapshot', async () => {
    cluster = await TestCluster.start({ size: 3, snapshotCount: 20, snapshotCatchUpEntries: 5 });
    const leader = await cluster.waitForLeader();
    const laggard = cluster.members.findIndex((m) => m !== leader);
    cluster.network.isolate(cluster.members[laggard]!.id);
    for (let i = 0; i < 60; i++) await leader.server.put(putReq(`s${i}`, `v${i}`));
    cluster.network.heal();
    const m = cluster.members[laggard]!.server;
    const r = await m.range(rangeReq('s', { rangeEnd: b('t') }));
    expect(r.count).toBe(60n);
    // It got there through a snapshot, not by replaying the whole log.
    expect(cluster.members[laggard]!.storage.snapshot).toBeDefined();
    expect(leader.storage.snapshot!.metadata.index).toBeGreaterThan(20);
    // Each snapshot made the backend durable before the log behind it was dropped.
    expect(leader.backend.syncedCommits).toBeGreaterThan(0);
    // The received data is gone once applied.
    expect(cluster.members[laggard]!.storage.snapshotDataByIndex.size).toBe(0);
  });
});
