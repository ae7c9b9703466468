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
  /**
   * Durably stores the backend data of a snapshot received from the leader,
   * before Raft sees the snapshot (etcd's <index>.snap.db). Once the Raft
   * snapshot is recorded, the log before it is gone: a member that crashes
   * before its backend is replaced must find the data here when it restarts.
   */
  saveSnapshotData(index: number, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** The stored data of the received snapshot at `index`, or undefined if there is none. */
  snapshotData(index: number): Promise<AsyncIterable<Uint8Array> | undefined>;
  /** Deletes the stored data of received snapshots at or below `index` (applied to the backend). */
  releaseSnapshotData(index: number): Promise<void>;
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

  /** Received snapshots' data by index. */
  readonly snapshotDataByIndex = new Map<number, Uint8Array[]>();

  async saveSnapshotData(index: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const collected: Uint8Array[] = [];
    for await (const c of chunks) collected.push(c);
    this.snapshotDataByIndex.set(index, collected);
  }

  async snapshotData(index: number): Promise<AsyncIterable<Uint8Array> | undefined> {
    const chunks = this.snapshotDataByIndex.get(index);
    if (chunks === undefined) return undefined;
    return (async function* () {
      yield* chunks;
    })();
  }

  async releaseSnapshotData(index: number): Promise<void> {
    for (const i of [...this.snapshotDataByIndex.keys()]) {
      if (i <= index) this.snapshotDataByIndex.delete(i);
    }
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
