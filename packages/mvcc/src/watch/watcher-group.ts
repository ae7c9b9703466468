import type { KeyInterval } from '../bytes';
import { IntervalIndex, UNBOUNDED } from './interval-index';

/** What a group needs to know about a watcher. */
export interface Watched {
  readonly iv: KeyInterval;
}

/**
 * A set of watchers indexed for event lookup: single-key watchers in a hash
 * map (many watchers on one key share one entry), range watchers in an
 * {@link IntervalIndex}.
 */
export class WatcherGroup<W extends Watched> {
  private readonly keys = new Map<string, Set<W>>();
  private readonly ranges = new IntervalIndex<W>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(w: W): void {
    if (w.iv.end === null) {
      let set = this.keys.get(w.iv.start);
      if (set === undefined) {
        set = new Set();
        this.keys.set(w.iv.start, set);
      }
      if (set.has(w)) return;
      set.add(w);
    } else {
      this.ranges.add(w.iv.start, w.iv.end ?? UNBOUNDED, w);
    }
    this.count++;
  }

  delete(w: W): boolean {
    let had: boolean;
    if (w.iv.end === null) {
      const set = this.keys.get(w.iv.start);
      had = set?.delete(w) ?? false;
      if (set?.size === 0) this.keys.delete(w.iv.start);
    } else {
      had = this.ranges.delete(w);
    }
    if (had) this.count--;
    return had;
  }

  /** Calls `visit` for each watcher interested in `key`. */
  match(key: string, visit: (w: W) => void): void {
    const set = this.keys.get(key);
    if (set !== undefined) for (const w of set) visit(w);
    this.ranges.stab(key, visit);
  }
}
