import { describe, it, expect } from 'vitest';
import { KeyPicker, keyFor, prefixEnd, prefixRange } from './keys';
import { RateLimiter } from './rate-limiter';
import { planShards } from './run';
import { parseArgs } from './options';
import { errorCode } from './connections';

describe('keys', () => {
  it('pads the index to the key size after the prefix', () => {
    expect(keyFor({ keyPrefix: 'r/', keySize: 8 }, 42).toString()).toBe('r/000042');
    expect(keyFor({ keyPrefix: '', keySize: 3 }, 7).toString()).toBe('007');
  });

  it('computes etcd prefix ends', () => {
    expect(prefixEnd(Buffer.from('r/')).toString()).toBe('r0');
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff, 0xff]))).toEqual(Buffer.from([0]));
    expect(prefixRange({ keyPrefix: '' })).toEqual({
      key: Buffer.from([0]),
      rangeEnd: Buffer.from([0]),
    });
  });

  it('hands out sequential keys from an offset, wrapping at the key space', () => {
    const p = new KeyPicker({ keyPrefix: 'k', keySize: 2, keySpace: 3, sequentialKeys: true }, 2);
    expect([p.index(), p.index(), p.index(), p.index()]).toEqual([2, 0, 1, 2]);
    expect(p.key(1).toString()).toBe('k1');
  });

  it('keeps random keys inside the key space', () => {
    const p = new KeyPicker({ keyPrefix: '', keySize: 3, keySpace: 5, sequentialKeys: false });
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(p.index());
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('RateLimiter', () => {
  it('spaces slots evenly and does not burst after falling behind', () => {
    const r = new RateLimiter(1000); // one slot per ms
    expect(r.delay(0)).toBe(0);
    expect(r.delay(0)).toBe(1);
    expect(r.delay(0.5)).toBe(1.5);
    // Idle for a long time: the next request goes now, the one after waits a slot.
    expect(r.delay(100)).toBe(0);
    expect(r.delay(100)).toBe(1);
  });
});

describe('planShards', () => {
  it('splits clients, total, rate and watchers exactly over workers', () => {
    const o = parseArgs([
      'watch',
      '--clients',
      '5',
      '--conns',
      '3',
      '--total',
      '11',
      '--rate',
      '90',
    ]);
    o.workers = 2;
    o.watchers = 7;
    o.streams = 3;
    const plans = planShards(o);
    expect(plans.map((p) => p.clients)).toEqual([3, 2]);
    expect(plans.map((p) => p.total)).toEqual([6, 5]);
    expect(plans.map((p) => p.rate)).toEqual([45, 45]);
    expect(plans.map((p) => p.watchers)).toEqual([4, 3]);
    expect(plans.map((p) => p.streams)).toEqual([2, 1]);
    expect(plans.map((p) => p.conns)).toEqual([2, 1]);
  });
});

describe('errorCode', () => {
  it('names gRPC status codes', () => {
    expect(errorCode({ code: 14 })).toBe('UNAVAILABLE');
    expect(errorCode({ code: 3 })).toBe('INVALID_ARGUMENT');
    expect(errorCode(new Error('x'))).toBe('UNKNOWN');
  });
});
