import { describe, it, expect } from 'vitest';
import { Histogram } from './histogram';

/** Nearest-rank percentile over sorted samples: the reference answer. */
function exact(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p * sorted.length) / 100 - 1e-9));
  return sorted[rank - 1]!;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('Histogram', () => {
  it('is exact for small values', () => {
    const h = new Histogram();
    for (let v = 1; v <= 1000; v++) h.record(v);
    expect(h.percentile(50)).toBe(500);
    expect(h.percentile(90)).toBe(900);
    expect(h.percentile(99)).toBe(990);
    expect(h.percentile(99.9)).toBe(999);
    expect(h.percentile(100)).toBe(1000);
    const s = h.summary();
    expect(s.min).toBe(1);
    expect(s.max).toBe(1000);
    expect(s.mean).toBeCloseTo(500.5, 6);
    expect(s.count).toBe(1000);
  });

  it('stays within 1/1024 relative error of sorted samples over a wide range', () => {
    const rnd = lcg(42);
    const h = new Histogram();
    const samples: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      // Log-uniform from 1 µs to ~11 days: both the 32-bit and the float path.
      const v = Math.round(Math.exp(rnd() * Math.log(1e12)));
      samples.push(v);
      h.record(v);
    }
    samples.sort((a, b) => a - b);
    for (const p of [1, 10, 50, 75, 90, 99, 99.9, 99.99]) {
      const want = exact(samples, p);
      const got = h.percentile(p);
      expect(got).toBeGreaterThanOrEqual(want);
      expect((got - want) / want).toBeLessThanOrEqual(1 / 1024);
    }
    expect(h.percentile(100)).toBe(samples[samples.length - 1]);
  });

  it('reports the same percentiles after merging snapshots', () => {
    const rnd = lcg(7);
    const whole = new Histogram();
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 0; i < 10_000; i++) {
      const v = Math.floor(rnd() * 1e6);
      whole.record(v);
      (i % 3 === 0 ? a : b).record(v);
    }
    const merged = Histogram.fromSnapshot(a.snapshot());
    merged.merge(structuredClone(b.snapshot()));
    expect(merged.summary()).toEqual(whole.summary());
  });

  it('summarises an empty histogram as zeros', () => {
    expect(new Histogram().summary()).toEqual({
      count: 0,
      min: 0,
      mean: 0,
      p50: 0,
      p90: 0,
      p99: 0,
      p999: 0,
      max: 0,
    });
  });

  it('separates values just across a power-of-two boundary', () => {
    const h = new Histogram();
    h.record(4095);
    h.record(4096);
    expect(h.percentile(50)).toBe(4095);
    expect(h.percentile(100)).toBe(4096);
  });
});
