import { status as Status } from '@grpc/grpc-js';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { WatchService } from '@kv/api';
import type { etcdserverpb, mvccpb } from '@kv/api';
import type { Bytes } from './bytes';
import { FROM_KEY_END, toBuffer } from './bytes';
import {
  Code,
  AbortedError,
  CompactedError,
  COMPACTED_MESSAGE,
  EtcdError,
  WatchCanceledError,
  fromGrpcError,
} from './errors';
import type { Int64, RangeSelector } from './kv';
import { rangeEndOf } from './kv';
import type { Endpoint, Transport } from './transport';

/** Options of {@link Watcher}. */
export interface WatchOptions extends RangeSelector {
  /** First revision to deliver; default: changes after the watch is created. */
  startRevision?: Int64;
  /** Include each event's previous key-value. */
  prevKv?: boolean;
  /** Ask the server for periodic progress notifications. */
  progressNotify?: boolean;
  /** Drop puts and/or deletes on the server. */
  filters?: readonly ('noput' | 'nodelete')[];
  /** Ends the watch when it fires. */
  signal?: AbortSignal;
  /** Require the serving member to have a leader (default: true, like clientv3 watchers). */
  requireLeader?: boolean;
}

/** One response of the watch: events of consecutive revisions, or a progress notification. */
export interface WatchBatch {
  /** Header revision: every later event has a greater revision. */
  revision: bigint;
  /** Events in revision order (empty for a progress notification). */
  events: mvccpb.Event[];
  /** True for a progress notification (no events). */
  progressNotify: boolean;
  /** The member that sent it. */
  header: etcdserverpb.ResponseHeader | undefined;
}

type Item = { batch: WatchBatch } | { error: Error } | { end: true };

/**
 * A watch as an async iterable of {@link WatchBatch}. It survives member
 * failures: on a broken stream it reconnects to another endpoint and resumes
 * at the last delivered revision + 1, so no event is lost or repeated. A
 * compaction ends the iteration with {@link CompactedError}.
 */
export class Watcher implements AsyncIterable<WatchBatch> {
  private readonly transport: Transport;
  private readonly key: Buffer;
  private readonly rangeEnd: Buffer;
  private readonly opts: WatchOptions;
  /** Next revision to ask for on (re)connect; undefined until known. */
  private nextRev: bigint | undefined;
  private currentEndpoint: Endpoint | undefined;
  private readonly detach: () => void;
  private stream:
    ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse> | undefined;
  private readonly queue: Item[] = [];
  private waiter: (() => void) | undefined;
  private done = false;
  private failures = 0;
  private createdResolve: (() => void) | undefined;
  /** Resolves once the server confirmed the first watch creation. */
  readonly created: Promise<void>;
  /** Number of times the stream was re-established after a failure. */
  reconnects = 0;

  /** @internal */
  constructor(transport: Transport, key: Bytes, opts: WatchOptions = {}) {
    this.transport = transport;
    let k = toBuffer(key);
    if (k.length === 0 && (opts.prefix || opts.fromKey)) k = FROM_KEY_END;
    this.key = k;
    this.rangeEnd = rangeEndOf(k, opts);
    this.opts = opts;
    if (opts.startRevision !== undefined && BigInt(opts.startRevision) > 0n)
      this.nextRev = BigInt(opts.startRevision);
    this.created = new Promise((resolve) => (this.createdResolve = resolve));
    const onAbort = (): void =>
      this.finish({ error: new AbortedError('watch aborted', { cause: opts.signal?.reason }) });
    const onClose = (): void => this.finish({ end: true });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    transport.closeSignal.addEventListener('abort', onClose, { once: true });
    this.detach = () => {
      opts.signal?.removeEventListener('abort', onAbort);
      transport.closeSignal.removeEventListener('abort', onClose);
    };
    if (opts.signal?.aborted) onAbort();
    else void this.connect(undefined);
  }

  /** Address (`host:port`) of the member serving the current stream. */
  get endpoint(): string | undefined {
    return this.currentEndpoint?.address;
  }

  /** The revision the watch resumes at after a reconnect. */
  get resumeRevision(): bigint | undefined {
    return this.nextRev;
  }

  private async connect(exclude: Endpoint | undefined): Promise<void> {
    if (this.done) return;
    // Prefer another member than the one that just failed, if there is one.
    const ep =
      this.transport.pick(exclude ? new Set([exclude]) : undefined) ?? this.transport.pick()!;
    let stream: ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;
    try {
      stream = await this.transport.bidi(WatchService.watch, ep, this.opts.requireLeader ?? true);
    } catch (e) {
      this.finish({ error: fromGrpcError(e) });
      return;
    }
    if (this.done) {
      stream.cancel();
      return;
    }
    this.stream = stream;
    this.currentEndpoint = ep;
    let broken = false;
    const reconnect = (err: EtcdError | undefined): void => {
      if (broken) return;
      broken = true;
      stream.removeAllListeners('data');
      stream.cancel();
      if (this.done) return;
      if (err && !err.details.startsWith('etcdserver:')) this.transport.markFailed(ep);
      this.failures++;
      this.reconnects++;
      const delay = Math.min(50 * 2 ** Math.min(this.failures - 1, 5), 1_000);
      this.transport.pause(delay, this.opts.signal).then(
        () => void this.connect(ep),
        () => undefined,
      );
    };
    stream.on('data', (res: etcdserverpb.WatchResponse) => this.onResponse(res, ep, reconnect));
    stream.on('error', (e: unknown) => {
      if (this.done) return;
      const err = fromGrpcError(e);
      if (err.code === Code.CANCELLED && this.done) return;
      if (
        err.code === Code.UNAVAILABLE ||
        err.code === Code.CANCELLED ||
        err.code === Code.INTERNAL
      )
        reconnect(err);
      else this.finish({ error: err });
    });
    stream.on('end', () => reconnect(undefined));
    const filters = (this.opts.filters ?? []).map((f) => (f === 'noput' ? 0 : 1));
    stream.write({
      requestUnion: {
        $case: 'createRequest',
        value: {
          key: this.key,
          rangeEnd: this.rangeEnd,
          startRevision: this.nextRev ?? 0n,
          progressNotify: this.opts.progressNotify ?? false,
          filters,
          prevKv: this.opts.prevKv ?? false,
          watchId: 0n,
          fragment: false,
        },
      },
    });
  }

  private onResponse(
    res: etcdserverpb.WatchResponse,
    ep: Endpoint,
    reconnect: (e: EtcdError | undefined) => void,
  ): void {
    if (this.done) return;
    const rev = res.header?.revision ?? 0n;
    if (res.compactRevision > 0n) {
      this.finish({ error: new CompactedError(COMPACTED_MESSAGE, res.compactRevision) });
      return;
    }
    if (res.canceled) {
      const reason = res.cancelReason;
      // A member that lost its leader cancels; another member may have one.
      if (reason === 'etcdserver: no leader') reconnect(new EtcdError(Status.UNAVAILABLE, reason));
      else
        this.finish({
          error: new WatchCanceledError(Status.CANCELLED, reason || 'etcdserver: watch canceled'),
        });
      return;
    }
    if (res.created) {
      this.failures = 0;
      this.transport.markOk(ep);
      // Events after the creation point have revisions > header revision.
      if (this.nextRev === undefined) this.nextRev = rev + 1n;
      this.createdResolve?.();
      this.createdResolve = undefined;
      if (res.events.length === 0) return;
    }
    if (res.events.length === 0) {
      if (this.nextRev === undefined || rev + 1n > this.nextRev) this.nextRev = rev + 1n;
      this.push({ batch: { revision: rev, events: [], progressNotify: true, header: res.header } });
      return;
    }
    // Never hand out a revision twice, even if a member resent it.
    const from = this.nextRev ?? 0n;
    const events = res.events.filter((e) => (e.kv?.modRevision ?? 0n) >= from);
    const last = res.events[res.events.length - 1]!.kv?.modRevision ?? 0n;
    if (last + 1n > from) this.nextRev = last + 1n;
    if (events.length > 0)
      this.push({ batch: { revision: rev, events, progressNotify: false, header: res.header } });
  }

  private push(item: Item): void {
    this.queue.push(item);
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private finish(item: Item): void {
    if (this.done) return;
    this.done = true;
    this.detach();
    this.createdResolve?.();
    this.stream?.cancel();
    this.push(item);
  }

  /** Asks the server for a progress notification on the current stream. */
  requestProgress(): void {
    this.stream?.write({ requestUnion: { $case: 'progressRequest', value: {} } });
  }

  /** Stops the watch; iteration ends normally. */
  cancel(): void {
    this.finish({ end: true });
  }

  /** Iterates batches until cancel, abort (AbortedError) or compaction (CompactedError). */
  async *[Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    try {
      for (;;) {
        const item = this.queue.shift();
        if (!item) {
          await new Promise<void>((resolve) => (this.waiter = resolve));
          continue;
        }
        if ('batch' in item) yield item.batch;
        else if ('error' in item) throw item.error;
        else return;
      }
    } finally {
      this.cancel();
    }
  }
}
