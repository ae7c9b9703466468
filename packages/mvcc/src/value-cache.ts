/**
 * Stored encodings of recently read revisions, so that repeated reads of the
 * same keys (a large range read again and again) skip the backend: LevelDB
 * costs 1–2 µs of native calls per key, a Map lookup a few dozen ns.
 *
 * A revision's encoding never changes once written, so an entry never goes
 * stale (compaction only removes revisions no reader can ask for any more; a
 * restore replaces the contents and clears the cache). Bounded by bytes with
 * two generations: entries go into the young one, a hit in the old one
 * moves the entry back to the young one, and when the young one is full the
 * old one is dropped. So at most about twice the capacity is held, and
 * nothing is held for keys that are only written.
 */

/** Sub revisions below this get a cache slot (larger ones are rare: a delete of many keys). */
const SUBS = 1024;
/** Main revisions below this get one: main * SUBS + sub stays an exact integer. */
const MAX_MAIN = Math.floor(Number.MAX_SAFE_INTEGER / SUBS);
/** Bytes counted per entry beyond the value (the map slot and the array's header). */
const ENTRY_OVERHEAD = 96;

export class ValueCache {
  private young = new Map<number, Uint8Array>();
  private old = new Map<number, Uint8Array>();
  private youngBytes = 0;

  /** `capacity`: bytes per generation; 0 disables the cache. */
  constructor(private readonly capacity: number) {}

  /** The slot of revision (main, sub), or -1 when it has none. */
  static slot(main: number, sub: number): number {
    return sub < SUBS && main < MAX_MAIN ? main * SUBS + sub : -1;
  }

  get(slot: number): Uint8Array | undefined {
    const v = this.young.get(slot);
    if (v !== undefined || this.old.size === 0) return v;
    const o = this.old.get(slot);
    if (o !== undefined) this.add(slot, o);
    return o;
  }

  add(slot: number, value: Uint8Array): void {
    if (this.capacity === 0 || slot < 0) return;
    this.young.set(slot, value);
    this.youngBytes += value.length + ENTRY_OVERHEAD;
    if (this.youngBytes >= this.capacity) {
      this.old = this.young;
      this.young = new Map();
      this.youngBytes = 0;
    }
  }

  clear(): void {
    this.young = new Map();
    this.old = new Map();
    this.youngBytes = 0;
  }

  /** Entries held (both generations, an entry in both counted twice). */
  get size(): number {
    return this.young.size + this.old.size;
  }
}
