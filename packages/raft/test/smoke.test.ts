import { describe, expect, it } from 'vitest';
import { Cluster } from '../src/testing/cluster';

const enc = new TextEncoder();

describe('smoke', () => {
  it('elects a leader and replicates', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    c.elect(1n);
    expect(c.leader()).toBe(1n);
    c.raw(1n).propose(enc.encode('a'));
    c.stabilize();
    for (const id of [1n, 2n, 3n]) expect(c.appliedData(id)).toEqual(['a']);
  });
  it('single node commits', () => {
    const c = new Cluster({ ids: [1n] });
    c.stabilize();
    c.elect(1n);
    expect(c.leader()).toBe(1n);
    c.raw(1n).propose(enc.encode('a'));
    c.stabilize();
    expect(c.appliedData(1n)).toEqual(['a']);
  });
});
