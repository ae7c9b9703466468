import { RaftError, invariant } from './errors';
import type { ConfState, Entry, HardState, Snapshot } from './types';
import { EMPTY_BYTES, EMPTY_CONF_STATE, EMPTY_HARD_STATE, EntryType, entrySize } from './types';

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

/**
 * An in-memory Storage: the reference implementation, also a write side.
 *
 * Appended entries' data are copied: small ones into shared blocks in log
 * order, larger ones into buffers of their exact size. The log can hold
 * 100,000 entries; a caller's bytes are often a view into something much
 * larger (a pooled 8 KiB allocation, a network read) that the view would keep
 * alive for as long as the entry. Blocks are released as compaction drops
 * the entries in them, oldest first.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = {
    data: EMPTY_BYTES,
    metadata: { index: 0, term: 0, confState: EMPTY_CONF_STATE },
  };
  // ents[0] is a dummy holding the snapshot's index and term.
  private ents: Entry[] = [{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }];
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
    const offset = this.ents[0]!.index;
    if (lo <= offset)
      throw new RaftError('RAFT_COMPACTED', `index ${lo} compacted (first ${offset + 1})`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftError(
        'RAFT_UNAVAILABLE',
        `entries [${lo}, ${hi}) beyond last ${this.lastIndex()}`,
      );
    }
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxSize);
  }

  term(i: number): number {
    const offset = this.ents[0]!.index;
    if (i < offset) throw new RaftError('RAFT_COMPACTED', `term of ${i} compacted`);
    const e = this.ents[i - offset];
    if (e === undefined) throw new RaftError('RAFT_UNAVAILABLE', `term of ${i} unavailable`);
    return e.term;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
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
    this.ents = [
      {
        term: snap.metadata.term,
        index: snap.metadata.index,
        type: EntryType.Normal,
        data: EMPTY_BYTES,
      },
    ];
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
    const offset = this.ents[0]!.index;
    this.snap = {
      data,
      metadata: {
        index,
        term: this.ents[index - offset]!.term,
        confState: confState ?? this.snap.metadata.confState,
      },
    };
    return this.snap;
  }

  /** Discards entries before `index` (which becomes the dummy entry). */
  compact(index: number): void {
    const offset = this.ents[0]!.index;
    if (index <= offset)
      throw new RaftError('RAFT_COMPACTED', `compact ${index} already compacted`);
    invariant(index <= this.lastIndex(), `compact ${index} beyond last index ${this.lastIndex()}`);
    const e = this.ents[index - offset]!;
    const rest = this.ents.slice(index - offset + 1);
    this.ents = [
      { term: e.term, index: e.index, type: EntryType.Normal, data: EMPTY_BYTES },
      ...rest,
    ];
  }

  /** Appends (persisted) entries, truncating any conflicting suffix. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all compacted already
    let ents = entries;
    if (first > entries[0]!.index) ents = entries.slice(first - entries[0]!.index);
    const offset = ents[0]!.index - this.ents[0]!.index;
    if (!(offset <= this.ents.length))
      invariant(
        false,
        `missing log entry [last: ${this.lastIndex()}, append at: ${ents[0]!.index}]`,
      );
    if (offset < this.ents.length) this.ents.length = offset;
    for (const e of ents) {
      const data = this.copyData(e.data);
      this.ents.push(data === e.data ? e : { term: e.term, index: e.index, type: e.type, data });
    }
  }

  private copyData(data: Uint8Array): Uint8Array {
    const n = data.length;
    if (n === 0) return data;
    // new Uint8Array(view) copies (a Buffer's own slice() would not).
    if (n >= ARENA_MAX_ENTRY) return new Uint8Array(data);
    if (this.blockUsed + n > this.block.length) {
      this.block = new Uint8Array(ARENA_BLOCK);
      this.blockUsed = 0;
    }
    const copy = this.block.subarray(this.blockUsed, this.blockUsed + n);
    copy.set(data);
    this.blockUsed += n;
    return copy;
  }
}
