import { describe, expect, it } from 'vitest';
import { KeyIndex } from './key-index';

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
