import type { JointConfig } from '../quorum/joint';
import { jointCommittedIndex, jointIds, jointVoteResult } from '../quorum/joint';
import type { VoteResult } from '../quorum/majority';
import type { ConfState, NodeId } from '../types';
import { compareIds } from '../types';
import type { Progress } from './progress';

/** Membership as the tracker holds it. */
export interface TrackerConfig {
  voters: JointConfig;
  learners: Set<NodeId>;
  // Learners to add when leaving the joint config: voters demoted while
  // still in the outgoing half cannot be learners yet.
  learnersNext: Set<NodeId>;
  autoLeave: boolean;
}

export function emptyTrackerConfig(): TrackerConfig {
  return {
    voters: { incoming: new Set(), outgoing: new Set() },
    learners: new Set(),
    learnersNext: new Set(),
    autoLeave: false,
  };
}

export function cloneTrackerConfig(c: TrackerConfig): TrackerConfig {
  return {
    voters: { incoming: new Set(c.voters.incoming), outgoing: new Set(c.voters.outgoing) },
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export type ProgressMap = Map<NodeId, Progress>;

function sortedIds(s: Iterable<NodeId>): NodeId[] {
  return [...s].sort(compareIds);
}

// Tracks the configuration, per-peer progress and votes.
export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig();
  progress: ProgressMap = new Map();
  votes = new Map<NodeId, boolean>();
  readonly maxInflight: number;
  readonly maxInflightBytes: number;
  // Sorted IDs cached per config so iteration is deterministic and cheap.
  private ids: NodeId[] = [];

  constructor(maxInflight: number, maxInflightBytes: number) {
    this.maxInflight = maxInflight;
    this.maxInflightBytes = maxInflightBytes;
  }

  setConfig(config: TrackerConfig, progress: ProgressMap): void {
    this.config = config;
    this.progress = progress;
    this.ids = sortedIds(progress.keys());
  }

  confState(): ConfState {
    return {
      voters: sortedIds(this.config.voters.incoming),
      votersOutgoing: sortedIds(this.config.voters.outgoing),
      learners: sortedIds(this.config.learners),
      learnersNext: sortedIds(this.config.learnersNext),
      autoLeave: this.config.autoLeave,
    };
  }

  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && this.config.voters.outgoing.size === 0;
  }

  private readonly acked = (id: NodeId): number | undefined => this.progress.get(id)?.match;

  committed(): number {
    return jointCommittedIndex(this.config.voters, this.acked);
  }

  /** Visits every tracked peer in ascending ID order. */
  visit(f: (id: NodeId, pr: Progress) => void): void {
    for (const id of this.ids) {
      const pr = this.progress.get(id);
      if (pr !== undefined) f(id, pr);
    }
  }

  peerIds(): readonly NodeId[] {
    return this.ids;
  }

  quorumActive(): boolean {
    const votes = new Map<NodeId, boolean>();
    this.visit((id, pr) => {
      if (!pr.isLearner) votes.set(id, pr.recentActive);
    });
    return jointVoteResult(this.config.voters, votes) === 'won';
  }

  voterNodes(): NodeId[] {
    return sortedIds(jointIds(this.config.voters));
  }

  isVoter(id: NodeId): boolean {
    return this.config.voters.incoming.has(id) || this.config.voters.outgoing.has(id);
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  recordVote(id: NodeId, v: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, v);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: jointVoteResult(this.config.voters, this.votes) };
  }

  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    return jointVoteResult(this.config.voters, votes);
  }
}
