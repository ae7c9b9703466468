import { describe, expect, it } from 'vitest';
import { dec, enc, show } from '../test/helpers';
import { MemoryBackend } from './memory-backend';
import { decodeKeyValue } from './key-value';
import { decodeRevision, decodeUint64, encodeRevision } from './revision';
import { MvccError } from './errors';
import { MvccStore } from './store';
import { EventType } from './types';
import { ReadGate } from './testing/read-gate';

const ALL = new Uint8Array([0]);

async function put(s: MvccStore, k: string, v: string, lease = 0n): Promise<number> {
  const t = s.write();
  t.put(enc(k), enc(v), lease);
  t.end();
  return s.currentRevision();
}

async function del(s: MvccStore, k: string, end?: string): Promise<number> {
  const t = s.write();
  const n = t.deleteRange(enc(k), end === undefined ? undefined : enc(end));
  t.end();
  return n;
}

async function get(s: MvccStore, k: string, end?: Uint8Array, rev = 0): Promise<string[]> {
  const r = await s.range(enc(k), end, { revision: rev });
  return r.kvs.map(show);
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof MvccError ? e.code : String(e);
  }
  return undefined;
}

async function codeAsync(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return e instanceof MvccError ? e.code : String(e);
  }
  return undefined;
}

describe('MvccStore reads and writes', () => {
  it('maintains create/mod revisions and versions as etcd does', async () => {
    const s = await MvccStore.open(new MemoryBackend());
    // etcd's numbering: an empty store is at revision 1, the first write creates 2.
    expect(s.currentRevision()).toBe(1);
    expect(await put(s, 'a', '1')).toBe(2);
    expect(await put(s, 'a', '2')).toBe(3);
    expect(await put(s, 'b', '1')).toBe(4);
    expect(await get(s, 'a', ALL)).toEqual(['a=2 c2 m3 v2', 'b=1 c4 m4 v1']);
    expect(await del(s, 'a')).toBe(1);
    expect(s.currentRevision()).toBe(5);
    expect(await del(s, 'a')).toBe(0);
    expect(s.currentRevision()).toBe(5); // a delete of nothing creates no revision
    await put(s, 'a', '3');
    expect(await get(s, 'a')).toEqual(['a=3 c6 m6 v1']);
    expect(await get(s, 'a', undefined, 3)).toEqual(['a=2 c2 m3 v2']);
    expect(await get(s, 'a', undefined, 5)).toEqual([]);
    expect(await get(s, 'a', ALL, 2)).toEqual(['a=1 c2 m2 v1']);
    expect(await get(s, 'a', ALL, 1)).toEqual([]);
  });

  it('starts empty at revision 1 as etcd: reads, compaction and reopen there', async () => {
    const b = new MemoryBackend();
    const s = await MvccStore.open(b);
    expect(s.currentRevision()).toBe(1);
    expect(s.compactedRevision()).toBe(0);
    expect(await s.range(enc('a'), ALL, { revision: 1 })).toEqual({
      kvs: [],
      count: 0,
      revision: 1,
    });
    expect(await s.range(enc('a'), ALL)).toEqual({ kvs: [], count: 0, revision: 1 });
    expect(await codeAsync(s.range(enc('a'), ALL, { revision: 2 }))).toBe('MVCC_FUTURE_REV');
    expect((await s.hashKV(0)).revision).toBe(1);
    // A transaction that changes nothing creates no revision.
    const none = s.write();
    expect(none.revision).toBe(2);
    expect(none.end()).toEqual([]);
    expect(s.currentRevision()).toBe(1);
    // Reopened with no writes: still 1.
    const fresh = await MvccStore.open(b);
    expect(fresh.currentRevision()).toBe(1);
    expect(fresh.compactedRevision()).toBe(0);
    await fresh.close();
    // Compacting at the current revision is allowed, as etcd (compactMainRev starts below 1).
    expect(code(() => s.compact(2))).toBe('MVCC_FUTURE_REV');
    await s.compact(1);
    expect(s.compactedRevision()).toBe(1);
    expect(code(() => s.compact(1))).toBe('MVCC_COMPACTED');
    expect(await get(s, 'a', ALL, 1)).toEqual([]);
    const s2 = await MvccStore.open(b);
    expect(s2.currentRevision()).toBe(1);
    expect(s2.compactedRevision()).toBe(1);
    const t = s2.write();
    expect(t.revision).toBe(2);
    t.put(enc('a'), enc('1'), 0n);
    expect(t.end().map((e) => e.kv.modRevision)).toEqual([2]);
    expect(await get(s2, 'a')).toEqual(['a=1 c2 m2 v1']);
    expect(await get(s2, 'a', ALL, 1)).toEqual([]);
  });

  it('applies etcd rangeEnd semantics, limit, count, countOnly and keysOnly', async () => {
    const s = await MvccStore.open(new MemoryBackend());
    for (const k of ['a', 'ab', 'abc', 'b', 'c']) await put(s, k, `v${k}`);
    const keys = async (k: string, end: Uint8Array | undefined): Promise<string[]> =>
      (await s.range(enc(k), end)).kvs.map((kv) => dec(kv.key));
    expect(await keys('ab', undefined)).toEqual(['ab']);
    expect(await keys('ab', new Uint8Array())).toEqual(['ab']);
    expect(await keys('ab', ALL)).toEqual(['ab', 'abc', 'b', 'c']);
    expect(await keys('a', enc('b'))).toEqual(['a', 'ab', 'abc']);
    expect(await keys('b', enc('a'))).toEqual([]);
    const lim = await s.range(enc('a'), ALL, { limit: 2 });
    expect(lim.kvs.map((kv) => dec(kv.key))).toEqual(['a', 'ab']);
    expect(lim.count).toBe(5);
    expect(lim.revision).toBe(6);
    const cnt = await s.range(enc('a'), enc('b'), { countOnly: true });
    expect(cnt).toEqual({ kvs: [], count: 3, revision: 6 });
    const ko = await s.range(enc('b'), undefined, { keysOnly: true });
    expect(ko.kvs[0]?.value.length).toBe(0);
    expect(ko.kvs[0]?.modRevision).toBe(5);
  });

  it('rejects future and compacted revisions with etcd meanings', async () => {
    const s = await MvccStore.open(new MemoryBackend());
    for (let i = 0; i < 5; i++) await put(s, 'k', `${i}`);
    expect(await codeAsync(s.range(enc('k'), undefined, { revision: 7 }))).toBe('MVCC_FUTURE_REV');
    await s.compact(4);
    expect(await codeAsync(s.range(enc('k'), undefined, { revision: 3 }))).toBe('MVCC_COMPACTED');
    expect(await get(s, 'k', undefined, 4)).toEqual(['k=2 c2 m4 v3']);
    expect(code(() => s.compact(4))).toBe('MVCC_COMPACTED');
    expect(code(() => s.compact(3))).toBe('MVCC_COMPACTED');
    expect(code(() => s.compact(7))).toBe('MVCC_FUTURE_REV');
    const err = await s.range(enc('k'), undefined, { revision: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MvccError);
    expect((err as MvccError).compactRevision).toBe(4);
    expect((err as MvccError).message).toBe('mvcc: required revision has been compacted');
  });

  it('runs several operations under one revision with increasing sub revisions', async () => {
    const b = new MemoryBackend();
    const s = await MvccStore.open(b);
    await put(s, 'x', '0');
    const t = s.write();
    expect(t.revision).toBe(3);
    expect(code(() => s.write())).toBe('MVCC_TXN_OPEN');
    t.put(enc('a'), enc('1'), 0n);
    t.put(enc('a'), enc('2'), 0n);
    expect(t.deleteRange(enc('x'), undefined)).toBe(1);
    // The transaction sees its own writes; others do not yet.
    expect((await t.range(enc('a'), undefined)).kvs.map(show)).toEqual(['a=2 c3 m3 v2']);
    expect(await get(s, 'a')).toEqual([]);
    // Nothing reaches the backend before end(): a commit now cannot persist half a txn.
    expect(await b.range('key', encodeRevision(3, 0), undefined)).toEqual([]);
    const events = t.end();
    expect(events.map((e) => [e.type, dec(e.kv.key), e.kv.modRevision])).toEqual([
      [EventType.Put, 'a', 3],
      [EventType.Put, 'a', 3],
      [EventType.Delete, 'x', 3],
    ]);
    expect(s.currentRevision()).toBe(3);
    const stored = await b.range('key', encodeRevision(3, 0), encodeRevision(4, 0));
    expect(stored.map((e) => decodeRevision(e.key))).toEqual([
      { main: 3, sub: 0, tombstone: false },
      { main: 3, sub: 1, tombstone: false },
      { main: 3, sub: 2, tombstone: true },
    ]);
    // The tombstone's value is a KeyValue holding just the key.
    expect(decodeKeyValue(stored[2]!.value)).toEqual({
      key: enc('x'),
      createRevision: 0,
      modRevision: 0,
      version: 0,
      value: new Uint8Array(),
      lease: 0n,
    });
    expect(code(() => t.put(enc('z'), enc('z'), 0n))).toBe('MVCC_CLOSED');
    const empty = s.write();
    expect(empty.end()).toEqual([]);
    expect(s.currentRevision()).toBe(3);
  });

  it('tracks keys per lease through puts, overwrites and deletes', async () => {
    const s = await MvccStore.open(new MemoryBackend());
    await put(s, 'a', '1', 7n);
    await put(s, 'b', '1', 7n);
    await put(s, 'c', '1', 8n);
    await put(s, 'b', '2', 8n);
    expect(s.keysWithLease(7n).map(dec)).toEqual(['a']);
    expect(s.keysWithLease(8n).map(dec)).toEqual(['b', 'c']);
    await del(s, 'c');
    await put(s, 'a', '2');
    expect(s.keysWithLease(7n)).toEqual([]);
    expect(s.keysWithLease(8n).map(dec)).toEqual(['b']);
    expect((await s.range(enc('b'), undefined)).kvs[0]?.lease).toBe(8n);
  });
});

describe('compaction and restore', () => {
  it('removes old versions from index and backend but keeps what reads at or after the point need', async () => {
    const b = new MemoryBackend();
    const s = await MvccStore.open(b, { compactionBatchLimit: 2 });
    await put(s, 'a', '1'); // 2
    await put(s, 'a', '2'); // 3
    await put(s, 'b', '1'); // 4
    await del(s, 'b'); // 5
    await put(s, 'c', '1'); // 6
    await del(s, 'c'); // 7
    await put(s, 'a', '3'); // 8
    await s.compact(7);
    const revs = (await b.range('key', new Uint8Array([0]), undefined)).map((e) => {
      const r = decodeRevision(e.key);
      return `${r.main}${r.tombstone ? 't' : ''}`;
    });
    // a@3 is the newest of 'a' at 7; b is gone; c's tombstone at exactly 7 stays for watchers.
    expect(revs).toEqual(['3', '7t', '8']);
    expect(await get(s, 'a', ALL, 7)).toEqual(['a=2 c2 m3 v2']);
    expect(await get(s, 'a', ALL)).toEqual(['a=3 c2 m8 v3']);
    expect(decodeUint64((await b.get('meta', enc('finishedCompactRev')))!)).toBe(7);
    expect(decodeUint64((await b.get('meta', enc('scheduledCompactRev')))!)).toBe(7);
    // Restore sees the same state.
    const s2 = await MvccStore.open(b);
    expect(s2.currentRevision()).toBe(8);
    expect(s2.compactedRevision()).toBe(7);
    expect(await get(s2, 'a', ALL, 7)).toEqual(['a=2 c2 m3 v2']);
    expect(await get(s2, 'a', ALL)).toEqual(['a=3 c2 m8 v3']);
    await put(s2, 'c', 'x');
    expect(await get(s2, 'c')).toEqual(['c=x c9 m9 v1']);
    await s2.compact(9);
    const after = (await b.range('key', new Uint8Array([0]), undefined)).length;
    expect(after).toBe(2); // a@8 and c@9
  });

  it('keeps the current revision when everything is compacted and deleted', async () => {
    const b = new MemoryBackend();
    const s = await MvccStore.open(b);
    await put(s, 'a', '1');
    await del(s, 'a');
    await put(s, 'b', '1');
    await del(s, 'b');
    await s.compact(5);
    expect(code(() => s.compact(5))).toBe('MVCC_COMPACTED');
    const s2 = await MvccStore.open(b);
    expect(s2.currentRevision()).toBe(5);
    expect(s2.compactedRevision()).toBe(5);
    expect(await put(s2, 'z', '1')).toBe(6);
  });

  it('finishes an interrupted compaction on open', async () => {
    const b = new MemoryBackend();
    const s = await MvccStore.open(b);
    for (let i = 0; i < 10; i++) await put(s, `k${i % 3}`, `${i}`);
    // A crash right after scheduling: the marker is there, nothing deleted.
    b.put('meta', enc('scheduledCompactRev'), new Uint8Array([0, 0, 0, 0, 0, 0, 0, 9]));
    expect((await b.range('key', new Uint8Array([0]), undefined)).length).toBe(10);
    const s2 = await MvccStore.open(b);
    expect(s2.compactedRevision()).toBe(9);
    expect(decodeUint64((await b.get('meta', enc('finishedCompactRev')))!)).toBe(9);
    // Kept: newest of each key at or below 9: k0@8, k1@9, k2@7; plus 10 and 11.
    const left = (await b.range('key', new Uint8Array([0]), undefined)).map(
      (e) => decodeRevision(e.key).main,
    );
    expect(left).toEqual([7, 8, 9, 10, 11]);
    expect(await get(s2, 'k', ALL, 9)).toEqual(['k0=6 c2 m8 v3', 'k1=7 c3 m9 v3', 'k2=5 c4 m7 v2']);
  });

  it('finishes a compaction that failed half-way through its backend deletions', async () => {
    // Reads of the 'key' bucket fail after a number of calls: the "crash".
    class FlakyBackend extends MemoryBackend {
      rangesLeft = Infinity;
      override range(
        ...args: Parameters<MemoryBackend['range']>
      ): ReturnType<MemoryBackend['range']> {
        if (args[0] === 'key' && this.rangesLeft-- <= 0) return Promise.reject(new Error('crash'));
        return super.range(...args);
      }
    }
    const b = new FlakyBackend();
    const s = await MvccStore.open(b, { compactionBatchLimit: 3 });
    for (let i = 0; i < 30; i++) await put(s, `k${i % 5}`, `${i}`);
    const total = (await b.range('key', new Uint8Array([0]), undefined)).length;
    b.rangesLeft = 2;
    await expect(s.compact(26)).rejects.toThrow('crash');
    b.rangesLeft = Infinity;
    const partial = (await b.range('key', new Uint8Array([0]), undefined)).length;
    expect(partial).toBeLessThan(total); // some batches went through
    expect(partial).toBeGreaterThan(10); // but not all
    const s2 = await MvccStore.open(b, { compactionBatchLimit: 3 });
    expect(s2.compactedRevision()).toBe(26);
    // Newest of each key at or below 26 (k0@22..k4@26), plus 27..31.
    const left = (await b.range('key', new Uint8Array([0]), undefined)).map(
      (e) => decodeRevision(e.key).main,
    );
    expect(left).toEqual([22, 23, 24, 25, 26, 27, 28, 29, 30, 31]);
    expect(await get(s2, 'k0', undefined, 26)).toEqual(['k0=20 c2 m22 v5']);
  });

  it('restores leases, versions and create revisions', async () => {
    const b = new MemoryBackend();
    const s = await MvccStore.open(b);
    await put(s, 'a', '1', 5n);
    await put(s, 'a', '2', 5n);
    await put(s, 'b', '1', 6n);
    await del(s, 'b');
    await s.compact(4);
    const s2 = await MvccStore.open(b);
    expect(s2.keysWithLease(5n).map(dec)).toEqual(['a']);
    expect(s2.keysWithLease(6n)).toEqual([]);
    const t = s2.write();
    t.put(enc('a'), enc('3'), 0n);
    t.end();
    expect(await get(s2, 'a')).toEqual(['a=3 c2 m6 v3']);
    expect(s2.keysWithLease(5n)).toEqual([]);
  });

  it('never deletes values a read in flight still needs', async () => {
    const gate = new ReadGate();
    const b = new MemoryBackend({ beforeRead: gate.beforeRead });
    const s = await MvccStore.open(b, { compactionBatchLimit: 1 });
    for (let i = 1; i <= 6; i++) await put(s, `k${i % 2}`, `${i}`);
    gate.close();
    const arrived = gate.arrived();
    const read = s.range(enc('k'), ALL, { revision: 3 });
    await arrived;
    const compaction = s.compact(6);
    // New reads below the point fail at once; the old one is still waiting.
    expect(await codeAsync(s.range(enc('k'), ALL, { revision: 3 }))).toBe('MVCC_COMPACTED');
    let compacted = false;
    void compaction.then(() => (compacted = true));
    // The compaction's own backend reads pass the gate only when opened; the
    // read at 3 is first in line and must see the old values.
    gate.open();
    expect((await read).kvs.map(show)).toEqual(['k0=2 c3 m3 v1', 'k1=1 c2 m2 v1']);
    await compaction;
    expect(compacted).toBe(true);
    expect(await get(s, 'k', ALL, 6)).toEqual(['k0=4 c3 m5 v2', 'k1=5 c2 m6 v3']);
  });
});

describe('hashKV', () => {
  it('agrees between a store that compacted physically and one that did not', async () => {
    // b2 never deletes: as if its physical compaction had not run yet.
    class LazyBackend extends MemoryBackend {
      override delete(): void {}
    }
    const b1 = new MemoryBackend();
    const b2 = new LazyBackend();
    const s1 = await MvccStore.open(b1);
    const s2 = await MvccStore.open(b2);
    for (const s of [s1, s2]) {
      for (let i = 0; i < 20; i++) {
        await put(s, `k${i % 4}`, `${i}`);
        if (i % 7 === 6) await del(s, `k${i % 4}`);
      }
    }
    const before = await s1.hashKV(0);
    expect(before).toEqual(await s2.hashKV(0));
    await s1.compact(16);
    await s2.compact(16);
    expect((await b2.range('key', new Uint8Array([0]), undefined)).length).toBeGreaterThan(
      (await b1.range('key', new Uint8Array([0]), undefined)).length,
    );
    const h1 = await s1.hashKV(0);
    expect(h1).toEqual(await s2.hashKV(0));
    expect(h1.compactRevision).toBe(16);
    expect(h1.hash).not.toBe(before.hash);
    expect((await s1.hashKV(s1.currentRevision())).hash).toBe(h1.hash);
    expect((await s1.hashKV(19)).hash).not.toBe(h1.hash);
    expect((await s1.hashKV(19)).hash).toBe((await s2.hashKV(19)).hash);
    await put(s1, 'x', 'y');
    expect((await s1.hashKV(h1.revision)).hash).toBe(h1.hash);
    expect(await codeAsync(s1.hashKV(15))).toBe('MVCC_COMPACTED');
  });
});

describe('MvccStore.rangeEncoded', () => {
  it('returns the stored encodings of exactly what range returns', async () => {
    const s = await MvccStore.open(new MemoryBackend());
    for (let i = 0; i < 20; i++) await put(s, `k${i % 7}`, `v${i}`, BigInt(i % 3));
    await del(s, 'k3');
    await put(s, 'k3', 'again');
    const mid = s.currentRevision() - 5;
    await s.compact(3);
    const cases: [string, Uint8Array | undefined, { revision?: number; limit?: number }][] = [
      ['k', ALL, {}],
      ['k1', enc('k5'), { limit: 2 }],
      ['k3', undefined, {}],
      ['k3', undefined, { revision: mid }],
      ['missing', undefined, {}],
      ['k', ALL, { revision: mid, limit: 3 }],
    ];
    for (const [k, end, opts] of cases) {
      const plain = await s.range(enc(k), end, opts);
      const raw = await s.rangeEncoded(enc(k), end, opts);
      expect(raw.count, k).toBe(plain.count);
      expect(raw.revision, k).toBe(plain.revision);
      expect(
        raw.values.map((v) => show(decodeKeyValue(v))),
        k,
      ).toEqual(plain.kvs.map(show));
    }
    expect(await codeAsync(s.rangeEncoded(enc('k'), ALL, { revision: 2 }))).toBe('MVCC_COMPACTED');
    expect(await codeAsync(s.rangeEncoded(enc('k'), ALL, { revision: 999 }))).toBe(
      'MVCC_FUTURE_REV',
    );
  });

  it('large ranges, and ranges overlapping while their values come from the backend', async () => {
    const backend = new MemoryBackend();
    const w = await MvccStore.open(backend);
    // Keys written in one txn (sub > 0), alone, twice, and deleted: every shape of index entry.
    const t = w.write();
    for (let i = 0; i < 3000; i++) t.put(enc(`a${String(i).padStart(5, '0')}`), enc(`v${i}`), 0n);
    t.end();
    for (let i = 0; i < 700; i += 7) await put(w, `a${String(i).padStart(5, '0')}`, `again${i}`);
    for (let i = 0; i < 700; i += 11) await del(w, `a${String(i).padStart(5, '0')}`);
    const old = w.currentRevision() - 50;
    await w.close();
    // Reopened: an empty value cache, so every value is fetched (awaited).
    const s = await MvccStore.open(backend);
    const cases: [string, Uint8Array | undefined, { revision?: number; limit?: number }][] = [
      ['a', ALL, {}],
      ['a00100', enc('a02900'), { limit: 2000 }],
      ['a', ALL, { revision: old }],
      ['a02000', ALL, { limit: 300 }],
    ];
    const raw = await Promise.all(cases.map(([k, end, o]) => s.rangeEncoded(enc(k), end, o)));
    // The model: which keys exist with which value, at the latest revision or at `old`
    // (by then the first 14 of the 64 deletes had happened).
    const model = (atOld: boolean): [string, string][] => {
      const out: [string, string][] = [];
      for (let i = 0; i < 3000; i++) {
        const deleted = i < 700 && i % 11 === 0 && (!atOld || i / 11 < 14);
        if (!deleted)
          out.push([
            `a${String(i).padStart(5, '0')}`,
            i < 700 && i % 7 === 0 ? `again${i}` : `v${i}`,
          ]);
      }
      return out;
    };
    const pairs = (values: readonly Uint8Array[]): [string, string][] =>
      values.map((v) => {
        const kv = decodeKeyValue(v);
        return [dec(kv.key), dec(kv.value)];
      });
    const latest = model(false);
    expect(pairs(raw[0]!.values)).toEqual(latest);
    expect(raw[0]!.count).toBe(latest.length);
    const inside = latest.filter(([k]) => k >= 'a00100' && k < 'a02900');
    expect(pairs(raw[1]!.values)).toEqual(inside.slice(0, 2000));
    expect(raw[1]!.count).toBe(inside.length);
    expect(pairs(raw[2]!.values)).toEqual(model(true));
    expect(pairs(raw[3]!.values)).toEqual(latest.filter(([k]) => k >= 'a02000').slice(0, 300));
    expect(raw[0]!.values.length).toBeGreaterThan(2800);
  });
});
