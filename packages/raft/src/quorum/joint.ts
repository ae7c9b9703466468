import type { NodeId } from '../types';
import type { AckedIndexer, VoteResult } from './majority';
import { majorityCommittedIndex, majorityVoteResult } from './majority';

// A joint configuration: decisions need a majority of both halves. When not
// joint, the outgoing half is empty and always agrees.
export interface JointConfig {
  readonly incoming: Set<NodeId>;
  readonly outgoing: Set<NodeId>;
}

export function jointCommittedIndex(c: JointConfig, acked: AckedIndexer): number {
  return Math.min(
    majorityCommittedIndex(c.incoming, acked),
    majorityCommittedIndex(c.outgoing, acked),
  );
}

export function jointVoteResult(c: JointConfig, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const r1 = majorityVoteResult(c.incoming, votes);
  const r2 = majorityVoteResult(c.outgoing, votes);
  if (r1 === r2) return r1;
  if (r1 === 'lost' || r2 === 'lost') return 'lost';
  return 'pending';
}

export function jointIds(c: JointConfig): Set<NodeId> {
  const s = new Set(c.incoming);
  for (const id of c.outgoing) s.add(id);
  return s;
}
