// The KeyIndex as it was before the live generation got its compact form
// (one array per generation), kept as the oracle of key-index.test.ts.
/**
 * The history of one user key: a list of generations. A generation starts
 * with the put that (re)creates the key and ends with the tombstone that
 * deletes it; the last generation is the live one (empty after a delete).
 *
 * Memory matters (one of these per key): the live generation's fields sit on
 * the KeyIndex itself and closed generations exist only for keys deleted
 * since the last compaction. Revisions are stored flat ([main0, sub0, main1,
 * sub1, ...]) in exactly sized arrays.
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

const NONE: number[] = [];

export class ReferenceKeyIndex implements Generation {
  // The live generation (empty `revs` when the key is deleted).
  created = 0;
  version = 0;
  revs: number[] = NONE;
  /** Closed generations, oldest first; undefined when there are none. */
  private older: Generation[] | undefined = undefined;
  /** Lease attached to the live version (0n when none or deleted). */
  lease = 0n;

  constructor(readonly key: string) {}

  private get count(): number {
    return (this.older?.length ?? 0) + 1;
  }

  /** Generation i, oldest first; the last is the live one (this). */
  private gen(i: number): Generation {
    const older = this.older;
    return older !== undefined && i < older.length ? (older[i] as Generation) : this;
  }

  /** True when the key currently exists (the live generation holds a put). */
  isLive(): boolean {
    return this.revs.length > 0;
  }

  /** The current version and creation revision, when live. */
  liveInfo(): { createRevision: number; version: number } | undefined {
    return this.revs.length > 0
      ? { createRevision: this.created, version: this.version }
      : undefined;
  }

  /** Record a put at (main, sub); revisions must increase. */
  put(main: number, sub: number, createRevision = main, version?: number): void {
    if (this.revs.length === 0) {
      this.created = createRevision;
      this.version = version ?? 1;
      this.revs = [main, sub];
    } else {
      this.version = version ?? this.version + 1;
      this.revs.push(main, sub);
    }
  }

  /** Record a delete at (main, sub) and open a new, empty generation. No-op when not live. */
  tombstone(main: number, sub: number): boolean {
    if (this.revs.length === 0) return false;
    this.revs.push(main, sub);
    const closed: Generation = {
      created: this.created,
      version: this.version + 1,
      revs: this.revs,
    };
    if (this.older === undefined) this.older = [closed];
    else this.older.push(closed);
    this.created = 0;
    this.version = 0;
    this.revs = NONE;
    return true;
  }

  /** The version visible at revision `at` (main revisions <= at), if the key existed then. */
  get(at: number): IndexHit | undefined {
    const count = this.count;
    for (let gi = count - 1; gi >= 0; gi--) {
      const g = this.gen(gi);
      const revs = g.revs;
      const n = revs.length;
      if (n === 0) continue;
      // A closed generation whose tombstone is at or before `at`: deleted then.
      if (gi < count - 1 && (revs[n - 2] as number) <= at) return undefined;
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
    const revs = this.gen(this.firstAliveGeneration(at)).revs;
    const i = newestAtOrBelow(revs, at);
    return i < 0 ? undefined : [revs[i] as number, revs[i + 1] as number];
  }

  /** Whether (main, sub) is the revision compaction at `at` keeps (see {@link keep}); allocation-free. */
  keeps(at: number, main: number, sub: number): boolean {
    const revs = this.gen(this.firstAliveGeneration(at)).revs;
    const i = newestAtOrBelow(revs, at);
    return i >= 0 && revs[i] === main && revs[i + 1] === sub;
  }

  /**
   * Drop history that no read at or after `at` needs: afterwards the only
   * revision at or below `at` left is the one {@link keep} names. Returns
   * true when nothing is left (the key can leave the tree).
   */
  compact(at: number): boolean {
    const gi = this.firstAliveGeneration(at);
    if (gi > 0 && this.older !== undefined) {
      this.older = gi >= this.older.length ? undefined : this.older.slice(gi);
    }
    const g = this.gen(0);
    const i = newestAtOrBelow(g.revs, at);
    if (i > 0) g.revs = g.revs.slice(i);
    return this.older === undefined && this.revs.length === 0;
  }

  /** Every revision still indexed, oldest first, as flat (main, sub) pairs (tests, debugging). */
  revisions(): number[] {
    const out: number[] = [];
    for (let gi = 0; gi < this.count; gi++) out.push(...this.gen(gi).revs);
    return out;
  }

  /** Index of the first generation not closed by a tombstone at or before `at`. */
  private firstAliveGeneration(at: number): number {
    const count = this.count;
    let gi = 0;
    while (gi < count - 1) {
      const revs = this.gen(gi).revs;
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
