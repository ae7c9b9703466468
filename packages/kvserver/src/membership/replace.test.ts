/**
 * Membership changes under the conditions of the robustness `replace` fault:
 * a member is removed, its data wiped, and it comes back as a new member
 * (new ID, same peer URL) that joins with empty storage and catches up.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { etcdserverpb } from '@kv/api';
import { ConfChangeType } from '@kv/raft';
import { TestCluster } from '../testing/test-cluster';
import type { TestMember } from '../testing/test-cluster';
import { computeMemberId } from './member-id';

const b = (s: string): Buffer => Buffer.from(s);
const put = (m: TestMember, key: string, value: string): Promise<unknown> =>
  m.server.put(etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b(value) }));
const get = async (m: TestMember, key: string, serializable = false): Promise<string[]> => {
  const r = await m.server.range(
    etcdserverpb.RangeRequest.fromPartial({ key: b(key), serializable }),
  );
  return r.kvs.map((kv) => Buffer.from(kv.value).toString());
};
const urlOf = (m: TestMember): string[] => [`http://127.0.0.1:${23800 + Number(m.name.slice(1))}`];

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('membership: remove, wipe, add back', () => {
  it('a conf change proposed while another is pending is not lost (raft drops it; the server proposes it again)', async () => {
    cluster = await TestCluster.start({ size: 3 });
    const leader = await cluster.waitForLeader();
    const [f1, f2] = cluster.members.filter((m) => m !== leader) as [TestMember, TestMember];
    const added = computeMemberId(['http://127.0.0.1:23899'], '', 1);
    const member = { name: '', peerURLs: ['http://127.0.0.1:23899'], clientURLs: [] };
    // Proposed in the same turn: raft accepts the first and turns the second
    // into an empty entry (etcd-io/raft refuses a conf change while one is
    // unapplied). One is proposed by the leader, one forwarded by a follower.
    const started = Date.now();
    const [afterRemove, afterAdd] = await Promise.all([
      leader.server.proposeConfChange(ConfChangeType.RemoveNode, f1.id, undefined),
      f2.server.proposeConfChange(ConfChangeType.AddNode, added, member),
    ]);
    expect(Date.now() - started).toBeLessThan(leader.server.requestTimeoutMs);
    const ids = (ms: { id: bigint }[]): bigint[] => ms.map((m) => m.id);
    expect(ids(afterAdd)).toContain(added);
    expect(ids(afterRemove).concat(ids(afterAdd))).not.toContain(f1.id);
    for (const m of [leader, f2]) {
      expect(m.server.cluster.member(added)?.peerURLs).toEqual(member.peerURLs);
      expect(m.server.cluster.member(f1.id)).toBeUndefined();
    }
    // Two of the three voters are live: still a quorum.
    await put(leader, 'after', 'v');
    expect(await get(f2, 'after')).toEqual(['v']);
  });

  it('a conf change forwarded to a leader that is cut off is proposed again to the next leader', async () => {
    cluster = await TestCluster.start({ size: 3 });
    const leader = await cluster.waitForLeader();
    const [f1, f2] = cluster.members.filter((m) => m !== leader) as [TestMember, TestMember];
    const added = computeMemberId(['http://127.0.0.1:23898'], '', 3);
    // The follower forwards the proposal to the old leader, which never gets it.
    cluster.network.isolate(leader.id);
    const after = await f1.server.proposeConfChange(ConfChangeType.AddNode, added, {
      name: '',
      peerURLs: ['http://127.0.0.1:23898'],
      clientURLs: [],
    });
    expect(after.map((m) => m.id)).toContain(added);
    expect([f1.id, f2.id]).toContain(f1.server.leader);
    cluster.network.heal();
  });

  it('a removed member is wiped and added back under a new ID with its old peer URL; it catches up by snapshot and serves', async () => {
    cluster = await TestCluster.start({ size: 3, snapshotCount: 20, snapshotCatchUpEntries: 5 });
    const leader = await cluster.waitForLeader();
    const victim = cluster.members.find((m) => m !== leader)!;
    const survivor = cluster.members.find((m) => m !== leader && m !== victim)!;
    for (let i = 0; i < 30; i++) await put(leader, `k${i}`, `v${i}`);

    await leader.server.proposeConfChange(ConfChangeType.RemoveNode, victim.id, undefined);
    await victim.server.stop();
    // The cluster keeps working with two members.
    for (let i = 30; i < 60; i++) await put(survivor, `k${i}`, `v${i}`);

    const peerURLs = urlOf(victim);
    const newId = computeMemberId(peerURLs, '', 2);
    const members = await survivor.server.proposeConfChange(ConfChangeType.AddNode, newId, {
      name: '',
      peerURLs,
      clientURLs: [],
    });
    expect(members.map((m) => m.id)).toContain(newId);
    const joined = await cluster.joinMember(newId, victim.name, peerURLs, members);

    // A linearizable read on the new member waits until it has caught up.
    expect(await get(joined, 'k59')).toEqual(['v59']);
    expect(await get(joined, 'k0', true)).toEqual(['v0']);
    expect(joined.server.mvcc.currentRevision()).toBe(leader.server.mvcc.currentRevision());
    expect(
      joined.server.cluster
        .members()
        .map((m) => m.id)
        .sort(),
    ).toEqual(
      leader.server.cluster
        .members()
        .map((m) => m.id)
        .sort(),
    );
    // It takes part: a write through it, and a quorum that needs it.
    await put(joined, 'from-new', 'x');
    await survivor.server.stop();
    await put(leader, 'needs-new', 'y');
    expect(await get(joined, 'needs-new')).toEqual(['y']);
  });
});
