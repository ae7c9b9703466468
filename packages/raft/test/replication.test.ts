import { describe, expect, it } from 'vitest';
import type { Message, RaftError } from '../src/index';
import { MessageType } from '../src/index';
import { Cluster } from '../src/testing/cluster';

const enc = new TextEncoder();

function commit(c: Cluster, id: bigint): number {
  return c.raw(id).basicStatus().hardState.commit;
}

/** Records every message delivered through the cluster queue. */
function tap(c: Cluster): Message[] {
  const seen: Message[] = [];
  c.dropFilters.push((m) => {
    seen.push(m);
    return false;
  });
  return seen;
}

describe('log replication', () => {
  it('replicates proposals in order to every node', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    c.elect(1n);
    for (let i = 0; i < 20; i++) c.raw(1n).propose(enc.encode(`v${i}`));
    c.stabilize();
    const want = Array.from({ length: 20 }, (_, i) => `v${i}`);
    for (const id of [1n, 2n, 3n]) expect(c.appliedData(id)).toEqual(want);
  });

  it('forwards proposals from followers to the leader', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    c.elect(1n);
    c.raw(3n).propose(enc.encode('fwd'));
    c.stabilize();
    expect(c.appliedData(1n)).toEqual(['fwd']);
  });

  it('refuses follower proposals when forwarding is disabled', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], config: { disableProposalForwarding: true } });
    c.stabilize();
    c.elect(1n);
    expect(() => c.raw(3n).propose(enc.encode('x'))).toThrow(/RAFT_PROPOSAL_DROPPED/);
  });

  it('commits only with a quorum', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    c.elect(1n);
    const before = commit(c, 1n);
    c.isolate(1n);
    c.raw(1n).propose(enc.encode('lonely'));
    c.stabilize();
    expect(commit(c, 1n)).toBe(before);
    c.heal();
    c.raw(1n).tick();
    c.stabilize();
    expect(commit(c, 1n)).toBe(before + 1);
  });

  it('overwrites a divergent follower log, with few rejections thanks to hints', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    c.elect(1n);
    c.isolate(1n);
    for (let i = 0; i < 50; i++) c.raw(1n).propose(enc.encode(`old${i}`));
    c.stabilize();
    c.heal();
    c.partition([1n]);
    c.elect(2n);
    for (let i = 0; i < 50; i++) c.raw(2n).propose(enc.encode(`new${i}`));
    c.stabilize();
    // A fresh leader optimistically probes 1 at its own last index.
    c.elect(3n);
    c.heal();
    const seen = tap(c);
    c.raw(3n).tick();
    c.stabilize();
    const rejections = seen.filter(
      (m) => m.type === MessageType.MsgAppResp && m.reject && m.from === 1n,
    );
    expect(rejections.length).toBeGreaterThan(0);
    expect(rejections.length).toBeLessThanOrEqual(2);
    const want = Array.from({ length: 50 }, (_, i) => `new${i}`);
    for (const id of [1n, 2n, 3n]) expect(c.appliedData(id)).toEqual(want);
  });

  it('splits appends by maxSizePerMsg', () => {
    const c = new Cluster({ ids: [1n, 2n], config: { maxSizePerMsg: 200 } });
    c.stabilize();
    c.elect(1n);
    c.isolate(2n);
    for (let i = 0; i < 10; i++) c.raw(1n).propose(new Uint8Array(64));
    c.stabilize();
    c.heal();
    const seen = tap(c);
    c.raw(1n).tick();
    c.stabilize();
    const apps = seen.filter((m) => m.type === MessageType.MsgApp && m.entries.length > 0);
    expect(apps.length).toBeGreaterThan(3);
    for (const m of apps) {
      const size = m.entries.reduce((s, e) => s + e.data.length + 16, 0);
      expect(m.entries.length === 1 || size <= 200).toBe(true);
    }
    expect(c.node(2n).applied.filter((e) => e.data.length === 64)).toHaveLength(10);
  });

  it('bounds in-flight appends per follower and recovers when acks were lost', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], config: { maxInflightMsgs: 2 } });
    c.stabilize();
    c.elect(1n);
    const seen = tap(c);
    c.dropFilters.push((m) => m.type === MessageType.MsgAppResp && m.from === 2n);
    for (let i = 0; i < 10; i++) {
      c.raw(1n).propose(enc.encode(`e${i}`));
      c.stabilize();
    }
    const to2 = seen.filter(
      (m) => m.type === MessageType.MsgApp && m.to === 2n && m.entries.length > 0,
    );
    expect(to2).toHaveLength(2);
    const pr = c.raw(1n).status().progress.get(2n)!;
    expect(pr.state).toBe('replicate');
    expect(pr.inflightCount).toBe(2);
    expect(pr.paused).toBe(true);
    c.heal();
    c.raw(1n).tick();
    c.stabilize();
    expect(c.appliedData(2n)).toHaveLength(10);
    expect(c.raw(1n).status().progress.get(2n)!.match).toBe(
      c.raw(1n).status().progress.get(1n)!.match,
    );
  });

  it('bounds in-flight bytes per follower', () => {
    const c = new Cluster({
      ids: [1n, 2n],
      config: { maxInflightBytes: 1000, maxSizePerMsg: 300 },
    });
    c.stabilize();
    c.elect(1n);
    c.dropFilters.push((m) => m.type === MessageType.MsgAppResp && m.from === 2n);
    for (let i = 0; i < 20; i++) {
      c.raw(1n).propose(new Uint8Array(100));
      c.stabilize();
    }
    const pr = c.raw(1n).status().progress.get(2n)!;
    expect(pr.inflightBytes).toBeGreaterThanOrEqual(1000);
    expect(pr.inflightBytes).toBeLessThan(1100);
    expect(pr.paused).toBe(true);
  });

  it('refuses proposals beyond maxUncommittedEntriesSize', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], config: { maxUncommittedEntriesSize: 10 } });
    c.stabilize();
    c.elect(1n);
    c.isolate(1n);
    c.raw(1n).propose(new Uint8Array(5));
    c.raw(1n).propose(new Uint8Array(5));
    let err: unknown;
    try {
      c.raw(1n).propose(new Uint8Array(5));
    } catch (e) {
      err = e;
    }
    expect((err as RaftError).code).toBe('RAFT_PROPOSAL_DROPPED');
    c.heal();
    c.raw(1n).tick();
    c.stabilize();
    // Once committed and applied, the budget is released.
    c.raw(1n).propose(new Uint8Array(5));
    c.stabilize();
    expect(c.node(3n).applied.filter((e) => e.data.length === 5)).toHaveLength(3);
  });
});

describe('commitment rule (figure 8)', () => {
  it('does not commit an old-term entry by counting replicas', () => {
    // One entry per message so the test can choose which entries arrive.
    const c = new Cluster({ ids: [1n, 2n, 3n, 4n, 5n], config: { maxSizePerMsg: 1 } });
    c.stabilize();
    c.elect(1n); // term 2
    const base = commit(c, 1n);
    // (a) 1 replicates "a" (term 2) to 2 only.
    c.partition([1n, 2n]);
    c.raw(1n).propose(enc.encode('a'));
    c.stabilize();
    c.heal();
    // (b) 5 becomes leader at term 3 with 3, 4; its entry stays local.
    c.partition([3n, 4n, 5n]);
    c.dropFilters.push((m) => m.from === 5n && m.type === MessageType.MsgApp);
    c.elect(5n);
    expect(c.raw(5n).basicStatus().softState.role).toBe('Leader');
    c.heal();
    // (c) 1 becomes leader at term 4 with 2, 3 and replicates "a" to 3,
    // but the term-4 entry does not arrive anywhere.
    c.partition([1n, 2n, 3n]);
    const wouldAccept = (m: Message): boolean => {
      const st = c.node(m.to).storage;
      return m.index <= st.lastIndex() && st.term(m.index) === m.logTerm;
    };
    c.dropFilters.push(
      (m) => m.type === MessageType.MsgApp && m.entries.some((e) => e.term === 4) && wouldAccept(m),
    );
    c.restart(1n); // 1 crashes and comes back (its log is durable)
    c.elect(1n); // term 3: 3 already voted for 5 in term 3
    c.elect(1n); // term 4: 2 and 3 grant
    expect(c.raw(1n).basicStatus().hardState.term).toBe(4);
    for (let i = 0; i < 5; i++) {
      c.raw(1n).tick();
      c.stabilize();
    }
    const st = c.raw(1n).status();
    expect(st.progress.get(3n)!.match).toBe(base + 1);
    // "a" is on a majority (1, 2, 3) but from term 2: not committed.
    expect(commit(c, 1n)).toBe(base);
    // (d) 5 can still win (its last term 3 beats term 2) and overwrite "a".
    c.heal();
    c.partition([2n, 3n, 4n, 5n]);
    c.restart(5n); // 5 had crashed meanwhile
    c.elect(5n); // term 4: 2 and 3 already voted for 1
    c.elect(5n); // term 5: 2, 3, 4 grant
    expect(c.raw(5n).basicStatus().softState.role).toBe('Leader');
    expect(c.raw(5n).basicStatus().hardState.term).toBe(5);
    c.raw(5n).propose(enc.encode('b'));
    c.stabilize();
    c.heal();
    c.raw(5n).tick();
    c.stabilize();
    for (const id of [1n, 2n, 3n, 4n, 5n])
      expect([id, c.appliedData(id), c.raw(id).basicStatus().softState]).toEqual([
        id,
        ['b'],
        { lead: 5n, role: id === 5n ? 'Leader' : 'Follower' },
      ]);
  });

  it('commits the old entry once an entry of the current term is on a majority', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n, 4n, 5n], config: { maxSizePerMsg: 1 } });
    c.stabilize();
    c.elect(1n);
    c.partition([1n, 2n]);
    c.raw(1n).propose(enc.encode('a'));
    c.stabilize();
    c.heal();
    c.partition([2n, 3n, 4n]);
    c.elect(2n);
    // 2's term-3 empty entry reaches 3 and 4, committing "a" with it.
    expect(c.raw(2n).basicStatus().softState.role).toBe('Leader');
    expect(c.appliedData(2n)).toEqual(['a']);
    expect(c.appliedData(4n)).toEqual(['a']);
  });
});
