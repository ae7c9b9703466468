/**
 * A LevelDB handle with a reference count, so restore() can swap databases
 * while reads and snapshots of the old one finish: the old handle closes
 * (and its directory is removed) when the last user lets go.
 */

import { rm } from 'node:fs/promises';
import type { Db } from './layout';

export class Store {
  readonly db: Db;
  readonly dir: string;
  readonly generation: number;
  #refs = 0;
  #retired = false;
  #removeDir = false;
  #closed: Promise<void> | undefined;
  #onClosed: (() => void) | undefined;

  constructor(db: Db, dir: string, generation: number) {
    this.db = db;
    this.dir = dir;
    this.generation = generation;
  }

  acquire(): void {
    this.#refs++;
  }

  release(): void {
    this.#refs--;
    if (this.#retired && this.#refs === 0) void this.close().catch(() => undefined);
  }

  /** Resolves once a retired store has closed (at once if it is still live or in use). */
  settled(): Promise<void> {
    return this.#closed?.catch(() => undefined) ?? Promise.resolve();
  }

  /**
   * Close once unused; with removeDir, delete the directory afterwards.
   * `onClosed` runs when that has happened (whether or not closing failed).
   */
  retire(removeDir: boolean, onClosed: () => void): void {
    this.#retired = true;
    this.#removeDir = removeDir;
    this.#onClosed = onClosed;
    if (this.#refs === 0) void this.close().catch(() => undefined);
  }

  /** Close now (closing also ends open iterators and snapshots). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      try {
        await this.db.close();
        if (this.#removeDir) await rm(this.dir, { recursive: true, force: true });
      } finally {
        this.#onClosed?.();
      }
    })();
    return this.#closed;
  }
}
