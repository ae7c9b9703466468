import { describe, expect, it } from 'vitest';
import { KeyIndex } from './key-index';
import { ReferenceKeyIndex } from './key-index.reference';

describe('KeyIndex', () => {
  it('tracks generations, versions and create revisions across deletes', () => {
    const ki = new KeyIndex('k');
    ki.put(2, 0);
    ki.put(4, 1);
    expect(ki.tombstone(6, 0)).toBe(true);
    expect(ki.tombstone(7, 0)).toBe(false);
    ki.put(8, 0);
    expect(ki.get(1)).toBeUndefined();
    expect(ki.get(2)).toEqual({ main: 2, sub: 0, createRevision: 2, version: 1 });
    expect(ki.get(5)).toEqual({ main: 4, sub: 1, createRevision: 2, version: 2 });
    expect(ki.get(6)).toBeUndefined();
    expect(ki.get(7)).toBeUndefined();
    expect(ki.get(9)).toEqual({ main: 8, sub: 0, createRevision: 8, version: 1 });
    expect(ki.liveInfo()).toEqual({ createRevision: 8, version: 1 });
  });

  it('compaction keeps the newest revision at or below the point and drops dead generations', () => {
    const ki = new KeyIndex('k');
    ki.put(2, 0);
    ki.put(3, 0);
    ki.tombstone(5, 0);
    ki.put(7, 0);
    ki.put(9, 0);
    const kept: number[][] = [];
    expect(ki.keep(3)).toEqual([3, 0]);
    expect(ki.keeps(3, 3, 0)).toBe(true);
    expect(ki.keeps(3, 2, 0)).toBe(false);
    expect(ki.compact(3)).toBe(false);
    kept.push([3, 0]);
    expect(ki.revisions()).toEqual([3, 0, 5, 0, 7, 0, 9, 0]);
    expect(ki.get(4)).toEqual({ main: 3, sub: 0, createRevision: 2, version: 2 });
    expect(ki.keep(5)).toBeUndefined();
    expect(ki.keep(8)).toEqual([7, 0]);
    expect(ki.compact(8)).toBe(false);
    kept.push([7, 0]);
    expect(ki.revisions()).toEqual([7, 0, 9, 0]);
    expect(kept).toEqual([
      [3, 0],
      [7, 0],
    ]);
    expect(ki.get(9)).toEqual({ main: 9, sub: 0, createRevision: 7, version: 2 });
  });

  it('is empty after compacting past its final tombstone', () => {
    const ki = new KeyIndex('k');
    ki.put(1, 0);
    ki.tombstone(2, 0);
    expect(ki.compact(1)).toBe(false);
    expect(ki.compact(2)).toBe(true);
  });
});

describe('KeyIndex against the one-array-per-generation reference', () => {
  // Seeded so that a failure reproduces: a small xorshift generator.
  function rng(seed: number): () => number {
    // Spread small seeds over 32 bits and skip the first outputs, which
    // xorshift leaves poorly mixed.
    let x = Math.imul(seed, 0x9e3779b1) >>> 0 || 1;
    const next = (): number => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x / 2 ** 32;
    };
    for (let i = 0; i < 8; i++) next();
    return next;
  }

  it('answers every query the same after random puts, deletes and compactions', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const ki = new KeyIndex('k');
      const ref = new ReferenceKeyIndex('k');
      let rev = 1;
      let compacted = 0;
      const steps = 1 + Math.floor(r() * 30);
      for (let step = 0; step < steps; step++) {
        const x = r();
        rev += 1 + Math.floor(r() * 3);
        const sub = r() < 0.6 ? 0 : Math.floor(r() * 4);
        if (x < 0.55) {
          ki.put(rev, sub);
          ref.put(rev, sub);
        } else if (x < 0.75) {
          expect(ki.tombstone(rev, sub), `seed ${seed}`).toBe(ref.tombstone(rev, sub));
        } else if (rev > compacted + 1) {
          const at = compacted + 1 + Math.floor(r() * (rev - compacted - 1));
          compacted = at;
          expect(ki.compact(at), `seed ${seed}`).toBe(ref.compact(at));
          if (ki.revisions().length === 0) break;
        }
        const where = `seed ${seed} step ${step}`;
        expect(ki.revisions(), where).toEqual(ref.revisions());
        expect(ki.isLive(), where).toBe(ref.isLive());
        expect(ki.liveInfo(), where).toEqual(ref.liveInfo());
        for (let at = Math.max(1, compacted - 1); at <= rev + 1; at++) {
          expect(ki.get(at), `${where} get ${at}`).toEqual(ref.get(at));
          expect(ki.existsAt(at), `${where} existsAt ${at}`).toBe(ref.get(at) !== undefined);
          const written = new Float64Array([-1, -1, -1, -1]);
          const h = ref.get(at);
          expect(ki.writeRevisionAt(at, written, 1), `${where} writeRevisionAt ${at}`).toBe(
            h !== undefined,
          );
          expect([...written]).toEqual(
            h === undefined ? [-1, -1, -1, -1] : [-1, h.main, h.sub, -1],
          );
          expect(ki.keep(at), `${where} keep ${at}`).toEqual(ref.keep(at));
          for (let i = 0; i < ki.revisions().length; i += 2) {
            const [m, s] = [ki.revisions()[i]!, ki.revisions()[i + 1]!];
            expect(ki.keeps(at, m, s), `${where} keeps ${at} ${m}_${s}`).toBe(ref.keeps(at, m, s));
          }
        }
      }
    }
  });
});
