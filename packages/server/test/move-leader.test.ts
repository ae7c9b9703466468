/**
 * `etcdctl move-leader` hands leadership to a chosen follower, as with etcd.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, etcdctl } from './harness';

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start({ kind: 'kv', size: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

/** Hex member IDs by member index, from the simple `endpoint status` output. */
async function ids(): Promise<string[]> {
  const out: string[] = [];
  for (const m of cluster.members) {
    const r = await etcdctl([`--endpoints=${m.endpoint}`, 'endpoint', 'status']);
    out.push(r.stdout.split(',')[1]!.trim());
  }
  return out;
}

describe('move-leader', () => {
  it('transfers leadership to the named member', async () => {
    const leader = await cluster.leaderIndex();
    const target = (leader + 1) % 3;
    const memberIds = await ids();
    const r = await etcdctl([
      `--endpoints=${cluster.members[leader]!.endpoint}`,
      'move-leader',
      memberIds[target]!,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `Leadership transferred from ${memberIds[leader]} to ${memberIds[target]}`,
    );
    expect(await cluster.leaderIndex()).toBe(target);
  }, 60_000);
});
