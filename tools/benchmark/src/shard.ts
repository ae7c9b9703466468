// One slice of the load: a set of closed-loop clients (and watchers) on
// their own connections. The coordinator runs one shard in the main thread
// or one per worker thread; the phases (setup, run, drain) let it line the
// shards up so that no writer starts before every watcher exists.

import { etcdserverpb } from '@kv/api';
import { Metadata } from '@grpc/grpc-js';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Cancellable } from './http2-unary';
import { Histogram } from './histogram';
import type { HistogramSnapshot } from './histogram';
import { closeAll, connectAll, errorCode, waitReady } from './connections';
import type { Connection } from './connections';
import { KeyPicker, prefixRange } from './keys';
import type { BenchOptions } from './options';
import { RateLimiter } from './rate-limiter';
import { scanWatchResponse } from './watch-scan';

/** This shard's share of the run. */
export interface ShardPlan {
  index: number;
  clients: number;
  conns: number;
  /** Requests this shard sends (0 = until the duration ends). */
  total: number;
  /** Requests per second for this shard (0 = unlimited). */
  rate: number;
  watchers: number;
  streams: number;
  /** First sequential key, so that threads do not write the same keys. */
  keyOffset: number;
}

/** What a shard measured; plain data so it crosses thread boundaries. */
export interface ShardResult {
  /** Successful requests, or delivered events in watch modes. */
  ops: number;
  /** Successful puts (watch modes: the events each watcher should see). */
  writes: number;
  errors: Record<string, number>;
  /** Request latency, or event delivery latency in watch modes (µs). */
  latency: HistogramSnapshot;
  /** Latency per request kind (µs), e.g. read/write in mixed modes. */
  sub: Record<string, HistogramSnapshot>;
  /** From the start of the run to the last completion. */
  elapsedMs: number;
}

type Done = (err: unknown, kind: number) => void;
type Send = (slot: number, done: Done) => Cancellable | undefined;

const EMPTY = Buffer.alloc(0);
const READY_TIMEOUT_MS = 15_000;

/** Absolute high-resolution time in ms; comparable across worker threads. */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

function isWatchMode(o: BenchOptions): boolean {
  return o.mode === 'watch' || o.mode === 'watch-latency';
}

/** Names of the per-kind latency histograms of each mode. */
export function subKinds(o: BenchOptions): string[] {
  switch (o.mode) {
    case 'mixed':
    case 'txn-mixed':
      return ['read', 'write'];
    case 'watch':
    case 'watch-latency':
      return ['put'];
    default:
      return [];
  }
}

export class Shard {
  private conns: Connection[] = [];
  private readonly latency = new Histogram();
  private readonly sub: Histogram[];
  private readonly errors = new Map<string, number>();
  private ops = 0;
  private writes = 0;
  private readonly calls: (Cancellable | undefined)[] = [];
  private send: Send = () => undefined;
  private startedAt = 0;
  private lastDoneAt = 0;
  private closing = false;
  private readonly keys: KeyPicker;
  // Watch modes.
  private readonly watchStreams: ClientDuplexStream<etcdserverpb.WatchRequest, Buffer>[] = [];
  private events = 0;
  private expectedEvents = Number.POSITIVE_INFINITY;
  private onEvents: (() => void) | undefined;
  // lease-keepalive.
  private leaseId = 0n;
  private readonly keepAlive: ClientDuplexStream<
    etcdserverpb.LeaseKeepAliveRequest,
    etcdserverpb.LeaseKeepAliveResponse
  >[] = [];
  private readonly pending: (Done | undefined)[] = [];

  constructor(
    private readonly o: BenchOptions,
    private readonly plan: ShardPlan,
  ) {
    this.sub = subKinds(o).map(() => new Histogram());
    this.keys = new KeyPicker(o, plan.keyOffset);
  }

  private conn(slot: number): Connection {
    return this.conns[slot % this.conns.length]!;
  }

  private countError(err: unknown): void {
    const code = errorCode(err);
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** Connects, and creates the watchers or leases the mode needs. */
  async setup(): Promise<void> {
    const n = Math.max(1, this.plan.conns);
    this.conns = connectAll(
      this.o.endpoints,
      n,
      this.plan.index,
      this.o.decodeResponses,
      this.o.transport,
    );
    await waitReady(this.conns, READY_TIMEOUT_MS);
    this.send = this.makeSend();
    if (isWatchMode(this.o)) await this.createWatchers();
    if (this.o.mode === 'lease-keepalive' && this.plan.clients > 0) await this.grantLease();
  }

  private makeSend(): Send {
    const o = this.o;
    const serializable = o.consistency === 's';
    const value = Buffer.alloc(o.valSize, 'v');
    const put = (key: Buffer, v: Buffer = value): etcdserverpb.PutRequest => ({
      key,
      value: v,
      lease: 0n,
      prevKv: false,
      ignoreValue: false,
      ignoreLease: false,
    });
    const range = (key: Buffer, rangeEnd: Buffer, limit: number, ser: boolean) =>
      etcdserverpb.RangeRequest.fromPartial({
        key,
        rangeEnd,
        limit: BigInt(limit),
        serializable: ser,
      });
    const txn = (ops: etcdserverpb.RequestOp[]): etcdserverpb.TxnRequest => ({
      compare: [],
      success: ops,
      failure: [],
    });
    const putOps = (): etcdserverpb.RequestOp[] => {
      // Consecutive distinct keys: etcd rejects a txn that puts one key twice.
      const first = this.keys.index();
      return Array.from({ length: o.txnOps }, (_, j) => ({
        request: { $case: 'requestPut', value: put(this.keys.key((first + j) % o.keySpace)) },
      }));
    };

    switch (o.mode) {
      case 'put':
        return (slot, done) => this.conn(slot).unary.put(put(this.keys.key()), (e) => done(e, -1));
      case 'range': {
        if (o.prefix) {
          const { key, rangeEnd } = prefixRange(o);
          const req = range(key, rangeEnd, o.limit, serializable);
          return (slot, done) => this.conn(slot).unary.range(req, (e) => done(e, -1));
        }
        return (slot, done) =>
          this.conn(slot).unary.range(range(this.keys.key(), EMPTY, 0, serializable), (e) =>
            done(e, -1),
          );
      }
      case 'txn-put':
        return (slot, done) => this.conn(slot).unary.txn(txn(putOps()), (e) => done(e, -1));
      case 'txn-mixed':
        return (slot, done) => {
          if (Math.random() < o.readRatio) {
            const op: etcdserverpb.RequestOp = {
              request: { $case: 'requestRange', value: range(this.keys.key(), EMPTY, 0, false) },
            };
            return this.conn(slot).unary.txn(txn([op]), (e) => done(e, 0));
          }
          return this.conn(slot).unary.txn(txn(putOps()), (e) => done(e, 1));
        };
      case 'mixed':
        return (slot, done) => {
          if (Math.random() < o.readRatio) {
            return this.conn(slot).unary.range(
              range(this.keys.key(), EMPTY, 0, serializable),
              (e) => done(e, 0),
            );
          }
          return this.conn(slot).unary.put(put(this.keys.key()), (e) => done(e, 1));
        };
      case 'watch':
      case 'watch-latency':
        return (slot, done) => {
          // The send time rides in the value so any watcher, in any thread,
          // can compute the delivery latency.
          const v = Buffer.alloc(o.valSize, 'v');
          v.writeDoubleLE(wallNow(), 0);
          return this.conn(slot).unary.put(put(this.keys.key(), v), (e) => {
            if (!e) this.writes++;
            done(e, 0);
          });
        };
      case 'lease-keepalive':
        return (slot, done) => {
          this.pending[slot] = done;
          this.keepAlive[slot]!.write({ ID: this.leaseId });
          return undefined;
        };
    }
  }

  private async createWatchers(): Promise<void> {
    const { key, rangeEnd } = prefixRange(this.o);
    const streams = Math.max(1, this.plan.streams);
    const created: Promise<void>[] = [];
    for (let s = 0; s < streams; s++) {
      const count =
        Math.floor(this.plan.watchers / streams) + (s < this.plan.watchers % streams ? 1 : 0);
      if (count === 0) continue;
      const st = this.conn(s).watchBytes.watch();
      this.watchStreams.push(st);
      created.push(
        new Promise<void>((resolve, reject) => {
          let pendingCreates = count;
          // One clock read per response, shared by its events.
          let now = 0;
          const onValue = (v: Buffer): void => this.onWatchValue(v, now);
          st.on('data', (bytes: Buffer) => {
            now = wallNow();
            const resp = scanWatchResponse(bytes, onValue);
            if (resp.created && pendingCreates > 0 && --pendingCreates === 0) resolve();
            if (resp.events > 0) this.onWatchEvents(resp.events);
          });
          st.on('error', (err) => {
            if (this.closing) return;
            this.countError(err);
            reject(err instanceof Error ? err : new Error(String(err)));
          });
        }),
      );
      for (let w = 0; w < count; w++) {
        st.write({
          requestUnion: {
            $case: 'createRequest',
            value: etcdserverpb.WatchCreateRequest.fromPartial({ key, rangeEnd }),
          },
        });
      }
    }
    await withTimeout(Promise.all(created), READY_TIMEOUT_MS, 'creating watchers');
  }

  private onWatchValue(v: Buffer, now: number): void {
    if (v.length >= 8) this.latency.record((now - v.readDoubleLE(0)) * 1000);
  }

  private onWatchEvents(count: number): void {
    this.events += count;
    this.lastDoneAt = performance.now();
    if (this.onEvents && this.events >= this.expectedEvents) this.onEvents();
  }

  private async grantLease(): Promise<void> {
    const resp = await new Promise<etcdserverpb.LeaseGrantResponse>((resolve, reject) => {
      this.conns[0]!.lease.leaseGrant({ TTL: BigInt(this.o.leaseTtl), ID: 0n }, (err, r) =>
        err ? reject(err) : resolve(r),
      );
    });
    this.leaseId = resp.ID;
    for (let slot = 0; slot < this.plan.clients; slot++) {
      const st = this.conn(slot).lease.leaseKeepAlive();
      st.on('data', () => {
        const done = this.pending[slot];
        this.pending[slot] = undefined;
        done?.(null, -1);
      });
      st.on('error', (err) => {
        const done = this.pending[slot];
        this.pending[slot] = undefined;
        if (done) done(err, -1);
        else if (!this.closing) this.countError(err);
      });
      this.keepAlive.push(st);
    }
  }

  /**
   * Runs the closed loop: each client sends its next request when the last
   * one completes, until the shard's total is sent or the duration ends.
   * Resolves with the number of successful writes.
   */
  run(durationMs: number): Promise<number> {
    const { total, rate, clients } = this.plan;
    const limiter = rate > 0 ? new RateLimiter(rate) : undefined;
    const watch = isWatchMode(this.o);
    let issued = 0;
    let stopping = false;
    let active = clients;
    this.startedAt = performance.now();
    this.lastDoneAt = this.startedAt;
    return new Promise<number>((resolve) => {
      if (clients === 0) {
        resolve(this.writes);
        return;
      }
      let stopTimer: NodeJS.Timeout | undefined;
      let graceTimer: NodeJS.Timeout | undefined;
      const finishSlot = (): void => {
        if (--active > 0) return;
        clearTimeout(stopTimer);
        clearTimeout(graceTimer);
        resolve(this.writes);
      };
      const next = (slot: number): void => {
        if (stopping || (total > 0 && issued >= total)) {
          finishSlot();
          return;
        }
        issued++;
        const wait = limiter ? limiter.delay(performance.now()) : 0;
        if (wait >= 1) setTimeout(fire, wait, slot);
        else fire(slot);
      };
      const fire = (slot: number): void => {
        const t0 = performance.now();
        this.calls[slot] = this.send(slot, (err, kind) => {
          const t1 = performance.now();
          this.calls[slot] = undefined;
          if (err) {
            this.countError(err);
          } else {
            const us = (t1 - t0) * 1000;
            if (kind >= 0) this.sub[kind]!.record(us);
            if (!watch) {
              this.latency.record(us);
              this.ops++;
              this.lastDoneAt = t1;
            }
          }
          next(slot);
        });
      };
      if (durationMs > 0) {
        stopTimer = setTimeout(() => {
          stopping = true;
          // Requests still out after the grace period are cancelled; each
          // then completes with CANCELLED and its slot winds down.
          graceTimer = setTimeout(() => this.cancelInFlight(), this.o.drainTimeoutMs);
        }, durationMs);
      }
      for (let slot = 0; slot < clients; slot++) next(slot);
    });
  }

  private cancelInFlight(): void {
    for (const call of this.calls) call?.cancel();
    for (let slot = 0; slot < this.pending.length; slot++) {
      const done = this.pending[slot];
      this.pending[slot] = undefined;
      done?.({ code: 1 }, -1);
    }
  }

  /**
   * Watch modes: waits until every watcher of this shard has seen
   * `totalWrites` events, or the drain timeout; missing events count as
   * errors. Other modes return at once.
   */
  async drain(totalWrites: number): Promise<void> {
    if (!isWatchMode(this.o)) return;
    this.expectedEvents = totalWrites * this.plan.watchers;
    if (this.events < this.expectedEvents) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.o.drainTimeoutMs);
        this.onEvents = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.onEvents = undefined;
    }
    const missing = this.expectedEvents - this.events;
    if (missing > 0) this.errors.set('MISSING_EVENTS', missing);
    this.ops = this.events;
  }

  result(): ShardResult {
    const names = subKinds(this.o);
    const sub: Record<string, HistogramSnapshot> = {};
    names.forEach((n, i) => (sub[n] = this.sub[i]!.snapshot()));
    return {
      ops: this.ops,
      writes: this.writes,
      errors: Object.fromEntries(this.errors),
      latency: this.latency.snapshot(),
      sub,
      elapsedMs: Math.max(0, this.lastDoneAt - this.startedAt),
    };
  }

  /** Cancels streams, revokes the lease and closes the connections. */
  async close(): Promise<void> {
    this.closing = true;
    for (const st of this.watchStreams) st.cancel();
    for (const st of this.keepAlive) st.cancel();
    if (this.leaseId !== 0n && this.conns[0]) {
      const lease = this.conns[0].lease;
      await new Promise<void>((resolve) => {
        lease.leaseRevoke(
          { ID: this.leaseId },
          new Metadata(),
          { deadline: Date.now() + 2000 },
          () => resolve(),
        );
      });
    }
    closeAll(this.conns);
  }
}

/** Rejects with a clear message when `p` takes longer than `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
