import { describe, expect, it } from 'vitest';
import { MemoryStorage, RawNode, RaftError, EntryType } from '../src/index';
import type { Entry } from '../src/index';
import { seededRandom } from '../src/testing/rng';

function ents(from: number, to: number, term = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++)
    out.push({ term, index: i, type: EntryType.Normal, data: new Uint8Array(10) });
  return out;
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof RaftError ? e.code : 'other';
  }
  return undefined;
}

describe('MemoryStorage', () => {
  it('appends, truncates conflicting suffixes and reports bounds', () => {
    const s = new MemoryStorage();
    s.append(ents(1, 5));
    expect([s.firstIndex(), s.lastIndex()]).toEqual([1, 5]);
    s.append(ents(4, 6, 2));
    expect(s.lastIndex()).toBe(6);
    expect([s.term(3), s.term(4), s.term(6)]).toEqual([1, 2, 2]);
    expect(code(() => s.term(7))).toBe('RAFT_UNAVAILABLE');
    expect(code(() => s.append(ents(9, 9)))).toBe('RAFT_INVARIANT');
  });

  it('limits entries by size but returns at least one', () => {
    const s = new MemoryStorage();
    s.append(ents(1, 5));
    expect(s.entries(1, 6, 0)).toHaveLength(1);
    expect(s.entries(1, 6, 52)).toHaveLength(2);
    expect(s.entries(1, 6)).toHaveLength(5);
  });

  it('compacts and snapshots', () => {
    const s = new MemoryStorage();
    s.append(ents(1, 5));
    const cs = {
      voters: [1n],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    const snap = s.createSnapshot(3, cs, new Uint8Array([7]));
    expect(snap.metadata).toEqual({ index: 3, term: 1, confState: cs });
    s.compact(3);
    expect([s.firstIndex(), s.lastIndex(), s.term(3)]).toEqual([4, 5, 1]);
    expect(code(() => s.entries(3, 5))).toBe('RAFT_COMPACTED');
    expect(code(() => s.term(2))).toBe('RAFT_COMPACTED');
    expect(code(() => s.compact(2))).toBe('RAFT_COMPACTED');
    expect(code(() => s.applySnapshot(snap))).toBe('RAFT_SNAP_OUT_OF_DATE');
    s.applySnapshot({ data: new Uint8Array(), metadata: { index: 10, term: 3, confState: cs } });
    expect([s.firstIndex(), s.lastIndex(), s.term(10)]).toEqual([11, 10, 3]);
  });
});

describe('configuration', () => {
  const base = () => ({
    id: 1n,
    electionTick: 10,
    heartbeatTick: 1,
    storage: new MemoryStorage(),
    random: seededRandom(1),
  });
  it('validates', () => {
    expect(code(() => new RawNode(base()))).toBeUndefined();
    expect(code(() => new RawNode({ ...base(), id: 0n }))).toBe('RAFT_CONFIG_INVALID');
    expect(code(() => new RawNode({ ...base(), heartbeatTick: 0 }))).toBe('RAFT_CONFIG_INVALID');
    expect(code(() => new RawNode({ ...base(), electionTick: 1 }))).toBe('RAFT_CONFIG_INVALID');
    expect(code(() => new RawNode({ ...base(), maxInflightMsgs: 0 }))).toBe('RAFT_CONFIG_INVALID');
    expect(code(() => new RawNode({ ...base(), maxInflightBytes: 10, maxSizePerMsg: 100 }))).toBe(
      'RAFT_CONFIG_INVALID',
    );
  });
  it('refuses to bootstrap twice and to step local messages', () => {
    const n = new RawNode(base());
    n.bootstrap([{ id: 1n }]);
    expect(code(() => n.bootstrap([{ id: 1n }]))).toBe('RAFT_CONFIG_INVALID');
    expect(
      code(() =>
        n.step({
          type: 0,
          to: 1n,
          from: 1n,
          term: 0,
          logTerm: 0,
          index: 0,
          entries: [],
          commit: 0,
          reject: false,
          rejectHint: 0,
          context: new Uint8Array(),
        }),
      ),
    ).toBe('RAFT_STEP_LOCAL_MSG');
  });
});
