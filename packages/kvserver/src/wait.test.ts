import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock';
import type { Clock, TimerHandle } from './clock';
import { WaitRegistry } from './wait';

/** A ManualClock that counts the timers armed on it and how many are live. */
class CountingClock implements Clock {
  readonly inner = new ManualClock();
  armed = 0;
  live = 0;
  now(): number {
    return this.inner.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    this.armed++;
    this.live++;
    let done = false;
    const settle = (): void => {
      if (!done) this.live--;
      done = true;
    };
    const h = this.inner.setTimeout(() => {
      settle();
      fn();
    }, ms);
    return {
      cancel: () => {
        settle();
        h.cancel();
      },
    };
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.inner.setInterval(fn, ms);
  }
}

function registry(clock: Clock): {
  waits: WaitRegistry<string>;
  settled: boolean[];
} {
  const settled: boolean[] = [];
  const waits = new WaitRegistry<string>({
    clock,
    timeoutError: () => new Error('timed out'),
    onSettled: (failed) => settled.push(failed),
  });
  return { waits, settled };
}

describe('WaitRegistry', () => {
  it('resolves and rejects by ID, once', async () => {
    const { waits, settled } = registry(new ManualClock());
    const a = waits.register(1n, 1000);
    const b = waits.register(2n, 1000);
    waits.resolve(1n, 'one');
    waits.resolve(1n, 'again');
    waits.reject(2n, new Error('no'));
    await expect(a).resolves.toBe('one');
    await expect(b).rejects.toThrow('no');
    expect(settled).toEqual([false, true]);
    expect(waits.size).toBe(0);
  });

  it('times out each waiter at its own deadline with one timer for all', async () => {
    const clock = new CountingClock();
    const { waits, settled } = registry(clock);
    const outcomes = new Map<number, string>();
    const track = (i: number, p: Promise<string>): void => {
      p.then(
        (v) => outcomes.set(i, v),
        (e: Error) => outcomes.set(i, e.message),
      );
    };
    // 100 waiters registered 5 ms apart, each with a 1,000 ms timeout.
    for (let i = 0; i < 100; i++) {
      track(i, waits.register(BigInt(i), 1000));
      clock.inner.advance(5);
    }
    expect(clock.live).toBe(1);
    expect(clock.armed).toBe(1);
    // Answered in time: never times out.
    waits.resolve(5n, 'five');
    // t = 1000: waiter 0's deadline (registered at t = 0).
    clock.inner.advance(500);
    await Promise.resolve();
    expect(outcomes.get(0)).toBe('timed out');
    expect(outcomes.get(1)).toBeUndefined();
    // At t = 1247 waiters 0..49 (deadlines 1000..1245) have timed out, not 50.
    clock.inner.advance(247);
    await Promise.resolve();
    for (let i = 0; i < 50; i++) expect(outcomes.get(i)).toBe(i === 5 ? 'five' : 'timed out');
    expect(outcomes.has(50)).toBe(false);
    expect(clock.live).toBe(1);
    clock.inner.advance(1000);
    await Promise.resolve();
    expect(outcomes.size).toBe(100);
    expect(waits.size).toBe(0);
    expect(clock.live).toBe(0);
    expect(settled.filter((f) => !f)).toHaveLength(1);
  });

  it('arms an earlier timer for a waiter with a shorter timeout', async () => {
    const clock = new ManualClock();
    const { waits } = registry(clock);
    const long = waits.register(1n, 5000);
    const short = waits.register(2n, 100);
    let shortDone = false;
    short.catch(() => {
      shortDone = true;
    });
    clock.advance(100);
    await Promise.resolve();
    expect(shortDone).toBe(true);
    expect(waits.has(1n)).toBe(true);
    clock.advance(4900);
    await expect(long).rejects.toThrow('timed out');
  });

  it('rejectAll fails every waiter and leaves no timer behind', async () => {
    const clock = new CountingClock();
    const { waits } = registry(clock);
    const ps = [waits.register(1n, 1000), waits.register(2n, 1000)];
    waits.rejectAll(new Error('stopped'));
    for (const p of ps) await expect(p).rejects.toThrow('stopped');
    expect(clock.live).toBe(0);
  });

  it('hands out the registered request only for the bytes registered with it', () => {
    const { waits } = registry(new ManualClock());
    const data = Buffer.from([1, 2, 3]);
    const request = { key: 'k' };
    void waits.register(7n, 1000, data, request);
    void waits.register(8n, 1000);
    expect(waits.local(7n, data)).toBe(request);
    // Equal bytes in another array (a copy of the entry) still match.
    expect(waits.local(7n, new Uint8Array([1, 2, 3]))).toBe(request);
    // Different bytes under the same ID (another member's request) do not.
    expect(waits.local(7n, new Uint8Array([1, 2, 4]))).toBeUndefined();
    expect(waits.local(8n, data)).toBeUndefined();
    expect(waits.local(9n, data)).toBeUndefined();
    waits.resolve(7n, 'done');
    expect(waits.local(7n, data)).toBeUndefined();
  });

  it('keeps waiters whose IDs share a ring slot apart (more than 4,096 in flight, or IDs far apart)', async () => {
    const { waits } = registry(new ManualClock());
    // 0x1000 apart: the same slot of the 4,096-slot ring.
    const base = 0x1234_0000_0000_0005n;
    const ids = [base, base + 0x1000n, base + 0x2000n, base + 1n];
    const ps = ids.map((id) => waits.register(id, 1000, Buffer.from([Number(id & 0xffn)]), id));
    expect(waits.size).toBe(4);
    for (const id of ids) expect(waits.has(id)).toBe(true);
    expect(waits.has(base + 0x3000n)).toBe(false);
    expect(waits.local(base + 0x1000n, Buffer.from([5]))).toBe(base + 0x1000n);
    // Settled in another order than registered: each gets its own result.
    waits.resolve(base + 0x1000n, 'second');
    waits.resolve(base, 'first');
    // The slot is free again; a new ID there and the one still in the Map coexist.
    const again = waits.register(base + 0x3000n, 1000);
    waits.resolve(base + 0x2000n, 'third');
    waits.resolve(base + 0x3000n, 'fourth');
    waits.resolve(base + 1n, 'neighbour');
    expect(await Promise.all([...ps, again])).toEqual([
      'first',
      'second',
      'third',
      'neighbour',
      'fourth',
    ]);
    expect(waits.size).toBe(0);
  });

  it('registering an ID again replaces its waiter, wherever it sits', async () => {
    const { waits } = registry(new ManualClock());
    const first = waits.register(9n, 1000);
    const collided = waits.register(9n + 0x1000n, 1000);
    const second = waits.register(9n, 1000);
    const collidedAgain = waits.register(9n + 0x1000n, 1000);
    expect(waits.size).toBe(2);
    waits.resolve(9n, 'a');
    waits.resolve(9n + 0x1000n, 'b');
    await expect(second).resolves.toBe('a');
    await expect(collidedAgain).resolves.toBe('b');
    let settled = false;
    void first.then(() => (settled = true));
    void collided.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    expect(waits.size).toBe(0);
  });
});
