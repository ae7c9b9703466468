/**
 * The history of one user key: a list of generations. A generation starts
 * with the put that (re)creates the key and ends with the tombstone that
 * deletes it; the last generation is the live one (empty after a delete).
 * Revisions are stored flat ([main0, sub0, main1, sub1, ...]) to keep the
 * per-key memory small.
 */

/** What a read at some revision needs from the index. */
export interface IndexHit {
  readonly main: number;
  readonly sub: number;
  readonly createRevision: number;
  readonly version: number;
}

interface Generation {
  /** Main revision of the put that created this generation. */
  created: number;
  /** Number of puts (and the closing tombstone) ever made in the generation. */
  version: number;
  /** Flat (main, sub) pairs in increasing order; the tombstone is last when closed. */
  revs: number[];
}

export class KeyIndex {
  /** Oldest first; the last one is live (empty when the key is deleted). */
  private gens: Generation[] = [{ created: 0, version: 0, revs: [] }];
  /** Lease attached to the live version (0n when none or deleted). */
  lease = 0n;

  constructor(readonly key: string) {}

  private get live(): Generation {
    return this.gens[this.gens.length - 1] as Generation;
  }

  /** True when the key currently exists (the live generation holds a put). */
  isLive(): boolean {
    return this.live.revs.length > 0;
  }

  /** The current version and creation revision, when live. */
  liveInfo(): { createRevision: number; version: number } | undefined {
    const g = this.live;
    return g.revs.length > 0 ? { createRevision: g.created, version: g.version } : undefined;
  }

  /** Record a put at (main, sub); revisions must increase. */
  put(main: number, sub: number, createRevision = main, version?: number): void {
    const g = this.live;
    if (g.revs.length === 0) {
      g.created = createRevision;
      g.version = version ?? 1;
    } else {
      g.version = version ?? g.version + 1;
    }
    g.revs.push(main, sub);
  }

  /** Record a delete at (main, sub) and open a new, empty generation. No-op when not live. */
  tombstone(main: number, sub: number): boolean {
    const g = this.live;
    if (g.revs.length === 0) return false;
    g.revs.push(main, sub);
    g.version++;
    this.gens.push({ created: 0, version: 0, revs: [] });
    return true;
  }

  /** The version visible at revision `at` (main revisions <= at), if the key existed then. */
  get(at: number): IndexHit | undefined {
    const gens = this.gens;
    for (let gi = gens.length - 1; gi >= 0; gi--) {
      const g = gens[gi] as Generation;
      const revs = g.revs;
      const n = revs.length;
      if (n === 0) continue;
      const closed = gi < gens.length - 1;
      // A closed generation whose tombstone is at or before `at`: deleted then.
      if (closed && (revs[n - 2] as number) <= at) return undefined;
      if ((revs[0] as number) > at) continue;
      for (let i = n - 2; i >= 0; i -= 2) {
        const main = revs[i] as number;
        if (main <= at) {
          return {
            main,
            sub: revs[i + 1] as number,
            createRevision: g.created,
            version: g.version - (n - 2 - i) / 2,
          };
        }
      }
    }
    return undefined;
  }

  /**
   * The revision compaction at `at` keeps for this key (the newest at or
   * below `at` of a generation still alive at `at`), without changing anything.
   */
  keep(at: number): [number, number] | undefined {
    const gi = this.firstAliveGeneration(at);
    const revs = (this.gens[gi] as Generation).revs;
    const i = newestAtOrBelow(revs, at);
    return i < 0 ? undefined : [revs[i] as number, revs[i + 1] as number];
  }

  /**
   * Drop history that no read at or after `at` needs. Calls `kept` with the
   * revision kept, if any. Returns true when nothing is left (the key can
   * leave the tree).
   */
  compact(at: number, kept?: (main: number, sub: number) => void): boolean {
    const gi = this.firstAliveGeneration(at);
    if (gi > 0) this.gens = this.gens.slice(gi);
    const g = this.gens[0] as Generation;
    const i = newestAtOrBelow(g.revs, at);
    if (i > 0) g.revs = g.revs.slice(i);
    if (i >= 0) kept?.(g.revs[0] as number, g.revs[1] as number);
    return this.gens.length === 1 && g.revs.length === 0;
  }

  /** Every revision still indexed, oldest first, as flat (main, sub) pairs (tests, debugging). */
  revisions(): number[] {
    const out: number[] = [];
    for (const g of this.gens) out.push(...g.revs);
    return out;
  }

  /** Index of the first generation not closed by a tombstone at or before `at`. */
  private firstAliveGeneration(at: number): number {
    let gi = 0;
    while (gi < this.gens.length - 1) {
      const revs = (this.gens[gi] as Generation).revs;
      if ((revs[revs.length - 2] as number) > at) break;
      gi++;
    }
    return gi;
  }
}

/** Index (into a flat pair array) of the newest revision with main <= at, or -1. */
function newestAtOrBelow(revs: number[], at: number): number {
  for (let i = revs.length - 2; i >= 0; i -= 2) if ((revs[i] as number) <= at) return i;
  return -1;
}
