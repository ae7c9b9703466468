/**
 * The same etcdctl membership commands against etcd 3.4 and this server:
 * `member promote` sent to a follower (forwarded to the leader) succeeds,
 * and with --strict-reconfig-check (on by default) a `member add` right
 * after a member is killed is refused as an unhealthy cluster.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ProcessCluster, etcdctl, freePort, retryEtcdctl } from './harness';
import type { ServerKind } from './harness';

const clusters: ProcessCluster[] = [];
afterAll(async () => {
  await Promise.all(clusters.map((c) => c.close()));
});

const ctl = (endpoints: string, ...args: string[]): ReturnType<typeof etcdctl> =>
  etcdctl([`--endpoints=${endpoints}`, '--command-timeout=10s', ...args]);

/**
 * Runs an etcdctl command until it succeeds; only the refusals listed are
 * retried (a cluster is healthy for a change once its members have been
 * connected for 5 s; a learner is promoted once it has caught up).
 */
async function until(
  retryOn: RegExp,
  run: () => ReturnType<typeof etcdctl>,
  timeoutMs = 30_000,
): Promise<string> {
  const r = await retryEtcdctl(run, retryOn, timeoutMs);
  if (r.code !== 0) throw new Error(`etcdctl failed: ${r.stderr}`);
  return r.stdout;
}

describe.each<ServerKind>(['etcd', 'kv'])('membership checks (%s)', (kind) => {
  it('member promote sent to a follower is forwarded to the leader; member add right after a member is killed is refused as unhealthy', async () => {
    const c = await ProcessCluster.start({ kind, size: 3 });
    clusters.push(c);

    // A learner, added once the cluster has been healthy long enough.
    const peerPort = await freePort();
    const add = await until(/etcdserver: unhealthy cluster/, () =>
      ctl(
        c.endpoints,
        'member',
        'add',
        'l3',
        `--peer-urls=http://127.0.0.1:${peerPort}`,
        '--learner',
      ),
    );
    const id = /Member\s+([0-9a-f]+) added/.exec(add)![1]!;
    const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add)![1]!;
    const learner = await c.addJoiningMember('l3', peerPort, initialCluster);

    const leader = await c.leaderIndex();
    const follower = [0, 1, 2].find((i) => i !== leader)!;
    const via = c.members[follower]!.endpoint;
    // A voting member is not a learner: the leader's refusal, through the follower.
    const leaderId = (await ctl(c.members[leader]!.endpoint, 'endpoint', 'status')).stdout
      .split(',')[1]!
      .trim();
    const voter = await ctl(via, 'member', 'promote', leaderId);
    expect(voter.code).not.toBe(0);
    expect(voter.stderr).toContain('etcdserver: can only promote a learner member');
    expect(voter.stderr).not.toContain('in sync with leader');

    const promoted = await until(/in sync with leader/, () => ctl(via, 'member', 'promote', id));
    // etcdctl prints IDs as %16x: padded with spaces.
    expect(promoted).toMatch(new RegExp(`Member\\s+${id} promoted in cluster`));
    const list = await ctl(c.endpoints, 'member', 'list');
    expect(list.stdout.split('\n').find((l) => l.startsWith(id))).toMatch(/, false$/);
    await c.waitHealthy([learner]);

    // Four voting members, all connected for 5 s: a member may be added.
    await until(/etcdserver: unhealthy cluster/, () =>
      ctl(c.endpoints, 'member', 'add', 'probe', `--peer-urls=http://127.0.0.1:1`, '--learner'),
    ).then(async (out) => {
      const probe = /Member\s+([0-9a-f]+) added/.exec(out)![1]!;
      const removed = await ctl(c.endpoints, 'member', 'remove', probe);
      expect(removed.code, removed.stderr).toBe(0);
    });

    // One voting member killed: the next add is refused at once.
    const victim = [0, 1, 2].find((i) => i !== leader && i !== follower)!;
    await c.kill(victim);
    const refused = await ctl(
      via,
      'member',
      'add',
      'm9',
      `--peer-urls=http://127.0.0.1:${await freePort()}`,
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('etcdserver: unhealthy cluster');
  }, 120_000);
});
