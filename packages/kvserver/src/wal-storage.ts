/**
 * MemberStorage on disk: @kv/wal for hard state and entries, its
 * SnapshotStore for Raft snapshots. Layout under the member directory, as
 * etcd's: member/wal/ and member/snap/ (the backend lives next to them, owned
 * by the caller).
 *
 * A WAL entry's payload is [entry type: u8][entry data]; index and term are
 * the WAL's own fields. A snapshot file holds [metadata length: u32 BE]
 * [Raft snapshot metadata (@kv/raft codec)][application data]. The backend
 * data of a snapshot received from the leader is kept beside them, as etcd
 * keeps it, in <index: 16 hex digits>.snap.db until it has been applied.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { SnapshotStore, Wal } from '@kv/wal';
import type { WalEntry } from '@kv/wal';
import { decodeSnapshotMetadata, encodeSnapshotMetadata } from '@kv/raft';
import type { Entry, EntryType, HardState, Snapshot } from '@kv/raft';
import type { BootState, MemberStorage } from './member-storage';

export interface WalStorageOptions {
  /** Directory of the WAL (etcd's --wal-dir, default <data-dir>/member/wal). */
  readonly walDir: string;
  /** Directory of snapshot files (<data-dir>/member/snap). */
  readonly snapDir: string;
  /** Identity written into a new WAL and checked when opening one. */
  readonly metadata: Uint8Array;
  /** fdatasync on save (default true; false only for tests and benchmarks). */
  readonly sync?: boolean;
  /** Where a lone writer's WAL fdatasync runs (@kv/wal `syncOnLoop`; default 'auto'). */
  readonly syncOnLoop?: boolean | 'auto';
  /** Snapshot files kept (etcd: 5). */
  readonly keepSnapshots?: number;
}

function toWalEntry(e: Entry): WalEntry {
  const data = Buffer.allocUnsafe(1 + e.data.length);
  data[0] = e.type;
  data.set(e.data, 1);
  return { index: e.index, term: e.term, data };
}

function fromWalEntry(w: WalEntry): Entry {
  const b = Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength);
  return { index: w.index, term: w.term, type: (b[0] ?? 0) as EntryType, data: b.subarray(1) };
}

function encodeSnapshotFile(s: Snapshot): Uint8Array {
  const meta = encodeSnapshotMetadata(s.metadata);
  const out = Buffer.allocUnsafe(4 + meta.length + s.data.length);
  out.writeUInt32BE(meta.length, 0);
  out.set(meta, 4);
  out.set(s.data, 4 + meta.length);
  return out;
}

function decodeSnapshotFile(b: Uint8Array): Snapshot {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const len = buf.readUInt32BE(0);
  return {
    metadata: decodeSnapshotMetadata(buf.subarray(4, 4 + len)),
    data: buf.subarray(4 + len),
  };
}

/** A received snapshot's data, or a transfer of one that a crash cut short (.tmp). */
const SNAP_DB = /^([0-9a-f]{16})\.snap\.db(\.\d+\.tmp)?$/;
/** Distinguishes concurrent transfers of the same snapshot (a leader's retry). */
let transfers = 0;

function snapDbName(index: number): string {
  return `${index.toString(16).padStart(16, '0')}.snap.db`;
}

export class WalMemberStorage implements MemberStorage {
  private constructor(
    private readonly wal: Wal,
    private readonly snapshots: SnapshotStore,
    private readonly snapDir: string,
    private readonly sync: boolean,
  ) {}

  /** True if a WAL exists in `walDir` (the member has state to restart from). */
  static exists(walDir: string): Promise<boolean> {
    return Wal.exists(walDir);
  }

  /** The identity stored in an existing WAL (written by {@link WalMemberStorage.open} at creation). */
  static readMetadata(walDir: string): Promise<Uint8Array> {
    // Only the first segment's head: open verifies the whole WAL (and that
    // every segment carries this metadata) right after.
    return Wal.readMetadata(walDir);
  }

  /** Opens (or creates) the member's storage and returns what it holds. */
  static async open(
    options: WalStorageOptions,
  ): Promise<{ storage: WalMemberStorage; boot: BootState }> {
    const sync = options.sync ?? true;
    const snapshots = new SnapshotStore(options.snapDir, {
      keep: options.keepSnapshots ?? 5,
      sync,
    });
    if (!(await Wal.exists(options.walDir))) {
      const wal = await Wal.create(options.walDir, options.metadata, { sync });
      await wal.close();
    }
    let snapshot: Snapshot | undefined;
    // One pass over the segments: the WAL lists its loadable markers, the
    // newest snapshot file among them is chosen, and the WAL opens there.
    const wal = await Wal.openAtChosenMarker(
      options.walDir,
      async (markers) => {
        const stored = await snapshots.loadNewestAvailable(markers);
        snapshot = stored !== undefined ? decodeSnapshotFile(stored.data) : undefined;
        return snapshot !== undefined
          ? { index: snapshot.metadata.index, term: snapshot.metadata.term }
          : { index: 0, term: 0 };
      },
      {
        sync,
        syncOnLoop: options.syncOnLoop ?? 'auto',
        expectedMetadata: options.metadata,
      },
    );
    const contents = await wal.readAll();
    const hs = contents.hardState;
    return {
      storage: new WalMemberStorage(wal, snapshots, options.snapDir, sync),
      boot: {
        hardState:
          hs !== undefined ? { term: hs.term, vote: hs.vote, commit: hs.commit } : undefined,
        snapshot,
        entries: contents.entries.map(fromWalEntry),
      },
    };
  }

  save(
    hardState: HardState | undefined,
    entries: readonly Entry[],
    options?: { readonly sync?: boolean },
  ): Promise<void> {
    // The WAL's own promise, not another one wrapped around it (Wal.save
    // reports every error as a rejection, so no async wrapper is needed).
    return this.wal.save(hardState, entries.map(toWalEntry), options);
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    // The snapshot file first: a WAL marker must never point to a missing file.
    await this.snapshots.save({
      index: snapshot.metadata.index,
      term: snapshot.metadata.term,
      data: encodeSnapshotFile(snapshot),
    });
    await this.wal.saveSnapshot({ index: snapshot.metadata.index, term: snapshot.metadata.term });
  }

  async releaseTo(index: number): Promise<void> {
    await this.wal.releaseTo(index);
  }

  async saveSnapshotData(index: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    await fs.mkdir(this.snapDir, { recursive: true });
    const final = path.join(this.snapDir, snapDbName(index));
    const tmp = `${final}.${++transfers}.tmp`;
    const file = await fs.open(tmp, 'w');
    try {
      // writeFile writes all of a chunk at the current position (write may not).
      for await (const c of chunks) await file.writeFile(c);
      if (this.sync) await file.sync();
    } catch (err) {
      await file.close();
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await file.close();
    await fs.rename(tmp, final);
    if (this.sync) await syncDir(this.snapDir);
  }

  async snapshotData(index: number): Promise<AsyncIterable<Uint8Array> | undefined> {
    const file = path.join(this.snapDir, snapDbName(index));
    try {
      await fs.access(file);
    } catch {
      return undefined;
    }
    return createReadStream(file, { highWaterMark: 1024 * 1024 });
  }

  async releaseSnapshotData(index: number): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(this.snapDir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = SNAP_DB.exec(name);
      if (m !== null && Number.parseInt(m[1]!, 16) <= index) {
        await fs.rm(path.join(this.snapDir, name), { force: true });
      }
    }
  }

  async close(): Promise<void> {
    await this.wal.close();
  }
}

/** etcd's layout of a data directory. */
export function memberPaths(
  dataDir: string,
  walDir?: string,
): { walDir: string; snapDir: string; backendDir: string } {
  const member = path.join(dataDir, 'member');
  return {
    walDir: walDir ?? path.join(member, 'wal'),
    snapDir: path.join(member, 'snap'),
    backendDir: path.join(member, 'db'),
  };
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
