/**
 * Merging LevelDB entries with buffered writes. Both inputs are in the same
 * order (ascending, or descending for reverse reads); a buffered write
 * replaces the stored entry of the same key, and a buffered delete hides it.
 */

import type { OverlayEntry } from './write-buffer';

/** One key/value pair as returned to readers (key without the bucket prefix). */
export interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** A LevelDB entry as classic-level returns it: [stored key, value]. */
export type StoredEntry = [Buffer, Buffer];

/**
 * Incremental merge: feed LevelDB entries in chunks, then call finish() for
 * the buffered writes that sort after the last stored key.
 */
export class Merger {
  readonly #overlay: readonly OverlayEntry[];
  readonly #prefixLength: number;
  readonly #dir: 1 | -1;
  #o = 0;
  #remaining: number;

  constructor(
    overlay: readonly OverlayEntry[],
    options: { prefixLength: number; reverse: boolean; limit: number },
  ) {
    this.#overlay = overlay;
    this.#prefixLength = options.prefixLength;
    this.#dir = options.reverse ? -1 : 1;
    this.#remaining = options.limit > 0 ? options.limit : Infinity;
  }

  /** True once `limit` entries have been produced. */
  get done(): boolean {
    return this.#remaining <= 0;
  }

  /** Merge the next stored entries (in order, after all earlier ones) into `out`. */
  push(stored: readonly StoredEntry[], out: Entry[]): void {
    const overlay = this.#overlay;
    const dir = this.#dir;
    for (let s = 0; s < stored.length && this.#remaining > 0; s++) {
      const [storedKey, storedValue] = stored[s]!;
      const key = storedKey.subarray(this.#prefixLength);
      let shadowed = false;
      while (this.#o < overlay.length && this.#remaining > 0) {
        const w = overlay[this.#o]!;
        const c = Buffer.compare(w.key, key) * dir;
        if (c > 0) break;
        this.#o++;
        if (c === 0) shadowed = true;
        if (w.value !== undefined) {
          out.push({ key: w.key, value: w.value });
          this.#remaining--;
        }
        if (shadowed) break;
      }
      if (!shadowed && this.#remaining > 0) {
        out.push({ key, value: storedValue });
        this.#remaining--;
      }
    }
  }

  /** Emit the buffered writes left after the last stored entry. */
  finish(out: Entry[]): void {
    const overlay = this.#overlay;
    while (this.#o < overlay.length && this.#remaining > 0) {
      const w = overlay[this.#o++]!;
      if (w.value !== undefined) {
        out.push({ key: w.key, value: w.value });
        this.#remaining--;
      }
    }
  }
}
