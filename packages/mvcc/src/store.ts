import { BTree } from './btree';
import type { Backend } from './backend';
import { binaryToBytes, bytesToBinary, toInterval } from './bytes';
import type { KeyInterval } from './bytes';
import { assertRevision, MvccError, MvccErrorCode } from './errors';
import { KeyIndex } from './key-index';
import { decodeKeyValue, decodeKeyValueKey, encodeKeyValue } from './key-value';
import type { KeyValue } from './key-value';
import { ReadPins } from './read-pins';
import { ValueCache } from './value-cache';
import { decodeRevision, decodeUint64, encodeRevision, encodeUint64 } from './revision';
import { crc32cUpdate } from './crc32c';
import { EventType } from './types';
import type {
  EncodedRangeOptions,
  EncodedRangeResult,
  MvccEvent,
  RangeOptions,
  RangeResult,
} from './types';
import { WatchHub } from './watch/hub';
import type { WatchStream } from './watch/stream';

/** Tuning of {@link MvccStore}. */
export interface MvccStoreOptions {
  /** Keys compacted in the index, and backend entries deleted, per step before yielding (default 1000, as etcd). */
  readonly compactionBatchLimit?: number;
  /** Entries read from the backend per step when restoring the index on open (default 10000). */
  readonly restoreBatchLimit?: number;
  /** Revisions an unsynced watcher catches up per backend read (default 1000, as etcd). */
  readonly watchBatchRevisions?: number;
  /** Default capacity, in responses, of a watch stream's buffer (default 128, as etcd). */
  readonly watchBufferSize?: number;
  /**
   * Bytes of recently read key-values kept in memory per cache generation
   * (at most about twice this is held; default 8 MiB; 0 disables). Only
   * reads fill it: values that are only written are never held.
   */
  readonly valueCacheBytes?: number;
}

/** A write transaction; see {@link MvccStore.write}. */
export interface WriteTxn {
  /** The revision this transaction creates if it changes anything. */
  readonly revision: number;
  /** Range read that sees this transaction's own earlier writes. */
  range(key: Uint8Array, end: Uint8Array | undefined, options?: RangeOptions): Promise<RangeResult>;
  /** Put a key; the index supplies create revision and version synchronously. */
  put(key: Uint8Array, value: Uint8Array, lease: bigint): void;
  /** Delete the live keys in the range; returns how many were deleted. */
  deleteRange(key: Uint8Array, end: Uint8Array | undefined): number;
  /** Finish: bump the revision if anything changed, notify watchers, return the events. */
  end(): MvccEvent[];
}

/**
 * A transaction's writes, indexed by sub revision. They reach the backend's
 * batch only in end(), all in one synchronous step: a backend commit that
 * happens while the transaction awaits a read must not persist half of it.
 */
interface Staged {
  readonly main: number;
  readonly values: Uint8Array[];
  /** Subs that are deletes; made by the first delete (most write txns are puts only). */
  tombstones: Set<number> | undefined;
}

const EMPTY: Uint8Array = new Uint8Array(0);
const META_SCHEDULED = new TextEncoder().encode('scheduledCompactRev');
const META_FINISHED = new TextEncoder().encode('finishedCompactRev');
const KEY_BUCKET_NAME = new TextEncoder().encode('key');

/** Yield to the event loop so reads and writes can run between batches. */
function yieldToLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (cb: () => void) => unknown };
  return new Promise((resolve) => {
    if (g.setImmediate !== undefined) g.setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}

/**
 * The (main, sub) pairs a range's index scan found (see fetchAt), kept for
 * the next read up to {@link KEPT_SCAN_PAIRS} pairs (1 MiB).
 */
let scanRevisions = new Float64Array(512);
const KEPT_SCAN_PAIRS = 64 * 1024;

/**
 * The multi-version key-value store: an in-memory B-tree index from each
 * user key to its {@link KeyIndex}, the key-values themselves in the backend
 * under their revision. Single writer (the server's apply loop), many
 * concurrent readers.
 */
export class MvccStore {
  private tree = new BTree<string, KeyIndex>();
  private leases = new Map<bigint, Set<string>>();
  private readonly pins = new ReadPins();
  /** Set while {@link restore} runs: reads and catch-up reads wait for it. */
  private restoring: Promise<void> | undefined;
  // etcd's store is at revision 1 before any write, so the first write creates 2.
  private current = 1;
  private compacted = 0;
  private txnOpen = false;
  private closed = false;
  private compaction: Promise<void> = Promise.resolve();
  private readonly batch: number;
  private readonly hub: WatchHub;
  private readonly values: ValueCache;

  private constructor(
    private readonly backend: Backend,
    private readonly options: MvccStoreOptions,
  ) {
    this.batch = options.compactionBatchLimit ?? 1000;
    this.values = new ValueCache(options.valueCacheBytes ?? 8 * 1024 * 1024);
    this.hub = new WatchHub(this, {
      batchRevisions: options.watchBatchRevisions ?? 1000,
      bufferSize: options.watchBufferSize ?? 128,
    });
  }

  /**
   * Open a store on a backend: rebuild the index, the current and the
   * compacted revision, and finish a compaction a crash interrupted.
   */
  static async open(backend: Backend, options: MvccStoreOptions = {}): Promise<MvccStore> {
    const s = new MvccStore(backend, options);
    await s.load();
    return s;
  }

  /**
   * Replace the whole backend's contents with a snapshot stream (see
   * {@link Backend.restore}; for example a Raft snapshot from the leader) and
   * rebuild the store from it, keeping its watch streams, as etcd's restore
   * does. Every watcher resumes at its next revision from the new contents
   * (no event lost or repeated, in revision order), or, if that revision is
   * compacted in them, gets `{ canceled: true, compactRevision }`.
   *
   * While it runs, reads and hashKV wait and then see the new contents;
   * `write()` and `compact()` throw MVCC_CLOSED (the single writer is the
   * caller). It first waits for a running compaction and for reads in
   * flight. If the backend rejects the stream, the old contents stay and so
   * does the store; if rebuilding fails, the store is closed.
   */
  async restore(snapshot: AsyncIterable<Uint8Array>): Promise<void> {
    this.checkOpen();
    if (this.restoring !== undefined) {
      throw new MvccError(MvccErrorCode.Closed, 'a restore is already running');
    }
    if (this.txnOpen) throw new MvccError(MvccErrorCode.TxnOpen);
    let done!: () => void;
    this.restoring = new Promise<void>((resolve) => (done = resolve));
    try {
      await this.compaction;
      // Reads in flight need the old contents (new ones wait for `restoring`).
      await this.pins.drainBelow(Infinity);
      await this.backend.restore(snapshot);
      // The new contents may hold other values under the same revisions.
      this.values.clear();
      try {
        await this.load();
      } catch (err) {
        // The index no longer matches the backend: nothing can be served.
        this.closed = true;
        this.hub.close();
        throw err;
      }
      this.hub.onRestored();
    } finally {
      this.restoring = undefined;
      done();
    }
  }

  /** The revision of the last committed write transaction (1 for an empty store, as etcd). */
  currentRevision(): number {
    return this.current;
  }

  /** The revision of the last compaction (0 if none). */
  compactedRevision(): number {
    return this.compacted;
  }

  /** Read keys at a revision; see {@link RangeOptions}. */
  range(
    key: Uint8Array,
    end: Uint8Array | undefined,
    options: RangeOptions = {},
  ): Promise<RangeResult> {
    this.checkOpen();
    if (this.restoring !== undefined) {
      return this.restoring.then(() => this.range(key, end, options));
    }
    return this.rangeAt(key, end, options, this.current);
  }

  /** Open the (single) write transaction. Throws MVCC_TXN_OPEN if one is open. */
  write(): WriteTxn {
    this.checkOpen();
    this.checkNotRestoring();
    if (this.txnOpen) throw new MvccError(MvccErrorCode.TxnOpen);
    this.txnOpen = true;
    return new Txn(this, this.current + 1);
  }

  /**
   * Compact at `revision`: validated synchronously (MVCC_COMPACTED when not
   * above the compacted revision, MVCC_FUTURE_REV when above the current
   * one); reads below it fail from now on. The promise resolves when the
   * old versions are gone from the backend and the result is committed.
   */
  compact(revision: number): Promise<void> {
    this.checkOpen();
    this.checkNotRestoring();
    assertRevision(revision, 'revision');
    if (revision <= this.compacted) {
      throw new MvccError(MvccErrorCode.Compacted, undefined, this.compacted);
    }
    if (revision > this.current) throw new MvccError(MvccErrorCode.FutureRev);
    this.compacted = revision;
    // Persisted in the current batch, so a restart finishes the job.
    this.backend.put('meta', META_SCHEDULED, encodeUint64(revision));
    const run = this.compaction.then(() => this.physicalCompact(revision));
    this.compaction = run.catch(() => undefined);
    this.hub.onCompacted();
    return run;
  }

  /** Current keys attached to `lease`. */
  keysWithLease(lease: bigint): Uint8Array[] {
    const keys = this.leases.get(lease);
    return keys === undefined ? [] : [...keys].sort().map(binaryToBytes);
  }

  /**
   * CRC-32C over the 'key' bucket up to `revision` (0 = current), counting
   * only what compaction at the compacted revision keeps, so members agree
   * whether or not their physical compaction has finished.
   */
  async hashKV(
    revision: number,
  ): Promise<{ hash: number; revision: number; compactRevision: number }> {
    this.checkOpen();
    assertRevision(revision, 'revision');
    for (;;) {
      await this.restored();
      const result = await this.hashContents(revision);
      // A restore replaced the contents meanwhile: hash the new ones.
      if (result !== undefined) return result;
    }
  }

  /** hashKV over the current contents; undefined if a restore began meanwhile. */
  private async hashContents(
    revision: number,
  ): Promise<{ hash: number; revision: number; compactRevision: number } | undefined> {
    const current = this.current;
    let compactRevision = this.compacted;
    const upTo = revision === 0 ? current : revision;
    if (upTo > current) throw new MvccError(MvccErrorCode.FutureRev);
    if (upTo < compactRevision) {
      throw new MvccError(MvccErrorCode.Compacted, undefined, compactRevision);
    }
    // A compaction moving on mid-way changes what "kept" means: start over.
    for (;;) {
      const hash = await this.hashOnce(upTo, compactRevision);
      if (this.restoring !== undefined) return undefined;
      if (this.compacted === compactRevision) return { hash, revision: current, compactRevision };
      compactRevision = this.compacted;
      if (upTo < compactRevision) {
        throw new MvccError(MvccErrorCode.Compacted, undefined, compactRevision);
      }
    }
  }

  private async hashOnce(upTo: number, compactRevision: number): Promise<number> {
    let hash = crc32cUpdate(0, KEY_BUCKET_NAME);
    const pin = this.pins.pin(compactRevision);
    try {
      let from = encodeRevision(0, 0);
      const end = encodeRevision(upTo + 1, 0);
      for (;;) {
        const entries = await this.backend.range('key', from, end, { limit: this.batch });
        for (const e of entries) {
          // The compaction rule: below the compaction point only kept revisions count.
          if (!this.survives(e.key, e.value, compactRevision)) continue;
          hash = crc32cUpdate(hash, e.key);
          hash = crc32cUpdate(hash, e.value);
        }
        if (entries.length < this.batch) break;
        from = nextKey((entries[entries.length - 1] as { key: Uint8Array }).key);
      }
    } finally {
      this.pins.release(pin);
    }
    return hash;
  }

  /**
   * Whether a backend entry survives compaction at `at`: revisions above it
   * and all revisions at it do; below it only the one each key's index keeps.
   */
  private survives(revKey: Uint8Array, value: Uint8Array, at: number): boolean {
    const r = decodeRevision(revKey);
    if (r.main >= at) return true;
    if (r.tombstone) return false;
    const ki = this.tree.get(bytesToBinary(decodeKeyValueKey(value)));
    return ki !== undefined && ki.keeps(at, r.main, r.sub);
  }

  /** Numbers of watchers by state, for metrics: caught up, catching up, and set aside (slow consumers). */
  watcherCounts(): { synced: number; unsynced: number; victims: number } {
    return this.hub.stats();
  }

  /** A new watch stream; see {@link WatchStream}. */
  watchStream(options: { bufferSize?: number } = {}): WatchStream {
    this.checkOpen();
    return this.hub.newStream(options.bufferSize);
  }

  /**
   * Close the store: ends watch streams and waits for a running compaction.
   * The backend stays open (its owner closes it).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.hub.close();
    await this.restored();
    await this.compaction;
  }

  // ---- internals shared with Txn and the watch hub ----

  /** @internal */
  checkOpen(): void {
    if (this.closed) throw new MvccError(MvccErrorCode.Closed);
  }

  /** @internal Resolves at once, or when a running {@link restore} has finished (either way). */
  async restored(): Promise<void> {
    while (this.restoring !== undefined) await this.restoring;
  }

  private checkNotRestoring(): void {
    if (this.restoring !== undefined) {
      throw new MvccError(MvccErrorCode.Closed, 'the store is being restored');
    }
  }

  /** @internal */
  getBackend(): Backend {
    return this.backend;
  }

  /** @internal */
  getPins(): ReadPins {
    return this.pins;
  }

  /**
   * Like {@link range}, but each key-value comes as its stored mvccpb.KeyValue
   * encoding, not decoded: a server can copy those bytes into a response as
   * they are. No keysOnly (the stored bytes carry the value).
   */
  rangeEncoded(
    key: Uint8Array,
    end: Uint8Array | undefined,
    options: EncodedRangeOptions = {},
  ): Promise<EncodedRangeResult> {
    this.checkOpen();
    if (this.restoring !== undefined) {
      return this.restoring.then(() => this.rangeEncoded(key, end, options));
    }
    return this.fetchAt(key, end, options, this.current);
  }

  /** @internal Range at most at `maxRev` (the txn's own revision for a txn). */
  async rangeAt(
    key: Uint8Array,
    end: Uint8Array | undefined,
    options: RangeOptions,
    maxRev: number,
    staged?: Staged,
  ): Promise<RangeResult> {
    const { values, count, revision } = await this.fetchAt(key, end, options, maxRev, staged);
    const kvs: KeyValue[] = new Array<KeyValue>(values.length);
    for (let i = 0; i < values.length; i++) {
      const kv = decodeKeyValue(values[i] as Uint8Array);
      kvs[i] = options.keysOnly === true ? { ...kv, value: EMPTY } : kv;
    }
    return { kvs, count, revision };
  }

  /** The stored encodings of the key-values a range at most at `maxRev` returns. */
  private async fetchAt(
    key: Uint8Array,
    end: Uint8Array | undefined,
    options: EncodedRangeOptions,
    maxRev: number,
    staged?: Staged,
  ): Promise<EncodedRangeResult> {
    const revision = options.revision ?? 0;
    assertRevision(revision, 'revision');
    const at = revision === 0 ? maxRev : revision;
    if (at > maxRev) throw new MvccError(MvccErrorCode.FutureRev);
    if (at < this.compacted)
      throw new MvccError(MvccErrorCode.Compacted, undefined, this.compacted);
    const limit = options.limit ?? 0;
    assertRevision(limit, 'limit');
    const headerRev = this.current;
    // The index lookup is synchronous, so it sees one consistent state.
    // Hits as flat (main, sub) pairs in a buffer every read reuses: no object
    // per key, and no array grown pair by pair (a range of 1,000 keys used to
    // allocate ~100 KB that way). Only read before the first await below.
    const want = options.countOnly === true ? 0 : limit > 0 ? limit : Infinity;
    let revs = scanRevisions;
    let n = 0;
    let count = 0;
    this.scan(toInterval(key, end), (ki) => {
      if (n >= want) {
        // Beyond the limit only the count is wanted.
        if (ki.existsAt(at)) count++;
        return;
      }
      if (2 * n + 2 > revs.length) {
        const grown = new Float64Array(revs.length * 2);
        grown.set(revs);
        revs = grown;
        if (grown.length <= 2 * KEPT_SCAN_PAIRS) scanRevisions = grown;
      }
      if (ki.writeRevisionAt(at, revs, 2 * n)) {
        n++;
        count++;
      }
    });
    if (n === 0) return { values: [], count, revision: headerRev };
    // A transaction's own writes are still staged in the transaction, not in
    // the backend; recently read revisions are in the cache.
    const cache = this.values;
    const values = new Array<Uint8Array | undefined>(n);
    const missing: number[] = [];
    /** (main, sub) of each missing value, in `missing`'s order. */
    const missingRevs: number[] = [];
    const revKeys: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const main = revs[2 * i] as number;
      const sub = revs[2 * i + 1] as number;
      const own = staged !== undefined && main === staged.main ? staged.values[sub] : undefined;
      const v = own ?? cache.get(ValueCache.slot(main, sub));
      if (v !== undefined) {
        values[i] = v;
      } else {
        missing.push(i);
        missingRevs.push(main, sub);
        revKeys.push(encodeRevision(main, sub));
      }
    }
    if (missing.length > 0) {
      const pin = this.pins.pin(at);
      try {
        const fetched = await this.backend.getMany('key', revKeys);
        for (let j = 0; j < missing.length; j++) {
          const main = missingRevs[2 * j] as number;
          const sub = missingRevs[2 * j + 1] as number;
          const v = fetched[j];
          if (v === undefined) {
            throw new MvccError(
              MvccErrorCode.Corrupt,
              `revision ${main}_${sub} missing in backend`,
            );
          }
          values[missing[j] as number] = v;
          cache.add(ValueCache.slot(main, sub), v);
        }
      } finally {
        this.pins.release(pin);
      }
    }
    return { values: values as Uint8Array[], count, revision: headerRev };
  }

  /** @internal Visit the key indexes in an interval, in key order. */
  scan(iv: KeyInterval, visit: (ki: KeyIndex) => void): void {
    if (iv.end === null) {
      const ki = this.tree.get(iv.start);
      if (ki !== undefined) visit(ki);
      return;
    }
    // forRange rather than entries(): no [key, value] pair or iterator
    // result per key, which a large range otherwise allocates by the thousand.
    // `visit` must not change the tree.
    const onFound = (_k: string, ki: KeyIndex): void => visit(ki);
    if (iv.end !== undefined) {
      if (iv.end > iv.start) this.tree.forRange(iv.start, iv.end, false, onFound);
      return;
    }
    const max = this.tree.maxKey();
    if (max !== undefined && max >= iv.start) this.tree.forRange(iv.start, max, true, onFound);
  }

  /** @internal Apply a put to index, leases and backend; returns the event. */
  applyPut(
    key: Uint8Array,
    value: Uint8Array,
    lease: bigint,
    staged: Staged,
    sub: number,
  ): MvccEvent {
    const main = staged.main;
    const k = bytesToBinary(key);
    let ki = this.tree.get(k);
    if (ki === undefined) {
      ki = new KeyIndex(k);
      this.tree.set(k, ki);
    }
    const info = ki.liveInfo();
    const kv: KeyValue = {
      key,
      createRevision: info === undefined ? main : info.createRevision,
      modRevision: main,
      version: info === undefined ? 1 : info.version + 1,
      value,
      lease,
    };
    staged.values[sub] = encodeKeyValue(kv);
    ki.put(main, sub, kv.createRevision);
    this.setLease(ki, lease);
    return { type: EventType.Put, kv };
  }

  /** @internal Apply a delete of every live key in the interval; returns the events. */
  applyDelete(iv: KeyInterval, staged: Staged, firstSub: number): MvccEvent[] {
    const main = staged.main;
    const live: KeyIndex[] = [];
    this.scan(iv, (ki) => {
      if (ki.isLive()) live.push(ki);
    });
    const events: MvccEvent[] = [];
    let sub = firstSub;
    for (const ki of live) {
      const key = binaryToBytes(ki.key);
      staged.values[sub] = encodeKeyValue(tombstoneKv(key));
      (staged.tombstones ??= new Set()).add(sub);
      this.setLease(ki, 0n);
      ki.tombstone(main, sub);
      sub++;
      events.push({
        type: EventType.Delete,
        kv: { key, createRevision: 0, modRevision: main, version: 0, value: EMPTY, lease: 0n },
      });
    }
    return events;
  }

  /** @internal Called by Txn.end: writes the staged values, bumps the revision, notifies. */
  finishTxn(staged: Staged, events: MvccEvent[]): void {
    this.txnOpen = false;
    if (events.length === 0) return;
    const { main, values, tombstones } = staged;
    for (let sub = 0; sub < values.length; sub++) {
      this.backend.put(
        'key',
        encodeRevision(main, sub, tombstones?.has(sub) === true),
        values[sub] as Uint8Array,
      );
    }
    this.current = main;
    this.hub.notify(events, main);
  }

  private setLease(ki: KeyIndex, lease: bigint): void {
    setLeaseIn(this.leases, ki, lease);
  }

  /**
   * (Re)build index, leases and revisions from the backend, then finish a
   * compaction that was interrupted. The new state is built aside and swapped
   * in at once, so synchronous callers never see half of it.
   */
  private async load(): Promise<void> {
    const limit = this.options.restoreBatchLimit ?? 10000;
    const tree = new BTree<string, KeyIndex>();
    const leases = new Map<bigint, Set<string>>();
    // etcd's store is at revision 1 before any write.
    let current = 1;
    let from = encodeRevision(0, 0);
    for (;;) {
      const entries = await this.backend.range('key', from, undefined, { limit });
      for (const e of entries) {
        const r = decodeRevision(e.key);
        const kv = decodeKeyValue(e.value);
        const k = bytesToBinary(kv.key);
        if (r.main > current) current = r.main;
        let ki = tree.get(k);
        if (r.tombstone) {
          // A tombstone whose puts were compacted away: nothing to end.
          if (ki === undefined || !ki.isLive()) continue;
          setLeaseIn(leases, ki, 0n);
          ki.tombstone(r.main, r.sub);
          continue;
        }
        if (ki === undefined) {
          ki = new KeyIndex(k);
          tree.set(k, ki);
        }
        ki.put(r.main, r.sub, kv.createRevision, kv.version);
        setLeaseIn(leases, ki, kv.lease);
      }
      if (entries.length < limit) break;
      from = nextKey((entries[entries.length - 1] as { key: Uint8Array }).key);
    }

    const scheduled = await this.backend.get('meta', META_SCHEDULED);
    const finished = await this.backend.get('meta', META_FINISHED);
    const sched = scheduled === undefined ? 0 : decodeUint64(scheduled);
    const fin = finished === undefined ? 0 : decodeUint64(finished);
    this.tree = tree;
    this.leases = leases;
    this.compacted = Math.max(sched, fin);
    // The newest revision found; a compaction may be newer still.
    this.current = Math.max(current, this.compacted);
    if (sched > fin) {
      const run = this.physicalCompact(sched);
      this.compaction = run.catch(() => undefined);
      await run;
    }
  }

  private async physicalCompact(revision: number): Promise<void> {
    await this.backend.commit();
    // 1. The index, in batches of keys; each key's compaction is atomic.
    let after: string | undefined;
    let first = true;
    for (;;) {
      const empty: string[] = [];
      let n = 0;
      let last: string | undefined;
      const it = first ? this.tree.entries() : this.tree.entries(after);
      for (const [k, ki] of it) {
        if (!first && k === after) continue;
        if (n >= this.batch) break;
        n++;
        last = k;
        if (ki.compact(revision)) empty.push(k);
      }
      for (const k of empty) this.tree.delete(k);
      first = false;
      if (last === undefined) break;
      after = last;
      await yieldToLoop();
    }
    // 2. Reads that began before the compaction may still need old values.
    await this.pins.drainBelow(revision);
    // 3. The backend, in batches: everything at or below the compaction point
    // that the index no longer keeps. All revisions at exactly `revision` stay,
    // so a watcher starting there still sees every event of that revision.
    const end = encodeRevision(revision + 1, 0);
    let from = encodeRevision(0, 0);
    for (;;) {
      const entries = await this.backend.range('key', from, end, { limit: this.batch });
      for (const e of entries) {
        if (!this.survives(e.key, e.value, revision)) this.backend.delete('key', e.key);
      }
      if (entries.length < this.batch) break;
      from = nextKey((entries[entries.length - 1] as { key: Uint8Array }).key);
      await yieldToLoop();
    }
    this.backend.put('meta', META_FINISHED, encodeUint64(revision));
    await this.backend.commit();
  }
}

/** Attach `ki` to `lease` (0n: none) in a lease map, detaching it from its previous lease. */
function setLeaseIn(leases: Map<bigint, Set<string>>, ki: KeyIndex, lease: bigint): void {
  if (ki.lease === lease) return;
  if (ki.lease !== 0n) {
    const set = leases.get(ki.lease);
    set?.delete(ki.key);
    if (set?.size === 0) leases.delete(ki.lease);
  }
  ki.lease = lease;
  if (lease !== 0n) {
    let set = leases.get(lease);
    if (set === undefined) {
      set = new Set();
      leases.set(lease, set);
    }
    set.add(ki.key);
  }
}

/** The smallest byte string greater than `k`. */
function nextKey(k: Uint8Array): Uint8Array {
  const out = new Uint8Array(k.length + 1);
  out.set(k);
  return out;
}

function tombstoneKv(key: Uint8Array): KeyValue {
  return { key, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: 0n };
}

class Txn implements WriteTxn {
  private sub = 0;
  private readonly events: MvccEvent[] = [];
  private ended = false;
  private readonly staged: Staged;

  constructor(
    private readonly store: MvccStore,
    readonly revision: number,
  ) {
    this.staged = { main: revision, values: [], tombstones: undefined };
  }

  range(
    key: Uint8Array,
    end: Uint8Array | undefined,
    options: RangeOptions = {},
  ): Promise<RangeResult> {
    this.check();
    const maxRev = this.events.length > 0 ? this.revision : this.revision - 1;
    return this.store.rangeAt(key, end, options, maxRev, this.staged);
  }

  put(key: Uint8Array, value: Uint8Array, lease: bigint): void {
    this.check();
    this.events.push(this.store.applyPut(key, value, lease, this.staged, this.sub++));
  }

  deleteRange(key: Uint8Array, end: Uint8Array | undefined): number {
    this.check();
    const evs = this.store.applyDelete(toInterval(key, end), this.staged, this.sub);
    this.sub += evs.length;
    for (const e of evs) this.events.push(e);
    return evs.length;
  }

  end(): MvccEvent[] {
    this.check();
    this.ended = true;
    this.store.finishTxn(this.staged, this.events);
    return this.events;
  }

  private check(): void {
    if (this.ended) throw new MvccError(MvccErrorCode.Closed, 'transaction ended');
    this.store.checkOpen();
  }
}
