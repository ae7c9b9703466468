/**
 * Membership changes with the real etcdctl on a running 3-member cluster:
 * add a member that joins with --initial-cluster-state existing and catches
 * up, add a learner and promote it once caught up, remove a member (it stops
 * serving); a member removed while stopped stops when it resumes; remove a
 * member, wipe it and add it back under its old peer URL.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, etcdctl, freePort, retryEtcdctl } from './harness';
import type { CommandResult } from './harness';

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start({ kind: 'kv', size: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

interface MemberJson {
  ID: number | string;
  name?: string;
  peerURLs: string[];
  clientURLs?: string[];
  isLearner?: boolean;
}

/** The member list as `endpoints` (default: any member) see it; served from local state, as etcd's. */
async function memberList(endpoints = cluster.endpoints): Promise<MemberJson[]> {
  const r = await etcdctl([`--endpoints=${endpoints}`, 'member', 'list', '-w', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as { members: MemberJson[] }).members;
}

/** Runs a membership change again while the cluster is refused as unhealthy (strict reconfig check). */
function whileUnhealthy(run: () => Promise<CommandResult>): Promise<CommandResult> {
  return retryEtcdctl(run, /etcdserver: unhealthy cluster/);
}

describe('membership changes through etcdctl', () => {
  it('adds a member that joins the running cluster and catches up', async () => {
    for (let i = 0; i < 20; i++) {
      expect(
        (await etcdctl([`--endpoints=${cluster.endpoints}`, 'put', `before-join-${i}`, 'v'])).code,
      ).toBe(0);
    }
    const peerPort = await freePort();
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const add = await whileUnhealthy(() =>
      etcdctl([
        `--endpoints=${cluster.endpoints}`,
        'member',
        'add',
        'm3',
        `--peer-urls=${peerUrl}`,
      ]),
    );
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/Member\s+[0-9a-f]+ added to cluster\s+[0-9a-f]+/);
    expect(add.stdout).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)![1]!;
    const i = await cluster.addJoiningMember('m3', peerPort, initialCluster);
    await cluster.waitHealthy([i]);
    const r = await etcdctl([
      `--endpoints=${cluster.members[i]!.endpoint}`,
      'get',
      'before-join-',
      '--prefix',
      '--keys-only',
    ]);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('before-join-')).length).toBe(20);
    const members = await memberList();
    expect(members.length).toBe(4);
    const joined = members.find((m) => m.peerURLs.includes(peerUrl))!;
    expect(joined.name).toBe('m3');
  }, 90_000);

  it('adds a learner, refuses nothing once caught up, and promotes it', async () => {
    const peerPort = await freePort();
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const add = await whileUnhealthy(() =>
      etcdctl([
        `--endpoints=${cluster.endpoints}`,
        'member',
        'add',
        'm4',
        `--peer-urls=${peerUrl}`,
        '--learner',
      ]),
    );
    expect(add.code, add.stderr).toBe(0);
    const id = /Member\s+([0-9a-f]+) added/.exec(add.stdout)![1]!;
    const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)![1]!;
    const i = await cluster.addJoiningMember('m4', peerPort, initialCluster);
    // A learner serves serializable reads only.
    for (;;) {
      const r = await etcdctl([
        `--endpoints=${cluster.members[i]!.endpoint}`,
        'get',
        'before-join-0',
        '--consistency=s',
        '--print-value-only',
      ]);
      if (r.code === 0 && r.stdout.trim() === 'v') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const lin = await etcdctl([
      `--endpoints=${cluster.members[i]!.endpoint}`,
      'get',
      'before-join-0',
    ]);
    expect(lin.stderr).toContain('etcdserver: rpc not supported for learner');
    let promoted = '';
    for (let attempt = 0; attempt < 50 && promoted === ''; attempt++) {
      const r = await etcdctl([`--endpoints=${cluster.endpoints}`, 'member', 'promote', id]);
      if (r.code === 0) promoted = r.stdout;
      else await new Promise((res) => setTimeout(res, 200));
    }
    // etcdctl prints IDs as %16x: padded with spaces.
    expect(promoted).toMatch(new RegExp(`Member\\s+${id} promoted in cluster`));
    const list = await etcdctl([`--endpoints=${cluster.endpoints}`, 'member', 'list']);
    expect(list.stdout.split('\n').find((l) => l.startsWith(id))).toMatch(/, false$/);
  }, 90_000);

  it('removes a member, which then stops serving and exits 0, as etcd does', async () => {
    // The simple output prints IDs in hex (JSON prints uint64s that JS numbers cannot hold).
    const list = await etcdctl([`--endpoints=${cluster.endpoints}`, 'member', 'list']);
    const line = list.stdout.split('\n').find((l) => l.includes(', m4,'))!;
    const victim = line.split(',')[0]!.trim();
    const r = await whileUnhealthy(() =>
      etcdctl([`--endpoints=${cluster.members[0]!.endpoint}`, 'member', 'remove', victim]),
    );
    expect(r.code, r.stderr).toBe(0);
    // etcdctl prints IDs as %16x: padded with spaces when shorter.
    expect(r.stdout).toMatch(new RegExp(`Member\\s+${victim} removed from cluster`));
    // The member that applied the removal before answering; another one may
    // not have applied it yet (and the removed one may be stopping).
    expect((await memberList(cluster.members[0]!.endpoint)).length).toBe(4);
    const idx = cluster.members.findIndex((m) => m.name === 'm4');
    const after = await etcdctl([
      `--endpoints=${cluster.members[idx]!.endpoint}`,
      '--command-timeout=3s',
      'put',
      'x',
      'y',
    ]);
    expect(after.code).not.toBe(0);
    expect(await exitStatus(cluster.members[idx]!.proc!, 20_000)).toBe(0);
  }, 60_000);
});

/** The exit status of a member's process (bounded wait; it must exit on its own). */
async function exitStatus(proc: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the member did not exit')), timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('a member removed while it was stopped', () => {
  it('is refused by its peers when it resumes, and stops', async () => {
    const idx = cluster.members.findIndex((m) => m.name === 'm3');
    const m3 = cluster.members[idx]!;
    const list = await etcdctl([`--endpoints=${cluster.endpoints}`, 'member', 'list']);
    const id = list.stdout
      .split('\n')
      .find((l) => l.includes(', m3,'))!
      .split(',')[0]!
      .trim();
    m3.proc!.kill('SIGSTOP');
    try {
      const r = await etcdctl([
        `--endpoints=${cluster.members[0]!.endpoint}`,
        '--command-timeout=10s',
        'member',
        'remove',
        id,
      ]);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      m3.proc!.kill('SIGCONT');
    }
    // It missed its removal: either the entry reaches it when it resumes
    // (it applies its own removal), or its peers, having dropped its
    // connections, refuse it when it dials again. Either way it stops.
    const deadline = Date.now() + 20_000;
    while (!m3.log.join('').includes('this member was removed from the cluster; stopping')) {
      if (Date.now() > deadline) throw new Error(`m3 did not stop:\n${m3.log.join('')}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    const after = await etcdctl([
      `--endpoints=${m3.endpoint}`,
      '--command-timeout=3s',
      'get',
      'before-join-0',
      '--consistency=s',
    ]);
    expect(after.code).not.toBe(0);
    expect(await exitStatus(m3.proc!, 20_000)).toBe(0);
  }, 60_000);
});

describe('remove, wipe, add back (the robustness replace fault)', () => {
  let c: ProcessCluster | undefined;
  afterAll(async () => {
    await c?.close();
  });

  it('the removed leader comes back as a new member on its old peer URL, catches up by snapshot and counts in the quorum', async () => {
    c = await ProcessCluster.start({
      kind: 'kv',
      size: 3,
      extraFlags: ['--snapshot-count=20', '--experimental-snapshot-catchup-entries=5'],
    });
    const ctl = (endpoints: string, ...args: string[]): ReturnType<typeof etcdctl> =>
      etcdctl([`--endpoints=${endpoints}`, '--command-timeout=10s', ...args]);
    for (let i = 0; i < 30; i++) expect((await ctl(c.endpoints, 'put', `k${i}`, 'v')).code).toBe(0);

    // Remove the leader, through another member.
    const victim = await c.leaderIndex();
    const others = c.members.filter((_, i) => i !== victim);
    const via = others.map((m) => m.endpoint).join(',');
    const status = await ctl(c.members[victim]!.endpoint, 'endpoint', 'status');
    const oldId = status.stdout.split(',')[1]!.trim();
    const removed = await whileUnhealthy(() => ctl(others[0]!.endpoint, 'member', 'remove', oldId));
    expect(removed.code, removed.stderr).toBe(0);
    await c.kill(victim);
    fs.rmSync(c.members[victim]!.dataDir, { recursive: true, force: true });

    // Added back right away (raft may still have the removal unapplied),
    // under its old peer URL: a new ID.
    const name = c.members[victim]!.name;
    const peerUrl = `http://127.0.0.1:${c.members[victim]!.peerPort}`;
    // Refused as unhealthy until the member asked has applied the removal
    // and been connected to the other for 5 s.
    const add = await whileUnhealthy(() =>
      ctl(via, 'member', 'add', name, `--peer-urls=${peerUrl}`),
    );
    expect(add.code, add.stderr).toBe(0);
    const newId = /Member\s+([0-9a-f]+) added/.exec(add.stdout)![1]!;
    expect(newId).not.toBe(oldId);
    const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)![1]!;
    // The cluster keeps serving, and compacts its log past what the new member could replay.
    for (let i = 30; i < 60; i++) {
      const r = await ctl(via, 'put', `k${i}`, 'v');
      expect(r.code, r.stderr).toBe(0);
    }

    c.extraArgs.set(victim, [
      '--initial-cluster-state=existing',
      `--initial-cluster=${initialCluster}`,
    ]);
    c.spawnMember(victim);
    // waitHealthy does a linearizable read: the new member has caught up.
    await c.waitHealthy([victim], 60_000);
    const mine = c.members[victim]!.endpoint;
    const keys = await ctl(mine, 'get', 'k', '--prefix', '--keys-only', '--consistency=s');
    expect(keys.stdout.split('\n').filter((l) => /^k\d+$/.test(l)).length).toBe(60);
    const st = await ctl(mine, 'endpoint', 'status');
    expect(st.stdout.split(',')[1]!.trim()).toBe(newId);
    const list = await ctl(c.endpoints, 'member', 'list');
    expect(list.stdout).toContain(newId);
    expect(list.stdout).not.toContain(oldId);

    // With one of the old members down, a write needs the new one's vote
    // and ack (an etcd client retries a write sent while there is no leader,
    // so this waits for the new leader first).
    const down = c.members.indexOf(others[0]!);
    await c.kill(down);
    const leader = c.members[await c.leaderIndex()]!;
    const w = await ctl(leader.endpoint, 'put', 'needs-new', 'x');
    expect(w.code, w.stderr).toBe(0);
    const r = await ctl(mine, 'get', 'needs-new', '--print-value-only');
    expect(r.stdout.trim()).toBe('x');
  }, 120_000);
});
