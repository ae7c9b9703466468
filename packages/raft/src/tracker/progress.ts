import type { Inflights } from './inflights';

/** Flow-control state of a follower as seen by the leader. */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

// The leader's view of one follower. In probe, at most one append is in
// flight until the follower answers; in replicate, appends stream up to the
// inflights window; in snapshot, nothing is sent until the snapshot resolves.
export class Progress {
  match = 0;
  next = 1;
  state: ProgressState = 'probe';
  pendingSnapshot = 0;
  recentActive = false;
  msgAppFlowPaused = false;
  // The highest commit index we told this follower about, so we know when
  // an otherwise empty append is worth sending just to advance its commit.
  sentCommit = 0;
  inflights: Inflights;
  isLearner: boolean;

  constructor(next: number, inflights: Inflights, isLearner: boolean, recentActive: boolean) {
    this.next = next;
    this.inflights = inflights;
    this.isLearner = isLearner;
    this.recentActive = recentActive;
  }

  /** Shallow copy sharing the inflights window, as config changes need. */
  clone(): Progress {
    const p = new Progress(this.next, this.inflights, this.isLearner, this.recentActive);
    p.match = this.match;
    p.state = this.state;
    p.pendingSnapshot = this.pendingSnapshot;
    p.msgAppFlowPaused = this.msgAppFlowPaused;
    p.sentCommit = this.sentCommit;
    return p;
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it: the follower has at least that.
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** Bookkeeping after sending a MsgApp carrying `entries` entries of `bytes` payload. */
  sentEntries(entries: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (entries > 0) {
        this.next += entries;
        this.inflights.add(this.next - 1, bytes);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (this.state === 'probe') {
      // One probe at a time; a heartbeat response unpauses.
      this.msgAppFlowPaused = true;
    }
  }

  /** Whether the follower has entries it could commit if told our commit index. */
  canBumpCommit(committed: number): boolean {
    return committed > this.sentCommit && this.sentCommit < this.next - 1;
  }

  /** Records that commit index `commit` was sent. */
  sentCommitTo(commit: number): void {
    if (commit > this.sentCommit) this.sentCommit = commit;
  }

  /** Records an acknowledged index; returns whether match advanced. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * Handles a rejection of the append at index `rejected`; matchHint is the
   * highest index that might still match. Returns false for stale rejections.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe, only the rejection of the append we sent (next-1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    if (this.state === 'snapshot') return true;
    return this.msgAppFlowPaused;
  }
}
