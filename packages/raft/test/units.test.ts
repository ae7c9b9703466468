import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jointCommittedIndex, jointVoteResult } from '../src/quorum/joint';
import { majorityCommittedIndex, majorityVoteResult } from '../src/quorum/majority';
import { Inflights } from '../src/tracker/inflights';
import { Progress } from '../src/tracker/progress';
import { Cluster } from '../src/testing/cluster';
import { MessageType, mustPersistBeforeSend } from '../src/index';

const voterSet = fc
  .uniqueArray(fc.bigInt({ min: 1n, max: 9n }), { maxLength: 7 })
  .map((a) => new Set(a));

describe('quorum', () => {
  it('the committed index is the largest index acked by a majority (brute force)', () => {
    fc.assert(
      fc.property(
        voterSet,
        fc.array(fc.nat(20), { minLength: 9, maxLength: 9 }),
        (voters, acks) => {
          const acked = (id: bigint): number => acks[Number(id) - 1]!;
          const got = majorityCommittedIndex(voters, acked);
          if (voters.size === 0) {
            expect(got).toBe(Infinity);
            return;
          }
          let want = 0;
          for (let i = 0; i <= 20; i++) {
            const n = [...voters].filter((id) => acked(id) >= i).length;
            if (n > voters.size / 2) want = i;
          }
          expect(got).toBe(want);
        },
      ),
    );
  });

  it('a joint config needs both majorities', () => {
    fc.assert(
      fc.property(
        voterSet,
        voterSet,
        fc.array(fc.nat(20), { minLength: 9, maxLength: 9 }),
        (a, b, acks) => {
          const acked = (id: bigint): number => acks[Number(id) - 1]!;
          expect(jointCommittedIndex({ incoming: a, outgoing: b }, acked)).toBe(
            Math.min(majorityCommittedIndex(a, acked), majorityCommittedIndex(b, acked)),
          );
        },
      ),
    );
  });

  it('vote results: won, lost, pending', () => {
    const v = new Set([1n, 2n, 3n]);
    expect(majorityVoteResult(v, new Map([[1n, true]]))).toBe('pending');
    expect(
      majorityVoteResult(
        v,
        new Map([
          [1n, true],
          [2n, true],
        ]),
      ),
    ).toBe('won');
    expect(
      majorityVoteResult(
        v,
        new Map([
          [1n, false],
          [2n, false],
        ]),
      ),
    ).toBe('lost');
    const j = { incoming: v, outgoing: new Set([4n, 5n, 6n]) };
    expect(
      jointVoteResult(
        j,
        new Map([
          [1n, true],
          [2n, true],
        ]),
      ),
    ).toBe('pending');
    expect(
      jointVoteResult(
        j,
        new Map([
          [1n, true],
          [2n, true],
          [4n, false],
          [5n, false],
        ]),
      ),
    ).toBe('lost');
    expect(
      jointVoteResult(
        j,
        new Map([
          [1n, true],
          [2n, true],
          [4n, true],
          [5n, true],
        ]),
      ),
    ).toBe('won');
  });
});

describe('inflights and progress', () => {
  it('bounds by count and bytes and frees in order', () => {
    const inf = new Inflights(3, 100);
    inf.add(1, 10);
    inf.add(2, 10);
    expect(inf.full()).toBe(false);
    inf.add(3, 10);
    expect(inf.full()).toBe(true);
    inf.freeLE(2);
    expect([inf.count, inf.bytes, inf.full()]).toEqual([1, 10, false]);
    inf.add(4, 95);
    expect(inf.full()).toBe(true); // by bytes
    inf.freeLE(10);
    expect([inf.count, inf.bytes]).toEqual([0, 0]);
  });

  it('wraps around its ring buffer', () => {
    const inf = new Inflights(4, 0);
    for (let i = 1; i <= 40; i++) {
      inf.add(i, 1);
      if (i % 3 === 0) inf.freeLE(i - 1);
      expect(inf.count).toBeLessThanOrEqual(4);
      if (inf.full()) inf.freeLE(i);
    }
  });

  it('probe sends one append at a time; replicate streams; rejections back off', () => {
    const pr = new Progress(6, new Inflights(2, 0), false, true);
    pr.sentEntries(3, 30);
    expect(pr.isPaused()).toBe(true);
    expect(pr.maybeDecrTo(5, 2)).toBe(true); // reject of next-1 with hint 2
    expect(pr.next).toBe(3);
    expect(pr.maybeUpdate(4)).toBe(true);
    pr.becomeReplicate();
    expect(pr.next).toBe(5);
    pr.sentEntries(2, 20);
    pr.sentEntries(2, 20);
    expect([pr.next, pr.isPaused()]).toEqual([9, true]);
    expect(pr.maybeDecrTo(3, 0)).toBe(false); // stale: below match
    expect(pr.maybeDecrTo(8, 5)).toBe(true);
    expect(pr.next).toBe(5);
  });
});

describe('Ready contract', () => {
  it('responses must wait for persistence; the leader may send appends early', () => {
    expect(mustPersistBeforeSend({ type: MessageType.MsgAppResp } as never)).toBe(true);
    expect(mustPersistBeforeSend({ type: MessageType.MsgVoteResp } as never)).toBe(true);
    expect(mustPersistBeforeSend({ type: MessageType.MsgApp } as never)).toBe(false);
    expect(mustPersistBeforeSend({ type: MessageType.MsgHeartbeat } as never)).toBe(false);
  });

  it('mustSync is set for new entries or a new term or vote, not for commit alone', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    c.raw(1n).campaign();
    const vote = c.handleReady(1n)!;
    expect(vote.hardState).toMatchObject({ term: 2, vote: 1n });
    expect(vote.mustSync).toBe(true);
    c.stabilize();
    c.raw(1n).propose(new TextEncoder().encode('x'));
    const rd = c.handleReady(1n)!;
    expect(rd.entries).toHaveLength(1);
    expect(rd.mustSync).toBe(true);
    c.deliver();
    const f = c.handleReady(2n)!;
    expect(f.entries).toHaveLength(1);
    expect(f.mustSync).toBe(true);
    c.deliver();
    c.handleReady(1n); // leader commits, tells followers
    c.deliver();
    const commitOnly = c.handleReady(2n)!;
    expect(commitOnly.entries).toEqual([]);
    expect(commitOnly.hardState?.commit).toBe(f.entries[0]!.index);
    expect(commitOnly.mustSync).toBe(false);
  });

  it('a leader does not count its own entry before advance (persistence)', () => {
    const c = new Cluster({ ids: [1n] });
    c.elect(1n);
    const n = c.node(1n);
    const before = n.rawNode.basicStatus().hardState.commit;
    n.rawNode.propose(new TextEncoder().encode('x'));
    const rd = n.rawNode.ready();
    expect(rd.committedEntries).toEqual([]);
    n.storage.append(rd.entries);
    expect(n.rawNode.basicStatus().hardState.commit).toBe(before);
    n.rawNode.advance(rd);
    expect(n.rawNode.basicStatus().hardState.commit).toBe(before + 1);
  });
});
