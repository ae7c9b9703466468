import { describe, expect, it } from 'vitest';
import { Cluster } from '../src/testing/cluster';

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
});
