import { describe, expect, it } from 'vitest';
import { ConfChangeType } from '../src/index';
import { Cluster } from '../src/testing/cluster';

describe('apply budget and implicit joint changes', () => {
  it('splits committed entries across Readies by maxCommittedSizePerReady', () => {
    const c = new Cluster({ ids: [1n], config: { maxCommittedSizePerReady: 250 } });
    c.elect(1n);
    c.raw(1n).proposeBatch(Array.from({ length: 10 }, () => new Uint8Array(100)));
    const sizes: number[] = [];
    for (let rd = c.handleReady(1n); rd; rd = c.handleReady(1n)) {
      if (rd.committedEntries.length > 0) sizes.push(rd.committedEntries.length);
    }
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2); // 2 × (100 + 16) bytes fit in 250
  });

  it("an 'implicit' single change still goes through a joint config and leaves it", () => {
    const c = new Cluster({ ids: [1n, 2n, 3n], spare: [4n] });
    c.elect(1n);
    c.raw(1n).proposeConfChange({
      transition: 'implicit',
      changes: [{ type: ConfChangeType.AddNode, nodeId: 4n }],
      context: new Uint8Array(),
    });
    c.stabilize();
    const confEntries = c.node(1n).applied.filter((e) => e.type === 2);
    expect(confEntries).toHaveLength(2); // enter + automatic leave
    expect(c.node(4n).confState).toMatchObject({ voters: [1n, 2n, 3n, 4n], votersOutgoing: [] });
  });
});
