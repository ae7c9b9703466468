/**
 * The history of one user key: a list of generations. A generation starts
 * with the put that (re)creates the key and ends with the tombstone that
 * deletes it; the last generation is the live one (empty after a delete).
 *
 * Memory matters (one of these per key): the live generation's fields sit on
 * the KeyIndex itself and closed generations exist only for keys deleted
 * since the last compaction. Revisions are stored flat ([main0, sub0, main1,
 * sub1, ...]) in exactly sized arrays, and a live generation holding one
 * revision with sub 0 (most keys) as that main revision alone.
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

/**
 * The live generation's revisions: flat (main, sub) pairs, or, for the most
 * common case by far (a key written once, or compacted down to one
 * revision, by a transaction's first operation), just that main revision
 * with sub 0 as a number, which saves an array (64 bytes) per key.
 */
type LiveRevs = number[] | number;

function pairs(live: LiveRevs): number[] {
  return typeof live === 'number' ? [live, 0] : live;
}

export class KeyIndex {
  // The live generation (no revisions when the key is deleted).
  created = 0;
  version = 0;
  private live: LiveRevs = NONE;
  /** Closed generations, oldest first; undefined when there are none. */
  private older: Generation[] | undefined = undefined;
  /** Lease attached to the live version (0n when none or deleted). */
  lease = 0n;

  constructor(readonly key: string) {}

  private get count(): number {
    return (this.older?.length ?? 0) + 1;
  }

  /** Revisions of generation i, oldest first; the last is the live one. */
  private revsOf(i: number): number[] {
    const older = this.older;
    return older !== undefined && i < older.length
      ? (older[i] as Generation).revs
      : pairs(this.live);
  }

  /** True when the key currently exists (the live generation holds a put). */
  isLive(): boolean {
    return typeof this.live === 'number' || this.live.length > 0;
  }

  /** The current version and creation revision, when live. */
  liveInfo(): { createRevision: number; version: number } | undefined {
    return this.isLive() ? { createRevision: this.created, version: this.version } : undefined;
  }

  /** Record a put at (main, sub); revisions must increase. */
  put(main: number, sub: number, createRevision = main, version?: number): void {
    const live = this.live;
    if (typeof live !== 'number' && live.length === 0) {
      this.created = createRevision;
      this.version = version ?? 1;
      this.live = sub === 0 ? main : [main, sub];
    } else {
      this.version = version ?? this.version + 1;
      if (typeof live === 'number') this.live = [live, 0, main, sub];
      else live.push(main, sub);
    }
  }

  /** Record a delete at (main, sub) and open a new, empty generation. No-op when not live. */
  tombstone(main: number, sub: number): boolean {
    if (!this.isLive()) return false;
    const revs = typeof this.live === 'number' ? [this.live, 0] : this.live;
    revs.push(main, sub);
    const closed: Generation = { created: this.created, version: this.version + 1, revs };
    if (this.older === undefined) this.older = [closed];
    else this.older.push(closed);
    this.created = 0;
    this.version = 0;
    this.live = NONE;
    return true;
  }

  /** The version visible at revision `at` (main revisions <= at), if the key existed then. */
  get(at: number): IndexHit | undefined {
    const live = this.live;
    if (typeof live === 'number') {
      if (live <= at) {
        return { main: live, sub: 0, createRevision: this.created, version: this.version };
      }
    } else if (live.length > 0 && (live[0] as number) <= at) {
      return hitIn(live, at, this.created, this.version);
    }
    const older = this.older;
    if (older === undefined) return undefined;
    for (let gi = older.length - 1; gi >= 0; gi--) {
      const g = older[gi] as Generation;
      const revs = g.revs;
      // A closed generation whose tombstone is at or before `at`: deleted then.
      if ((revs[revs.length - 2] as number) <= at) return undefined;
      if ((revs[0] as number) <= at) return hitIn(revs, at, g.created, g.version);
    }
    return undefined;
  }

  /**
   * Write the (main, sub) of the version visible at `at` to `out[pos]` and
   * `out[pos + 1]`, if the key existed then; as {@link get} without an object
   * per key, for reads that visit thousands of keys. `out` must have room.
   */
  writeRevisionAt(at: number, out: Float64Array, pos: number): boolean {
    const live = this.live;
    if (typeof live === 'number') {
      if (live <= at) {
        out[pos] = live;
        out[pos + 1] = 0;
        return true;
      }
    } else if (live.length > 0 && (live[0] as number) <= at) {
      const i = newestAtOrBelow(live, at);
      out[pos] = live[i] as number;
      out[pos + 1] = live[i + 1] as number;
      return true;
    }
    // An older generation (rare): through get.
    const h = this.get(at);
    if (h === undefined) return false;
    out[pos] = h.main;
    out[pos + 1] = h.sub;
    return true;
  }

  /** Whether the key existed at revision `at`; as `get(at) !== undefined`, without allocating in the common case. */
  existsAt(at: number): boolean {
    const live = this.live;
    if (typeof live === 'number' && live <= at) return true;
    return this.get(at) !== undefined;
  }

  /**
   * The revision compaction at `at` keeps for this key (the newest at or
   * below `at` of a generation still alive at `at`), without changing anything.
   */
  keep(at: number): [number, number] | undefined {
    const revs = this.revsOf(this.firstAliveGeneration(at));
    const i = newestAtOrBelow(revs, at);
    return i < 0 ? undefined : [revs[i] as number, revs[i + 1] as number];
  }

  /** Whether (main, sub) is the revision compaction at `at` keeps (see {@link keep}). */
  keeps(at: number, main: number, sub: number): boolean {
    const gi = this.firstAliveGeneration(at);
    const live = this.live;
    if (gi === this.count - 1 && typeof live === 'number') {
      return live <= at && live === main && sub === 0;
    }
    const revs = this.revsOf(gi);
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
    const older = this.older;
    if (older !== undefined) {
      const g = older[0] as Generation;
      const i = newestAtOrBelow(g.revs, at);
      if (i > 0) g.revs = g.revs.slice(i);
    } else if (typeof this.live !== 'number') {
      const revs = this.live;
      const i = newestAtOrBelow(revs, at);
      if (i > 0) {
        // Down to one revision with sub 0: back to the compact form.
        this.live =
          i === revs.length - 2 && revs[i + 1] === 0 ? (revs[i] as number) : revs.slice(i);
      }
    }
    return this.older === undefined && !this.isLive();
  }

  /** Every revision still indexed, oldest first, as flat (main, sub) pairs (tests, debugging). */
  revisions(): number[] {
    const out: number[] = [];
    for (let gi = 0; gi < this.count; gi++) out.push(...this.revsOf(gi));
    return out;
  }

  /** Index of the first generation not closed by a tombstone at or before `at`. */
  private firstAliveGeneration(at: number): number {
    const older = this.older;
    if (older === undefined) return 0;
    let gi = 0;
    while (gi < older.length) {
      const revs = (older[gi] as Generation).revs;
      if ((revs[revs.length - 2] as number) > at) break;
      gi++;
    }
    return gi;
  }
}

/** The newest revision at or below `at` in a generation's revisions, with its version. */
function hitIn(revs: number[], at: number, created: number, version: number): IndexHit | undefined {
  const n = revs.length;
  for (let i = n - 2; i >= 0; i -= 2) {
    const main = revs[i] as number;
    if (main <= at) {
      return {
        main,
        sub: revs[i + 1] as number,
        createRevision: created,
        version: version - (n - 2 - i) / 2,
      };
    }
  }
  return undefined;
}

/** Index (into a flat pair array) of the newest revision with main <= at, or -1. */
function newestAtOrBelow(revs: number[], at: number): number {
  for (let i = revs.length - 2; i >= 0; i -= 2) if ((revs[i] as number) <= at) return i;
  return -1;
}
