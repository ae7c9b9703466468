import { describe, expect, it } from 'vitest';
import { MessageType } from '../src/index';
import { Cluster } from '../src/testing/cluster';

const enc = new TextEncoder();
const dec = new TextDecoder();

function reads(c: Cluster, id: bigint): [number, string][] {
  return c.node(id).readStates.map((r) => [r.index, dec.decode(r.requestCtx)]);
}

describe('ReadIndex (safe)', () => {
  it('the leader answers after a heartbeat round with the commit index', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    c.raw(1n).propose(enc.encode('w'));
    c.stabilize();
    const commit = c.raw(1n).basicStatus().hardState.commit;
    c.isolate(1n);
    c.raw(1n).readIndex(enc.encode('r1'));
    c.stabilize();
    // No quorum confirmed leadership yet: no answer.
    expect(reads(c, 1n)).toEqual([]);
    c.heal();
    c.raw(1n).tick(); // the next heartbeat carries the pending context
    c.stabilize();
    expect(reads(c, 1n)).toEqual([[commit, 'r1']]);
  });

  it('a follower asks the leader and gets the leader commit index', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    c.raw(1n).propose(enc.encode('w'));
    c.stabilize();
    const commit = c.raw(1n).basicStatus().hardState.commit;
    c.raw(3n).readIndex(enc.encode('f'));
    c.stabilize();
    expect(reads(c, 3n)).toEqual([[commit, 'f']]);
    expect(reads(c, 1n)).toEqual([]);
  });

  it('answers requests in order, several per heartbeat round', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    c.dropType(MessageType.MsgHeartbeatResp);
    c.raw(1n).readIndex(enc.encode('a'));
    c.raw(1n).readIndex(enc.encode('b'));
    c.stabilize();
    c.heal();
    c.raw(1n).readIndex(enc.encode('c'));
    c.stabilize();
    expect(reads(c, 1n).map((r) => r[1])).toEqual(['a', 'b', 'c']);
  });

  it('a new leader defers reads until an entry of its term commits', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.elect(1n);
    c.dropType(MessageType.MsgAppResp);
    c.elect(2n);
    c.raw(2n).readIndex(enc.encode('x'));
    c.stabilize();
    expect(reads(c, 2n)).toEqual([]);
    c.heal();
    c.raw(2n).tick();
    c.stabilize();
    const commit = c.raw(2n).basicStatus().hardState.commit;
    expect(reads(c, 2n)).toEqual([[commit, 'x']]);
  });

  it('a single-node cluster answers at once', () => {
    const c = new Cluster({ ids: [1n] });
    c.elect(1n);
    c.raw(1n).readIndex(enc.encode('s'));
    c.stabilize();
    expect(reads(c, 1n)).toHaveLength(1);
  });

  it('a follower without a leader refuses', () => {
    const c = new Cluster({ ids: [1n, 2n, 3n] });
    c.stabilize();
    expect(() => c.raw(2n).readIndex(enc.encode('n'))).toThrow(/RAFT_PROPOSAL_DROPPED/);
  });
});

describe('ReadIndex (lease-based)', () => {
  it('the leader answers without a heartbeat round', () => {
    const c = new Cluster({
      ids: [1n, 2n, 3n],
      config: { checkQuorum: true, readOnlyOption: 'lease-based' },
    });
    c.elect(1n);
    c.isolate(1n);
    c.raw(1n).readIndex(enc.encode('l'));
    c.stabilize();
    expect(reads(c, 1n)).toHaveLength(1);
  });

  it('requires checkQuorum', () => {
    expect(() => new Cluster({ ids: [1n], config: { readOnlyOption: 'lease-based' } })).toThrow(
      /RAFT_CONFIG_INVALID/,
    );
  });
});
