import { EventEmitter } from 'node:events';
import { status as Status } from '@grpc/grpc-js';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { LeaseService } from '@kv/api';
import type { etcdserverpb } from '@kv/api';
import type { EtcdError } from './errors';
import { AbortedError, LeaseExpiredError, LeaseNotFoundError, fromGrpcError } from './errors';
import type { Int64 } from './kv';
import type { CallOptions, Endpoint, Transport } from './transport';

const LEASE_NOT_FOUND = 'etcdserver: requested lease not found';

/** Events of a {@link KeepAlive}. */
export interface KeepAliveEvents {
  /** A renewal succeeded; the response carries the fresh TTL. */
  keepalive: [etcdserverpb.LeaseKeepAliveResponse];
  /** The lease is gone (revoked, expired, or no renewal in time); renewal stopped. */
  lost: [EtcdError];
}

/**
 * Renews a lease in the background, every third of its TTL, over a bidi
 * stream that fails over to another endpoint when its member dies. Emits
 * `lost` once when the server says the lease is gone or when no renewal
 * succeeded within the TTL.
 */
export class KeepAlive extends EventEmitter<KeepAliveEvents> {
  /** The lease ID. */
  readonly id: bigint;
  /** TTL in seconds of the last renewal (0 before the first). */
  ttl = 0n;
  /** Number of successful renewals. */
  renewals = 0;
  private readonly transport: Transport;
  private stream:
    | ClientDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>
    | undefined;
  private sendTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private failures = 0;
  private lostResolve: ((e: EtcdError) => void) | undefined;
  /** Address (`host:port`) of the member serving the current stream. */
  endpoint: string | undefined;
  /** Resolves with the reason when the lease is lost (never if closed first). */
  readonly lost: Promise<EtcdError>;

  /** @internal */
  constructor(transport: Transport, id: bigint, ttlHintSeconds?: bigint) {
    super();
    this.transport = transport;
    this.id = id;
    this.lost = new Promise((resolve) => (this.lostResolve = resolve));
    // Until the first answer, assume the grant TTL (or etcd's minimum, 5 s).
    this.armExpiry(ttlHintSeconds && ttlHintSeconds > 0n ? ttlHintSeconds : 5n);
    transport.closeSignal.addEventListener('abort', this.onClientClose, { once: true });
    void this.connect(undefined);
  }

  private armExpiry(ttl: bigint): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(
      () =>
        this.fail(
          new LeaseExpiredError(
            Status.DEADLINE_EXCEEDED,
            'lease keep-alive: no renewal within TTL',
          ),
        ),
      Number(ttl) * 1000,
    );
    this.expiryTimer.unref();
  }

  private async connect(exclude: Endpoint | undefined): Promise<void> {
    if (this.closed) return;
    const ep =
      this.transport.pick(exclude ? new Set([exclude]) : undefined) ?? this.transport.pick()!;
    let stream: ClientDuplexStream<
      etcdserverpb.LeaseKeepAliveRequest,
      etcdserverpb.LeaseKeepAliveResponse
    >;
    try {
      stream = await this.transport.bidi(LeaseService.leaseKeepAlive, ep, true);
    } catch (e) {
      this.fail(fromGrpcError(e));
      return;
    }
    if (this.closed) {
      stream.cancel();
      return;
    }
    this.stream = stream;
    this.endpoint = ep.address;
    let broken = false;
    const retry = (err: EtcdError | undefined): void => {
      if (broken) return;
      broken = true;
      clearTimeout(this.sendTimer);
      stream.removeAllListeners('data');
      stream.cancel();
      if (this.closed) return;
      if (err && !err.details.startsWith('etcdserver:')) this.transport.markFailed(ep);
      this.failures++;
      const delay = Math.min(100 * 2 ** Math.min(this.failures - 1, 4), 1_000);
      this.transport.pause(delay).then(
        () => void this.connect(ep),
        () => undefined,
      );
    };
    stream.on('data', (res: etcdserverpb.LeaseKeepAliveResponse) => {
      if (this.closed) return;
      if (res.TTL <= 0n) {
        this.fail(new LeaseNotFoundError(Status.NOT_FOUND, LEASE_NOT_FOUND));
        return;
      }
      this.failures = 0;
      this.transport.markOk(ep);
      this.ttl = res.TTL;
      this.renewals++;
      this.armExpiry(res.TTL);
      this.emit('keepalive', res);
      // Renew at a third of the TTL, as etcd's clients do.
      clearTimeout(this.sendTimer);
      this.sendTimer = setTimeout(() => this.send(stream), Math.max(Number(res.TTL) * 333, 100));
      this.sendTimer.unref();
    });
    stream.on('error', (e: unknown) => {
      if (this.closed) return;
      const err = fromGrpcError(e);
      if (err instanceof LeaseNotFoundError) this.fail(err);
      else retry(err);
    });
    stream.on('end', () => retry(undefined));
    this.send(stream);
  }

  private send(
    stream: ClientDuplexStream<
      etcdserverpb.LeaseKeepAliveRequest,
      etcdserverpb.LeaseKeepAliveResponse
    >,
  ): void {
    if (!this.closed) stream.write({ ID: this.id });
  }

  private fail(err: EtcdError): void {
    if (this.closed) return;
    this.stop();
    this.lostResolve?.(err);
    this.emit('lost', err);
  }

  private readonly onClientClose = (): void => this.close();

  private stop(): void {
    this.closed = true;
    this.transport.closeSignal.removeEventListener('abort', this.onClientClose);
    clearTimeout(this.sendTimer);
    clearTimeout(this.expiryTimer);
    this.stream?.cancel();
  }

  /** Stops renewing; the lease then expires after its TTL unless revoked. */
  close(): void {
    if (!this.closed) this.stop();
  }
}

/** The Lease service. */
export class Lease {
  private readonly transport: Transport;
  /** @internal */
  constructor(transport: Transport) {
    this.transport = transport;
  }
  /** Grants a lease of `ttlSeconds`; `id` 0/absent lets the server choose. */
  grant(
    ttlSeconds: Int64,
    opts: { id?: Int64 } & CallOptions = {},
  ): Promise<etcdserverpb.LeaseGrantResponse> {
    return this.transport.unary(
      LeaseService.leaseGrant,
      { TTL: BigInt(ttlSeconds), ID: BigInt(opts.id ?? 0) },
      opts,
      'write',
    );
  }
  /** Revokes a lease, deleting its keys. */
  revoke(id: Int64, opts: CallOptions = {}): Promise<etcdserverpb.LeaseRevokeResponse> {
    return this.transport.unary(LeaseService.leaseRevoke, { ID: BigInt(id) }, opts, 'write');
  }
  /** Remaining and granted TTL (TTL -1: the lease does not exist), optionally its keys. */
  timeToLive(
    id: Int64,
    opts: { keys?: boolean } & CallOptions = {},
  ): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    return this.transport.unary(
      LeaseService.leaseTimeToLive,
      { ID: BigInt(id), keys: opts.keys ?? false },
      opts,
      'read',
    );
  }
  /** Every live lease. */
  leases(opts: CallOptions = {}): Promise<etcdserverpb.LeaseLeasesResponse> {
    return this.transport.unary(LeaseService.leaseLeases, {}, opts, 'read');
  }
  /** Renews once; rejects with {@link LeaseNotFoundError} if the lease is gone. */
  async keepAliveOnce(
    id: Int64,
    opts: CallOptions = {},
  ): Promise<etcdserverpb.LeaseKeepAliveResponse> {
    this.transport.checkLive(opts.signal);
    const ep = this.transport.pick()!;
    const stream = await this.transport.bidi(LeaseService.leaseKeepAlive, ep, opts.requireLeader);
    return new Promise((resolve, reject) => {
      const timer =
        opts.deadlineMs === undefined
          ? undefined
          : setTimeout(() => stream.cancel(), opts.deadlineMs);
      const onAbort = (): void => stream.cancel();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      stream.once('data', (res: etcdserverpb.LeaseKeepAliveResponse) => {
        settle();
        stream.cancel();
        if (res.TTL <= 0n) reject(new LeaseNotFoundError(Status.NOT_FOUND, LEASE_NOT_FOUND));
        else resolve(res);
      });
      stream.on('error', (e: unknown) => {
        settle();
        if (opts.signal?.aborted) reject(new AbortedError());
        else reject(fromGrpcError(e));
      });
      stream.write({ ID: BigInt(id) });
    });
  }
  /** Starts background renewal; listen for `lost`, call `close()` to stop. */
  keepAlive(id: Int64, opts: { ttlHintSeconds?: Int64 } = {}): KeepAlive {
    return new KeepAlive(
      this.transport,
      BigInt(id),
      opts.ttlHintSeconds === undefined ? undefined : BigInt(opts.ttlHintSeconds),
    );
  }
}
