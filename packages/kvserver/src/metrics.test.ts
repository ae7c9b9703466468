import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from './metrics';

describe('MetricsRegistry', () => {
  it('keys series by label values, for reused frozen label objects and for fresh ones', () => {
    const registry = new MetricsRegistry();
    const c = registry.counter('requests_total', 'Requests.');
    const frozen = Object.freeze({ method: 'Put', code: 'OK' });
    c.inc(frozen);
    c.inc(frozen);
    c.inc({ code: 'OK', method: 'Put' });
    expect(c.get(frozen)).toBe(3);
    // A mutable object is not remembered: a later change of its values counts elsewhere.
    const mutable: Record<string, string> = { method: 'Range', code: 'OK' };
    c.inc(mutable);
    mutable.code = 'Unavailable';
    c.inc(mutable);
    expect(c.get({ method: 'Range', code: 'OK' })).toBe(1);
    expect(c.get({ method: 'Range', code: 'Unavailable' })).toBe(1);
  });

  it('a series handle adds to the same series as labels do', () => {
    const registry = new MetricsRegistry();
    const c = registry.counter('calls_total', 'Calls.');
    const series = c.series(Object.freeze({ method: 'Put' }));
    series.inc();
    series.inc(2);
    c.inc({ method: 'Put' });
    expect(c.get({ method: 'Put' })).toBe(4);
    expect(registry.render()).toContain('calls_total{method="Put"} 4\n');
  });

  it('histogram buckets render cumulatively, whether recorded by labels or by series', () => {
    const registry = new MetricsRegistry();
    const h = registry.histogram('took_seconds', 'Took.', [0.001, 0.01, 1]);
    const series = h.series({ m: 'a' });
    series.observe(0.0001);
    series.observe(0.001); // on a bound: counted in that bucket (le)
    h.observe(0.5, { m: 'a' });
    h.observe(100, { m: 'a' });
    const lines = registry.render().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        'took_seconds_bucket{m="a",le="0.001"} 2',
        'took_seconds_bucket{m="a",le="0.01"} 2',
        'took_seconds_bucket{m="a",le="1"} 3',
        'took_seconds_bucket{m="a",le="+Inf"} 4',
        'took_seconds_sum{m="a"} 100.5011',
        'took_seconds_count{m="a"} 4',
      ]),
    );
  });
});
