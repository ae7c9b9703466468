/**
 * Durable Raft state of a member: hard state, log entries and snapshots. The
 * server writes through this port; @kv/wal backs it on disk and
 * {@link MemoryMemberStorage} backs it in tests.
 */
import type { Entry, HardState, Snapshot } from '@kv/raft';

/** What a member finds in its storage when it starts. */
export interface BootState {
  readonly hardState: HardState | undefined;
  readonly snapshot: Snapshot | undefined;
  /** Entries after the snapshot, in index order. */
  readonly entries: readonly Entry[];
}

export interface MemberStorage {
  /**
   * Resolves once hard state and entries are durable. With `sync: false`
   * (a hard state whose only change is the commit index, etcd's MustSync rule)
   * it may resolve once written: a later synced save makes it durable.
   */
  save(
    hardState: HardState | undefined,
    entries: readonly Entry[],
    options?: { readonly sync?: boolean },
  ): Promise<void>;
  /** Durably records a snapshot (its data and its position in the log). */
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  /** Frees log space up to a durable snapshot's index. */
  releaseTo(index: number): Promise<void>;
  close(): Promise<void>;
}

/** In-memory storage for tests: "durable" means present in this object. */
export class MemoryMemberStorage implements MemberStorage {
  hardState: HardState | undefined;
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  /** Saves asked to be durable, and those allowed to wait for a later sync. */
  readonly saveCounts = { synced: 0, unsynced: 0 };

  async save(
    hardState: HardState | undefined,
    entries: readonly Entry[],
    options?: { readonly sync?: boolean },
  ): Promise<void> {
    if (options?.sync === false) this.saveCounts.unsynced++;
    else this.saveCounts.synced++;
    if (hardState !== undefined) this.hardState = hardState;
    const first = entries[0];
    if (first !== undefined) {
      // Conflicting suffix is replaced, as a WAL does.
      const keep = this.entries.findLastIndex((e) => e.index < first.index);
      this.entries.length = keep + 1;
      for (const e of entries) this.entries.push(e);
    }
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    this.snapshot = snapshot;
  }

  async releaseTo(index: number): Promise<void> {
    this.entries = this.entries.filter((e) => e.index > index);
  }

  async close(): Promise<void> {}

  boot(): BootState {
    const snapIndex = this.snapshot?.metadata.index ?? 0;
    return {
      hardState: this.hardState,
      snapshot: this.snapshot,
      entries: this.entries.filter((e) => e.index > snapIndex),
    };
  }
}
