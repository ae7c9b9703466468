import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntervalIndex, UNBOUNDED } from './interval-index';

const str = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '\u0000', '\u00ff'), maxLength: 3 });

describe('IntervalIndex', () => {
  it('answers stabbing queries exactly like a scan, through adds and deletes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            start: str,
            end: fc.oneof(str, fc.constant(UNBOUNDED)),
            remove: fc.boolean(),
          }),
          { maxLength: 40 },
        ),
        fc.array(str, { maxLength: 20 }),
        (items, points) => {
          const idx = new IntervalIndex<number>();
          const live = new Map<number, { start: string; end: string }>();
          items.forEach((it, i) => {
            idx.add(it.start, it.end, i);
            live.set(i, it);
            // Query between changes too, so lazy rebuilds interleave with edits.
            if (it.remove && i > 0) {
              idx.delete(i - 1);
              live.delete(i - 1);
            }
            for (const p of points.slice(0, 2)) {
              const got: number[] = [];
              idx.stab(p, (v) => got.push(v));
              const want = [...live]
                .filter(([, iv]) => iv.start <= p && p < iv.end)
                .map(([v]) => v);
              expect(got.sort((a, b) => a - b)).toEqual(want.sort((a, b) => a - b));
            }
          });
          for (const p of points) {
            const got: number[] = [];
            idx.stab(p, (v) => got.push(v));
            const want = [...live].filter(([, iv]) => iv.start <= p && p < iv.end).map(([v]) => v);
            expect(got.sort((a, b) => a - b)).toEqual(want.sort((a, b) => a - b));
          }
          expect(idx.size).toBe(live.size);
        },
      ),
      { numRuns: 300 },
    );
  });
});
