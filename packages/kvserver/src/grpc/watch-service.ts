/**
 * etcdserverpb.Watch: one bidirectional stream carries many watchers. Each
 * gRPC stream owns one MVCC watch stream; responses are pulled from it with
 * backpressure (a slow client stops the pulling, MVCC sets its watchers aside
 * instead of blocking writes).
 */
import { status } from '@grpc/grpc-js';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb } from '@kv/api';
import type { WatchServer } from '@kv/api';
import { EventType, MvccError } from '@kv/mvcc';
import type { MvccEvent, WatchResponse as MvccWatchResponse, WatchStream } from '@kv/mvcc';
import { toPbKeyValue } from '../apply/kv';
import type { EtcdServer } from '../etcd-server';
import { EtcdError } from '../errors';
import type { Clock } from '../clock';
import type { Interceptors } from './interceptors';

const SERVICE = 'etcdserverpb.Watch';

type Call = ServerDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

export interface WatchServiceOptions {
  readonly clock: Clock;
  /** Interval of progress notifications for watchers that asked (etcd: 10 minutes). */
  readonly progressNotifyMs?: number;
}

interface PbEvent {
  readonly type: 0 | 1;
  readonly kv: ReturnType<typeof toPbKeyValue>;
  readonly prevKv: ReturnType<typeof toPbKeyValue> | undefined;
}

// MVCC hands the same event object to every watcher of a write (prevKv
// watchers get their own copy), so with many watchers on a key each event is
// converted once. Converted events are only read (encoded), never changed.
const pbEvents = new WeakMap<MvccEvent, PbEvent>();

function toPbEvent(e: MvccEvent): PbEvent {
  let pb = pbEvents.get(e);
  if (pb === undefined) {
    pb = {
      type: e.type === EventType.Put ? 0 : 1,
      kv: toPbKeyValue(e.kv),
      prevKv: e.prevKv !== undefined ? toPbKeyValue(e.prevKv) : undefined,
    };
    pbEvents.set(e, pb);
  }
  return pb;
}

export function watchService(
  server: EtcdServer,
  ic: Interceptors,
  options: WatchServiceOptions,
): WatchServer {
  const progressMs = options.progressNotifyMs ?? 10 * 60 * 1000;
  return {
    watch(call: Call): void {
      const done = ic.streamStarted(SERVICE, 'Watch');
      try {
        ic.check(call.metadata, 'allowed', undefined);
      } catch (err) {
        const e = err as { grpcCode: number; message: string };
        call.emit('error', { code: e.grpcCode, details: e.message });
        done(e.grpcCode);
        return;
      }
      new WatchSession(server, ic, call, options.clock, progressMs, () => done(status.OK)).start();
    },
  };
}

class WatchSession {
  readonly #stream: WatchStream;
  readonly #progress = new Set<number>();
  readonly #fragment = new Set<number>();
  readonly #sentSinceTick = new Set<number>();
  #closed = false;
  #timer: { cancel(): void } | undefined;

  constructor(
    private readonly server: EtcdServer,
    private readonly ic: Interceptors,
    private readonly call: Call,
    private readonly clock: Clock,
    private readonly progressMs: number,
    private readonly onDone: () => void,
  ) {
    this.#stream = server.mvcc.watchStream();
  }

  start(): void {
    this.call.on('data', (req: etcdserverpb.WatchRequest) => this.#onRequest(req));
    // A client that half-closes still gets its events, as from etcd (whose
    // gateway half-closes once the HTTP request body is complete): the
    // session ends when the call is cancelled or fails.
    this.call.on('error', () => this.#close());
    this.call.on('cancelled', () => this.#close());
    this.#timer = this.clock.setInterval(() => this.#progressTick(), this.progressMs);
    void this.#pump();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#stream.close();
    try {
      this.call.end();
    } catch {
      // already ended
    }
    this.onDone();
  }

  #write(resp: etcdserverpb.WatchResponse): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const ok = this.call.write(resp);
    if (ok) return Promise.resolve();
    return new Promise((resolve) => {
      const release = (): void => {
        this.call.off('drain', release);
        this.call.off('close', release);
        resolve();
      };
      this.call.on('drain', release);
      this.call.on('close', release);
    });
  }

  #onRequest(req: etcdserverpb.WatchRequest): void {
    const u = req.requestUnion;
    if (u === undefined || this.#closed) return;
    if (u.$case === 'createRequest') {
      const c = u.value;
      const filters = {
        noPut: c.filters.includes(etcdserverpb.WatchCreateRequest_FilterType.NOPUT),
        noDelete: c.filters.includes(etcdserverpb.WatchCreateRequest_FilterType.NODELETE),
      };
      let id: number;
      const rev = this.server.mvcc.currentRevision();
      try {
        this.ic.authorize(this.call, (user, auth) =>
          auth.checkRange(user, 'read', c.key, c.rangeEnd),
        );
        id = this.#stream.watch({
          key: c.key,
          ...(c.rangeEnd.length > 0 ? { end: c.rangeEnd } : {}),
          startRevision: Number(c.startRevision),
          filters,
          prevKv: c.prevKv,
          ...(c.watchId !== 0n ? { watchId: Number(c.watchId) } : {}),
        });
      } catch (err) {
        void this.#write({
          header: this.server.header(rev),
          watchId: -1n,
          created: true,
          canceled: true,
          compactRevision: 0n,
          cancelReason:
            err instanceof MvccError || err instanceof EtcdError ? err.message : String(err),
          fragment: false,
          events: [],
        });
        return;
      }
      if (c.progressNotify) this.#progress.add(id);
      if (c.fragment) this.#fragment.add(id);
      void this.#write({
        header: this.server.header(rev),
        watchId: BigInt(id),
        created: true,
        canceled: false,
        compactRevision: 0n,
        cancelReason: '',
        fragment: false,
        events: [],
      });
    } else if (u.$case === 'cancelRequest') {
      const id = Number(u.value.watchId);
      if (this.#stream.cancel(id)) {
        this.#progress.delete(id);
        this.#fragment.delete(id);
        void this.#write({
          header: this.server.header(),
          watchId: BigInt(id),
          created: false,
          canceled: true,
          compactRevision: 0n,
          cancelReason: '',
          fragment: false,
          events: [],
        });
      }
    } else if (u.$case === 'progressRequest') {
      this.#stream.requestProgress();
    }
  }

  async #pump(): Promise<void> {
    try {
      for await (const r of this.#stream) {
        if (this.#closed) break;
        await this.#deliver(r);
      }
    } catch {
      // The MVCC store was closed (the member stops; a snapshot restore keeps
      // the stream): end the stream so the client re-creates its watchers.
    }
    this.#close();
  }

  async #deliver(r: MvccWatchResponse): Promise<void> {
    const header = this.server.header(r.revision);
    if (r.compactRevision !== undefined || r.canceled === true) {
      this.#progress.delete(r.watchId);
      const compacted = r.compactRevision !== undefined;
      await this.#write({
        // etcd's compaction cancel carries no revision and no reason.
        header: compacted ? { ...header, revision: 0n } : header,
        watchId: BigInt(r.watchId),
        created: false,
        canceled: true,
        compactRevision: BigInt(r.compactRevision ?? 0),
        cancelReason: '',
        fragment: false,
        events: [],
      });
      return;
    }
    this.#sentSinceTick.add(r.watchId);
    const events = r.events.map(toPbEvent);
    const base = {
      header,
      watchId: BigInt(r.watchId),
      created: false,
      canceled: false,
      compactRevision: 0n,
      cancelReason: '',
    };
    if (!this.#fragment.has(r.watchId) || events.length <= 1) {
      await this.#write({ ...base, fragment: false, events });
      return;
    }
    // Split a large response into fragments no bigger than the request limit.
    const limit = this.server.maxRequestBytes;
    let batch: typeof events = [];
    let size = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const s = e.kv.key.length + e.kv.value.length + 64;
      if (batch.length > 0 && size + s > limit) {
        await this.#write({ ...base, fragment: true, events: batch });
        batch = [];
        size = 0;
      }
      batch.push(e);
      size += s;
    }
    await this.#write({ ...base, fragment: false, events: batch });
  }

  #progressTick(): void {
    for (const id of this.#progress) {
      if (this.#sentSinceTick.has(id)) continue;
      void this.#write({
        header: this.server.header(),
        watchId: BigInt(id),
        created: false,
        canceled: false,
        compactRevision: 0n,
        cancelReason: '',
        fragment: false,
        events: [],
      });
    }
    this.#sentSinceTick.clear();
  }
}
