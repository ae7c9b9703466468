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
  async saveSnapshotData(): Promise<void> {}
  async snapshotData(): Promise<undefined> {
    return undefined;
  }
  async releaseSnapshotData(): Promise<void> {}
  async close(): Promise<void> {}
}

function setup(id: bigint, voters: bigint[], onApply?: (indexes: number[]) => void) {
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
  const clock = new ManualClock();
  const node = new RaftNode({
    rawNode,
    raftStorage: storage,
    memberStorage,
    clock,
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
        onApply?.(es.map((e) => e.index));
      },
      onSoftState: () => {},
      onReadStates: () => {},
      onFatal: (err) => errors.push(err),
    },
  });
  node.start();
  return { node, log, sent, memberStorage, errors, clock };
}

/** Lets the Ready loop run until it waits on a save (bounded, no timers). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

const data = (s: string): Uint8Array => Buffer.from(s);

function message(type: MessageType, from: bigint, to: bigint, term: number, index = 0): Message {
  return {
    type,
    to,
    from,
    term,
    logTerm: 0,
    index,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
  };
}

/** Runs `campaign` on member 1 of {1, 2} and releases saves until it leads with entry 2 durable. */
async function electLeader(
  node: RaftNode,
  memberStorage: GatedStorage,
  log: string[],
): Promise<void> {
  node.withRawNode((n) => n.campaign());
  await settle();
  memberStorage.release(); // the vote for itself
  await settle();
  node.step(message(MessageType.MsgVoteResp, 2n, 1n, 1));
  await settle();
  expect(node.isLeader).toBe(true);
  expect(log.at(-1)).toBe('save 2'); // its empty entry, sent to 2 while being written
  memberStorage.release();
  await settle();
}

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

  it('a follower acknowledges a lone new entry before applying earlier ones, and overlaps the apply with a larger write', async () => {
    const { node, log, memberStorage, errors } = setup(2n, [1n, 2n]);
    const entry = (index: number) => ({
      index,
      term: 2,
      type: EntryType.Normal,
      data: data(`e${index}`),
    });
    const append = (index: number, entries: Entry[], commit: number): Message => ({
      type: MessageType.MsgApp,
      to: 2n,
      from: 1n,
      term: 2,
      logTerm: index === 1 ? 1 : 2,
      index,
      entries,
      commit,
      reject: false,
      rejectHint: 0,
      context: new Uint8Array(0),
    });
    node.step(append(1, [entry(2)], 1));
    await settle();
    memberStorage.release();
    await settle();
    expect(log).toEqual(['save 2', 'saved 2', `send ${MessageType.MsgAppResp}`]);

    // One new entry (3) and the news that 2 is committed: 2 is durable, but
    // the acknowledgement of 3 goes first.
    log.length = 0;
    node.step(append(2, [entry(3)], 2));
    await settle();
    expect(log).toEqual(['save 3']);
    memberStorage.release();
    await settle();
    expect(log).toEqual(['save 3', 'saved 3', `send ${MessageType.MsgAppResp}`, 'apply 2']);

    // Two new entries: 3 is applied while they are written.
    log.length = 0;
    node.step(append(3, [entry(4), entry(5)], 3));
    await settle();
    expect(log).toEqual(['save 4,5', 'apply 3']);
    memberStorage.release();
    await settle();
    expect(log).toEqual(['save 4,5', 'apply 3', 'saved 4,5', `send ${MessageType.MsgAppResp}`]);
    expect(errors).toEqual([]);
    await node.stop();
  });

  it('a leader applies what a quorum acked, then holds the new commit index back for 2 ms', async () => {
    const { node, log, sent, memberStorage, errors, clock } = setup(1n, [1n, 2n]);
    await electLeader(node, memberStorage, log);
    const before = log.length;
    node.step(message(MessageType.MsgAppResp, 2n, 1n, 1, 2));
    await settle();
    // Entry 2 is committed by the ack: applied (the client answered); the
    // new commit index waits for an append that would carry it.
    expect(log.slice(before)).toEqual(['apply 2']);
    clock.advance(1);
    await settle();
    expect(log.slice(before)).toEqual(['apply 2']);
    // None came: the commit notice goes to the follower on its own.
    clock.advance(1);
    await settle();
    expect(log.slice(before)).toEqual(['apply 2', `send ${MessageType.MsgApp}`]);
    expect(sent.at(-1)).toMatchObject({ type: MessageType.MsgApp, to: 2n, commit: 2, entries: [] });
    expect(errors).toEqual([]);
    await node.stop();
  });

  it('an append to the same follower takes the place of a held commit notice', async () => {
    let proposed = false;
    const { node, log, sent, memberStorage, errors, clock } = setup(1n, [1n, 2n], (indexes) => {
      // A proposal that arrives while entry 2 is applied joins the next Ready,
      // whose append carries commit index 2 as well.
      if (!proposed && indexes.includes(2)) {
        proposed = true;
        node.propose(data('a'));
      }
    });
    await electLeader(node, memberStorage, log);
    const before = sent.length;
    node.step(message(MessageType.MsgAppResp, 2n, 1n, 1, 2));
    await settle();
    expect(proposed).toBe(true);
    clock.advance(5);
    await settle();
    const after = sent.slice(before).map((m) => ({
      type: m.type,
      commit: m.commit,
      entries: m.entries.map((e) => e.index),
    }));
    expect(after).toEqual([{ type: MessageType.MsgApp, commit: 2, entries: [3] }]);
    expect(memberStorage.pending.map((s) => s.entries)).toEqual([[3]]);
    memberStorage.release();
    expect(errors).toEqual([]);
    await node.stop();
  });
});
