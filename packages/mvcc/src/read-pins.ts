/**
 * In-flight backend reads, each pinned at the revision whose state it needs.
 * A read pinned at P needs every backend value visible at P; compaction at C
 * only deletes values that no state at or after C needs, so it must wait for
 * the reads pinned below C to finish before deleting. New reads below C
 * cannot start once the store's compacted revision is C.
 */
export class ReadPins {
  private readonly pins = new Map<number, number>();
  private nextId = 1;
  private waiters: { below: number; resolve: () => void }[] = [];

  /** Register a read; returns the token to pass to {@link release}. */
  pin(revision: number): number {
    const id = this.nextId++;
    this.pins.set(id, revision);
    return id;
  }

  release(id: number): void {
    this.pins.delete(id);
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.anyBelow(w.below)) still.push(w);
      else w.resolve();
    }
    this.waiters = still;
  }

  /** Resolves once no read pinned below `revision` is in flight. */
  drainBelow(revision: number): Promise<void> {
    if (!this.anyBelow(revision)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ below: revision, resolve }));
  }

  /** Number of reads in flight (tests). */
  get size(): number {
    return this.pins.size;
  }

  private anyBelow(revision: number): boolean {
    for (const p of this.pins.values()) if (p < revision) return true;
    return false;
  }
}
