// The write-ahead log: a directory of segment files written by one flush loop.
//
// Saves queue up while a write + fdatasync is in flight; the loop then encodes
// everything queued into one buffer, writes it with one call and syncs once
// (group commit). A segment that passes segmentSize is cut after the write:
// the old file is trimmed and synced, and a file preallocated in the
// background gets its header, is synced and renamed into place, and the
// directory is synced, so no record is ever visible in a newer segment before
// the older ones are durable.

import fs from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { WalError } from './errors';
import * as io from './fs-util';
import { acquireLock } from './lock';
import {
  HEADER_SIZE,
  RecordType,
  chainAll,
  frameRecord,
  paddedSize,
  sealRecord,
  writeU64,
} from './record';
import {
  listSegments,
  readSegmentData,
  readSegmentMetadata,
  scanSegments,
  type ScanResult,
  type SegmentData,
} from './scan';
import { TMP_SUFFIX, segmentName, type SegmentName } from './segment-name';
import type { WalEntry, WalHardState, WalSnapshotMarker } from './types';

/** Options for {@link Wal.create} and {@link Wal.open}. */
export interface WalOptions {
  /** Size a segment is preallocated to and cut at, in bytes. Default 64 MiB. */
  readonly segmentSize?: number;
  /** fdatasync writes and fsync directories. Default true; false only for tests and benchmarks. */
  readonly sync?: boolean;
  /**
   * How the next segment is preallocated in the background: 'zeros' writes the
   * whole file so later syncs need no block allocation; 'sparse' only sets its
   * size (cheaper to prepare, more work per sync). Default 'sparse'.
   */
  readonly preallocate?: 'zeros' | 'sparse';
  /**
   * Where the fdatasync of a lone writer's group (at most one entry and
   * 64 KiB) runs. `true`: on the calling (event loop's) thread, which
   * saves the two thread wake-ups of a pool round trip, often more than the
   * sync itself on a busy machine; durability is the same. `false`: always in
   * libuv's thread pool. `'auto'` (default): on the loop while syncs are fast
   * (a running average of at most 1 ms), in the pool while the disk is slow,
   * so a slow disk never stalls the loop for long. Groups of several entries
   * mean concurrent writers, whose requests the loop should keep reading while
   * the disk syncs: they always use the pool.
   */
  readonly syncOnLoop?: boolean | 'auto';
}

/** Options for {@link Wal.open}. */
export interface WalOpenOptions extends WalOptions {
  /** If given, open fails with WAL_METADATA_MISMATCH unless the WAL's metadata is byte-equal. */
  readonly expectedMetadata?: Uint8Array;
}

/** Options for one {@link Wal.save}. */
export interface WalSaveOptions {
  /**
   * Default true: resolve only once the save is durable. False writes the
   * records without an fdatasync of their own and resolves once written; they
   * become durable with the next synced save (or snapshot marker), which the
   * log's order guarantees follows them. For saves a crash may lose without
   * harm, such as a hard state whose only change is the commit index (etcd's
   * MustSync rule). The write waits for the end of the event loop's current
   * turn (setImmediate), or joins an earlier synced save's write, so that
   * the caller's other I/O of this turn goes first.
   */
  readonly sync?: boolean;
}

/** What {@link Wal.readAll} returns. */
export interface WalContents {
  readonly metadata: Uint8Array;
  readonly hardState: WalHardState | undefined;
  /** The entries after the snapshot marker given to open, in index order. */
  readonly entries: WalEntry[];
}

/** Counters since open, for tests and benchmarks. */
export interface WalStats {
  /** Write calls for record batches (one per group commit). */
  readonly writes: number;
  /** fdatasync calls made for record batches and segment cuts. */
  readonly syncs: number;
  /** Bytes of records written. */
  readonly bytes: number;
  /** Of `writes`, those made on the calling thread instead of the thread pool. */
  readonly inlineWrites: number;
  /** Segments cut since open. */
  readonly cuts: number;
}

const DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;
/** Largest group whose fdatasync syncOnLoop runs on the loop's thread. */
const SYNC_ON_LOOP_BYTES = 64 * 1024;
/** syncOnLoop 'auto' keeps syncs on the loop while their running average is at most this. */
const SYNC_ON_LOOP_MAX_MS = 1;
/** Weight of the newest sync in that running average. */
const SYNC_AVERAGE_WEIGHT = 0.2;
const LOCK_NAME = 'wal.lock';
const PREALLOC_NAME = `next${TMP_SUFFIX}`;
const RESOLVED = Promise.resolve();
/** A source of zeros for preallocation and tail repair, made on first use (most processes never need it). */
let zerosBuf: Buffer | undefined;
function zeros(): Buffer {
  zerosBuf ??= Buffer.alloc(1024 * 1024);
  return zerosBuf;
}
/**
 * Bytes of segments {@link Wal.openAtChosenMarker} keeps from its first pass
 * for its second; older ones beyond it are read again. Enough for the usual
 * partly filled last segment; a full 64 MiB one is read twice rather than
 * raising the member's peak memory at every restart.
 */
const OPEN_HOLD_BYTES = 32 * 1024 * 1024;

/**
 * Segments read by an open's first pass, newest kept up to a byte budget:
 * the second pass reads the newest segments (from the marker's on), so the
 * oldest are dropped first, and it reads any dropped one from its file again.
 * Exported for its test only; not part of the package API.
 */
export class HeldSegments {
  private readonly held = new Map<string, SegmentData>();
  private bytes = 0;
  constructor(private readonly budget: number) {}

  async read(file: string): Promise<SegmentData> {
    const d = await readSegmentData(file);
    this.held.set(file, d);
    this.bytes += d.data.length;
    for (const [f, h] of this.held) {
      if (this.bytes <= this.budget) break;
      this.held.delete(f);
      this.bytes -= h.data.length;
    }
    return d;
  }

  /** The bytes of `file` from the first pass (released to the caller), or read again. */
  take(file: string): Promise<SegmentData> {
    const d = this.held.get(file);
    if (d === undefined) return readSegmentData(file);
    this.held.delete(file);
    this.bytes -= d.data.length;
    return Promise.resolve(d);
  }
}

const EAGER_FLUSH_BYTES = 512 * 1024;
/**
 * Group writes up to this size are made on the event loop's thread: into the
 * page cache that takes microseconds, a thread-pool round trip tens of them
 * (the fdatasync still runs in the pool). Larger ones go to the pool so the
 * copy never holds up the event loop for long.
 */
const INLINE_WRITE_BYTES = 256 * 1024;
const MAX_U64 = (1n << 64n) - 1n;

/** A queued save: its records framed (payload CRCs done), to be chained at flush. */
interface Op {
  readonly buf: Buffer | undefined;
  /** Index of the last entry, or of the snapshot marker, the save carries. */
  readonly lastEntry: number | undefined;
  /** Number of entries the save carries. */
  readonly entryCount: number;
  readonly snapshotIndex: number | undefined;
  readonly hardState: WalHardState | undefined;
  /** False for a save that may stay in the page cache until a later sync. */
  readonly sync: boolean;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface Resolved {
  readonly segmentSize: number;
  readonly sync: boolean;
  readonly preallocate: 'zeros' | 'sparse';
  readonly syncOnLoop: boolean | 'auto';
}

function resolveOptions(o: WalOptions | undefined): Resolved {
  const segmentSize = o?.segmentSize ?? DEFAULT_SEGMENT_SIZE;
  if (!Number.isSafeInteger(segmentSize) || segmentSize < 4096) {
    throw new WalError('WAL_INVALID_ARGUMENT', 'segmentSize must be an integer >= 4096');
  }
  return {
    segmentSize,
    sync: o?.sync ?? true,
    preallocate: o?.preallocate ?? 'sparse',
    syncOnLoop: o?.syncOnLoop ?? 'auto',
  };
}

function isIndex(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function checkMarker(m: WalSnapshotMarker): void {
  if (!isIndex(m.index) || !isIndex(m.term)) {
    throw new WalError(
      'WAL_INVALID_ARGUMENT',
      'snapshot marker index and term must be integers >= 0',
    );
  }
}

/** A crash-safe, segmented write-ahead log with group commit. */
export class Wal {
  private readonly dir: string;
  private readonly metadata: Buffer;
  private readonly opts: Resolved;
  private readonly releaseLock: () => Promise<void>;
  private readonly segments: SegmentName[];

  private fd: number;
  private offset: number;
  private lastCrc: number;
  /** Index the flush loop has written up to (names the next segment). */
  private lastIndex: number;
  /** Index accepted from callers so far (checks that saves follow on). */
  private acceptedIndex: number;
  private hardState: WalHardState | undefined;

  private unread: WalContents | undefined;
  private mustRead: boolean;
  private queue: Op[] = [];
  /** The previous batch's array, emptied, taken as the next queue (no new array per flush). */
  private spare: Op[] | undefined;
  private queuedBytes = 0;
  private flushing = false;
  /** Callers of close() waiting for the flush in progress (made only when asked, not per flush). */
  private idleWaiters: (() => void)[] | undefined;
  /** The microtask that starts a flush, made once rather than per save. */
  private readonly drainSoon = (): void => void this.drain();
  /** A flush of unsynced saves only is set for the end of this turn (see enqueue). */
  private lazyDrain = false;
  private readonly drainLazily = (): void => {
    this.lazyDrain = false;
    this.startDrain();
  };
  private prealloc: Promise<number> | undefined;
  private failed: WalError | undefined;
  private closed = false;
  private counters = { writes: 0, syncs: 0, bytes: 0, inlineWrites: 0, cuts: 0 };
  /** Running average of recent group fdatasyncs, ms (syncOnLoop 'auto'). */
  private syncAverageMs = 0;

  private constructor(init: {
    dir: string;
    metadata: Uint8Array;
    opts: Resolved;
    releaseLock: () => Promise<void>;
    segments: SegmentName[];
    fd: number;
    offset: number;
    lastCrc: number;
    lastIndex: number;
    hardState: WalHardState | undefined;
    unread: WalContents;
    mustRead: boolean;
  }) {
    this.dir = init.dir;
    this.metadata = Buffer.from(init.metadata);
    this.opts = init.opts;
    this.releaseLock = init.releaseLock;
    this.segments = init.segments;
    this.fd = init.fd;
    this.offset = init.offset;
    this.lastCrc = init.lastCrc;
    this.lastIndex = init.lastIndex;
    this.acceptedIndex = init.lastIndex;
    this.hardState = init.hardState;
    this.unread = init.unread;
    this.mustRead = init.mustRead;
    this.startPrealloc();
  }

  /** True if `dir` holds at least one WAL segment. */
  static async exists(dir: string): Promise<boolean> {
    try {
      return (await listSegments(dir, false)).length > 0;
    } catch (err) {
      if (io.isErrno(err, 'ENOENT') || io.isErrno(err, 'ENOTDIR')) return false;
      if (err instanceof WalError) return true;
      throw err;
    }
  }

  /**
   * Creates a new WAL in `dir` (created if missing) whose every segment carries
   * `metadata`. Fails with WAL_EXISTS if the directory already holds a WAL. The
   * log starts at snapshot marker {index: 0, term: 0}; it is locked and ready to save.
   */
  static async create(dir: string, metadata: Uint8Array, options?: WalOptions): Promise<Wal> {
    const opts = resolveOptions(options);
    const created = await fs.mkdir(dir, { recursive: true });
    const releaseLock = await acquireLock(join(dir, LOCK_NAME));
    try {
      if ((await listSegments(dir, true)).length > 0) {
        throw new WalError('WAL_EXISTS', 'directory already holds a WAL', { file: dir });
      }
      const tmp = join(dir, PREALLOC_NAME);
      const fd = await preallocate(tmp, opts);
      try {
        const md = Buffer.from(metadata);
        const header = encodeHeader(0, 0, md, undefined, { index: 0, term: 0 });
        await io.writeFully(fd, header.buf, 0, header.buf.length, 0);
        if (opts.sync) await io.fdatasync(fd);
        const name = segmentName(0, 0);
        await fs.rename(tmp, join(dir, name));
        if (opts.sync) {
          await io.fsyncDir(dir);
          // A directory just made needs its own entry made durable too.
          if (created !== undefined) await io.fsyncDir(dirname(created));
        }
        return new Wal({
          dir,
          metadata: md,
          opts,
          releaseLock,
          segments: [{ seq: 0, firstIndex: 0, name }],
          fd,
          offset: header.buf.length,
          lastCrc: header.crc,
          lastIndex: 0,
          hardState: undefined,
          unread: { metadata: new Uint8Array(md), hardState: undefined, entries: [] },
          mustRead: false,
        });
      } catch (err) {
        await io.close(fd).catch(() => {});
        throw err;
      }
    } catch (err) {
      await releaseLock();
      throw err;
    }
  }

  /**
   * Opens the WAL in `dir` for the log that continues from `marker`, taking an
   * exclusive lock (WAL_LOCKED if another process or instance holds it). Reads
   * and verifies every segment from the one holding `marker` on, and repairs a
   * torn tail of the last segment; damage anywhere else throws WAL_CORRUPT
   * naming the file and offset. Call {@link readAll} once before saving.
   */
  static async open(
    dir: string,
    marker: WalSnapshotMarker,
    options?: WalOpenOptions,
  ): Promise<Wal> {
    checkMarker(marker);
    return Wal.openLocked(dir, options, () => Promise.resolve({ marker }));
  }

  /**
   * Opens the WAL in `dir` at a snapshot marker chosen from the WAL itself,
   * reading the segments once: what {@link readSnapshotMarkers} followed by
   * {@link open} do, without reading every file twice. Takes the lock, reads
   * and verifies every segment (as readSnapshotMarkers does), passes the
   * markers that are safe to load (index <= saved commit, oldest first) to
   * `choose`, then opens at the marker it returns (e.g. that of the snapshot
   * {@link SnapshotStore.loadNewestAvailable} found, or `{index: 0, term: 0}`)
   * from the bytes already read, with every check and repair of {@link open}.
   */
  static async openAtChosenMarker(
    dir: string,
    choose: (markers: WalSnapshotMarker[]) => Promise<WalSnapshotMarker>,
    options?: WalOpenOptions,
  ): Promise<Wal> {
    return Wal.openLocked(dir, options, async (segments) => {
      const held = new HeldSegments(OPEN_HOLD_BYTES);
      const all = await scanSegments(dir, segments, {
        marker: { index: 0, term: 0 },
        collectEntries: false,
        readSegment: (file) => held.read(file),
      });
      const commit = all.hardState?.commit ?? 0;
      const marker = await choose(all.snapshots.filter((m) => m.index <= commit));
      checkMarker(marker);
      return { marker, readSegment: (file) => held.take(file) };
    });
  }

  /**
   * The metadata of the WAL in `dir`, read from the head of its first segment
   * only (its crc and metadata records, verified: damage there is WAL_CORRUPT
   * as in {@link open}). Takes no lock and verifies nothing else: {@link open}
   * still checks every segment, including that all carry this metadata.
   */
  static async readMetadata(dir: string): Promise<Uint8Array> {
    if (!(await Wal.exists(dir))) throw new WalError('WAL_NOT_FOUND', 'no WAL', { file: dir });
    const segments = await listSegments(dir, false);
    const first = segments[0];
    if (first === undefined) throw new WalError('WAL_NOT_FOUND', 'no WAL', { file: dir });
    return readSegmentMetadata(dir, first);
  }

  /** Lock, list, let `prepare` pick the marker (and the bytes' source), then scan from it. */
  private static async openLocked(
    dir: string,
    options: WalOpenOptions | undefined,
    prepare: (segments: readonly SegmentName[]) => Promise<{
      marker: WalSnapshotMarker;
      readSegment?: (file: string) => Promise<SegmentData>;
    }>,
  ): Promise<Wal> {
    const opts = resolveOptions(options);
    if (!(await Wal.exists(dir))) throw new WalError('WAL_NOT_FOUND', 'no WAL', { file: dir });
    const releaseLock = await acquireLock(join(dir, LOCK_NAME));
    try {
      const segments = await listSegments(dir, true);
      const { marker, readSegment } = await prepare(segments);
      let start = -1;
      for (let i = segments.length - 1; i >= 0; i--) {
        if (segments[i]!.firstIndex <= marker.index) {
          start = i;
          break;
        }
      }
      if (start < 0) {
        throw new WalError(
          'WAL_SNAPSHOT_NOT_FOUND',
          `no segment reaches back to index ${marker.index}`,
          {
            file: dir,
          },
        );
      }
      const kept = segments.slice(start);
      const res = await scanSegments(dir, kept, { marker, collectEntries: true, readSegment });
      const metadata = res.metadata;
      const lastName = join(dir, kept[kept.length - 1]!.name);
      if (metadata === undefined)
        throw new WalError('WAL_CORRUPT', 'no metadata record', { file: lastName });
      if (
        options?.expectedMetadata !== undefined &&
        !Buffer.from(options.expectedMetadata).equals(metadata)
      ) {
        throw new WalError('WAL_METADATA_MISMATCH', 'WAL belongs to another member or cluster', {
          file: dir,
        });
      }
      if (!res.matched) {
        throw new WalError(
          'WAL_SNAPSHOT_NOT_FOUND',
          `snapshot marker ${marker.index}/${marker.term} is not in the WAL`,
          { file: dir },
        );
      }
      const fd = await io.open(lastName, 'r+');
      try {
        await repairTail(fd, res, opts);
      } catch (err) {
        await io.close(fd).catch(() => {});
        throw err;
      }
      return new Wal({
        dir,
        metadata,
        opts,
        releaseLock,
        // All segments, also those before the marker, so that releaseTo removes them too.
        segments,
        fd,
        offset: res.tailEnd,
        lastCrc: res.lastCrc,
        lastIndex: res.lastIndex,
        hardState: res.hardState,
        unread: { metadata, hardState: res.hardState, entries: res.entries },
        mustRead: true,
      });
    } catch (err) {
      await releaseLock();
      throw err;
    }
  }

  /**
   * Lists the snapshot markers recorded in the WAL in `dir` that are safe to
   * load (index <= the last saved commit), oldest first, without locking or
   * repairing. Pass them to {@link SnapshotStore.loadNewestAvailable}.
   */
  static async readSnapshotMarkers(dir: string): Promise<WalSnapshotMarker[]> {
    const segments = await listSegments(dir, false);
    if (segments.length === 0) throw new WalError('WAL_NOT_FOUND', 'no WAL', { file: dir });
    const res = await scanSegments(dir, segments, {
      marker: { index: 0, term: 0 },
      collectEntries: false,
    });
    const commit = res.hardState?.commit ?? 0;
    return res.snapshots.filter((m) => m.index <= commit);
  }

  /**
   * Returns the metadata, the last hard state and the entries after the
   * marker given to open. Must be called once after {@link open}, before the
   * first save; may be called once after {@link create}.
   */
  async readAll(): Promise<WalContents> {
    this.checkUsable();
    const out = this.unread;
    if (out === undefined)
      throw new WalError('WAL_STATE', 'readAll is only allowed once, before saving');
    this.unread = undefined;
    this.mustRead = false;
    return out;
  }

  /**
   * Appends `entries` (consecutive indexes; the first may be lower than the
   * last saved one, which overwrites the log from there on) and then
   * `hardState`. Resolves once both are durable. Saves issued while a sync is
   * in flight share the next write and fdatasync. The data is copied (and
   * checksummed) before save returns, so the caller may reuse its buffers.
   */
  save(
    hardState: WalHardState | undefined,
    entries: readonly WalEntry[],
    options?: WalSaveOptions,
  ): Promise<void> {
    // Not an async function: that would wrap enqueue's promise in a second
    // one per save. Errors still arrive as a rejection, never a throw.
    try {
      return this.saveNow(hardState, entries, options);
    } catch (err) {
      // Everything saveNow throws is a WalError; the check only satisfies the type.
      return Promise.reject(err instanceof Error ? err : new WalError('WAL_STATE', String(err)));
    }
  }

  private saveNow(
    hardState: WalHardState | undefined,
    entries: readonly WalEntry[],
    options: WalSaveOptions | undefined,
  ): Promise<void> {
    this.checkUsable();
    if (this.mustRead) throw new WalError('WAL_STATE', 'call readAll before saving');
    let next = this.acceptedIndex + 1;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (!Number.isSafeInteger(e.index) || e.index < 1 || !isIndex(e.term)) {
        throw new WalError(
          'WAL_INVALID_ARGUMENT',
          'entry index must be >= 1 and term >= 0 (integers)',
        );
      }
      if (i === 0 ? e.index > next : e.index !== next) {
        throw new WalError('WAL_INVALID_ARGUMENT', `entry ${e.index} does not follow ${next - 1}`);
      }
      if (!(e.data instanceof Uint8Array)) {
        throw new WalError('WAL_INVALID_ARGUMENT', 'entry data must be a Uint8Array');
      }
      next = e.index + 1;
    }
    if (hardState !== undefined) {
      if (
        !isIndex(hardState.term) ||
        !isIndex(hardState.commit) ||
        typeof hardState.vote !== 'bigint' ||
        hardState.vote < 0n ||
        hardState.vote > MAX_U64
      ) {
        throw new WalError(
          'WAL_INVALID_ARGUMENT',
          'hard state term/commit must be integers >= 0, vote a u64',
        );
      }
    }
    if (entries.length > 0) this.acceptedIndex = next - 1;
    this.unread = undefined;
    return this.enqueue(
      frameSave(entries, hardState, undefined),
      entries.length > 0 ? next - 1 : undefined,
      entries.length,
      undefined,
      hardState,
      options?.sync ?? true,
    );
  }

  /**
   * Records that the log continues from the snapshot at `marker` (written
   * after the snapshot file itself is durable). Resolves once durable.
   */
  async saveSnapshot(marker: WalSnapshotMarker): Promise<void> {
    this.checkUsable();
    if (this.mustRead) throw new WalError('WAL_STATE', 'call readAll before saving');
    checkMarker(marker);
    if (marker.index > this.acceptedIndex) this.acceptedIndex = marker.index;
    this.unread = undefined;
    return this.enqueue(frameSave([], undefined, marker), undefined, 0, marker.index, undefined);
  }

  /**
   * Deletes the segments that only hold entries before `index`: it keeps the
   * last segment that starts at or below `index` and everything after it, so
   * the WAL can still be opened at any snapshot marker >= `index`.
   */
  async releaseTo(index: number): Promise<void> {
    this.checkUsable();
    let keep = -1;
    for (let i = this.segments.length - 1; i >= 0; i--) {
      if (this.segments[i]!.firstIndex <= index) {
        keep = i;
        break;
      }
    }
    if (keep <= 0) return;
    // Oldest first, so a crash part way leaves a contiguous run of segments.
    const doomed = this.segments.splice(0, keep);
    for (const s of doomed) await fs.rm(join(this.dir, s.name), { force: true });
    if (this.opts.sync) await io.fsyncDir(this.dir);
  }

  /** Waits for queued saves, then closes the files and releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Unsynced saves may still wait for their end-of-turn flush.
    this.startDrain();
    if (this.flushing) await new Promise<void>((r) => (this.idleWaiters ??= []).push(r));
    try {
      const pre = this.prealloc;
      this.prealloc = undefined;
      if (pre) {
        const fd = await pre.catch(() => undefined);
        if (fd !== undefined) await io.close(fd);
        await fs.rm(join(this.dir, PREALLOC_NAME), { force: true });
      }
      await io.close(this.fd);
    } finally {
      await this.releaseLock();
    }
  }

  /** Counters since open: group writes, syncs, bytes, cuts. */
  get stats(): WalStats {
    return { ...this.counters };
  }

  private checkUsable(): void {
    if (this.closed) throw new WalError('WAL_CLOSED', 'WAL is closed', { file: this.dir });
    if (this.failed) throw this.failed;
  }

  private enqueue(
    buf: Buffer | undefined,
    lastEntry: number | undefined,
    entryCount: number,
    snapshotIndex: number | undefined,
    hardState: WalHardState | undefined,
    sync = true,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({
        buf,
        lastEntry,
        entryCount,
        snapshotIndex,
        hardState,
        sync,
        resolve,
        reject,
      });
      this.queuedBytes += buf?.length ?? 0;
      if (this.flushing) return;
      if (this.queuedBytes >= EAGER_FLUSH_BYTES) {
        // A lot already queued: write at once, so saves still being framed
        // in this tick overlap the disk and form the next group.
        this.flushing = true;
        void this.drain();
      } else if (sync) {
        // A microtask, so saves issued in the same tick join the first write
        // (unsynced ones queued before it included, in order).
        // (A resolved promise's reaction, not queueMicrotask: Node wraps each
        // queueMicrotask callback in an AsyncResource, garbage per write.)
        this.flushing = true;
        void RESOLVED.then(this.drainSoon);
      } else if (!this.lazyDrain) {
        // Nobody waits on an unsynced save (a commit-only hard state): write
        // it at the end of this turn of the event loop, after the I/O this
        // turn queues (the client's response that the apply just produced).
        this.lazyDrain = true;
        setImmediate(this.drainLazily);
      }
    });
  }

  /** Starts a flush of the queue unless one is running or nothing is queued. */
  private startDrain(): void {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    void this.drain();
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = this.spare ?? [];
      this.spare = undefined;
      this.queuedBytes = 0;
      if (this.failed) {
        for (const op of batch) op.reject(this.failed);
        this.recycle(batch);
        continue;
      }
      try {
        const bufs = this.chain(batch);
        if (bufs.length > 0) {
          let size = 0;
          for (const b of bufs) size += b.length;
          let n: number;
          if (size <= INLINE_WRITE_BYTES) {
            n = io.writevFullySync(this.fd, bufs, this.offset);
            this.counters.inlineWrites++;
          } else {
            n = await io.writevFully(this.fd, bufs, this.offset);
          }
          this.offset += n;
          this.counters.writes++;
          this.counters.bytes += n;
          if (this.offset >= this.opts.segmentSize) await this.cut();
          else if (this.opts.sync && anySync(batch)) {
            const started = performance.now();
            if (isLoneWrite(batch, n) && this.syncsOnLoop()) io.fdatasyncSync(this.fd);
            else await io.fdatasync(this.fd);
            const took = performance.now() - started;
            this.syncAverageMs += SYNC_AVERAGE_WEIGHT * (took - this.syncAverageMs);
            this.counters.syncs++;
          }
        }
        for (const op of batch) op.resolve();
      } catch (err) {
        // After a failed write or sync the file's state is unknown (the kernel
        // may have dropped the dirty pages): refuse all further use.
        this.failed = new WalError('WAL_FAILED', 'a write or sync failed; reopen the WAL', {
          file: this.dir,
          cause: err,
        });
        for (const op of batch) op.reject(this.failed);
      }
      this.recycle(batch);
    }
    this.flushing = false;
    const waiters = this.idleWaiters;
    if (waiters !== undefined) {
      this.idleWaiters = undefined;
      for (const w of waiters) w();
    }
  }

  /** Keeps a drained batch's array for the next queue (its settled ops are dropped). */
  private recycle(batch: Op[]): void {
    batch.length = 0;
    this.spare = batch;
  }

  private syncsOnLoop(): boolean {
    const mode = this.opts.syncOnLoop;
    return mode === 'auto' ? this.syncAverageMs <= SYNC_ON_LOOP_MAX_MS : mode;
  }

  /**
   * Links the batch's records into the checksum chain behind a Group record;
   * returns the buffers to write (none if the batch holds no records).
   */
  private chain(batch: readonly Op[]): Buffer[] {
    let size = 0;
    for (const op of batch) if (op.buf) size += op.buf.length;
    if (size === 0) return [];
    // Zeroed (the padding is part of the format), but cut from Node's shared
    // pool rather than given an ArrayBuffer of its own for every write.
    const group = Buffer.allocUnsafe(paddedSize(8)).fill(0);
    // The group record tells recovery where this write began (see scan.ts).
    writeU64(group, HEADER_SIZE, group.length + size);
    let crc = sealRecord(group, 0, this.lastCrc, RecordType.Group, 8);
    const out: Buffer[] = [group];
    for (const op of batch) {
      if (op.buf) {
        crc = chainAll(op.buf, op.buf.length, crc);
        out.push(op.buf);
      }
      if (op.lastEntry !== undefined) this.lastIndex = op.lastEntry;
      if (op.hardState) this.hardState = op.hardState;
      if (op.snapshotIndex !== undefined && op.snapshotIndex > this.lastIndex) {
        this.lastIndex = op.snapshotIndex;
      }
    }
    this.lastCrc = crc;
    return out;
  }

  /** Closes the full segment and continues in a fresh one. */
  private async cut(): Promise<void> {
    const { sync } = this.opts;
    await io.ftruncate(this.fd, this.offset);
    if (sync) {
      await io.fdatasync(this.fd);
      this.counters.syncs++;
    }
    this.counters.cuts++;

    let fd: number;
    const pre = this.prealloc;
    this.prealloc = undefined;
    const tmp = join(this.dir, PREALLOC_NAME);
    fd = pre ? await pre.catch(() => -1) : -1;
    if (fd < 0) fd = await preallocate(tmp, this.opts);
    const seq = this.segments[this.segments.length - 1]!.seq + 1;
    const firstIndex = this.lastIndex + 1;
    const header = encodeHeader(seq, this.lastCrc, this.metadata, this.hardState, undefined);
    try {
      await io.writeFully(fd, header.buf, 0, header.buf.length, 0);
      if (sync) await io.fdatasync(fd);
      const name = segmentName(seq, firstIndex);
      await fs.rename(tmp, join(this.dir, name));
      if (sync) await io.fsyncDir(this.dir);
      this.segments.push({ seq, firstIndex, name });
    } catch (err) {
      await io.close(fd).catch(() => {});
      throw err;
    }
    const old = this.fd;
    this.fd = fd;
    this.offset = header.buf.length;
    this.lastCrc = header.crc;
    await io.close(old);
    this.startPrealloc();
  }

  private startPrealloc(): void {
    const p = preallocate(join(this.dir, PREALLOC_NAME), this.opts);
    // The outcome is read at the next cut; failure there falls back to a fresh file.
    p.catch(() => {});
    this.prealloc = p;
  }
}

/**
 * A group that one writer waits on: at most one entry (a lone put, or a
 * follower appending a lone put) and small. Several entries in one group mean
 * concurrent writers, whose next requests the loop should keep reading while
 * the disk syncs.
 */
/** Whether any save of the batch asked for an fdatasync (a loop, not a closure per flush). */
function anySync(batch: readonly Op[]): boolean {
  for (const op of batch) if (op.sync) return true;
  return false;
}

function isLoneWrite(batch: readonly Op[], bytes: number): boolean {
  if (bytes > SYNC_ON_LOOP_BYTES) return false;
  let entries = 0;
  for (const op of batch) entries += op.entryCount;
  return entries <= 1;
}

async function preallocate(path: string, opts: Resolved): Promise<number> {
  const fd = await io.open(path, 'w+');
  try {
    if (opts.preallocate === 'zeros') {
      const z = zeros();
      for (let pos = 0; pos < opts.segmentSize; pos += z.length) {
        await io.writeFully(fd, z, 0, Math.min(z.length, opts.segmentSize - pos), pos);
      }
    } else {
      await io.ftruncate(fd, opts.segmentSize);
    }
    if (opts.sync) await io.fdatasync(fd);
    return fd;
  } catch (err) {
    await io.close(fd).catch(() => {});
    throw err;
  }
}

/**
 * Frames a save's records into one buffer: entries first, then the hard state,
 * so that a commit index never becomes durable ahead of the entries it covers.
 */
function frameSave(
  entries: readonly WalEntry[],
  hardState: WalHardState | undefined,
  snapshot: WalSnapshotMarker | undefined,
): Buffer | undefined {
  let size = 0;
  for (const e of entries) size += paddedSize(16 + e.data.length);
  if (hardState) size += paddedSize(24);
  if (snapshot) size += paddedSize(16);
  if (size === 0) return undefined;
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  for (const e of entries) {
    const p = off + HEADER_SIZE;
    writeU64(buf, p, e.index);
    writeU64(buf, p + 8, e.term);
    buf.set(e.data, p + 16);
    off += frameRecord(buf, off, RecordType.Entry, 16 + e.data.length);
  }
  if (hardState) {
    putHardState(buf, off, hardState);
    off += frameRecord(buf, off, RecordType.HardState, 24);
  }
  if (snapshot) {
    writeU64(buf, off + HEADER_SIZE, snapshot.index);
    writeU64(buf, off + HEADER_SIZE + 8, snapshot.term);
    off += frameRecord(buf, off, RecordType.Snapshot, 16);
  }
  return buf;
}

function putHardState(buf: Buffer, off: number, hs: WalHardState): number {
  const p = off + HEADER_SIZE;
  writeU64(buf, p, hs.term);
  buf.writeBigUInt64LE(hs.vote, p + 8);
  writeU64(buf, p + 16, hs.commit);
  return off + paddedSize(24);
}

/** The records every segment starts with: crc carrier, metadata, then the latest state. */
function encodeHeader(
  seq: number,
  prevCrc: number,
  metadata: Buffer,
  hardState: WalHardState | undefined,
  snapshot: WalSnapshotMarker | undefined,
): { buf: Buffer; crc: number } {
  const size =
    paddedSize(8) +
    paddedSize(metadata.length) +
    (hardState ? paddedSize(24) : 0) +
    (snapshot ? paddedSize(16) : 0);
  const buf = Buffer.alloc(size);
  let off = 0;
  writeU64(buf, off + HEADER_SIZE, seq);
  let crc = sealRecord(buf, off, prevCrc, RecordType.Crc, 8);
  off += paddedSize(8);
  metadata.copy(buf, off + HEADER_SIZE);
  crc = sealRecord(buf, off, crc, RecordType.Metadata, metadata.length);
  off += paddedSize(metadata.length);
  if (hardState) {
    putHardState(buf, off, hardState);
    crc = sealRecord(buf, off, crc, RecordType.HardState, 24);
    off += paddedSize(24);
  }
  if (snapshot) {
    writeU64(buf, off + HEADER_SIZE, snapshot.index);
    writeU64(buf, off + HEADER_SIZE + 8, snapshot.term);
    crc = sealRecord(buf, off, crc, RecordType.Snapshot, 16);
    off += paddedSize(16);
  }
  return { buf, crc };
}

/** Clears a torn tail so that the next write continues right after the last whole record. */
async function repairTail(fd: number, res: ScanResult, opts: Resolved): Promise<void> {
  if (res.garbageEnd <= res.tailEnd) return;
  const z = zeros();
  for (let pos = res.tailEnd; pos < res.garbageEnd; pos += z.length) {
    await io.writeFully(fd, z, 0, Math.min(z.length, res.garbageEnd - pos), pos);
  }
  if (opts.sync) await io.fdatasync(fd);
}
