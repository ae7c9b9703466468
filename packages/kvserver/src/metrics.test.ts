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
});
