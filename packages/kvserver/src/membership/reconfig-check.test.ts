/**
 * MemberPromote sent to a follower (forwarded to the leader, as etcd 3.4
 * does) and --strict-reconfig-check (etcd's mayAddMember, mayRemoveMember,
 * mayPromoteMember): membership changes refused while they could cost the
 * quorum of started, connected members.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { etcdserverpb } from '@kv/api';
import { ConfChangeType } from '@kv/raft';
import { EtcdError } from '../errors';
import { TestCluster } from '../testing/test-cluster';
import type { TestMember } from '../testing/test-cluster';
import { computeMemberId } from './member-id';

const put = (m: TestMember, key: string): Promise<unknown> =>
  m.server.put(
    etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from('v') }),
  );

/** The error a call throws (fails the test if it does not throw). */
async function errorOf(fn: () => unknown): Promise<EtcdError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EtcdError);
    return err as EtcdError;
  }
  throw new Error('expected an error');
}

/** Polls `ok` until it holds, failing after `ms`. */
async function eventually(ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const passes = (fn: () => void): boolean => {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
};

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function addLearner(leader: TestMember, port: number): Promise<bigint> {
  const peerURLs = [`http://127.0.0.1:${port}`];
  const id = computeMemberId(peerURLs, '', port);
  await leader.server.proposeConfChange(ConfChangeType.AddLearnerNode, id, {
    name: '',
    peerURLs,
    clientURLs: [],
  });
  return id;
}

describe('MemberPromote on a follower', () => {
  it('is forwarded to the leader, which promotes a caught-up learner', async () => {
    cluster = await TestCluster.start({ size: 3 });
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    for (let i = 0; i < 10; i++) await put(leader, `k${i}`);
    const id = await addLearner(leader, 23890);
    const learner = await cluster.joinMember(
      id,
      'learner',
      ['http://127.0.0.1:23890'],
      leader.server.cluster.members(),
    );
    await eventually(
      () => learner.server.appliedIndex >= leader.server.raftStatus().hardState.commit,
    );
    expect(follower.server.isLeader).toBe(false);
    const after = await follower.server.promoteMember(id);
    expect(after.find((m) => m.id === id)?.isLearner).toBe(false);
    // The answer is the leader's, once it has applied the change.
    expect(leader.server.cluster.member(id)?.isLearner).toBe(false);
    await eventually(() => follower.server.cluster.member(id)?.isLearner === false);
  });

  it("returns the leader's refusal of a learner that has not caught up, with etcd's code and text", async () => {
    cluster = await TestCluster.start({ size: 3 });
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    for (let i = 0; i < 10; i++) await put(leader, `k${i}`);
    // Never started: its match stays 0.
    const id = await addLearner(leader, 23891);
    await eventually(() => follower.server.cluster.member(id) !== undefined);
    const e = await errorOf(() => follower.server.promoteMember(id));
    expect(e.message).toBe(
      'etcdserver: can only promote a learner member which is in sync with leader',
    );
    expect(e.grpcCode).toBe(9); // FailedPrecondition
    const voter = await errorOf(() => follower.server.promoteMember(leader.id));
    expect(voter.message).toBe('etcdserver: can only promote a learner member');
    const missing = await errorOf(() => follower.server.promoteMember(12345n));
    expect(missing.message).toBe('etcdserver: member not found');
    expect(missing.grpcCode).toBe(5); // NotFound
  });

  it('answers no leader when there is none for the whole request timeout', async () => {
    cluster = await TestCluster.start({ size: 3 });
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    const id = await addLearner(leader, 23892);
    await eventually(() => follower.server.cluster.member(id) !== undefined);
    cluster.network.isolate(follower.id);
    await eventually(() => follower.server.leader === 0n);
    const e = await errorOf(() => follower.server.promoteMember(id));
    expect(e.message).toBe('etcdserver: no leader');
    expect(e.grpcCode).toBe(14); // Unavailable
    cluster.network.heal();
  }, 20_000);
});

describe('--strict-reconfig-check', () => {
  it('refuses to add a member until every voting member has been connected for the health interval', async () => {
    cluster = await TestCluster.start({ size: 3, reconfigHealthIntervalMs: 60_000 });
    const leader = await cluster.waitForLeader();
    for (const learner of [false, true]) {
      const e = await errorOf(() => leader.server.mayAddMember(learner));
      expect(e.message).toBe('etcdserver: unhealthy cluster');
      expect(e.grpcCode).toBe(14); // Unavailable
    }
  });

  it('refuses to add while a voting member is down, and to remove one that is up; a member that is down may be removed', async () => {
    cluster = await TestCluster.start({ size: 3, reconfigHealthIntervalMs: 200 });
    const leader = await cluster.waitForLeader();
    const [f1, f2] = cluster.members.filter((m) => m !== leader) as [TestMember, TestMember];
    await eventually(() => passes(() => leader.server.mayAddMember(false)));
    leader.server.mayRemoveMember(f1.id);

    await cluster.stopMember(cluster.members.indexOf(f2));
    for (const learner of [false, true]) {
      expect((await errorOf(() => leader.server.mayAddMember(learner))).message).toBe(
        'etcdserver: unhealthy cluster',
      );
    }
    // Without f1, only the leader would be left of three: no quorum.
    expect((await errorOf(() => leader.server.mayRemoveMember(f1.id))).message).toBe(
      'etcdserver: unhealthy cluster',
    );
    expect((await errorOf(() => leader.server.mayRemoveMember(leader.id))).message).toBe(
      'etcdserver: unhealthy cluster',
    );
    // f2 is down: not part of the active quorum.
    leader.server.mayRemoveMember(f2.id);

    // Back, but connected for less than the health interval: still refused.
    await cluster.restartMember(cluster.members.indexOf(f2));
    expect((await errorOf(() => leader.server.mayAddMember(false))).message).toBe(
      'etcdserver: unhealthy cluster',
    );
    await eventually(() => passes(() => leader.server.mayAddMember(false)));
  });

  it('refuses changes that would leave fewer started members than a quorum', async () => {
    cluster = await TestCluster.start({ size: 3, reconfigHealthIntervalMs: 200 });
    const leader = await cluster.waitForLeader();
    // Two voting members added that never start (proposed directly, past the check).
    for (const port of [23893, 23894]) {
      const peerURLs = [`http://127.0.0.1:${port}`];
      await leader.server.proposeConfChange(
        ConfChangeType.AddNode,
        computeMemberId(peerURLs, '', port),
        { name: '', peerURLs, clientURLs: [] },
      );
    }
    const other = cluster.members.find((m) => m !== leader)!;
    const notEnough = 'etcdserver: re-configuration failed due to not enough started members';
    const e = await errorOf(() => leader.server.mayAddMember(false));
    expect(e.message).toBe(notEnough);
    expect(e.grpcCode).toBe(9); // FailedPrecondition
    expect((await errorOf(() => leader.server.mayRemoveMember(other.id))).message).toBe(notEnough);
  });

  it('is off with strictReconfigCheck false', async () => {
    cluster = await TestCluster.start({
      size: 3,
      strictReconfigCheck: false,
      reconfigHealthIntervalMs: 60_000,
    });
    const leader = await cluster.waitForLeader();
    const f = cluster.members.find((m) => m !== leader)!;
    leader.server.mayAddMember(false);
    leader.server.mayRemoveMember(f.id);
  });
});
