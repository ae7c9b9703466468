/**
 * The Raft node loop: drives a @kv/raft RawNode with ticks from the clock,
 * turns each Ready into work — persist, send, apply — and advances.
 *
 * Ordering (the storage contract of @kv/raft):
 * - a leader sends its messages while its own disk write is in flight (the
 *   Raft thesis allows it: the entries are committed by a quorum either way);
 * - a follower or candidate sends only after entries and hard state are
 *   durable, because its messages (votes, append acks) promise durability;
 * - committed entries are applied in order, then advance(). Those already in
 *   the durable log (every entry of an earlier Ready) are applied while this
 *   Ready's write and fdatasync are in flight, so the disk and the apply work
 *   overlap (etcd applies in its own stage for the same reason); entries that
 *   arrive with this Ready, and conf changes, wait for the write;
 * - a leader's Ready that appends nothing but commits entries applies them
 *   first and sends its messages on the next turn, after the clients'
 *   responses have been written.
 *
 * Batching: proposals and received messages only touch the RawNode; the Ready
 * is processed once per turn of the event loop, so everything that arrived in
 * that turn shares one WAL write and one fsync.
 */
import { EntryType, MessageType, StateRole } from '@kv/raft';
import type {
  Entry,
  MemoryStorage,
  Message,
  Ready,
  Snapshot,
  SoftState,
  ReadState,
  RawNode,
} from '@kv/raft';
import type { Clock, TimerHandle } from './clock';
import type { MemberStorage } from './member-storage';

export interface RaftNodeHooks {
  /** Sends messages to peers (fire and forget). */
  send(messages: readonly Message[]): void;
  /** Applies a snapshot received from the leader, before any later entry. */
  applySnapshot(snapshot: Snapshot): Promise<void>;
  /** Applies committed entries in order. Resolves when their effects are in the backend buffer. */
  applyEntries(entries: readonly Entry[]): Promise<void>;
  /** Leader or role changed. */
  onSoftState(state: SoftState): void;
  /** ReadIndex answers. */
  onReadStates(states: readonly ReadState[]): void;
  /** A fatal storage error: the member must stop. */
  onFatal(err: unknown): void;
}

export interface RaftNodeOptions {
  readonly rawNode: RawNode;
  readonly raftStorage: MemoryStorage;
  readonly memberStorage: MemberStorage;
  readonly clock: Clock;
  /** Milliseconds per Raft tick (etcd's heartbeat interval). */
  readonly tickMs: number;
  readonly hooks: RaftNodeHooks;
  /** Named hook points for fault-injection tests; no-ops in production. */
  readonly failpoint?: (name: string) => Promise<void> | void;
  /**
   * TEST ONLY — deliberately unsafe: send messages and apply entries before
   * they are durable, so a crash can lose acknowledged writes. Exists so the
   * robustness harness can prove it detects such a server.
   */
  readonly unsafeAckBeforeSync?: boolean;
}

/** The messages minus any MsgHup (never sent to peers); the same array when there is none. */
function withoutHup(messages: readonly Message[]): readonly Message[] {
  for (const m of messages) {
    if (m.type === MessageType.MsgHup) return messages.filter((x) => x.type !== MessageType.MsgHup);
  }
  return messages;
}

/**
 * How long a leader may hold a new commit index back from a follower, waiting
 * for an append to carry it. Followers apply (and serve serializable reads
 * of) a write at most this much later when no further write follows.
 */
const COMMIT_NOTICE_DELAY_MS = 2;

/** An append without entries: it only tells a follower the commit index. */
function isCommitNotice(m: Message): boolean {
  return m.type === MessageType.MsgApp && m.entries.length === 0;
}

/** `held` minus the commit notices that an append in `next` supersedes. */
function withoutSuperseded(held: Message[], next: readonly Message[]): Message[] {
  return held.filter(
    (h) =>
      !isCommitNotice(h) ||
      !next.some((n) => n.type === MessageType.MsgApp && n.to === h.to && n.commit >= h.commit),
  );
}

export class RaftNode {
  readonly rawNode: RawNode;
  readonly #o: RaftNodeOptions;
  #ticker: TimerHandle | undefined;
  #scheduled = false;
  #running = false;
  #stopped = false;
  /** Callers of idle() waiting for the run in progress (made only when asked, not per run). */
  #idleWaiters: (() => void)[] | undefined;
  /** The setImmediate callback of {@link schedule}, made once rather than per turn. */
  readonly #onImmediate = (): void => {
    this.#scheduled = false;
    void this.#run();
  };
  #lead = 0n;
  #role: StateRole = StateRole.Follower;
  #term = 0;
  #vote = 0n;
  /** Messages of a commit-only leader Ready, held back (see #sendLater). */
  #held: Message[] | undefined;
  /** Sends the held messages if no append has taken their place by then. */
  #heldTimer: TimerHandle | undefined;
  /** A send of the held messages is set for the next turn. */
  #heldSoon = false;

  constructor(options: RaftNodeOptions) {
    this.#o = options;
    this.rawNode = options.rawNode;
    const hs = options.raftStorage.initialState().hardState;
    this.#term = hs.term;
    this.#vote = hs.vote;
  }

  get leader(): bigint {
    return this.#lead;
  }

  /** The current Raft term, as last persisted. */
  get term(): number {
    return this.#term;
  }

  get isLeader(): boolean {
    return this.#role === StateRole.Leader;
  }

  start(): void {
    this.#ticker = this.#o.clock.setInterval(() => {
      if (this.#stopped) return;
      this.rawNode.tick();
      this.schedule();
    }, this.#o.tickMs);
    this.schedule();
  }

  /** Proposes data; throws the RaftError of a dropped proposal. */
  propose(data: Uint8Array): void {
    this.rawNode.propose(data);
    this.schedule();
  }

  step(message: Message): void {
    if (this.#stopped) return;
    try {
      this.rawNode.step(message);
    } catch {
      // Messages from unknown or removed peers are ignored, as etcd does.
      return;
    }
    this.schedule();
  }

  /** Runs `fn` against the RawNode and processes any resulting Ready. */
  withRawNode<T>(fn: (node: RawNode) => T): T {
    const out = fn(this.rawNode);
    this.schedule();
    return out;
  }

  /** Processes pending work at the end of this turn of the event loop. */
  schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(this.#onImmediate);
  }

  /** Resolves when no Ready is being processed. */
  async idle(): Promise<void> {
    if (this.#running) await new Promise<void>((r) => (this.#idleWaiters ??= []).push(r));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#ticker?.cancel();
    this.#heldTimer?.cancel();
    await this.idle();
  }

  async #run(): Promise<void> {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    try {
      while (!this.#stopped && this.rawNode.hasReady()) {
        await this.#handle(this.rawNode.ready());
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#running = false;
      const waiters = this.#idleWaiters;
      if (waiters !== undefined) {
        this.#idleWaiters = undefined;
        for (const w of waiters) w();
      }
    }
  }

  #fail(err: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#ticker?.cancel();
    this.#o.hooks.onFatal(err);
  }

  /** etcd's MustSync: new entries, a snapshot, or a changed term or vote. */
  #mustSync(rd: Ready): boolean {
    if (rd.entries.length > 0 || rd.snapshot !== undefined) return true;
    const hs = rd.hardState;
    return hs !== undefined && (hs.term !== this.#term || hs.vote !== this.#vote);
  }

  /** The broken ordering of {@link RaftNodeOptions.unsafeAckBeforeSync}. */
  async #handleUnsafely(rd: Ready): Promise<void> {
    const hooks = this.#o.hooks;
    hooks.send(rd.messages);
    if (rd.hardState !== undefined) {
      this.#o.raftStorage.setHardState(rd.hardState);
      this.#term = rd.hardState.term;
      this.#vote = rd.hardState.vote;
    }
    if (rd.snapshot !== undefined) {
      await this.#o.memberStorage.saveSnapshot(rd.snapshot);
      this.#o.raftStorage.applySnapshot(rd.snapshot);
      await hooks.applySnapshot(rd.snapshot);
    }
    if (rd.entries.length > 0) this.#o.raftStorage.append([...rd.entries]);
    if (rd.committedEntries.length > 0) await hooks.applyEntries(rd.committedEntries);
    const hs = rd.hardState;
    const entries = rd.entries;
    this.rawNode.advance(rd);
    if (hs !== undefined || entries.length > 0) {
      // Persist late and without waiting: a crash in between loses what was acknowledged.
      this.#o.clock.setTimeout(() => {
        this.#o.memberStorage.save(hs, entries).catch(() => undefined);
      }, 200);
    }
  }

  async #handle(rd: Ready): Promise<void> {
    const hooks = this.#o.hooks;
    if (rd.softState !== undefined) {
      this.#lead = rd.softState.lead;
      this.#role = rd.softState.role;
      hooks.onSoftState(rd.softState);
    }
    if (rd.readStates.length > 0) hooks.onReadStates(rd.readStates);

    const leader = this.#role === StateRole.Leader;
    if (this.#o.unsafeAckBeforeSync === true) {
      await this.#handleUnsafely(rd);
      return;
    }
    const committed = rd.committedEntries;
    const early = rd.snapshot === undefined ? this.#durablePrefix(committed) : 0;
    // A leader's Ready that appends nothing (typically: a quorum acked, the
    // commit index moved) carries no message that its own disk write races
    // with. Its entries are applied first, and the messages (the new commit
    // index for followers, heartbeats) are held back (see #sendLater): the
    // client's response is written by HTTP/2 first, before waking followers
    // that would compete for the CPU. Messages may be delayed freely in
    // Raft; later sends keep their order (see #sendNow).
    const deferSend = leader && rd.entries.length === 0 && rd.snapshot === undefined && early > 0;
    if (leader && !deferSend) this.#sendNow(rd.messages);

    if (rd.snapshot !== undefined) {
      const fp = this.#o.failpoint;
      if (fp !== undefined) await fp('raftBeforeSaveSnap');
      await this.#o.memberStorage.saveSnapshot(rd.snapshot);
      if (fp !== undefined) await fp('raftAfterSaveSnap');
    }
    const persist = rd.hardState !== undefined || rd.entries.length > 0;
    let saving: Promise<void> | undefined;
    if (persist) {
      // Only awaited when set: awaiting undefined still costs a promise and a turn.
      const fp = this.#o.failpoint;
      if (fp !== undefined) await fp('raftBeforeSave');
      if (this.#mustSync(rd)) {
        saving = this.#o.memberStorage.save(rd.hardState, rd.entries);
        // Awaited below; this only keeps a failure during an early apply
        // from leaving the save's rejection unhandled meanwhile.
        saving.catch(() => undefined);
      } else {
        // Only the commit index moved: losing it in a crash is harmless (it is
        // learned again from the leader), so neither wait for the disk nor
        // ask it for an fdatasync. The WAL keeps this write in order.
        this.#o.memberStorage
          .save(rd.hardState, rd.entries, { sync: false })
          .catch((err: unknown) => this.#fail(err));
      }
    }
    // A follower's acknowledgement waits only for its own write. With one
    // new entry (a lone writer: latency matters, and the WAL syncs it on
    // the event loop's thread) applying first would put the apply in front
    // of the sync, on the leader's path to commit: acknowledge, then apply.
    // With several, the apply runs while the disk syncs, as on the leader.
    const ackFirst = !leader && saving !== undefined && rd.entries.length <= 1;
    const applied = ackFirst ? 0 : early;
    if (applied > 0) {
      await hooks.applyEntries(
        applied === committed.length ? committed : committed.slice(0, applied),
      );
    }
    if (deferSend) this.#sendLater(rd.messages);
    if (saving !== undefined) await saving;
    if (persist && this.#o.failpoint !== undefined) await this.#o.failpoint('raftAfterSave');
    if (rd.hardState !== undefined) {
      this.#o.raftStorage.setHardState(rd.hardState);
      this.#term = rd.hardState.term;
      this.#vote = rd.hardState.vote;
    }
    if (rd.snapshot !== undefined) {
      const fp = this.#o.failpoint;
      if (fp !== undefined) await fp('raftBeforeApplySnap');
      this.#o.raftStorage.applySnapshot(rd.snapshot);
      await hooks.applySnapshot(rd.snapshot);
      if (fp !== undefined) await fp('raftAfterApplySnap');
    }
    // MemoryStorage.append keeps the entries, not the array: no copy needed.
    if (rd.entries.length > 0) this.#o.raftStorage.append(rd.entries);

    if (!leader) this.#sendNow(withoutHup(rd.messages));

    if (applied < committed.length) {
      await hooks.applyEntries(applied === 0 ? committed : committed.slice(applied));
    }
    this.rawNode.advance(rd);
  }

  /**
   * Sends now, after any messages still held back by {@link #sendLater}
   * (per-peer order is kept). A held commit notice is dropped when this send
   * has an append for the same follower that carries at least its commit
   * index: Raft tolerates lost messages, and the newer one says more.
   */
  #sendNow(messages: readonly Message[]): void {
    const held = this.#held;
    if (held !== undefined) {
      this.#held = undefined;
      this.#heldTimer?.cancel();
      this.#heldTimer = undefined;
      this.#o.hooks.send(
        messages.length === 0 ? held : withoutSuperseded(held, messages).concat(messages),
      );
    } else if (messages.length > 0) this.#o.hooks.send(messages);
  }

  /**
   * Holds a commit-only leader Ready's messages back. Commit notices alone
   * (empty appends) wait up to {@link COMMIT_NOTICE_DELAY_MS} for the next
   * append to the same follower, which carries the commit index anyway: with
   * one client writing, that saves each follower a wake-up, a Ready and a
   * WAL write per request. Anything else goes out on the next turn of the
   * event loop (after I/O queued in this one, the client's response, has
   * been written).
   */
  #sendLater(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    if (this.#held === undefined) this.#held = [];
    let noticesOnly = true;
    for (const m of messages) {
      this.#held.push(m);
      if (!isCommitNotice(m)) noticesOnly = false;
    }
    if (!noticesOnly) {
      if (this.#heldSoon) return;
      this.#heldSoon = true;
      setImmediate(() => {
        this.#heldSoon = false;
        if (!this.#stopped) this.#sendNow([]);
      });
    } else if (this.#heldTimer === undefined && !this.#heldSoon) {
      this.#heldTimer = this.#o.clock.setTimeout(() => {
        this.#heldTimer = undefined;
        if (!this.#stopped) this.#sendNow([]);
      }, COMMIT_NOTICE_DELAY_MS);
    }
  }

  /**
   * How many of `committed`, from the start, are already in the durable log
   * and are not conf changes: those may be applied before this Ready's write
   * completes. The Raft storage receives entries only once their save has
   * resolved, so its last index is the end of the durable log (committed
   * entries are never overwritten).
   */
  #durablePrefix(committed: readonly Entry[]): number {
    const durable = this.#o.raftStorage.lastIndex();
    let n = 0;
    while (n < committed.length) {
      const e = committed[n]!;
      if (e.index > durable || e.type !== EntryType.Normal) break;
      n++;
    }
    return n;
  }
}
