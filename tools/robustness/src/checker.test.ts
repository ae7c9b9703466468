import { describe, expect, it } from 'vitest';
import { checkHistory, checkKey } from './checker';
import type { OpInput, OpOutput, Operation } from './history';

let nextId = 0;
function op(
  input: OpInput,
  call: number,
  ret: number,
  output: OpOutput | undefined,
  client = 0,
): Operation {
  return { id: nextId++, client, member: 0, input, call, ret, output };
}
const put = (value: string, call: number, ret: number, known = true, key = 'k'): Operation =>
  op(
    { kind: 'put', key, value },
    call,
    known ? ret : Infinity,
    known ? { kind: 'put' } : undefined,
  );
const get = (value: string | null, call: number, ret: number, key = 'k'): Operation =>
  op({ kind: 'get', key }, call, ret, { kind: 'get', value });

describe('checkKey', () => {
  it('accepts a sequential history', () => {
    expect(checkKey([put('a', 0, 1), get('a', 2, 3), put('b', 4, 5), get('b', 6, 7)])).toBe('ok');
  });

  it('rejects a stale read after a completed write', () => {
    expect(checkKey([put('a', 0, 1), put('b', 2, 3), get('a', 4, 5)])).toBe('violation');
  });

  it('accepts either order for concurrent writes, but not both at once', () => {
    const ok = [put('a', 0, 10), put('b', 1, 9), get('a', 11, 12), get('a', 13, 14)];
    expect(checkKey(ok)).toBe('ok');
    const flipFlop = [put('a', 0, 10), put('b', 1, 9), get('a', 11, 12), get('b', 13, 14)];
    expect(checkKey(flipFlop)).toBe('violation');
  });

  it('rejects a read of a value nobody wrote', () => {
    expect(checkKey([put('a', 0, 1), get('z', 2, 3)])).toBe('violation');
  });

  it('rejects a read going back in time (the lost-write shape)', () => {
    expect(checkKey([put('a', 0, 1), get('a', 2, 3), get(null, 4, 5)])).toBe('violation');
  });

  it('lets an unknown-outcome write take effect late, or never', () => {
    expect(checkKey([put('a', 0, 1), put('b', 2, 3, false), get('a', 4, 5), get('b', 6, 7)])).toBe(
      'ok',
    );
    expect(checkKey([put('a', 0, 1), put('b', 2, 3, false), get('a', 4, 5)])).toBe('ok');
  });

  it('does not let an unknown-outcome write take effect before its invocation', () => {
    expect(checkKey([get('b', 0, 1), put('b', 2, 3, false)])).toBe('violation');
  });

  it('checks compare-and-swap results and the value a failed swap reports', () => {
    const cas = (
      expected: string,
      value: string,
      call: number,
      ret: number,
      succeeded: boolean,
      seen: string | null,
    ): Operation =>
      op({ kind: 'cas', key: 'k', expected, value }, call, ret, {
        kind: 'cas',
        succeeded,
        value: seen,
      });
    expect(checkKey([put('a', 0, 1), cas('a', 'b', 2, 3, true, null), get('b', 4, 5)])).toBe('ok');
    expect(checkKey([put('a', 0, 1), cas('x', 'b', 2, 3, false, 'a')])).toBe('ok');
    expect(checkKey([put('a', 0, 1), cas('a', 'b', 2, 3, false, 'a')])).toBe('violation');
    expect(checkKey([put('a', 0, 1), cas('x', 'b', 2, 3, false, 'q')])).toBe('violation');
    // Two swaps from the same value cannot both succeed.
    expect(
      checkKey([put('a', 0, 1), cas('a', 'b', 2, 5, true, null), cas('a', 'c', 3, 6, true, null)]),
    ).toBe('violation');
  });

  it('models delete counts and lease revocation', () => {
    const del = (deleted: number, call: number, ret: number): Operation =>
      op({ kind: 'delete', key: 'k' }, call, ret, { kind: 'delete', deleted });
    expect(checkKey([put('a', 0, 1), del(1, 2, 3), del(0, 4, 5), get(null, 6, 7)])).toBe('ok');
    expect(checkKey([del(1, 0, 1)])).toBe('violation');
    const leased = op({ kind: 'put', key: 'k', value: 'l', lease: '7' }, 0, 1, { kind: 'put' });
    const revoke = op({ kind: 'revoke', key: 'k', lease: '7' }, 2, 3, { kind: 'revoke' });
    expect(checkKey([leased, revoke, get(null, 4, 5)])).toBe('ok');
    expect(checkKey([leased, revoke, get('l', 4, 5)])).toBe('violation');
    // A later put without the lease detaches the key from it.
    const leased2 = op({ kind: 'put', key: 'k', value: 'l', lease: '8' }, 0, 1, { kind: 'put' });
    const revoke2 = op({ kind: 'revoke', key: 'k', lease: '8' }, 4, 5, { kind: 'revoke' });
    expect(checkKey([leased2, put('m', 2, 3), revoke2, get('m', 6, 7)])).toBe('ok');
  });

  it('handles many concurrent clients without blowing up', () => {
    const ops: Operation[] = [];
    let t = 0;
    let last = 'v0';
    ops.push(put('v0', t, t + 1));
    for (let round = 1; round < 200; round++) {
      t += 10;
      // Four overlapping writes, then reads that agree on the last one.
      for (let c = 0; c < 4; c++) ops.push(put(`v${round}-${c}`, t + c, t + 8 - c, true));
      last = `v${round}-3`;
      ops.push(get(last, t + 9, t + 9.5));
    }
    expect(checkKey(ops)).toBe('ok');
    ops.push(get(`v1-0`, t + 20, t + 21));
    expect(checkKey(ops)).toBe('violation');
  });

  it('reports inconclusive when the budget runs out', () => {
    const ops = Array.from({ length: 30 }, (_, i) => put(`x${i}`, 0, 100));
    ops.push(get('nobody', 200, 201));
    expect(checkKey(ops, 1000)).toBe('inconclusive');
  });
});

describe('checkHistory', () => {
  it('partitions by key and names the bad key', () => {
    const r = checkHistory([
      put('a', 0, 1, true, 'x'),
      put('b', 0, 1, true, 'y'),
      get('a', 2, 3, 'x'),
      get('a', 2, 3, 'y'),
    ]);
    expect(r.ok).toBe(false);
    expect(r.violations).toEqual(['y']);
    expect(r.keys.map((k) => k.operations)).toEqual([2, 2]);
  });
});
