import { describe, expect, it } from 'vitest';
import { ConfChangeType, EntryType, MessageType } from '../src/index';
import type { Message } from '../src/index';
import { Cluster } from '../src/testing/cluster';

const enc = new TextEncoder();
const ctx = new Uint8Array();

function tap(c: Cluster): Message[] {
  const seen: Message[] = [];
  c.dropFilters.push((m) => {
    seen.push(m);
    return false;
  });
  return seen;
}

function commit(c: Cluster, id: bigint): number {
  return c.raw(id).basicStatus().hardState.commit;
}

describe('membership changes', () => {
  it('adds a voter that catches up and then counts in the quorum', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], spare: [4n] });
    c.elect(1n);
    c.raw(1n).proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 4n, context: ctx });
    c.stabilize();
    for (const id of [1n, 2n, 3n, 4n])
      expect(c.node(id).confState.voters).toEqual([1n, 2n, 3n, 4n]);
    c.raw(1n).propose(enc.encode('x'));
    c.stabilize();
    expect(c.appliedData(4n)).toEqual(['x']);
    // 4 voters: 1 and 4 alone are not a quorum.
    c.partition([1n, 4n]);
    const before = commit(c, 1n);
    c.raw(1n).propose(enc.encode('y'));
    c.stabilize();
    expect(commit(c, 1n)).toBe(before);
  });

  it('the change takes effect only when applied', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], spare: [4n] });
    c.elect(1n);
    c.isolate(2n);
    c.isolate(3n);
    c.raw(1n).proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 3n, context: ctx });
    c.stabilize();
    // Not committed, so not applied: 3 is still a voter everywhere.
    expect(c.raw(1n).status().config.voters).toEqual([1n, 2n, 3n]);
  });

  it('removes a voter; the removed node stops campaigning', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    c.raw(1n).proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 3n, context: ctx });
    c.stabilize();
    expect(c.node(1n).confState.voters).toEqual([1n, 2n]);
    expect(c.node(3n).confState.voters).toEqual([1n, 2n]);
    c.isolate(3n);
    c.raw(1n).propose(enc.encode('two'));
    c.stabilize();
    expect(c.appliedData(2n)).toEqual(['two']);
    const seen = tap(c);
    for (let i = 0; i < 100; i++) {
      c.raw(3n).tick();
      c.stabilize();
    }
    expect(seen.filter((m) => m.from === 3n)).toEqual([]);
    expect(c.raw(3n).basicStatus().softState.role).toBe('Follower');
  });

  it('learners receive the log, do not vote, and can be promoted', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], spare: [4n] });
    c.elect(1n);
    c.raw(1n).proposeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 4n, context: ctx });
    c.stabilize();
    expect(c.node(1n).confState.learners).toEqual([4n]);
    c.raw(1n).propose(enc.encode('l'));
    c.stabilize();
    expect(c.appliedData(4n)).toEqual(['l']);
    // A learner never campaigns...
    const seen = tap(c);
    for (let i = 0; i < 100; i++) {
      c.raw(4n).tick();
      c.stabilize();
    }
    expect(seen.filter((m) => m.from === 4n && m.type === MessageType.MsgVote)).toEqual([]);
    // ...and does not count for commitment.
    c.partition([1n, 4n]);
    const before = commit(c, 1n);
    c.raw(1n).propose(enc.encode('m'));
    c.stabilize();
    expect(commit(c, 1n)).toBe(before);
    c.heal();
    c.raw(1n).tick();
    c.stabilize();
    c.raw(1n).proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 4n, context: ctx });
    c.stabilize();
    expect(c.node(4n).confState).toMatchObject({ voters: [1n, 2n, 3n, 4n], learners: [] });
  });

  it('accepts one pending conf change at a time', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], spare: [4n, 5n] });
    c.elect(1n);
    c.raw(1n).proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 4n, context: ctx });
    c.raw(1n).proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 5n, context: ctx });
    c.stabilize();
    expect(c.node(1n).confState.voters).toEqual([1n, 2n, 3n, 4n]);
    const confEntries = c.node(1n).applied.filter((e) => e.type !== EntryType.Normal);
    expect(confEntries).toHaveLength(4); // 3 bootstrap + 1 accepted
  });

  it('joint consensus adds several voters at once and leaves automatically', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], spare: [4n, 5n] });
    c.elect(1n);
    c.raw(1n).proposeConfChange({
      transition: 'auto',
      changes: [
        { type: ConfChangeType.AddNode, nodeId: 4n },
        { type: ConfChangeType.AddNode, nodeId: 5n },
        { type: ConfChangeType.RemoveNode, nodeId: 3n },
      ],
      context: ctx,
    });
    c.stabilize();
    for (const id of [1n, 2n, 4n, 5n]) {
      expect(c.node(id).confState).toMatchObject({
        voters: [1n, 2n, 4n, 5n],
        votersOutgoing: [],
        autoLeave: false,
      });
    }
    c.raw(1n).propose(enc.encode('j'));
    c.stabilize();
    expect(c.appliedData(5n)).toEqual(['j']);
  });

  it('explicit joint consensus stays joint until an empty change, and needs both majorities', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], spare: [4n, 5n, 6n] });
    c.elect(1n);
    c.raw(1n).proposeConfChange({
      transition: 'explicit',
      changes: [
        { type: ConfChangeType.AddNode, nodeId: 4n },
        { type: ConfChangeType.AddNode, nodeId: 5n },
        { type: ConfChangeType.AddNode, nodeId: 6n },
        { type: ConfChangeType.RemoveNode, nodeId: 2n },
        { type: ConfChangeType.RemoveNode, nodeId: 3n },
      ],
      context: ctx,
    });
    c.stabilize();
    expect(c.node(1n).confState).toMatchObject({
      voters: [1n, 4n, 5n, 6n],
      votersOutgoing: [1n, 2n, 3n],
    });
    // 1, 4, 5 are a majority of the new config but not of the old one.
    c.partition([1n, 4n, 5n]);
    const before = commit(c, 1n);
    c.raw(1n).propose(enc.encode('p'));
    c.stabilize();
    expect(commit(c, 1n)).toBe(before);
    c.heal();
    c.raw(1n).tick();
    c.stabilize();
    expect(c.appliedData(2n)).toEqual(['p']);
    c.raw(1n).proposeConfChange({ transition: 'auto', changes: [], context: ctx });
    c.stabilize();
    expect(c.node(1n).confState).toMatchObject({ voters: [1n, 4n, 5n, 6n], votersOutgoing: [] });
    // Now 1, 4, 5 suffice.
    c.partition([1n, 4n, 5n]);
    c.raw(1n).propose(enc.encode('q'));
    c.stabilize();
    expect(c.appliedData(5n)).toEqual(['p', 'q']);
  });

  it('a removed leader steps down when stepDownOnRemoval is set', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], config: { stepDownOnRemoval: true } });
    c.elect(1n);
    c.raw(1n).proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 1n, context: ctx });
    c.stabilize();
    expect(c.raw(1n).basicStatus().softState.role).toBe('Follower');
    for (let i = 0; i < 30 && c.leader() === undefined; i++) {
      c.tickAll();
      c.stabilize();
    }
    expect([2n, 3n]).toContain(c.leader());
  });
});
