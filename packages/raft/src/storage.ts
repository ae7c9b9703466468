import { RaftError, invariant } from './errors';
import type { ConfState, Entry, HardState, Snapshot, EntryType } from './types';
import { EMPTY_BYTES, EMPTY_CONF_STATE, EMPTY_HARD_STATE, entrySize } from './types';

/**
 * The stable log as Raft reads it. Synchronous by design: durability lives
 * outside (a WAL), and this is the in-memory view the application appends to
 * after persisting. Methods throw RaftError with code RAFT_COMPACTED,
 * RAFT_UNAVAILABLE or RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE.
 */
export interface Storage {
  /** The persisted hard state and the membership as of the latest snapshot/conf entry. */
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at least one if any, limited to about maxSize bytes. */
  entries(lo: number, hi: number, maxSize?: number): Entry[];
  /** Term of entry i; i may be firstIndex()-1 (the snapshot's). */
  term(i: number): number;
  lastIndex(): number;
  firstIndex(): number;
  snapshot(): Snapshot;
}

/** Cuts ents so their total size stays within maxSize, keeping at least one. */
export function limitSize(ents: Entry[], maxSize: number | undefined): Entry[] {
  if (maxSize === undefined || ents.length === 0) return ents;
  let size = entrySize(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]!);
    if (size > maxSize) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

/** Size of the blocks that small entries' data are copied into. */
const ARENA_BLOCK = 256 * 1024;
/** Entries at least this large get an exact copy of their own. */
const ARENA_MAX_ENTRY = 16 * 1024;
/** Initial capacity of the log's columns, in entries. */
const INITIAL_CAPACITY = 256;

/**
 * An in-memory Storage: the reference implementation, also a write side.
 *
 * The log is kept column by column (terms, types, where each entry's data
 * is) rather than as an object per entry: it can hold 100,000 entries, and
 * two objects each (the entry and its data's view) would be 150 bytes of
 * heap per entry that every full garbage collection has to trace. Entries
 * are made again when read; reads are of recent entries (committed ones on
 * their way to be applied, a lagging follower's next batch).
 *
 * Appended entries' data are copied: small ones into shared blocks in log
 * order, larger ones into buffers of their exact size. A caller's bytes are
 * often a view into something much larger (a pooled 8 KiB allocation, a
 * network read) that the view would keep alive for as long as the entry.
 * Blocks are released as compaction drops the entries in them, oldest first.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = {
    data: EMPTY_BYTES,
    metadata: { index: 0, term: 0, confState: EMPTY_CONF_STATE },
  };
  /** Index and term of the entry just before the first one held (the snapshot's or the compaction point's). */
  private baseIndex = 0;
  private baseTerm = 0;
  // Entry baseIndex + 1 + k is at position head + k of each column, for k < count.
  private head = 0;
  private count = 0;
  private terms = new Float64Array(INITIAL_CAPACITY);
  private types = new Uint8Array(INITIAL_CAPACITY);
  private starts = new Uint32Array(INITIAL_CAPACITY);
  private lengths = new Uint32Array(INITIAL_CAPACITY);
  /** The block (or own copy) holding each entry's data; undefined for empty data. */
  private blocks: (Uint8Array | undefined)[] = [];
  private block: Uint8Array = EMPTY_BYTES;
  private blockUsed = 0;

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  /** Records the persisted hard state. */
  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  entries(lo: number, hi: number, maxSize?: number): Entry[] {
    if (lo <= this.baseIndex)
      throw new RaftError('RAFT_COMPACTED', `index ${lo} compacted (first ${this.baseIndex + 1})`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftError(
        'RAFT_UNAVAILABLE',
        `entries [${lo}, ${hi}) beyond last ${this.lastIndex()}`,
      );
    }
    const out: Entry[] = [];
    let size = 0;
    for (let index = lo; index < hi; index++) {
      const e = this.entryAt(index);
      // At least one entry, then as many as fit (limitSize's rule).
      size += entrySize(e);
      if (out.length > 0 && maxSize !== undefined && size > maxSize) break;
      out.push(e);
    }
    return out;
  }

  term(i: number): number {
    if (i < this.baseIndex) throw new RaftError('RAFT_COMPACTED', `term of ${i} compacted`);
    if (i === this.baseIndex) return this.baseTerm;
    if (i > this.lastIndex()) throw new RaftError('RAFT_UNAVAILABLE', `term of ${i} unavailable`);
    return this.terms[this.head + i - this.baseIndex - 1]!;
  }

  lastIndex(): number {
    return this.baseIndex + this.count;
  }

  firstIndex(): number {
    return this.baseIndex + 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the contents with a snapshot (e.g. one received from the leader). */
  applySnapshot(snap: Snapshot): void {
    if (this.snap.metadata.index >= snap.metadata.index) {
      throw new RaftError('RAFT_SNAP_OUT_OF_DATE', `snapshot ${snap.metadata.index} is not newer`);
    }
    this.snap = snap;
    this.baseIndex = snap.metadata.index;
    this.baseTerm = snap.metadata.term;
    this.head = 0;
    this.count = 0;
    this.blocks = [];
  }

  /**
   * Makes a snapshot at applied index `index` with the given application
   * data; confState defaults to the previous snapshot's. Call compact() after.
   */
  createSnapshot(index: number, confState: ConfState | undefined, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) {
      throw new RaftError('RAFT_SNAP_OUT_OF_DATE', `snapshot ${index} is not newer`);
    }
    invariant(index <= this.lastIndex(), `snapshot ${index} beyond last index ${this.lastIndex()}`);
    this.snap = {
      data,
      metadata: {
        index,
        term: this.term(index),
        confState: confState ?? this.snap.metadata.confState,
      },
    };
    return this.snap;
  }

  /** Discards entries before `index` (which becomes the base: its term stays known). */
  compact(index: number): void {
    if (index <= this.baseIndex)
      throw new RaftError('RAFT_COMPACTED', `compact ${index} already compacted`);
    invariant(index <= this.lastIndex(), `compact ${index} beyond last index ${this.lastIndex()}`);
    const term = this.term(index);
    const dropped = index - this.baseIndex;
    // Let go of the dropped entries' blocks.
    this.blocks.fill(undefined, this.head, this.head + dropped);
    this.head += dropped;
    this.count -= dropped;
    this.baseIndex = index;
    this.baseTerm = term;
  }

  /** Appends (persisted) entries, truncating any conflicting suffix. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all compacted already
    let ents = entries;
    if (first > entries[0]!.index) ents = entries.slice(first - entries[0]!.index);
    // How many held entries stay: those before the first appended one.
    const keep = ents[0]!.index - this.baseIndex - 1;
    if (!(keep <= this.count))
      invariant(
        false,
        `missing log entry [last: ${this.lastIndex()}, append at: ${ents[0]!.index}]`,
      );
    if (keep < this.count) {
      this.blocks.fill(undefined, this.head + keep, this.head + this.count);
      this.count = keep;
    }
    this.reserve(ents.length);
    let p = this.head + this.count;
    for (const e of ents) {
      this.terms[p] = e.term;
      this.types[p] = e.type;
      this.store(p, e.data);
      p++;
    }
    this.count += ents.length;
  }

  private entryAt(index: number): Entry {
    const p = this.head + index - this.baseIndex - 1;
    const len = this.lengths[p]!;
    const start = this.starts[p]!;
    return {
      term: this.terms[p]!,
      index,
      type: this.types[p]! as EntryType,
      data: len === 0 ? EMPTY_BYTES : this.blocks[p]!.subarray(start, start + len),
    };
  }

  /** Makes room for n more entries after the held ones. */
  private reserve(n: number): void {
    const capacity = this.terms.length;
    const needed = this.count + n;
    if (this.head + needed <= capacity) return;
    // Move the held entries to the front; grow only if half the room would not do.
    const size = needed * 2 <= capacity ? capacity : Math.max(capacity * 2, needed);
    const from = this.head;
    const to = from + this.count;
    const move = <T extends Float64Array | Uint8Array | Uint32Array>(
      col: T,
      make: (n: number) => T,
    ): T => {
      const out = size === capacity ? col : make(size);
      out.set(col.subarray(from, to), 0);
      return out;
    };
    this.terms = move(this.terms, (k) => new Float64Array(k));
    this.types = move(this.types, (k) => new Uint8Array(k));
    this.starts = move(this.starts, (k) => new Uint32Array(k));
    this.lengths = move(this.lengths, (k) => new Uint32Array(k));
    this.blocks = this.blocks.slice(from, to);
    this.head = 0;
  }

  /** Copies data into the log's blocks and records where it went. */
  private store(p: number, data: Uint8Array): void {
    const n = data.length;
    this.lengths[p] = n;
    if (n === 0) {
      this.starts[p] = 0;
      this.blocks[p] = undefined;
      return;
    }
    if (n >= ARENA_MAX_ENTRY) {
      // new Uint8Array(view) copies (a Buffer's own slice() would not).
      this.starts[p] = 0;
      this.blocks[p] = new Uint8Array(data);
      return;
    }
    if (this.blockUsed + n > this.block.length) {
      this.block = new Uint8Array(ARENA_BLOCK);
      this.blockUsed = 0;
    }
    this.block.set(data, this.blockUsed);
    this.starts[p] = this.blockUsed;
    this.blocks[p] = this.block;
    this.blockUsed += n;
  }
}
