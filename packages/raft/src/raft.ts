import { decodeConfChange, encodeConfChange } from './codec';
import type { ResolvedConfig, RaftConfig } from './config';
import { resolveConfig } from './config';
import type { ChangeResult } from './confchange/confchange';
import { Changer, asV2, entersJoint, leavesJoint, restoreConfState } from './confchange/confchange';
import { RaftError, invariant } from './errors';
import { RaftLog, payloadsSize } from './log';
import { ReadOnly } from './read-only';
import { Inflights } from './tracker/inflights';
import { Progress } from './tracker/progress';
import { ProgressTracker, emptyTrackerConfig } from './tracker/tracker';
import type {
  ConfChange,
  ConfChangeV2,
  ConfState,
  Entry,
  HardState,
  Message,
  MessageType as MessageTypeT,
  NodeId,
  ReadState,
  Snapshot,
  SoftState,
  StateRole as StateRoleT,
} from './types';
import {
  EMPTY_BYTES,
  EntryType,
  MessageType,
  None,
  StateRole,
  bytesEqual,
  isEmptyHardState,
  voteRespMsgType,
} from './types';

type CampaignType = 'pre-election' | 'election' | 'transfer';

// The context marking a vote request caused by leader transfer; such votes
// bypass leader leases (the old leader asked for them).
const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');

/** Builds a full message from the fields that matter. */
/** The entries of a message that carries none: shared (messages are immutable), not one array each. */
const NO_ENTRIES: readonly Entry[] = Object.freeze([]);

export function makeMessage(p: Partial<Message> & { type: MessageTypeT }): Message {
  // Built directly rather than with a spread: a Raft message is made for
  // every proposal and every append, and the spread allocated a throwaway object.
  const m: { -readonly [K in keyof Message]: Message[K] } = {
    type: p.type,
    to: p.to ?? None,
    from: p.from ?? None,
    term: p.term ?? 0,
    logTerm: p.logTerm ?? 0,
    index: p.index ?? 0,
    entries: p.entries ?? NO_ENTRIES,
    commit: p.commit ?? 0,
    reject: p.reject ?? false,
    rejectHint: p.rejectHint ?? 0,
    context: p.context ?? EMPTY_BYTES,
  };
  if (p.snapshot !== undefined) m.snapshot = p.snapshot;
  return m;
}

// The Raft state machine. Everything it wants done is collected in `msgs`,
// `msgsAfterAppend`, `readStates` and the log's unstable part; RawNode turns
// that into Ready batches.
export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  term = 0;
  vote: NodeId = None;
  readStates: ReadState[] = [];
  readonly raftLog: RaftLog;
  readonly trk: ProgressTracker;
  state: StateRoleT = StateRole.Follower;
  isLearner = false;
  // Messages that may be sent right away.
  msgs: Message[] = [];
  // Messages that may only be sent (or, for ourselves, delivered) once the
  // current unstable state is persisted: responses that promise durability.
  msgsAfterAppend: Message[] = [];
  lead: NodeId = None;
  leadTransferee: NodeId = None;
  // Index of the latest conf change proposed by this leader; no new one is
  // accepted until it is applied.
  pendingConfIndex = 0;
  uncommittedSize = 0;
  readOnly: ReadOnly;
  electionElapsed = 0;
  heartbeatElapsed = 0;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly heartbeatTimeout: number;
  readonly electionTimeout: number;
  randomizedElectionTimeout = 0;
  private pendingReadIndexMessages: Message[] = [];
  private readonly random: () => number;

  constructor(config: RaftConfig) {
    const c = resolveConfig(config);
    this.cfg = c;
    this.id = c.id;
    this.random = c.random;
    this.raftLog = new RaftLog(c.storage, c.maxCommittedSizePerReady);
    const { hardState, confState } = c.storage.initialState();
    this.trk = new ProgressTracker(c.maxInflightMsgs, c.maxInflightBytes);
    this.checkQuorum = c.checkQuorum;
    this.preVote = c.preVote;
    this.heartbeatTimeout = c.heartbeatTick;
    this.electionTimeout = c.electionTick;
    this.readOnly = new ReadOnly(c.readOnlyOption);

    const restored = restoreConfState(
      confState,
      this.raftLog.lastIndex(),
      c.maxInflightMsgs,
      c.maxInflightBytes,
      {
        config: emptyTrackerConfig(),
        progress: new Map(),
      },
    );
    const cs = this.switchToConfig(restored);
    assertConfStatesEquivalent(cs, confState);

    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (c.applied > 0) this.raftLog.appliedTo(c.applied);
    this.becomeFollower(this.term, None);
  }

  private log(level: 'debug' | 'info' | 'warn', msg: string): void {
    const l = this.cfg.logger;
    if (l) l[level](`${this.id} ${msg}`);
  }

  softState(): SoftState {
    return { lead: this.lead, role: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  // --- sending ------------------------------------------------------------

  send(m: Message): void {
    const t = m.type;
    let term = m.term;
    if (
      t === MessageType.MsgVote ||
      t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVote ||
      t === MessageType.MsgPreVoteResp
    ) {
      // Vote messages carry the term they are for (pre-votes a future one).
      if (term === 0) invariant(false, `term should be set when sending ${t}`);
    } else {
      if (term !== 0) invariant(false, `term should not be set when sending ${t} (was ${term})`);
      // Proposals and read requests are forwarded as local messages.
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) term = this.term;
    }
    // One copy at most: messages are immutable once queued.
    const msg =
      m.from === None || term !== m.term
        ? { ...m, from: m.from === None ? this.id : m.from, term }
        : m;
    if (
      t === MessageType.MsgAppResp ||
      t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVoteResp
    ) {
      this.msgsAfterAppend.push(msg);
    } else {
      if (msg.to === this.id)
        invariant(false, `message should not be self-addressed when sending ${t}`);
      this.msgs.push(msg);
    }
  }

  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  // Sends an append (or a snapshot) to `to` if its progress allows. Returns
  // whether a message was sent.
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.termOrUndefined(prevIndex);
    let ents: Entry[] = [];
    let entsErr = false;
    // With a full window we still send an empty append, which lets a
    // follower whose appends were all lost tell us where it really is.
    if (pr.state !== 'replicate' || !pr.inflights.full()) {
      try {
        ents = this.raftLog.entries(pr.next, this.cfg.maxSizePerMsg);
      } catch (e) {
        if (
          !(e instanceof RaftError) ||
          (e.code !== 'RAFT_COMPACTED' && e.code !== 'RAFT_UNAVAILABLE')
        )
          throw e;
        entsErr = true;
      }
    }
    if (ents.length === 0 && !sendIfEmpty && !entsErr && prevTerm !== undefined) return false;
    if (prevTerm === undefined || entsErr) return this.maybeSendSnapshot(to, pr);
    this.send(
      makeMessage({
        type: MessageType.MsgApp,
        to,
        index: prevIndex,
        logTerm: prevTerm,
        entries: ents,
        commit: this.raftLog.committed,
      }),
    );
    pr.sentEntries(ents.length, payloadsSize(ents));
    pr.sentCommitTo(this.raftLog.committed);
    return true;
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // Only send a (costly) snapshot to a follower we have heard from lately.
    if (!pr.recentActive) return false;
    let snapshot: Snapshot;
    try {
      snapshot = this.raftLog.snapshot();
    } catch (e) {
      if (e instanceof RaftError && e.code === 'RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE')
        return false;
      throw e;
    }
    invariant(snapshot.metadata.index !== 0, 'need non-empty snapshot');
    pr.becomeSnapshot(snapshot.metadata.index);
    this.send(makeMessage({ type: MessageType.MsgSnap, to, snapshot }));
    return true;
  }

  private sendHeartbeat(to: NodeId, ctx: Uint8Array): void {
    const pr = this.trk.progress.get(to)!;
    // Never tell a follower to commit beyond what it is known to have.
    const commit = Math.min(pr.match, this.raftLog.committed);
    pr.sentCommitTo(commit);
    this.send(makeMessage({ type: MessageType.MsgHeartbeat, to, commit, context: ctx }));
  }

  bcastAppend(): void {
    for (const id of this.trk.peerIds()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestCtx() ?? EMPTY_BYTES);
  }

  private bcastHeartbeatWithCtx(ctx: Uint8Array): void {
    for (const id of this.trk.peerIds()) if (id !== this.id) this.sendHeartbeat(id, ctx);
  }

  // --- state transitions ----------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = None;
    }
    this.lead = None;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.raftLog.lastIndex();
    this.trk.visit((id, pr) => {
      const np = new Progress(
        last + 1,
        new Inflights(this.trk.maxInflight, this.trk.maxInflightBytes),
        pr.isLearner,
        false,
      );
      if (id === this.id) np.match = last;
      this.trk.progress.set(id, np);
    });
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.readOnly.option);
    this.pendingReadIndexMessages = [];
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout =
      this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.state = StateRole.Follower;
    this.log('info', `became follower at term ${this.term}`);
  }

  becomeCandidate(): void {
    invariant(this.state !== StateRole.Leader, 'invalid transition [leader -> candidate]');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = StateRole.Candidate;
    this.log('info', `became candidate at term ${this.term}`);
  }

  becomePreCandidate(): void {
    invariant(this.state !== StateRole.Leader, 'invalid transition [leader -> pre-candidate]');
    // A pre-candidate changes neither term nor vote: that is the point.
    this.trk.resetVotes();
    this.lead = None;
    this.state = StateRole.PreCandidate;
    this.log('info', `became pre-candidate at term ${this.term}`);
  }

  becomeLeader(): void {
    invariant(this.state !== StateRole.Follower, 'invalid transition [follower -> leader]');
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateRole.Leader;
    const pr = this.trk.progress.get(this.id)!;
    pr.becomeReplicate();
    pr.recentActive = true;
    // Conservatively treat every unapplied entry as a possible conf change.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // An empty entry from our term lets us commit (figure 8) and learn the
    // commit index quickly.
    const ok = this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }]);
    invariant(ok, 'empty entry was dropped');
    this.log('info', `became leader at term ${this.term}`);
  }

  private hup(t: CampaignType): void {
    if (this.state === StateRole.Leader) return;
    if (!this.promotable()) return;
    if (this.hasUnappliedConfChanges()) {
      this.log('warn', 'cannot campaign: pending configuration changes to apply');
      return;
    }
    this.campaign(t);
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.raftLog.applied >= this.raftLog.committed) return false;
    const lo = Math.max(this.raftLog.applied + 1, this.raftLog.firstIndex());
    if (lo > this.raftLog.committed) return false;
    const ents = this.raftLog.slice(lo, this.raftLog.committed + 1, undefined);
    return ents.some((e) => e.type !== EntryType.Normal);
  }

  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasNextOrInProgressSnapshot();
  }

  private campaign(t: CampaignType): void {
    if (!this.promotable()) return;
    let term: number;
    let voteMsg: MessageTypeT;
    if (t === 'pre-election') {
      this.becomePreCandidate();
      voteMsg = MessageType.MsgPreVote;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.MsgVote;
      term = this.term;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.trk.voterNodes()) {
      if (id === this.id) {
        // Our own vote is counted once it is durable (delivered on advance).
        this.send(makeMessage({ type: voteRespMsgType(voteMsg), to: id, term }));
        continue;
      }
      this.send(
        makeMessage({
          type: voteMsg,
          to: id,
          term,
          index: lastIndex,
          logTerm: lastTerm,
          context: t === 'transfer' ? CAMPAIGN_TRANSFER : EMPTY_BYTES,
        }),
      );
    }
  }

  private poll(id: NodeId, v: boolean): 'pending' | 'lost' | 'won' {
    this.trk.recordVote(id, v);
    return this.trk.tallyVotes().result;
  }

  // --- log ------------------------------------------------------------------

  appendEntry(es: readonly Entry[]): boolean {
    let li = this.raftLog.lastIndex();
    const ents: Entry[] = new Array<Entry>(es.length);
    for (let i = 0; i < es.length; i++) {
      const e = es[i]!;
      ents[i] = { term: this.term, index: li + 1 + i, type: e.type, data: e.data };
    }
    if (!this.increaseUncommittedSize(ents)) return false;
    li = this.raftLog.append(ents);
    // Self-acknowledge once persisted: delivered back to us on advance. Built
    // with the from and term send() would fill in and queued as send() queues
    // an MsgAppResp, so there is no second copy per proposal.
    this.msgsAfterAppend.push(
      makeMessage({
        type: MessageType.MsgAppResp,
        to: this.id,
        from: this.id,
        term: this.term,
        index: li,
      }),
    );
    return true;
  }

  maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.trk.committed(), this.term);
  }

  private increaseUncommittedSize(ents: readonly Entry[]): boolean {
    const s = payloadsSize(ents);
    // Always admit at least one proposal, and empty entries (leader no-ops).
    if (
      this.uncommittedSize > 0 &&
      s > 0 &&
      this.uncommittedSize + s > this.cfg.maxUncommittedEntriesSize
    )
      return false;
    this.uncommittedSize += s;
    return true;
  }

  reduceUncommittedSize(s: number): void {
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  appliedTo(index: number): void {
    const newApplied = Math.max(index, this.raftLog.applied);
    this.raftLog.appliedTo(newApplied);
    if (
      this.trk.config.autoLeave &&
      newApplied >= this.pendingConfIndex &&
      this.state === StateRole.Leader
    ) {
      // Leave the joint config now that entering it is applied.
      const data = encodeConfChange({ transition: 'auto', changes: [], context: EMPTY_BYTES });
      try {
        this.step(
          makeMessage({
            type: MessageType.MsgProp,
            from: this.id,
            entries: [{ term: 0, index: 0, type: EntryType.ConfChangeV2, data }],
          }),
        );
        this.log('info', 'initiating automatic transition out of joint configuration');
      } catch (e) {
        this.log('warn', `not initiating automatic leave of joint config: ${String(e)}`);
      }
    }
  }

  // --- ticking ----------------------------------------------------------------

  tick(): void {
    if (this.state === StateRole.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(makeMessage({ type: MessageType.MsgHup, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum)
        this.step(makeMessage({ type: MessageType.MsgCheckQuorum, from: this.id }));
      // A transfer that has not finished within an election timeout is abandoned.
      if (this.state === StateRole.Leader && this.leadTransferee !== None)
        this.abortLeaderTransfer();
    }
    if (this.state !== StateRole.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(makeMessage({ type: MessageType.MsgBeat, from: this.id }));
    }
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  // --- stepping ----------------------------------------------------------------

  /** Feeds one message; throws RaftError RAFT_PROPOSAL_DROPPED for refused proposals. */
  step(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER);
        const inLease =
          this.checkQuorum && this.lead !== None && this.electionElapsed < this.electionTimeout;
        // With CheckQuorum, a node that heard from a live leader recently
        // ignores vote requests: this stops a rejoining node from disrupting.
        if (!force && inLease) return;
      }
      if (m.type === MessageType.MsgPreVote) {
        // Never change our term in response to a pre-vote.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // The term in a granted pre-vote is our future one; we bump it when we win.
      } else if (
        m.type === MessageType.MsgApp ||
        m.type === MessageType.MsgHeartbeat ||
        m.type === MessageType.MsgSnap
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, None);
      }
    } else if (m.term < this.term) {
      if (
        (this.checkQuorum || this.preVote) &&
        (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)
      ) {
        // A stale leader (e.g. after a partition) would otherwise never learn
        // of the newer term when our vote requests are ignored or never sent.
        this.send(makeMessage({ type: MessageType.MsgAppResp, to: m.from }));
      } else if (m.type === MessageType.MsgPreVote) {
        // Reject so the pre-candidate learns our term and does not wait.
        this.send(
          makeMessage({
            type: MessageType.MsgPreVoteResp,
            to: m.from,
            term: this.term,
            reject: true,
          }),
        );
      }
      return;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        this.hup(this.preVote ? 'pre-election' : 'election');
        return;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote: {
        const canVote =
          this.vote === m.from ||
          (this.vote === None && this.lead === None) ||
          (m.type === MessageType.MsgPreVote && m.term > this.term);
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          // The response carries the request's term: for pre-votes that is a
          // term we have not entered ourselves.
          this.send(makeMessage({ type: voteRespMsgType(m.type), to: m.from, term: m.term }));
          if (m.type === MessageType.MsgVote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send(
            makeMessage({
              type: voteRespMsgType(m.type),
              to: m.from,
              term: this.term,
              reject: true,
            }),
          );
        }
        return;
      }
      default:
        if (this.state === StateRole.Leader) this.stepLeader(m);
        else if (this.state === StateRole.Follower) this.stepFollower(m);
        else this.stepCandidate(m);
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.MsgBeat:
        this.bcastHeartbeat();
        return;
      case MessageType.MsgCheckQuorum:
        if (!this.trk.quorumActive()) {
          this.log('warn', 'stepped down to follower since quorum is not active');
          this.becomeFollower(this.term, None);
        }
        // Everyone but us must prove liveness again before the next check.
        this.trk.visit((id, pr) => {
          if (id !== this.id) pr.recentActive = false;
        });
        return;
      case MessageType.MsgProp:
        this.stepLeaderProp(m);
        return;
      case MessageType.MsgReadIndex:
        if (this.trk.isSingleton()) {
          this.respondToReadIndex(m, this.raftLog.committed);
          return;
        }
        // Until an entry of our term commits, our commit index may lag the
        // true one (figure 8), so reads wait.
        if (!this.committedEntryInCurrentTerm()) {
          this.pendingReadIndexMessages.push(m);
          return;
        }
        this.sendReadIndexResponse(m);
        return;
      default:
        break;
    }

    const pr = this.trk.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case MessageType.MsgAppResp:
        this.handleAppResp(m, pr);
        return;
      case MessageType.MsgHeartbeatResp: {
        pr.recentActive = true;
        pr.msgAppFlowPaused = false;
        if (pr.match < this.raftLog.lastIndex() || pr.canBumpCommit(this.raftLog.committed))
          this.sendAppend(m.from);
        if (this.readOnly.option !== 'safe' || m.context.length === 0) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (acks === undefined || this.trk.voteResult(acks) !== 'won') return;
        for (const rs of this.readOnly.advance(m)) this.respondToReadIndex(rs.req, rs.index);
        return;
      }
      case MessageType.MsgSnapStatus:
        if (pr.state !== 'snapshot') return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for a heartbeat response before probing: the follower may
        // still be applying the snapshot.
        pr.msgAppFlowPaused = true;
        return;
      case MessageType.MsgUnreachable:
        // Optimistic replication was probably lost; probe again.
        if (pr.state === 'replicate') pr.becomeProbe();
        return;
      case MessageType.MsgTransferLeader: {
        if (pr.isLearner) return;
        const transferee = m.from;
        if (this.leadTransferee !== None) {
          if (this.leadTransferee === transferee) return;
          this.abortLeaderTransfer();
        }
        if (transferee === this.id) return;
        // The transfer must finish within an election timeout.
        this.electionElapsed = 0;
        this.leadTransferee = transferee;
        if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(transferee);
        else this.sendAppend(transferee);
        return;
      }
      default:
        return;
    }
  }

  private stepLeaderProp(m: Message): void {
    invariant(m.entries.length > 0, 'stepped empty MsgProp');
    if (!this.trk.progress.has(this.id)) {
      throw new RaftError('RAFT_PROPOSAL_DROPPED', 'this node was removed from the configuration');
    }
    if (this.leadTransferee !== None) {
      throw new RaftError(
        'RAFT_PROPOSAL_DROPPED',
        `leadership transfer to ${this.leadTransferee} in progress`,
      );
    }
    let entries = m.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.type === EntryType.Normal) continue;
      const cc = asV2(decodeConfChange(e.data));
      const alreadyPending = this.pendingConfIndex > this.raftLog.applied;
      const alreadyJoint = this.trk.config.voters.outgoing.size > 0;
      const wantsLeaveJoint = leavesJoint(cc);
      let failed = '';
      if (alreadyPending) {
        failed = `possible unapplied conf change at index ${this.pendingConfIndex} (applied to ${this.raftLog.applied})`;
      } else if (alreadyJoint && !wantsLeaveJoint)
        failed = 'must transition out of joint config first';
      else if (!alreadyJoint && wantsLeaveJoint)
        failed = 'not in joint state; refusing empty conf change';
      if (failed !== '') {
        // Keep the proposal's position but make it a no-op, as etcd does.
        this.log('info', `ignoring conf change: ${failed}`);
        const copy = entries.slice();
        copy[i] = { term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES };
        entries = copy;
      } else {
        this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
      }
    }
    if (!this.appendEntry(entries)) {
      throw new RaftError(
        'RAFT_PROPOSAL_DROPPED',
        'too many uncommitted entries (maxUncommittedEntriesSize)',
      );
    }
    this.bcastAppend();
  }

  private handleAppResp(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      // The follower told us (rejectHint, logTerm) is its best possible
      // match; skip every index of ours above it whose term is larger.
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) nextProbe = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm)[0];
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe')) {
      if (pr.state === 'probe') pr.becomeReplicate();
      else if (pr.state === 'snapshot' && pr.match + 1 >= this.raftLog.firstIndex()) {
        // Caught up past the compaction point: entries can flow again.
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

      if (this.maybeCommit()) {
        this.releasePendingReadIndexMessages();
        this.bcastAppend();
      } else if (m.from !== this.id && pr.canBumpCommit(this.raftLog.committed)) {
        // The commit index moved while this follower's append was in flight.
        this.sendAppend(m.from);
      }
      if (m.from !== this.id) {
        // Flow control may have opened: send as much as allowed.
        while (this.maybeSendAppend(m.from, false)) {
          /* keep sending */
        }
      }
      if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
        this.sendTimeoutNow(m.from);
      }
    }
  }

  private stepCandidate(m: Message): void {
    const myVoteResp =
      this.state === StateRole.PreCandidate ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp;
    switch (m.type) {
      case MessageType.MsgProp:
        throw new RaftError('RAFT_PROPOSAL_DROPPED', 'no leader (election in progress)');
      case MessageType.MsgApp:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.MsgHeartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.MsgSnap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myVoteResp: {
        const res = this.poll(m.from, !m.reject);
        if (res === 'won') {
          if (this.state === StateRole.PreCandidate) this.campaign('election');
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === 'lost') {
          // A pre-candidate's term never moved, so this is safe for both.
          this.becomeFollower(this.term, None);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.MsgProp:
        if (this.lead === None) throw new RaftError('RAFT_PROPOSAL_DROPPED', 'no leader');
        if (this.cfg.disableProposalForwarding) {
          throw new RaftError('RAFT_PROPOSAL_DROPPED', 'proposal forwarding is disabled');
        }
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.MsgApp:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.MsgHeartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.MsgSnap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.MsgTransferLeader:
        if (this.lead === None) return;
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.MsgTimeoutNow:
        // The leader chose us: campaign now, skipping pre-vote and leases.
        this.hup('transfer');
        return;
      case MessageType.MsgReadIndex:
        if (this.lead === None)
          throw new RaftError('RAFT_PROPOSAL_DROPPED', 'no leader to serve the read index');
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.MsgReadIndexResp:
        if (m.entries.length !== 1) return;
        this.readStates.push({ index: m.index, requestCtx: m.entries[0]!.data });
        return;
      default:
        return;
    }
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send(
        makeMessage({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.committed }),
      );
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(makeMessage({ type: MessageType.MsgAppResp, to: m.from, index: lastNew }));
      return;
    }
    // Reject with a hint: the largest index whose term is <= the leader's
    // logTerm, so the leader can skip a whole term of mismatches at once.
    const hintIndex = Math.min(m.index, this.raftLog.lastIndex());
    const [idx, term] = this.raftLog.findConflictByTerm(hintIndex, m.logTerm);
    this.send(
      makeMessage({
        type: MessageType.MsgAppResp,
        to: m.from,
        index: m.index,
        reject: true,
        rejectHint: idx,
        logTerm: term,
      }),
    );
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    this.send(makeMessage({ type: MessageType.MsgHeartbeatResp, to: m.from, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (s === undefined) return;
    if (this.restore(s)) {
      this.send(
        makeMessage({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.lastIndex() }),
      );
    } else {
      this.send(
        makeMessage({ type: MessageType.MsgAppResp, to: m.from, index: this.raftLog.committed }),
      );
    }
  }

  // Installs a snapshot from the leader; false when it is stale or already covered.
  private restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.raftLog.committed) return false;
    if (this.state !== StateRole.Follower) {
      // Only followers install snapshots; defend against misuse.
      this.becomeFollower(this.term + 1, None);
      return false;
    }
    const cs = s.metadata.confState;
    const found = [cs.voters, cs.learners, cs.votersOutgoing].some((ids) => ids.includes(this.id));
    if (!found) {
      this.log('warn', 'attempted to restore snapshot but it is not in the ConfState');
      return false;
    }
    if (this.raftLog.matchTerm(s.metadata.index, s.metadata.term)) {
      // We already have the entries: just fast-forward the commit index.
      this.raftLog.commitTo(s.metadata.index);
      return false;
    }
    this.raftLog.restore(s);
    const restored = restoreConfState(
      cs,
      this.raftLog.lastIndex(),
      this.trk.maxInflight,
      this.trk.maxInflightBytes,
      {
        config: emptyTrackerConfig(),
        progress: new Map(),
      },
    );
    assertConfStatesEquivalent(this.switchToConfig(restored), cs);
    return true;
  }

  // --- membership ----------------------------------------------------------

  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState {
    const v2 = asV2(cc);
    const changer = new Changer(
      this.trk.config,
      this.trk.progress,
      this.raftLog.lastIndex(),
      this.trk.maxInflight,
      this.trk.maxInflightBytes,
    );
    let res: ChangeResult;
    if (leavesJoint(v2)) res = changer.leaveJoint();
    else {
      const j = entersJoint(v2);
      res = j.joint ? changer.enterJoint(j.autoLeave, v2.changes) : changer.simple(v2.changes);
    }
    return this.switchToConfig(res);
  }

  private switchToConfig(res: ChangeResult): ConfState {
    this.trk.setConfig(res.config, res.progress);
    const cs = this.trk.confState();
    const pr = this.trk.progress.get(this.id);
    this.isLearner = pr !== undefined && pr.isLearner;
    if ((pr === undefined || this.isLearner) && this.state === StateRole.Leader) {
      // Removed or demoted leader: keep serving until the application says
      // otherwise, unless configured to step down.
      if (this.cfg.stepDownOnRemoval) this.becomeFollower(this.term, None);
      return cs;
    }
    if (this.state !== StateRole.Leader || cs.voters.length === 0) return cs;
    // The quorum changed: we may be able to commit, and new peers need probing.
    if (this.maybeCommit()) this.bcastAppend();
    else {
      for (const id of this.trk.peerIds()) if (id !== this.id) this.maybeSendAppend(id, false);
    }
    if (this.leadTransferee !== None && !this.trk.isVoter(this.leadTransferee))
      this.abortLeaderTransfer();
    return cs;
  }

  // --- misc ------------------------------------------------------------------

  private loadState(hs: HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      throw new RaftError(
        'RAFT_INVARIANT',
        `hardState commit ${hs.commit} out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
      );
    }
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(makeMessage({ type: MessageType.MsgTimeoutNow, to }));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = None;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrUndefined(this.raftLog.committed) === this.term;
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendReadIndexResponse(m);
  }

  private sendReadIndexResponse(m: Message): void {
    if (this.readOnly.option === 'safe') {
      const ctx = m.entries[0]!.data;
      this.readOnly.addRequest(this.raftLog.committed, m);
      // The leader acknowledges its own request.
      this.readOnly.recvAck(this.id, ctx);
      this.bcastHeartbeatWithCtx(ctx);
    } else {
      this.respondToReadIndex(m, this.raftLog.committed);
    }
  }

  private respondToReadIndex(req: Message, index: number): void {
    if (req.from === None || req.from === this.id) {
      this.readStates.push({ index, requestCtx: req.entries[0]!.data });
      return;
    }
    this.send(
      makeMessage({
        type: MessageType.MsgReadIndexResp,
        to: req.from,
        index,
        entries: req.entries,
      }),
    );
  }
}

function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

function assertConfStatesEquivalent(a: ConfState, b: ConfState): void {
  const ok =
    sameIds(a.voters, b.voters) &&
    sameIds(a.learners, b.learners) &&
    sameIds(a.votersOutgoing, b.votersOutgoing) &&
    sameIds(a.learnersNext, b.learnersNext) &&
    a.autoLeave === b.autoLeave;
  invariant(ok, 'restored ConfState differs from the stored one');
}
