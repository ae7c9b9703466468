/**
 * Stabbing queries over half-open key intervals [start, end) of binary
 * strings: "which intervals contain this key?". Kept as a sorted array seen
 * as an implicit balanced tree, each node holding the largest end in its
 * subtree, so a query costs O(log n + matches). The array is rebuilt lazily
 * (O(n log n)) on the first query after a change: watchers come and go far
 * less often than events arrive.
 */

/** Larger than every binary string (whose chars are <= 0xff): an unbounded end. */
export const UNBOUNDED = '\u0100';

interface Item<T> {
  readonly start: string;
  readonly end: string;
  readonly value: T;
}

export class IntervalIndex<T> {
  private readonly items = new Map<T, Item<T>>();
  private sorted: Item<T>[] = [];
  private maxEnd: string[] = [];
  private dirty = false;

  get size(): number {
    return this.items.size;
  }

  add(start: string, end: string, value: T): void {
    this.items.set(value, { start, end, value });
    this.dirty = true;
  }

  delete(value: T): boolean {
    const had = this.items.delete(value);
    if (had) this.dirty = true;
    return had;
  }

  /** Calls `visit` for every value whose interval contains `key`. */
  stab(key: string, visit: (value: T) => void): void {
    if (this.items.size === 0) return;
    if (this.dirty) this.rebuild();
    this.query(0, this.sorted.length, key, visit);
  }

  private query(lo: number, hi: number, key: string, visit: (value: T) => void): void {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      // Nothing in this subtree reaches past `key`.
      if ((this.maxEnd[mid] as string) <= key) return;
      this.query(lo, mid, key, visit);
      const it = this.sorted[mid] as Item<T>;
      // Starts are sorted: everything right of mid starts even later.
      if (it.start > key) return;
      if (key < it.end) visit(it.value);
      lo = mid + 1;
    }
  }

  private rebuild(): void {
    this.sorted = [...this.items.values()].sort((a, b) =>
      a.start < b.start ? -1 : a.start > b.start ? 1 : 0,
    );
    this.maxEnd = new Array<string>(this.sorted.length);
    this.fill(0, this.sorted.length);
    this.dirty = false;
  }

  private fill(lo: number, hi: number): string {
    if (lo >= hi) return '';
    const mid = (lo + hi) >>> 1;
    let m = (this.sorted[mid] as Item<T>).end;
    const l = this.fill(lo, mid);
    const r = this.fill(mid + 1, hi);
    if (l > m) m = l;
    if (r > m) m = r;
    this.maxEnd[mid] = m;
    return m;
  }
}
