import { describe, expect, it } from 'vitest';
import type { Message } from '../src/index';
import { MessageType } from '../src/index';
import { Cluster } from '../src/testing/cluster';

const enc = new TextEncoder();

function tap(c: Cluster): Message[] {
  const seen: Message[] = [];
  c.dropFilters.push((m) => {
    seen.push(m);
    return false;
  });
  return seen;
}

describe('snapshots', () => {
  it('the leader sends a snapshot to a follower whose entries were compacted; it installs it', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    c.isolate(3n);
    for (let i = 0; i < 10; i++) c.raw(1n).propose(enc.encode(`v${i}`));
    c.stabilize();
    c.compact(1n, enc.encode('state@1'));
    c.heal();
    const seen = tap(c);
    c.raw(1n).tick();
    c.stabilize();
    const snaps = seen.filter((m) => m.type === MessageType.MsgSnap);
    expect(snaps).toHaveLength(1);
    const snapIndex = snaps[0]!.snapshot!.metadata.index;
    expect(c.node(3n).storage.snapshot().metadata.index).toBe(snapIndex);
    expect(new TextDecoder().decode(c.node(3n).storage.snapshot().data)).toBe('state@1');
    expect(c.node(3n).confState.voters).toEqual([1n, 2n, 3n]);
    // Replication continues after the snapshot.
    c.raw(1n).propose(enc.encode('after'));
    c.stabilize();
    expect(c.appliedData(3n)).toEqual(['after']);
    const pr = c.raw(1n).status().progress.get(3n)!;
    expect(pr.state).toBe('replicate');
    expect(pr.match).toBe(c.raw(1n).basicStatus().hardState.commit);
  });

  it('a failed snapshot is retried', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    c.isolate(3n);
    for (let i = 0; i < 5; i++) c.raw(1n).propose(enc.encode(`v${i}`));
    c.stabilize();
    c.compact(1n);
    c.heal();
    c.dropType(MessageType.MsgSnap);
    c.raw(1n).tick();
    c.stabilize();
    // Reported as failed: back to probe, paused until the next heartbeat.
    expect(c.raw(1n).status().progress.get(3n)!.state).toBe('probe');
    c.heal();
    const seen = tap(c);
    c.raw(1n).tick();
    c.stabilize();
    c.raw(1n).tick();
    c.stabilize();
    expect(seen.filter((m) => m.type === MessageType.MsgSnap)).toHaveLength(1);
    expect(c.raw(3n).basicStatus().hardState.commit).toBe(c.raw(1n).basicStatus().hardState.commit);
  });

  it('a node restarted from a snapshot keeps working', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    for (let i = 0; i < 5; i++) c.raw(1n).propose(enc.encode(`v${i}`));
    c.stabilize();
    for (const id of [1n, 2n, 3n]) c.compact(id);
    for (const id of [1n, 2n, 3n]) c.restart(id);
    c.elect(2n);
    c.raw(2n).propose(enc.encode('next'));
    c.stabilize();
    for (const id of [1n, 2n, 3n]) expect(c.appliedData(id)).toEqual(['next']);
  });

  it('refuses a snapshot older than the one stored', () => {
    const c = new Cluster({ ids: [1n] });
    c.elect(1n);
    c.raw(1n).propose(enc.encode('a'));
    c.stabilize();
    c.compact(1n);
    expect(() => c.compact(1n)).toThrow(/RAFT_SNAP_OUT_OF_DATE/);
  });
});
