import type { NodeId } from '../types';

/** Outcome of an election (or of a quorum check). */
export type VoteResult = 'pending' | 'lost' | 'won';

/** Returns the acknowledged index of a voter, or undefined if unknown. */
export type AckedIndexer = (id: NodeId) => number | undefined;

const SCRATCH: number[] = new Array<number>(16).fill(0);

// The largest index acknowledged by a majority. An empty config commits
// everything (Infinity) so that a joint config's empty half never holds it back.
export function majorityCommittedIndex(voters: ReadonlySet<NodeId>, acked: AckedIndexer): number {
  const n = voters.size;
  if (n === 0) return Infinity;
  // Small clusters are the norm: insertion sort into a reused buffer avoids
  // allocating on every acknowledgement.
  const srt = n <= SCRATCH.length ? SCRATCH : new Array<number>(n);
  let k = 0;
  for (const id of voters) {
    const v = acked(id) ?? 0;
    let j = k++;
    while (j > 0 && srt[j - 1]! < v) {
      srt[j] = srt[j - 1]!;
      j--;
    }
    srt[j] = v;
  }
  // Sorted descending: the (n/2+1)-th highest value is acked by a majority.
  return srt[Math.floor(n / 2)]!;
}

export function majorityVoteResult(
  voters: ReadonlySet<NodeId>,
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  // An empty config wins, mirroring the committed index rule above.
  if (voters.size === 0) return 'won';
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (yes >= q) return 'won';
  if (yes + missing >= q) return 'pending';
  return 'lost';
}
