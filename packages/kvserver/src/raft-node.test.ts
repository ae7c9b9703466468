/**
 * The Ready loop's ordering against a member storage whose saves complete
 * only when the test says so: what may be applied while a write is in flight.
 */
import { describe, expect, it } from 'vitest';
import { EntryType, MemoryStorage, MessageType, RawNode } from '@kv/raft';
import type { Entry, HardState, Message, Snapshot } from '@kv/raft';
import { ManualClock } from './clock';
import type { MemberStorage } from './member-storage';
import { RaftNode } from './raft-node';

interface PendingSave {
  readonly entries: readonly number[];
  readonly resolve: () => void;
}

/** Saves that need a sync wait for `release`; commit-only ones complete at once. */
class GatedStorage implements MemberStorage {
  readonly pending: PendingSave[] = [];
  constructor(private readonly log: string[]) {}

  save(
    _hs: HardState | undefined,
    entries: readonly Entry[],
    options?: { readonly sync?: boolean },
  ): Promise<void> {
    if (options?.sync === false) return Promise.resolve();
    const indexes = entries.map((e) => e.index);
    this.log.push(`save ${indexes.join(',')}`);
    return new Promise((resolve) => {
      this.pending.push({
        entries: indexes,
        resolve: () => {
          this.log.push(`saved ${indexes.join(',')}`);
          resolve();
        },
      });
    });
  }

  release(): void {
    const s = this.pending.shift();
    if (s === undefined) throw new Error('no save in flight');
    s.resolve();
  }

  async saveSnapshot(): Promise<void> {}
  async releaseTo(): Promise<void> {}
  async close(): Promise<void> {}
}

function setup(id: bigint, voters: bigint[]) {
  const storage = new MemoryStorage();
  const snapshot: Snapshot = {
    metadata: {
      index: 1,
      term: 1,
      confState: { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    },
    data: new Uint8Array(0),
  };
  storage.applySnapshot(snapshot);
  const rawNode = new RawNode({
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    random: () => 0.5,
  });
  const log: string[] = [];
  const sent: Message[] = [];
  const memberStorage = new GatedStorage(log);
  const errors: unknown[] = [];
  const node = new RaftNode({
    rawNode,
    raftStorage: storage,
    memberStorage,
    clock: new ManualClock(),
    tickMs: 100,
    hooks: {
      send: (ms) => {
        for (const m of ms) {
          sent.push(m);
          log.push(`send ${m.type}`);
        }
      },
      applySnapshot: async () => {},
      applyEntries: async (es) => {
        log.push(`apply ${es.map((e) => e.index).join(',')}`);
      },
      onSoftState: () => {},
      onReadStates: () => {},
      onFatal: (err) => errors.push(err),
    },
  });
  node.start();
  return { node, log, sent, memberStorage, errors };
}

/** Lets the Ready loop run until it waits on a save (bounded, no timers). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

const data = (s: string): Uint8Array => Buffer.from(s);

describe('RaftNode Ready loop', () => {
  it('applies entries committed in an earlier Ready while the next write is in flight', async () => {
    const { node, log, memberStorage, errors } = setup(1n, [1n]);
    node.withRawNode((n) => n.campaign());
    // The vote, then the leader's empty entry (2).
    for (let i = 0; i < 5 && !log.includes('apply 2'); i++) {
      await settle();
      if (memberStorage.pending.length > 0) memberStorage.release();
    }
    await settle();
    expect(log).toContain('apply 2');
    expect(memberStorage.pending).toEqual([]);

    node.propose(data('a'));
    await settle();
    expect(memberStorage.pending.map((s) => s.entries)).toEqual([[3]]);
    node.propose(data('b')); // joins the next Ready, with 3 committed
    memberStorage.release();
    await settle();
    expect(memberStorage.pending.map((s) => s.entries)).toEqual([[4]]);
    // 3 is durable (its save resolved), so it is applied while 4 is written.
    expect(log.slice(log.indexOf('save 4'))).toEqual(['save 4', 'apply 3']);

    memberStorage.release();
    await settle();
    expect(log.slice(log.indexOf('save 4'))).toEqual(['save 4', 'apply 3', 'saved 4', 'apply 4']);
    expect(errors).toEqual([]);
    await node.stop();
  });

  it('a follower applies entries that arrive with the Ready only after writing them', async () => {
    const { node, log, memberStorage, errors } = setup(2n, [1n, 2n]);
    const entry = { index: 2, term: 2, type: EntryType.Normal, data: data('x') };
    node.step({
      type: MessageType.MsgApp,
      to: 2n,
      from: 1n,
      term: 2,
      logTerm: 1,
      index: 1,
      entries: [entry],
      commit: 2,
      reject: false,
      rejectHint: 0,
      context: new Uint8Array(0),
    });
    await settle();
    expect(memberStorage.pending.map((s) => s.entries)).toEqual([[2]]);
    expect(log).toEqual(['save 2']); // neither the ack nor the apply yet
    memberStorage.release();
    await settle();
    expect(log).toEqual(['save 2', 'saved 2', `send ${MessageType.MsgAppResp}`, 'apply 2']);
    expect(errors).toEqual([]);
    await node.stop();
  });
});
