import { describe, expect, it } from 'vitest';
import { MemoryBackend } from './memory-backend';
import { MvccStore } from './store';
import { ValueCache } from './value-cache';
import { dec, enc } from '../test/helpers';

describe('ValueCache', () => {
  it('holds at most two generations and keeps entries that are read', () => {
    const c = new ValueCache(1000);
    const v = new Uint8Array(500); // 596 bytes counted: two fill a generation
    c.add(1, v);
    c.add(2, v); // young full: becomes old
    c.add(3, v);
    // From old, moved to young, which is full again: 1 and 3 are the old generation now.
    expect(c.get(1)).toBe(v);
    expect(c.get(2)).toBeUndefined();
    c.add(4, v);
    expect(c.get(3)).toBe(v);
    expect(c.size).toBeLessThanOrEqual(4);
  });

  it('gives no slot where main * 1024 + sub would not be exact', () => {
    expect(ValueCache.slot(5, 0)).toBe(5 * 1024);
    expect(ValueCache.slot(5, 1024)).toBe(-1);
    expect(ValueCache.slot(2 ** 50, 0)).toBe(-1);
    const c = new ValueCache(1000);
    c.add(-1, new Uint8Array(1));
    expect(c.size).toBe(0);
  });

  it('is off with capacity 0', () => {
    const c = new ValueCache(0);
    c.add(1, new Uint8Array(1));
    expect(c.get(1)).toBeUndefined();
  });
});

describe('MvccStore value cache', () => {
  async function put(s: MvccStore, k: string, v: string): Promise<void> {
    const t = s.write();
    t.put(enc(k), enc(v), 0n);
    t.end();
  }
  const values = async (s: MvccStore): Promise<string[]> =>
    (await s.range(enc('a'), new Uint8Array([0]))).kvs.map((kv) => dec(kv.value));

  it('serves repeated reads without the backend', async () => {
    let reads = 0;
    const b = new MemoryBackend({
      beforeRead: async () => {
        reads++;
      },
    });
    const s = await MvccStore.open(b);
    await put(s, 'a', '1');
    await put(s, 'b', '2');
    await b.commit();
    expect(await values(s)).toEqual(['1', '2']);
    const after = reads;
    expect(await values(s)).toEqual(['1', '2']);
    expect((await s.rangeEncoded(enc('a'), new Uint8Array([0]))).values).toHaveLength(2);
    expect(reads).toBe(after);
    await put(s, 'a', '3');
    expect(await values(s)).toEqual(['3', '2']);
  });

  it('forgets what it holds when a restore replaces the contents', async () => {
    const b = new MemoryBackend();
    const s = await MvccStore.open(b);
    await put(s, 'a', 'mine');
    expect(await values(s)).toEqual(['mine']);
    // Another store with a different value under the same revision.
    const other = new MemoryBackend();
    const o = await MvccStore.open(other);
    await put(o, 'a', 'theirs');
    const snap = await other.snapshot();
    await s.restore(snap.chunks());
    await snap.close();
    expect(await values(s)).toEqual(['theirs']);
  });
});
