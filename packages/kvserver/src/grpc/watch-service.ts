/**
 * etcdserverpb.Watch: one bidirectional stream carries many watchers. Each
 * gRPC stream owns one MVCC watch stream; responses are pulled from it with
 * backpressure (a slow client stops the pulling, MVCC sets its watchers aside
 * instead of blocking writes).
 *
 * Everything the MVCC stream has queued when the pump wakes is encoded into
 * one buffer of back-to-back gRPC messages and written to the HTTP/2 stream
 * under the call in one write: grpc-js would write each message separately
 * and wait for its write callback before the next, which on a watch fan-out
 * costs more than the events themselves. An event's bytes are encoded once
 * and copied into every watcher's response, and a revision's header once.
 * A watcher's responses queued together are joined into one first
 * (watch-coalesce.ts).
 */
import { Metadata, status } from '@grpc/grpc-js';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import {
  encodeEvent,
  encodeResponseHeader,
  encodeWatchResponseFrames,
  etcdserverpb,
} from '@kv/api';
import type { PreEncodedWatchResponse, WatchServer } from '@kv/api';
import { EventType, MvccError } from '@kv/mvcc';
import type { MvccEvent, WatchResponse as MvccWatchResponse, WatchStream } from '@kv/mvcc';
import { toPbKeyValue } from '../apply/kv';
import type { EtcdServer } from '../etcd-server';
import { EtcdError } from '../errors';
import type { Clock } from '../clock';
import type { Interceptors } from './interceptors';
import { coalesceWatchResponses } from './watch-coalesce';

const SERVICE = 'etcdserverpb.Watch';

/** Most MVCC responses taken per pump cycle (one HTTP/2 write). */
const BATCH_MAX = 512;

type Call = ServerDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

export interface WatchServiceOptions {
  readonly clock: Clock;
  /** Interval of progress notifications for watchers that asked (etcd: 10 minutes). */
  readonly progressNotifyMs?: number;
}

// MVCC hands the same event object to every watcher of a write (prevKv
// watchers get their own copy), so with many watchers on a key each event is
// encoded once. Encoded events are only copied, never changed.
const encodedEvents = new WeakMap<MvccEvent, Buffer>();

function eventBytes(e: MvccEvent): Buffer {
  let b = encodedEvents.get(e);
  if (b === undefined) {
    b = encodeEvent({
      type: e.type === EventType.Put ? 0 : 1,
      kv: toPbKeyValue(e.kv),
      prevKv: e.prevKv !== undefined ? toPbKeyValue(e.prevKv) : undefined,
    });
    encodedEvents.set(e, b);
  }
  return b;
}

/**
 * Encoded headers of recent revisions: all responses of a write share one,
 * and the pumps of many streams ask for the same few revisions in turn.
 */
class HeaderCache {
  static readonly MAX = 64;
  readonly #bytes = new Map<number, Buffer>();
  #term = -1;
  #clusterId = 0n;
  #memberId = 0n;

  constructor(private readonly server: EtcdServer) {}

  get(revision?: number): Buffer {
    const s = this.server;
    const rev = revision ?? s.mvcc.currentRevision();
    if (s.term !== this.#term || s.clusterId !== this.#clusterId || s.memberId !== this.#memberId) {
      this.#bytes.clear();
      this.#term = s.term;
      this.#clusterId = s.clusterId;
      this.#memberId = s.memberId;
    }
    let b = this.#bytes.get(rev);
    if (b === undefined) {
      if (this.#bytes.size >= HeaderCache.MAX) {
        // Drop the oldest entry (a Map iterates in insertion order).
        this.#bytes.delete(this.#bytes.keys().next().value as number);
      }
      b = encodeResponseHeader(s.header(rev));
      this.#bytes.set(rev, b);
    }
    return b;
  }
}

/**
 * Where a watch session writes its already framed gRPC messages: the
 * members it uses of a node:http2 stream, which the client port's own
 * HTTP/2 server offers too (`rawFrames` on its call objects).
 */
export interface RawMessageStream {
  readonly destroyed: boolean;
  readonly closed: boolean;
  readonly writableEnded: boolean;
  write(bytes: Buffer): boolean;
  on(event: 'drain' | 'close' | 'error', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

/**
 * The raw stream under a call: the own HTTP/2 server's `rawFrames`, or the
 * HTTP/2 stream under a grpc-js 1.14 call without grpc-js interceptors (the
 * call object grpc-js hands the handler wraps one that holds it); undefined
 * when neither shape is there: then responses go through the call one by
 * one, as any handler's would.
 */
export function rawHttp2Stream(call: Call): RawMessageStream | undefined {
  const own = (call as unknown as { rawFrames?: Partial<RawMessageStream> }).rawFrames;
  if (own !== undefined && typeof own.write === 'function' && typeof own.on === 'function') {
    return own as RawMessageStream;
  }
  const inner = (call as unknown as { call?: { stream?: unknown } }).call;
  const s = inner?.stream as
    (Partial<RawMessageStream> & { respond?: unknown; once?: unknown }) | undefined;
  if (
    s !== undefined &&
    s !== null &&
    typeof s.write === 'function' &&
    typeof s.respond === 'function' &&
    typeof s.once === 'function' &&
    s.constructor?.name === 'ServerHttp2Stream'
  ) {
    return s as RawMessageStream;
  }
  return undefined;
}

export function watchService(
  server: EtcdServer,
  ic: Interceptors,
  options: WatchServiceOptions,
): WatchServer {
  const progressMs = options.progressNotifyMs ?? 10 * 60 * 1000;
  const headers = new HeaderCache(server);
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
      new WatchSession(server, ic, call, headers, options.clock, progressMs, () =>
        done(status.OK),
      ).start();
    },
  };
}

/** A response with events; all responses share one object shape (cheaper to encode). */
function withEvents(
  header: Buffer,
  watchId: bigint,
  events: Buffer[],
  fragment: boolean,
): PreEncodedWatchResponse {
  return {
    header,
    watchId,
    created: false,
    canceled: false,
    compactRevision: 0n,
    cancelReason: '',
    fragment,
    events,
  };
}

/** A response without events: created, canceled, progress. */
function control(
  header: Buffer | undefined,
  watchId: number,
  fields: {
    created?: boolean;
    canceled?: boolean;
    compactRevision?: number;
    cancelReason?: string;
  },
): PreEncodedWatchResponse {
  return {
    header,
    watchId: BigInt(watchId),
    created: fields.created ?? false,
    canceled: fields.canceled ?? false,
    compactRevision: BigInt(fields.compactRevision ?? 0),
    cancelReason: fields.cancelReason ?? '',
    fragment: false,
    events: [],
  };
}

class WatchSession {
  readonly #stream: WatchStream;
  readonly #raw: RawMessageStream | undefined;
  readonly #progress = new Set<number>();
  readonly #fragment = new Set<number>();
  readonly #sentSinceTick = new Set<number>();
  #metadataSent = false;
  #closed = false;
  #timer: { cancel(): void } | undefined;

  constructor(
    private readonly server: EtcdServer,
    private readonly ic: Interceptors,
    private readonly call: Call,
    private readonly headers: HeaderCache,
    private readonly clock: Clock,
    private readonly progressMs: number,
    private readonly onDone: () => void,
  ) {
    this.#stream = server.mvcc.watchStream();
    this.#raw = rawHttp2Stream(call);
  }

  start(): void {
    this.call.on('data', (req: etcdserverpb.WatchRequest) => this.#onRequest(req));
    // A client that half-closes still gets its events, as from etcd (whose
    // gateway half-closes once the HTTP request body is complete): the
    // session ends when the call is cancelled or fails.
    this.call.on('error', () => this.#close());
    this.call.on('cancelled', () => this.#close());
    // grpc-js handles one 'error' of the HTTP/2 stream; a failed write of
    // ours may raise another. Either way the stream closes and grpc-js
    // reports the call cancelled.
    this.#raw?.on('error', () => {});
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

  /**
   * Sends responses in order; resolves when the transport can take more.
   * Responses sent later (by the pump or a request) follow them on the wire.
   */
  #send(msgs: PreEncodedWatchResponse[]): Promise<void> {
    if (this.#closed || msgs.length === 0) return Promise.resolve();
    const bytes = encodeWatchResponseFrames(msgs);
    const raw = this.#raw;
    if (raw === undefined) return this.#sendThroughGrpc(bytes);
    // Closed under us: grpc-js reports the call cancelled, which closes the session.
    if (raw.destroyed || raw.closed || raw.writableEnded) return Promise.resolve();
    if (!this.#metadataSent) {
      // Response headers through grpc-js, so it ends the call with trailers.
      this.#metadataSent = true;
      this.call.sendMetadata(new Metadata());
    }
    if (raw.write(bytes)) return Promise.resolve();
    return new Promise((resolve) => {
      const release = (): void => {
        raw.off('drain', release);
        raw.off('close', release);
        resolve();
      };
      raw.on('drain', release);
      raw.on('close', release);
    });
  }

  /** Without the HTTP/2 stream: each message through grpc-js's own write path. */
  #sendThroughGrpc(bytes: Buffer): Promise<void> {
    let ok = true;
    for (let pos = 0; pos < bytes.length;) {
      const n = bytes.readUInt32BE(pos + 1);
      const msg = etcdserverpb.WatchResponse.decode(bytes.subarray(pos + 5, pos + 5 + n));
      ok = this.call.write(msg);
      pos += 5 + n;
    }
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
        const cancelReason =
          err instanceof MvccError || err instanceof EtcdError ? err.message : String(err);
        void this.#send([
          control(this.headers.get(rev), -1, { created: true, canceled: true, cancelReason }),
        ]);
        return;
      }
      if (c.progressNotify) this.#progress.add(id);
      if (c.fragment) this.#fragment.add(id);
      void this.#send([control(this.headers.get(rev), id, { created: true })]);
    } else if (u.$case === 'cancelRequest') {
      const id = Number(u.value.watchId);
      if (this.#stream.cancel(id)) {
        this.#progress.delete(id);
        this.#fragment.delete(id);
        void this.#send([control(this.headers.get(), id, { canceled: true })]);
      }
    } else if (u.$case === 'progressRequest') {
      this.#stream.requestProgress();
    }
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const batch = await this.#stream.nextBatch(BATCH_MAX);
        if (batch === undefined || this.#closed) break;
        const joined = coalesceWatchResponses(batch);
        const out: PreEncodedWatchResponse[] = [];
        for (let i = 0; i < joined.length; i++) this.#convert(joined[i]!, out);
        await this.#send(out);
      }
    } catch {
      // The MVCC store was closed (the member stops; a snapshot restore keeps
      // the stream): end the stream so the client re-creates its watchers.
    }
    this.#close();
  }

  /** Appends the gRPC response(s) for one MVCC response. */
  #convert(r: MvccWatchResponse, out: PreEncodedWatchResponse[]): void {
    if (r.compactRevision !== undefined || r.canceled === true) {
      this.#progress.delete(r.watchId);
      const compacted = r.compactRevision !== undefined;
      // etcd's compaction cancel carries no revision and no reason.
      const header = compacted
        ? encodeResponseHeader({ ...this.server.header(r.revision), revision: 0n })
        : this.headers.get(r.revision);
      out.push(
        control(header, r.watchId, {
          canceled: true,
          ...(compacted ? { compactRevision: r.compactRevision } : {}),
        }),
      );
      return;
    }
    if (this.#progress.has(r.watchId)) this.#sentSinceTick.add(r.watchId);
    const header = this.headers.get(r.revision);
    const watchId = BigInt(r.watchId);
    const events = new Array<Buffer>(r.events.length);
    for (let i = 0; i < events.length; i++) events[i] = eventBytes(r.events[i]!);
    if (events.length <= 1 || !this.#fragment.has(r.watchId)) {
      out.push(withEvents(header, watchId, events, false));
      return;
    }
    // Split a large response into fragments no bigger than the request limit.
    const limit = this.server.maxRequestBytes;
    let batch: Buffer[] = [];
    let size = 0;
    for (const e of events) {
      const s = e.length + 8;
      if (batch.length > 0 && size + s > limit) {
        out.push(withEvents(header, watchId, batch, true));
        batch = [];
        size = 0;
      }
      batch.push(e);
      size += s;
    }
    out.push(withEvents(header, watchId, batch, false));
  }

  #progressTick(): void {
    const out: PreEncodedWatchResponse[] = [];
    for (const id of this.#progress) {
      if (this.#sentSinceTick.has(id)) continue;
      out.push(control(this.headers.get(), id, {}));
    }
    this.#sentSinceTick.clear();
    void this.#send(out);
  }
}
