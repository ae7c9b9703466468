import { describe, expect, it } from 'vitest';
import { MessageType, RawNode, MemoryStorage, RaftError } from '../src/index';
import { Cluster } from '../src/testing/cluster';
import { seededRandom } from '../src/testing/rng';

const enc = new TextEncoder();

function role(c: Cluster, id: bigint): string {
  return c.raw(id).basicStatus().softState.role;
}
function term(c: Cluster, id: bigint): number {
  return c.raw(id).basicStatus().hardState.term;
}

describe('leader election', () => {
  it('elects exactly one leader through ticks alone', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n, 4n, 5n], seed: 7 });
    c.stabilize();
    for (let i = 0; i < 100 && c.leader() === undefined; i++) {
      c.tickAll();
      c.stabilize();
    }
    const leaders = [...c.nodes.keys()].filter((id) => role(c, id) === 'Leader');
    expect(leaders).toHaveLength(1);
    const lt = term(c, leaders[0]!);
    for (const id of c.nodes.keys()) {
      expect(term(c, id)).toBe(lt);
      expect(c.raw(id).basicStatus().softState.lead).toBe(leaders[0]);
    }
  });

  it('a candidate without a quorum stays candidate, then loses to a higher term', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    c.isolate(1n);
    c.elect(1n);
    expect(role(c, 1n)).toBe('Candidate');
    expect(term(c, 1n)).toBe(2);
    c.heal();
    c.elect(2n);
    // 2 campaigns at term 2: 1 already voted for itself in term 2, but 3 grants.
    expect(role(c, 2n)).toBe('Leader');
    c.elect(1n);
    expect(role(c, 1n)).toBe('Leader');
    expect(term(c, 1n)).toBe(3);
    expect(role(c, 2n)).toBe('Follower');
  });

  it('votes at most once per term', () => {
    const s = new MemoryStorage();
    const n = new RawNode({
      id: 1n,
      electionTick: 10,
      heartbeatTick: 1,
      storage: s,
      random: seededRandom(1),
    });
    n.bootstrap([{ id: 1n }, { id: 2n }, { id: 3n }]);
    const base = {
      to: 1n,
      logTerm: 1,
      index: 3,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: new Uint8Array(),
    };
    n.step({ ...base, type: MessageType.MsgVote, from: 2n, term: 5 });
    n.step({ ...base, type: MessageType.MsgVote, from: 3n, term: 5 });
    const rd = n.ready();
    const resps = rd.messages.filter((m) => m.type === MessageType.MsgVoteResp);
    expect(resps.map((m) => [m.to, m.reject])).toEqual([
      [2n, false],
      [3n, true],
    ]);
    expect(rd.hardState).toMatchObject({ term: 5, vote: 2n });
  });

  it('rejects a candidate whose log is less up to date (election restriction)', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    c.elect(1n);
    c.isolate(3n);
    c.raw(1n).propose(enc.encode('x'));
    c.stabilize();
    c.heal();
    // 3 lacks the entry: neither 1 nor 2 may vote for it.
    c.elect(3n);
    expect(role(c, 3n)).not.toBe('Leader');
    const t = term(c, 3n);
    c.elect(2n);
    expect(role(c, 2n)).toBe('Leader');
    expect(term(c, 2n)).toBeGreaterThan(t - 1);
    expect(c.appliedData(3n)).toEqual(['x']);
  });

  it('a leader steps down on seeing a higher term', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    c.elect(1n);
    c.isolate(1n);
    c.elect(2n);
    expect(role(c, 1n)).toBe('Leader');
    c.heal();
    c.raw(2n).tick(); // heartbeat at the higher term reaches 1
    c.stabilize();
    expect(role(c, 1n)).toBe('Follower');
    expect(c.raw(1n).basicStatus().softState.lead).toBe(2n);
  });

  it('a proposal with no leader is refused with RAFT_PROPOSAL_DROPPED', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    let err: unknown;
    try {
      c.raw(2n).propose(enc.encode('x'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RaftError);
    expect((err as RaftError).code).toBe('RAFT_PROPOSAL_DROPPED');
  });
});

describe('PreVote', () => {
  it('a partitioned node does not bump its term and does not disrupt on rejoin', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], config: { preVote: true } });
    c.stabilize();
    c.elect(1n);
    const t0 = term(c, 1n);
    c.isolate(3n);
    for (let i = 0; i < 50; i++) {
      c.raw(3n).tick();
      c.stabilize();
    }
    expect(role(c, 3n)).toBe('PreCandidate');
    expect(term(c, 3n)).toBe(t0);
    // The majority made progress, so 3's log is behind and pre-votes fail.
    c.raw(1n).propose(enc.encode('p'));
    c.stabilize();
    c.heal();
    c.raw(3n).campaign();
    c.stabilize();
    expect(role(c, 1n)).toBe('Leader');
    expect(term(c, 1n)).toBe(t0);
  });

  it('without PreVote the same scenario disrupts the leader', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    c.elect(1n);
    const t0 = term(c, 1n);
    c.isolate(3n);
    for (let i = 0; i < 50; i++) {
      c.raw(3n).tick();
      c.stabilize();
    }
    expect(term(c, 3n)).toBeGreaterThan(t0);
    c.heal();
    c.raw(3n).campaign();
    c.stabilize();
    expect(term(c, 1n)).toBeGreaterThan(t0);
  });

  it('a pre-candidate with a quorum of pre-votes becomes leader at term+1', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], config: { preVote: true } });
    c.stabilize();
    c.elect(2n);
    expect(role(c, 2n)).toBe('Leader');
    expect(term(c, 2n)).toBe(2);
  });
});

describe('CheckQuorum', () => {
  it('a leader that does not hear from a quorum within an election timeout steps down', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], config: { checkQuorum: true } });
    c.stabilize();
    c.elect(1n);
    c.isolate(1n);
    for (let i = 0; i < 21; i++) {
      c.raw(1n).tick();
      c.stabilize();
    }
    expect(role(c, 1n)).toBe('Follower');
  });

  it('a leader with a live quorum stays', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], config: { checkQuorum: true } });
    c.stabilize();
    c.elect(1n);
    c.isolate(3n);
    for (let i = 0; i < 50; i++) {
      c.raw(1n).tick();
      c.stabilize();
    }
    expect(role(c, 1n)).toBe('Leader');
  });

  it('followers in lease ignore vote requests from a disruptive node', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], config: { checkQuorum: true } });
    c.stabilize();
    c.elect(1n);
    const t0 = term(c, 1n);
    c.isolate(3n);
    c.elect(3n);
    c.elect(3n);
    c.heal();
    c.elect(3n);
    expect(role(c, 1n)).toBe('Leader');
    expect(term(c, 1n)).toBe(t0);
    // The stale-term leader's appends make 3 answer, and the leader keeps going.
    c.raw(1n).propose(enc.encode('y'));
    c.stabilize();
    expect(c.appliedData(2n)).toEqual(['y']);
  });
});
