import type { Raft } from './raft';
import type { ProgressState } from './tracker/progress';
import type { ConfState, HardState, NodeId, SoftState } from './types';

/** A follower's replication progress as seen by the leader. */
export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly pendingSnapshot: number;
  readonly recentActive: boolean;
  readonly paused: boolean;
  readonly inflightCount: number;
  readonly inflightBytes: number;
  readonly isLearner: boolean;
}

/** Cheap status: role, term, leader, commit and applied. */
export interface BasicStatus {
  readonly id: NodeId;
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly applied: number;
  readonly leadTransferee: NodeId;
}

/** Full status: also the configuration and, on the leader, per-peer progress. */
export interface Status extends BasicStatus {
  readonly config: ConfState;
  /** Empty unless this node is the leader. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>;
}

export function getBasicStatus(r: Raft): BasicStatus {
  return {
    id: r.id,
    hardState: r.hardState(),
    softState: r.softState(),
    applied: r.raftLog.applied,
    leadTransferee: r.leadTransferee,
  };
}

export function getStatus(r: Raft): Status {
  const progress = new Map<NodeId, ProgressStatus>();
  if (r.state === 'Leader') {
    r.trk.visit((id, pr) => {
      progress.set(id, {
        match: pr.match,
        next: pr.next,
        state: pr.state,
        pendingSnapshot: pr.pendingSnapshot,
        recentActive: pr.recentActive,
        paused: pr.isPaused(),
        inflightCount: pr.inflights.count,
        inflightBytes: pr.inflights.bytes,
        isLearner: pr.isLearner,
      });
    });
  }
  return { ...getBasicStatus(r), config: r.trk.confState(), progress };
}
