import { bytesToBinary, toInterval } from '../bytes';
import type { KeyInterval } from '../bytes';
import { assertRevision, MvccError, MvccErrorCode } from '../errors';
import { decodeKeyValue } from '../key-value';
import { decodeRevision, encodeRevision } from '../revision';
import type { MvccStore } from '../store';
import { EventType } from '../types';
import type { MvccEvent } from '../types';
import type { WatchRequest, WatchResponse, WatchStream } from './stream';
import { WatcherGroup } from './watcher-group';

const EMPTY: Uint8Array = new Uint8Array(0);

type State = 'synced' | 'unsynced' | 'victim' | 'gone';

class Watcher {
  state: State = 'unsynced';
  /** The next revision this watcher must see. */
  minRev: number;
  /** A victim's response that did not fit into the stream buffer. */
  pending: WatchResponse | undefined;
  /** notify's scratch: this watcher's events of the write being delivered. */
  collected: MvccEvent[] | undefined;

  constructor(
    readonly id: number,
    readonly stream: Stream,
    readonly iv: KeyInterval,
    startRev: number,
    readonly noPut: boolean,
    readonly noDelete: boolean,
    readonly prevKv: boolean,
  ) {
    this.minRev = startRev;
  }

  accepts(ev: MvccEvent): boolean {
    return ev.type === EventType.Put ? !this.noPut : !this.noDelete;
  }
}

interface Queued {
  readonly resp: WatchResponse;
  readonly prevKv: boolean;
}

/** Tuning of the hub (from MvccStoreOptions). */
export interface WatchHubOptions {
  readonly batchRevisions: number;
  readonly bufferSize: number;
}

/**
 * The watchable part of the store. Watchers are synced (caught up: fed
 * directly by each write), unsynced (behind: fed from the backend in batches
 * of revisions) or victims (their stream buffer was full: holding one
 * undelivered response until the consumer drains). Writes never wait.
 */
export class WatchHub {
  private readonly synced = new WatcherGroup<Watcher>();
  private readonly unsynced = new Set<Watcher>();
  private readonly victims = new Set<Watcher>();
  private readonly streams = new Set<Stream>();
  private readonly progressWanted = new Set<Stream>();
  private syncing = false;
  private closed = false;

  constructor(
    private readonly store: MvccStore,
    readonly options: WatchHubOptions,
  ) {}

  newStream(bufferSize: number | undefined): WatchStream {
    const size = bufferSize ?? this.options.bufferSize;
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new MvccError(MvccErrorCode.InvalidArgument, 'bufferSize must be a positive integer');
    }
    const s = new Stream(this, size);
    this.streams.add(s);
    return s;
  }

  currentRevision(): number {
    return this.store.currentRevision();
  }

  /** Numbers of watchers per group (tests, metrics). */
  stats(): { synced: number; unsynced: number; victims: number } {
    return { synced: this.synced.size, unsynced: this.unsynced.size, victims: this.victims.size };
  }

  addWatcher(stream: Stream, id: number, req: WatchRequest): void {
    const start = req.startRevision ?? 0;
    assertRevision(start, 'startRevision');
    const current = this.store.currentRevision();
    const w = new Watcher(
      id,
      stream,
      toInterval(req.key, req.end),
      start,
      req.filters?.noPut === true,
      req.filters?.noDelete === true,
      req.prevKv === true,
    );
    stream.watchers.set(id, w);
    if (start === 0 || start > current) {
      // Nothing to catch up; a future start is skipped up to in notify.
      w.minRev = Math.max(current + 1, start);
      w.state = 'synced';
      this.synced.add(w);
    } else {
      w.state = 'unsynced';
      this.unsynced.add(w);
      this.scheduleSync();
    }
  }

  removeWatcher(w: Watcher): void {
    if (w.state === 'synced') this.synced.delete(w);
    else if (w.state === 'unsynced') this.unsynced.delete(w);
    else if (w.state === 'victim') {
      this.victims.delete(w);
      w.stream.victims.delete(w);
    }
    w.state = 'gone';
    w.pending = undefined;
    w.stream.watchers.delete(w.id);
  }

  /** Called by a write transaction's end(): deliver to synced watchers, never block. */
  notify(events: MvccEvent[], revision: number): void {
    if (this.synced.size === 0) return;
    // Each watcher's events are gathered on the watcher itself (no map per
    // write: a write may reach thousands of watchers).
    const touched: Watcher[] = [];
    for (const ev of events) {
      this.synced.match(bytesToBinary(ev.kv.key), (w) => {
        if (revision < w.minRev || !w.accepts(ev)) return;
        if (w.collected === undefined) {
          w.collected = [ev];
          touched.push(w);
        } else {
          w.collected.push(ev);
        }
      });
    }
    for (let i = 0; i < touched.length; i++) {
      const w = touched[i]!;
      const evs = w.collected!;
      w.collected = undefined;
      w.minRev = revision + 1;
      const resp: WatchResponse = { watchId: w.id, events: evs, revision };
      if (!w.stream.offer(resp, w.prevKv)) this.makeVictim(w, resp);
    }
  }

  /**
   * Called after the store's contents were replaced (restore): every synced
   * watcher becomes unsynced and catches up from its next revision in the new
   * contents, or is canceled if that revision is compacted there. Unsynced
   * watchers simply continue; a victim keeps its pending response (its events
   * are the same in any member's history) and resumes as usual.
   */
  onRestored(): void {
    for (const stream of this.streams) {
      for (const w of stream.watchers.values()) {
        if (w.state !== 'synced') continue;
        this.synced.delete(w);
        w.state = 'unsynced';
        this.unsynced.add(w);
      }
    }
    if (this.unsynced.size > 0) this.scheduleSync();
  }

  /** Called after the store's compacted revision moved: lagging watchers must learn it. */
  onCompacted(): void {
    if (this.unsynced.size > 0) this.scheduleSync();
  }

  requestProgress(stream: Stream): void {
    this.progressWanted.add(stream);
    this.sendProgress();
  }

  /** A stream has room again: retry its victims, oldest first. */
  retryVictims(stream: Stream): void {
    for (const w of stream.victims) {
      if (!stream.offer(w.pending as WatchResponse, w.prevKv)) break;
      w.pending = undefined;
      this.victims.delete(w);
      stream.victims.delete(w);
      if (w.minRev > this.store.currentRevision()) {
        w.state = 'synced';
        this.synced.add(w);
      } else {
        w.state = 'unsynced';
        this.unsynced.add(w);
        this.scheduleSync();
      }
    }
    this.sendProgress();
  }

  streamClosed(stream: Stream): void {
    for (const w of [...stream.watchers.values()]) this.removeWatcher(w);
    this.streams.delete(stream);
    this.progressWanted.delete(stream);
  }

  close(): void {
    this.closed = true;
    for (const s of [...this.streams]) s.close();
  }

  /** @internal Fetch the key-value before `ev` for a prevKv watcher; undefined when compacted or absent. */
  async previous(ev: MvccEvent): Promise<MvccEvent> {
    try {
      const r = await this.store.range(ev.kv.key, undefined, { revision: ev.kv.modRevision - 1 });
      const prev = r.kvs[0];
      return prev === undefined ? ev : { ...ev, prevKv: prev };
    } catch {
      return ev;
    }
  }

  private makeVictim(w: Watcher, resp: WatchResponse): void {
    if (w.state === 'synced') this.synced.delete(w);
    else this.unsynced.delete(w);
    w.state = 'victim';
    w.pending = resp;
    this.victims.add(w);
    w.stream.victims.add(w);
  }

  private sendProgress(): void {
    for (const s of this.progressWanted) {
      let all = true;
      for (const w of s.watchers.values()) {
        if (w.state !== 'synced') {
          all = false;
          break;
        }
      }
      if (!all) continue;
      this.progressWanted.delete(s);
      s.force({ watchId: -1, events: [], revision: this.store.currentRevision() });
    }
  }

  private scheduleSync(): void {
    if (this.syncing || this.closed) return;
    this.syncing = true;
    void this.syncLoop();
  }

  private async syncLoop(): Promise<void> {
    try {
      while (!this.closed && this.unsynced.size > 0) {
        await this.syncPass();
      }
    } catch {
      // Backend trouble: leave the watchers unsynced and try again shortly.
      setTimeout(() => this.scheduleSync(), 100);
    } finally {
      this.syncing = false;
      this.sendProgress();
    }
  }

  /** One catch-up round: at most `batchRevisions` revisions from the backend. */
  private async syncPass(): Promise<void> {
    // Not while the store's contents are being replaced; the pin below makes
    // a restore wait for the read in flight.
    await this.store.restored();
    const current = this.store.currentRevision();
    const compacted = this.store.compactedRevision();
    const batch = new WatcherGroup<Watcher>();
    const members: Watcher[] = [];
    let lo = Infinity;
    for (const w of [...this.unsynced]) {
      if (w.minRev < compacted) {
        // Its history is gone: cancel with the compaction revision (etcd's ErrCompacted).
        this.removeWatcher(w);
        w.stream.force({
          watchId: w.id,
          events: [],
          revision: current,
          compactRevision: compacted,
          canceled: true,
        });
      } else if (w.minRev > current) {
        this.unsynced.delete(w);
        w.state = 'synced';
        this.synced.add(w);
      } else {
        batch.add(w);
        members.push(w);
        if (w.minRev < lo) lo = w.minRev;
      }
    }
    if (members.length === 0) return;
    const hi = Math.min(current, lo + this.options.batchRevisions - 1);
    const pins = this.store.getPins();
    const pin = pins.pin(lo - 1);
    let entries;
    try {
      entries = await this.store
        .getBackend()
        .range('key', encodeRevision(lo, 0), encodeRevision(hi + 1, 0));
    } finally {
      pins.release(pin);
    }
    const per = new Map<Watcher, MvccEvent[]>();
    for (const e of entries) {
      const r = decodeRevision(e.key);
      const kv = decodeKeyValue(e.value);
      const ev: MvccEvent = r.tombstone
        ? {
            type: EventType.Delete,
            kv: {
              key: kv.key,
              createRevision: 0,
              modRevision: r.main,
              version: 0,
              value: EMPTY,
              lease: 0n,
            },
          }
        : { type: EventType.Put, kv };
      batch.match(bytesToBinary(kv.key), (w) => {
        if (r.main < w.minRev || !w.accepts(ev)) return;
        const list = per.get(w);
        if (list === undefined) per.set(w, [ev]);
        else list.push(ev);
      });
    }
    for (const w of members) {
      // Canceled, or moved on, while the backend read was in flight.
      if (w.state !== 'unsynced') continue;
      // Never move backwards: the watcher may already be past this batch.
      if (w.minRev <= hi) w.minRev = hi + 1;
      const evs = per.get(w);
      if (evs !== undefined) {
        const resp: WatchResponse = { watchId: w.id, events: evs, revision: hi };
        if (!w.stream.offer(resp, w.prevKv)) {
          this.makeVictim(w, resp);
          continue;
        }
      }
      if (w.minRev > this.store.currentRevision()) {
        this.unsynced.delete(w);
        w.state = 'synced';
        this.synced.add(w);
      }
    }
    this.sendProgress();
  }
}

/** The stream: a bounded queue of responses and the watchers feeding it. */
class Stream implements WatchStream {
  readonly watchers = new Map<number, Watcher>();
  /** This stream's set-aside watchers, in the order they were set aside. */
  readonly victims = new Set<Watcher>();
  private readonly queue: Queued[] = [];
  private wake: (() => void) | undefined;
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly hub: WatchHub,
    private readonly capacity: number,
  ) {}

  watch(req: WatchRequest): number {
    if (this.closed) throw new MvccError(MvccErrorCode.Closed, 'watch stream closed');
    let id = req.watchId ?? 0;
    if (id !== 0) {
      assertRevision(id, 'watchId');
      if (this.watchers.has(id)) throw new MvccError(MvccErrorCode.WatchIdExists);
    } else {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    }
    this.hub.addWatcher(this, id, req);
    return id;
  }

  cancel(watchId: number): boolean {
    const w = this.watchers.get(watchId);
    if (w === undefined) return false;
    this.hub.removeWatcher(w);
    return true;
  }

  requestProgress(): void {
    if (!this.closed) this.hub.requestProgress(this);
  }

  watcherProgress(watchId: number): boolean {
    const w = this.watchers.get(watchId);
    if (w === undefined || w.state !== 'synced') return false;
    return this.offer({ watchId, events: [], revision: this.hub.currentRevision() }, false);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.streamClosed(this);
    this.queue.length = 0;
    this.wakeUp();
  }

  /** Enqueue unless the buffer is full. */
  offer(resp: WatchResponse, prevKv: boolean): boolean {
    if (this.closed) return true;
    if (this.queue.length >= this.capacity) return false;
    this.queue.push({ resp, prevKv });
    this.wakeUp();
    return true;
  }

  /** Enqueue regardless of the buffer (control messages: at most one per watcher or request). */
  force(resp: WatchResponse): void {
    if (this.closed) return;
    this.queue.push({ resp, prevKv: false });
    this.wakeUp();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchResponse> {
    return {
      next: () => this.next(),
      return: async () => {
        this.close();
        return { done: true, value: undefined };
      },
    };
  }

  private async next(): Promise<IteratorResult<WatchResponse>> {
    while (this.queue.length === 0) {
      if (this.closed) return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const item = this.queue.shift() as Queued;
    // Room again: let set-aside watchers of this stream resume.
    if (this.victims.size > 0) this.hub.retryVictims(this);
    if (!item.prevKv) return { done: false, value: item.resp };
    const events = await Promise.all(item.resp.events.map((ev) => this.hub.previous(ev)));
    return { done: false, value: { ...item.resp, events } };
  }

  async nextBatch(max: number): Promise<WatchResponse[] | undefined> {
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new MvccError(MvccErrorCode.InvalidArgument, 'max must be a positive integer');
    }
    while (this.queue.length === 0) {
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const items = this.queue.splice(0, Math.min(max, this.queue.length));
    // Room again: let set-aside watchers of this stream resume.
    if (this.victims.size > 0) this.hub.retryVictims(this);
    let prevKv = false;
    const out = new Array<WatchResponse>(items.length);
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      out[i] = item.resp;
      if (item.prevKv) prevKv = true;
    }
    if (!prevKv) return out;
    return Promise.all(
      items.map(async (item) => {
        if (!item.prevKv) return item.resp;
        const events = await Promise.all(item.resp.events.map((ev) => this.hub.previous(ev)));
        return { ...item.resp, events };
      }),
    );
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}
