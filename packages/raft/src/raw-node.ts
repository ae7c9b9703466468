import { encodeConfChange } from './codec';
import type { RaftConfig } from './config';
import { RaftError, invariant } from './errors';
import { payloadsSize } from './log';
import { Raft, makeMessage } from './raft';
import type { BasicStatus, Status } from './status';
import { getBasicStatus, getStatus } from './status';
import type {
  ConfChange,
  ConfChangeV2,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  ReadState,
  Snapshot,
  SoftState,
} from './types';
import {
  ConfChangeType,
  EMPTY_BYTES,
  EntryType,
  MessageType,
  isLocalMsg,
  isResponseMsg,
} from './types';

/**
 * A batch of work. The application must, in order: persist `snapshot`,
 * `entries` and `hardState` durably; send `messages` (see README for which
 * may go before the write); apply `snapshot` and `committedEntries` (calling
 * applyConfChange for conf entries); then call advance(rd).
 */
export interface Ready {
  /** Present when the leader or role changed. Needs no persistence. */
  readonly softState?: SoftState;
  /** Present when term, vote or commit changed; persist it. */
  readonly hardState?: HardState;
  /** Answers to ReadIndex requests. */
  readonly readStates: readonly ReadState[];
  /** Entries to append to stable storage (may replace a suffix). */
  readonly entries: readonly Entry[];
  /** A snapshot to persist and apply. */
  readonly snapshot?: Snapshot;
  /** Entries to apply to the state machine (after persisting `entries`). */
  readonly committedEntries: readonly Entry[];
  /** Messages to send. */
  readonly messages: readonly Message[];
  /** Whether the write must be synced (fsync) before messages go out. */
  readonly mustSync: boolean;
}

/**
 * A Raft node driven by its caller: no threads, timers or I/O. Tick it, step
 * messages into it, propose, and process Ready batches.
 */
export class RawNode {
  /** The state machine itself; exposed for tests and tooling, not a stable API. */
  readonly raft: Raft;
  private prevSoftSt: SoftState;
  private prevHardSt: HardState;
  private stepsOnAdvance: Message[] = [];

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoftSt = this.raft.softState();
    this.prevHardSt = this.raft.hardState();
  }

  /**
   * Initializes a brand-new node's log with AddNode entries for `peers`
   * (term 1, committed), like etcd's Bootstrap. Fails on a non-empty storage.
   */
  bootstrap(peers: readonly { id: NodeId; context?: Uint8Array }[]): void {
    if (peers.length === 0)
      throw new RaftError('RAFT_CONFIG_INVALID', 'must provide at least one peer to bootstrap');
    const r = this.raft;
    if (r.raftLog.lastIndex() !== 0)
      throw new RaftError('RAFT_CONFIG_INVALID', "can't bootstrap a nonempty storage");
    // Entries as if a leader at term 1 had committed one AddNode per peer.
    r.becomeFollower(1, 0n);
    const ents: Entry[] = peers.map((p, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({
        type: ConfChangeType.AddNode,
        nodeId: p.id,
        context: p.context ?? EMPTY_BYTES,
      }),
    }));
    r.raftLog.append(ents);
    // Committed now, but handed to the application like any committed entry
    // so it sees the conf changes; the membership is applied right away so
    // the node can campaign before the first Ready is processed.
    r.raftLog.committed = ents.length;
    for (const p of peers)
      r.applyConfChange({ type: ConfChangeType.AddNode, nodeId: p.id, context: EMPTY_BYTES });
  }

  /** Advances the logical clock by one tick. */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (pre-vote first if enabled). */
  campaign(): void {
    this.raft.step(makeMessage({ type: MessageType.MsgHup }));
  }

  /** Proposes data to be appended; throws RaftError RAFT_PROPOSAL_DROPPED if it cannot be. */
  propose(data: Uint8Array): void {
    this.raft.step(
      makeMessage({
        type: MessageType.MsgProp,
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: EntryType.Normal, data }],
      }),
    );
  }

  /** Proposes several entries in one message (one append, one broadcast). */
  proposeBatch(data: readonly Uint8Array[]): void {
    if (data.length === 0) return;
    this.raft.step(
      makeMessage({
        type: MessageType.MsgProp,
        from: this.raft.id,
        entries: data.map((d) => ({ term: 0, index: 0, type: EntryType.Normal, data: d })),
      }),
    );
  }

  /** Proposes a membership change; it takes effect when applied via applyConfChange. */
  proposeConfChange(cc: ConfChange | ConfChangeV2): void {
    const type = 'transition' in cc ? EntryType.ConfChangeV2 : EntryType.ConfChange;
    this.raft.step(
      makeMessage({
        type: MessageType.MsgProp,
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type, data: encodeConfChange(cc) }],
      }),
    );
  }

  /** Applies a committed conf change to the node's membership; returns the new ConfState. */
  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** Feeds a message received from a peer. */
  step(m: Message): void {
    if (isLocalMsg(m.type))
      throw new RaftError('RAFT_STEP_LOCAL_MSG', `cannot step local message ${m.type}`);
    if (isResponseMsg(m.type) && !this.raft.trk.progress.has(m.from)) {
      throw new RaftError('RAFT_STEP_PEER_NOT_FOUND', `no progress for ${m.from}`);
    }
    this.raft.step(m);
  }

  /** Requests a linearizable read point; the answer arrives as a ReadState carrying requestCtx. */
  readIndex(requestCtx: Uint8Array): void {
    this.raft.step(
      makeMessage({
        type: MessageType.MsgReadIndex,
        from: this.raft.id,
        entries: [{ term: 0, index: 0, type: EntryType.Normal, data: requestCtx }],
      }),
    );
  }

  /** Tells the leader that `id` could not be reached (its appends were probably lost). */
  reportUnreachable(id: NodeId): void {
    this.raft.step(makeMessage({ type: MessageType.MsgUnreachable, from: id }));
  }

  /** Tells the leader how sending a snapshot to `id` ended. */
  reportSnapshot(id: NodeId, status: 'finish' | 'failure'): void {
    this.raft.step(
      makeMessage({ type: MessageType.MsgSnapStatus, from: id, reject: status === 'failure' }),
    );
  }

  /** Asks the leader to hand leadership to `to` once it is caught up. */
  transferLeadership(to: NodeId): void {
    this.raft.step(makeMessage({ type: MessageType.MsgTransferLeader, from: to }));
  }

  /** Full status, including per-follower progress on the leader. */
  status(): Status {
    return getStatus(this.raft);
  }

  /** Status without the progress map (cheap). */
  basicStatus(): BasicStatus {
    return getBasicStatus(this.raft);
  }

  /** Whether raft.softState() differs from the last one handed out. */
  private softStateChanged(): boolean {
    const r = this.raft;
    const prev = this.prevSoftSt;
    return r.lead !== prev.lead || r.state !== prev.role;
  }

  /** Whether raft.hardState() differs from the last one handed out (field by field). */
  private hardStateChanged(): boolean {
    const r = this.raft;
    const prev = this.prevHardSt;
    return r.term !== prev.term || r.vote !== prev.vote || r.raftLog.committed !== prev.commit;
  }

  /** Whether ready() would return something to do. */
  hasReady(): boolean {
    const r = this.raft;
    // Compared field by field: this runs on every turn of the caller's loop,
    // and building the soft and hard state objects just to compare them was garbage.
    if (this.softStateChanged() || this.hardStateChanged()) return true;
    if (r.raftLog.nextUnstableSnapshot() !== undefined) return true;
    if (r.msgs.length > 0 || r.msgsAfterAppend.length > 0) return true;
    if (r.raftLog.hasNextUnstableEnts() || r.raftLog.hasNextCommittedEnts()) return true;
    if (r.readStates.length > 0) return true;
    return false;
  }

  /** Returns the current batch of work; call advance(rd) once it is done. */
  ready(): Ready {
    invariant(this.stepsOnAdvance.length === 0, 'ready() called twice without advance()');
    const r = this.raft;
    const entries = r.raftLog.nextUnstableEnts();
    const committedEntries = r.raftLog.nextCommittedEnts();
    const messages: Message[] = r.msgs;
    const steps: Message[] = [];
    for (const m of r.msgsAfterAppend) {
      if (m.to === r.id) steps.push(m);
      else messages.push(m);
    }
    const snap = r.raftLog.nextUnstableSnapshot();
    const rd: {
      -readonly [K in keyof Ready]: Ready[K];
    } = {
      readStates: r.readStates,
      entries,
      committedEntries,
      messages,
      mustSync: false,
    };
    if (this.softStateChanged()) {
      const ss = r.softState();
      rd.softState = ss;
      this.prevSoftSt = ss;
    }
    const prevHs = this.prevHardSt;
    // Only new entries, a snapshot or a new term/vote need an fsync; a
    // commit index change alone can be recovered from the log.
    rd.mustSync =
      entries.length > 0 || snap !== undefined || r.term !== prevHs.term || r.vote !== prevHs.vote;
    if (this.hardStateChanged()) {
      const hs = r.hardState();
      rd.hardState = hs;
      this.prevHardSt = hs;
    }
    if (snap !== undefined) rd.snapshot = snap;

    // Accept: this work is now in the application's hands.
    r.msgs = [];
    r.msgsAfterAppend = [];
    r.readStates = [];
    this.stepsOnAdvance = steps;
    r.raftLog.acceptUnstable();
    const last = committedEntries[committedEntries.length - 1];
    if (last !== undefined) r.raftLog.acceptApplying(last.index);
    return rd;
  }

  /** Signals that the work of `rd` is done (persisted, sent, applied). */
  advance(rd: Ready): void {
    const r = this.raft;
    const lastEnt = rd.entries[rd.entries.length - 1];
    if (lastEnt !== undefined) r.raftLog.stableTo(lastEnt.index, lastEnt.term);
    if (rd.snapshot !== undefined) {
      r.raftLog.stableSnapTo(rd.snapshot.metadata.index);
      r.appliedTo(rd.snapshot.metadata.index);
    }
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted !== undefined) {
      r.appliedTo(lastCommitted.index);
      r.reduceUncommittedSize(payloadsSize(rd.committedEntries));
    }
    // Self-addressed responses (our vote, our append ack) count only now
    // that what they vouch for is durable.
    const steps = this.stepsOnAdvance;
    this.stepsOnAdvance = [];
    for (const m of steps) r.step(m);
  }
}
