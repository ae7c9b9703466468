/**
 * A set of (main, sub) revisions. Packs both into one number when they fit
 * (main < 2^40, sub < 2^12), which covers every realistic store; falls back
 * to strings otherwise.
 */
export class RevisionSet {
  private readonly packed = new Set<number>();
  private readonly other = new Set<string>();

  add(main: number, sub: number): void {
    if (main < 2 ** 40 && sub < 4096) this.packed.add(main * 4096 + sub);
    else this.other.add(`${main}_${sub}`);
  }

  has(main: number, sub: number): boolean {
    if (main < 2 ** 40 && sub < 4096) return this.packed.has(main * 4096 + sub);
    return this.other.has(`${main}_${sub}`);
  }

  get size(): number {
    return this.packed.size + this.other.size;
  }
}
