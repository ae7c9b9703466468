import { describe, expect, it } from 'vitest';
import { MemoryStorage, RawNode, isEmptySnapshot } from '../src/index';
import { Cluster } from '../src/testing/cluster';
import { seededRandom } from '../src/testing/rng';

const enc = new TextEncoder();

describe('leader transfer', () => {
  it('transfers to a caught-up follower', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    c.raw(1n).transferLeadership(2n);
    c.stabilize();
    expect(c.leader()).toBe(2n);
    expect(c.raw(1n).basicStatus().softState.lead).toBe(2n);
  });

  it('catches a lagging transferee up first', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    c.isolate(3n);
    for (let i = 0; i < 5; i++) c.raw(1n).propose(enc.encode(`v${i}`));
    c.stabilize();
    c.heal();
    c.raw(1n).transferLeadership(3n);
    c.stabilize();
    expect(c.leader()).toBe(3n);
    expect(c.appliedData(3n)).toHaveLength(5);
  });

  it('can be requested through a follower', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    c.raw(3n).transferLeadership(3n);
    c.stabilize();
    expect(c.leader()).toBe(3n);
  });

  it('drops proposals during a transfer and aborts after an election timeout', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    c.isolate(3n);
    c.raw(1n).transferLeadership(3n);
    c.stabilize();
    expect(c.raw(1n).basicStatus().leadTransferee).toBe(3n);
    expect(() => c.raw(1n).propose(enc.encode('x'))).toThrow(/RAFT_PROPOSAL_DROPPED/);
    for (let i = 0; i < 10; i++) {
      c.raw(1n).tick();
      c.stabilize();
    }
    expect(c.raw(1n).basicStatus().leadTransferee).toBe(0n);
    expect(c.leader()).toBe(1n);
    c.raw(1n).propose(enc.encode('y'));
    c.stabilize();
    expect(c.appliedData(2n)).toEqual(['y']);
  });

  it('ignores a transfer to a learner or to itself', () => {
    const c = new Cluster({ ids: [1n, 2n] });
    c.elect(1n);
    c.raw(1n).transferLeadership(1n);
    c.stabilize();
    expect(c.leader()).toBe(1n);
    expect(c.raw(1n).basicStatus().leadTransferee).toBe(0n);
  });
});

describe('restart', () => {
  it('restarts every node from storage and keeps committed entries', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    for (let i = 0; i < 5; i++) c.raw(1n).propose(enc.encode(`v${i}`));
    c.stabilize();
    const hs = c.raw(2n).basicStatus().hardState;
    for (const id of [1n, 2n, 3n]) c.restart(id);
    expect(c.raw(2n).basicStatus().hardState).toEqual(hs);
    c.elect(3n);
    c.raw(3n).propose(enc.encode('again'));
    c.stabilize();
    const want = [...Array.from({ length: 5 }, (_, i) => `v${i}`), 'again'];
    for (const id of [1n, 2n, 3n]) expect(c.appliedData(id)).toEqual(want);
  });

  it('does not re-deliver entries up to config.applied', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    c.raw(1n).propose(enc.encode('a'));
    c.stabilize();
    const applied = c.raw(2n).basicStatus().applied;
    c.restart(2n, { applied });
    c.stabilize();
    expect(c.node(2n).applied).toEqual([]);
  });

  it('forgets a vote that was not persisted', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    c.raw(1n).campaign();
    c.handleReady(1n);
    c.deliver(); // 2 and 3 vote, but crash before persisting
    c.restart(2n);
    expect(c.raw(2n).basicStatus().hardState.vote).toBe(0n);
  });

  it('restarts from a MemoryStorage rebuilt from a WAL-like copy', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    for (let i = 0; i < 5; i++) c.raw(1n).propose(enc.encode(`v${i}`));
    c.stabilize();
    c.compact(2n);
    c.raw(1n).propose(enc.encode('tail'));
    c.stabilize();
    // What a WAL replay yields: the latest snapshot, the hard state, the entries after it.
    const old = c.node(2n).storage;
    const snap = old.snapshot();
    const hs = old.initialState().hardState;
    const ents = old.entries(old.firstIndex(), old.lastIndex() + 1);
    const fresh = new MemoryStorage();
    if (!isEmptySnapshot(snap)) fresh.applySnapshot(snap);
    fresh.setHardState(hs);
    fresh.append(ents);
    const n = new RawNode({
      id: 2n,
      electionTick: 10,
      heartbeatTick: 1,
      storage: fresh,
      applied: snap.metadata.index,
      random: seededRandom(9),
    });
    expect(n.basicStatus().hardState).toEqual(hs);
    expect(n.status().config.voters).toEqual([1n, 2n, 3n]);
    const rd = n.ready();
    // Only what follows the snapshot is applied again.
    expect(rd.committedEntries[0]!.index).toBe(snap.metadata.index + 1);
    expect(rd.committedEntries[rd.committedEntries.length - 1]!.index).toBe(hs.commit);
  });
});
