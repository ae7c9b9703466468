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

  it("copies appended data: small entries share blocks, large ones get their own, callers' buffers are not kept", () => {
    const s = new MemoryStorage();
    // Views into one big buffer, as a network read or a pooled allocation hands out.
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
    const small = (index: number): Entry => ({
      term: 1,
      index,
      type: EntryType.Normal,
      data: big.subarray(index * 100, index * 100 + 100),
    });
    const large: Entry = {
      term: 1,
      index: 3,
      type: EntryType.Normal,
      data: Buffer.from(big.subarray(0, 20_000)),
    };
    const empty: Entry = { term: 1, index: 4, type: EntryType.Normal, data: new Uint8Array(0) };
    s.append([small(1), small(2), large, empty]);
    const [e1, e2, e3, e4] = s.entries(1, 5);
    expect(e1!.data).toEqual(big.subarray(100, 200));
    expect(e2!.data).toEqual(big.subarray(200, 300));
    expect(e1!.data.buffer).not.toBe(big.buffer);
    expect(e1!.data.buffer).toBe(e2!.data.buffer);
    expect(e1!.data.buffer.byteLength).toBeLessThan(big.length);
    expect(Array.from(e3!.data)).toEqual(Array.from(big.subarray(0, 20_000)));
    expect(e3!.data.buffer.byteLength).toBe(20_000);
    expect(e4!.data.length).toBe(0);
    // Later changes to the caller's bytes do not reach the log.
    big.fill(0);
    expect(e1!.data[0]).toBe(100 & 0xff);
    expect(e3!.data[1]).toBe(1);
    // A truncated suffix is rewritten with the new entries' data.
    s.append([{ ...small(2), term: 2, data: new Uint8Array([7, 7]) }]);
    expect(s.entries(2, 3)[0]!.data).toEqual(new Uint8Array([7, 7]));
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

describe('MemoryStorage against a model (an array of entries)', () => {
  it('agrees on entries, terms and bounds over random appends, truncations and compactions', () => {
    const rand = seededRandom(7);
    const pick = (n: number): number => Math.floor(rand() * n);
    const s = new MemoryStorage();
    // model[k] is entry base + 1 + k; base/baseTerm as the storage's first index - 1.
    let model: Entry[] = [];
    let base = 0;
    let baseTerm = 0;
    let term = 1;
    let dataSeq = 0;
    const makeData = (): Uint8Array => {
      // Mostly small, some empty, a few above the 16 KiB arena limit.
      const r = rand();
      const n = r < 0.1 ? 0 : r < 0.13 ? 16 * 1024 + pick(2000) : 1 + pick(300);
      const d = new Uint8Array(n);
      for (let i = 0; i < n; i++) d[i] = (dataSeq + i) & 0xff;
      dataSeq++;
      return d;
    };
    for (let step = 0; step < 3000; step++) {
      const op = rand();
      const last = base + model.length;
      if (op < 0.6) {
        // Append after a random point from the first index to the end (a conflict truncates).
        const from = base + 1 + pick(model.length + 1);
        if (rand() < 0.3) term++;
        const n = 1 + pick(40);
        const batch: Entry[] = [];
        for (let i = 0; i < n; i++) {
          batch.push({ term, index: from + i, type: pick(3) as EntryType, data: makeData() });
        }
        s.append(batch);
        model = model.slice(0, from - base - 1).concat(batch);
      } else if (op < 0.7 && model.length > 0) {
        const at = base + 1 + pick(model.length);
        const t = model[at - base - 1]!.term;
        s.compact(at);
        model = model.slice(at - base);
        base = at;
        baseTerm = t;
      } else if (op < 0.72) {
        const index = last + 1 + pick(50);
        const t = term + 1;
        term = t;
        s.applySnapshot({
          data: new Uint8Array(),
          metadata: { index, term: t, confState: s.initialState().confState },
        });
        model = [];
        base = index;
        baseTerm = t;
      } else if (model.length > 0) {
        const lo = base + 1 + pick(model.length);
        const hi = lo + 1 + pick(base + model.length + 1 - lo);
        const maxSize = rand() < 0.5 ? undefined : pick(20_000);
        const got = s.entries(lo, hi, maxSize);
        const want = model.slice(lo - base - 1, hi - base - 1);
        let n = 0;
        let size = 0;
        for (const e of want) {
          size += e.data.length + 16;
          if (n > 0 && maxSize !== undefined && size > maxSize) break;
          n++;
        }
        expect(got.map((e) => [e.index, e.term, e.type, Array.from(e.data)])).toEqual(
          want.slice(0, n).map((e) => [e.index, e.term, e.type, Array.from(e.data)]),
        );
      }
      expect([s.firstIndex(), s.lastIndex()]).toEqual([base + 1, base + model.length]);
      expect(s.term(base)).toBe(baseTerm);
      if (model.length > 0) {
        const k = pick(model.length);
        expect(s.term(base + 1 + k)).toBe(model[k]!.term);
      }
      expect(code(() => s.term(base + model.length + 1))).toBe('RAFT_UNAVAILABLE');
      if (base > 0) expect(code(() => s.term(base - 1))).toBe('RAFT_COMPACTED');
    }
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
