import { setMaxListeners } from 'node:events';
import {
  Client as GrpcClient,
  Metadata,
  connectivityState,
  credentials as grpcCredentials,
  status as Status,
} from '@grpc/grpc-js';
import type {
  CallOptions as GrpcCallOptions,
  ChannelCredentials,
  ClientDuplexStream,
  ClientReadableStream,
  ServiceError,
} from '@grpc/grpc-js';
import { AuthService, MaintenanceService } from '@kv/api';
import type { EtcdError } from './errors';
import {
  Code,
  AbortedError,
  AuthenticationError,
  DeadlineExceededError,
  UnavailableError,
  fromGrpcError,
} from './errors';

/** The part of a generated grpc-js method definition the transport needs. */
export interface MethodDef<Req, Res> {
  readonly path: string;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Res;
}

/** Per-call options accepted by every client method. */
export interface CallOptions {
  /** Overall time budget in milliseconds, retries included. */
  deadlineMs?: number;
  /** Ends the call (and its retries) with {@link AbortedError} when it fires. */
  signal?: AbortSignal;
  /** Overrides the client's `requireLeader` for this call. */
  requireLeader?: boolean;
}

/** Retry tuning; see README "Retries". */
export interface RetryOptions {
  /** Attempts per call, the first included (default: 2 × endpoints + 1). */
  maxAttempts?: number;
  /** First pause after every endpoint failed once, in ms (default 50). */
  backoffMs?: number;
  /** Longest pause between rounds, in ms (default 1000). */
  maxBackoffMs?: number;
}

/** Options of the transport, a subset of the client's. */
export interface TransportOptions {
  endpoints: readonly string[];
  credentials?: ChannelCredentials;
  auth?: { username: string; password: string };
  dialTimeoutMs?: number;
  requireLeader?: boolean;
  retry?: RetryOptions;
  keepAliveTimeMs?: number;
  keepAliveTimeoutMs?: number;
  /** Extra grpc-js channel options (tests, benchmarks). */
  channelOptions?: Record<string, string | number>;
}

/** Whether a call may run twice: reads may, writes only if never sent. */
export type CallKind = 'read' | 'write';

/** One member's address with its long-lived channel and health. */
export class Endpoint {
  readonly address: string;
  readonly grpc: GrpcClient;
  /** Consecutive failures; drives the backoff. */
  failures = 0;
  /** While set, the endpoint is skipped until a health check passes. */
  unhealthySince = 0;
  healthTimer: NodeJS.Timeout | undefined;
  constructor(address: string, grpc: GrpcClient) {
    this.address = address;
    this.grpc = grpc;
  }
  get healthy(): boolean {
    return this.unhealthySince === 0;
  }
}

/** Strips the scheme etcd flags carry (`http://host:port` → `host:port`). */
export function endpointAddress(url: string): string {
  const m = /^[a-z]+:\/\/(.*?)\/?$/i.exec(url.trim());
  return m ? m[1]! : url.trim();
}

/**
 * Connections and the call loop: one grpc-js channel per endpoint, round-robin
 * per call over healthy endpoints, failover with retries, deadlines, aborts,
 * require-leader and auth-token metadata.
 */
export class Transport {
  readonly endpoints: readonly Endpoint[];
  private next = 0;
  private closed = false;
  private token: string | undefined;
  private tokenPromise: Promise<string> | undefined;
  private readonly opts: TransportOptions;
  private readonly closeController = new AbortController();
  /** Cancel functions of unary calls in flight, run on close. */
  private readonly inflight = new Set<() => void>();

  constructor(opts: TransportOptions) {
    if (opts.endpoints.length === 0) throw new TypeError('at least one endpoint is required');
    this.opts = opts;
    // Every watcher, keep-alive and stream listens for close.
    setMaxListeners(0, this.closeController.signal);
    const creds = opts.credentials ?? grpcCredentials.createInsecure();
    const channelOptions: Record<string, string | number> = {
      'grpc.keepalive_time_ms': opts.keepAliveTimeMs ?? 30_000,
      'grpc.keepalive_timeout_ms': opts.keepAliveTimeoutMs ?? 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      // Our own balancer decides; keep grpc-js reconnect backoff short so a
      // restarted member is usable soon after its health check passes.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
      'grpc.max_receive_message_length': 2 ** 31 - 1,
      'grpc.use_local_subchannel_pool': 1,
      ...opts.channelOptions,
    };
    this.endpoints = opts.endpoints.map(
      (e) =>
        new Endpoint(endpointAddress(e), new GrpcClient(endpointAddress(e), creds, channelOptions)),
    );
  }

  /** Fires when the client closes; streams listen to it. */
  get closeSignal(): AbortSignal {
    return this.closeController.signal;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * A view of this transport that sends only to one endpoint (maintenance
   * calls are per member); it shares channels, token and close state.
   */
  only(endpoint: string): Transport {
    const address = endpointAddress(endpoint);
    const ep = this.endpoints.find((e) => e.address === address);
    if (!ep) throw new TypeError(`unknown endpoint ${endpoint}`);
    const view = Object.create(this) as Transport;
    Object.defineProperty(view, 'endpoints', { value: [ep] });
    view.next = 0;
    return view;
  }

  /** Round-robin over healthy endpoints not in `exclude`; else the least recently failed one. */
  pick(exclude?: ReadonlySet<Endpoint>): Endpoint | undefined {
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      const ep = this.endpoints[(this.next + i) % n]!;
      if (ep.healthy && !exclude?.has(ep)) {
        this.next = (this.next + i + 1) % n;
        return ep;
      }
    }
    let best: Endpoint | undefined;
    for (const ep of this.endpoints) {
      if (exclude?.has(ep)) continue;
      if (!best || ep.unhealthySince < best.unhealthySince) best = ep;
    }
    return best;
  }

  /** Takes an endpoint out of rotation; a health check after a backoff brings it back. */
  markFailed(ep: Endpoint): void {
    ep.failures++;
    if (ep.unhealthySince === 0) ep.unhealthySince = Date.now();
    this.scheduleHealthCheck(ep);
  }

  /** Records a success: the endpoint is healthy again. */
  markOk(ep: Endpoint): void {
    ep.failures = 0;
    ep.unhealthySince = 0;
    if (ep.healthTimer) {
      clearTimeout(ep.healthTimer);
      ep.healthTimer = undefined;
    }
  }

  private scheduleHealthCheck(ep: Endpoint): void {
    if (ep.healthTimer || this.closed) return;
    const base = Math.min(100 * 2 ** Math.min(ep.failures - 1, 6), 5_000);
    const delay = base / 2 + Math.random() * (base / 2);
    ep.healthTimer = setTimeout(() => {
      ep.healthTimer = undefined;
      this.healthCheck(ep).then(
        (ok) => {
          if (ok) this.markOk(ep);
          else this.markFailed(ep);
        },
        () => this.markFailed(ep),
      );
    }, delay);
    ep.healthTimer.unref();
  }

  /** A Status call with a short deadline: the member answers gRPC. */
  healthCheck(ep: Endpoint, timeoutMs = 1_000): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve(false);
        return;
      }
      const m = MaintenanceService.status;
      ep.grpc.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        {},
        new Metadata(),
        { deadline: new Date(Date.now() + timeoutMs) },
        (err) => resolve(!err),
      );
    });
  }

  /** Metadata for a call: auth token and require-leader. */
  async metadata(requireLeader: boolean | undefined, signal?: AbortSignal): Promise<Metadata> {
    const md = new Metadata();
    if (requireLeader ?? this.opts.requireLeader ?? false) md.set('hasleader', 'true');
    if (this.opts.auth) md.set('token', await this.getToken(false, signal));
    return md;
  }

  /** The auth token, fetched once and again when the server rejects it. */
  async getToken(refresh: boolean, signal?: AbortSignal): Promise<string> {
    const auth = this.opts.auth;
    if (!auth) return '';
    if (refresh) {
      this.token = undefined;
      this.tokenPromise = undefined;
    }
    if (this.token !== undefined) return this.token;
    const m = AuthService.authenticate;
    this.tokenPromise ??= this.callLoop(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      { name: auth.username, password: auth.password },
      signal ? { signal } : {},
      'read',
      false,
    ).then(
      (res) => {
        this.token = res.token;
        return res.token;
      },
      (err: unknown) => {
        this.tokenPromise = undefined;
        throw err;
      },
    );
    return this.tokenPromise;
  }

  /** A unary call with balancing, failover and retries. */
  unary<Req, Res>(
    method: MethodDef<Req, Res>,
    req: Req,
    opts: CallOptions,
    kind: CallKind,
  ): Promise<Res> {
    return this.callLoop(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      req,
      opts,
      kind,
      true,
    );
  }

  private async callLoop<Req, Res>(
    path: string,
    serialize: (v: Req) => Buffer,
    deserialize: (b: Buffer) => Res,
    req: Req,
    opts: CallOptions,
    kind: CallKind,
    withAuth: boolean,
  ): Promise<Res> {
    const deadline = opts.deadlineMs === undefined ? undefined : Date.now() + opts.deadlineMs;
    const retry = this.opts.retry ?? {};
    const maxAttempts = retry.maxAttempts ?? 2 * this.endpoints.length + 1;
    let backoff = retry.backoffMs ?? 50;
    const maxBackoff = retry.maxBackoffMs ?? 1_000;
    const tried = new Set<Endpoint>();
    let refreshedToken = false;
    let lastError: EtcdError | undefined;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      this.checkLive(opts.signal);
      if (deadline !== undefined && Date.now() >= deadline) break;
      let ep = this.pick(tried);
      if (!ep) {
        // Every endpoint failed once in this call: pause, then go round again.
        await this.pause(
          deadline === undefined ? backoff : Math.min(backoff, deadline - Date.now()),
          opts.signal,
        );
        backoff = Math.min(backoff * 2, maxBackoff);
        tried.clear();
        ep = this.pick(tried)!;
      }
      tried.add(ep);
      const md = withAuth ? await this.metadata(opts.requireLeader, opts.signal) : new Metadata();
      try {
        const res = await this.once(
          ep,
          path,
          serialize,
          deserialize,
          req,
          md,
          deadline,
          opts.signal,
        );
        this.markOk(ep);
        return res;
      } catch (raw) {
        const err = fromGrpcError(raw);
        lastError = err;
        this.checkLive(opts.signal, err);
        const details = err.details;
        if (
          err instanceof DeadlineExceededError &&
          deadline !== undefined &&
          Date.now() >= deadline
        )
          throw err;
        if (
          err instanceof AuthenticationError &&
          details === 'etcdserver: invalid auth token' &&
          withAuth &&
          !refreshedToken
        ) {
          // The server rejected the token before running the request: refresh and resend.
          refreshedToken = true;
          await this.getToken(true, opts.signal);
          attempt--;
          tried.delete(ep);
          continue;
        }
        if (
          err.code !== Code.UNAVAILABLE &&
          !(err instanceof DeadlineExceededError && kind === 'read')
        )
          throw err;
        const transport = !details.startsWith('etcdserver:');
        if (transport) this.markFailed(ep);
        if (kind === 'write' && !neverSent(err)) throw err;
      }
    }
    if (lastError) throw lastError;
    throw new DeadlineExceededError(
      Status.DEADLINE_EXCEEDED,
      'Deadline exceeded before any attempt',
    );
  }

  private once<Req, Res>(
    ep: Endpoint,
    path: string,
    serialize: (v: Req) => Buffer,
    deserialize: (b: Buffer) => Res,
    req: Req,
    md: Metadata,
    deadline: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const callOpts: Partial<GrpcCallOptions> = {};
      // A member that is still connecting gets at most dialTimeoutMs.
      let attemptDeadline = deadline;
      const dial = this.opts.dialTimeoutMs;
      if (
        dial !== undefined &&
        ep.grpc.getChannel().getConnectivityState(false) !== connectivityState.READY
      ) {
        attemptDeadline = Math.min(attemptDeadline ?? Infinity, Date.now() + dial);
      }
      if (attemptDeadline !== undefined) callOpts.deadline = new Date(attemptDeadline);
      const cancel = (): void => call.cancel();
      const call = ep.grpc.makeUnaryRequest(
        path,
        serialize,
        deserialize,
        req,
        md,
        callOpts,
        (err: ServiceError | null, res?: Res) => {
          signal?.removeEventListener('abort', cancel);
          this.inflight.delete(cancel);
          if (err) reject(err);
          else resolve(res!);
        },
      );
      // A Set rather than a listener on the close signal per call: cheaper,
      // and no listener-count warnings under high concurrency.
      this.inflight.add(cancel);
      signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  /** Opens a bidi stream on a picked endpoint (watch, keep-alive). */
  async bidi<Req, Res>(
    method: MethodDef<Req, Res>,
    ep: Endpoint,
    requireLeader: boolean | undefined,
  ): Promise<ClientDuplexStream<Req, Res>> {
    const md = await this.metadata(requireLeader);
    return ep.grpc.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      md,
      {},
    );
  }

  /** Opens a server stream (snapshot, election observe) with the call options. */
  async serverStream<Req, Res>(
    method: MethodDef<Req, Res>,
    req: Req,
    opts: CallOptions,
  ): Promise<{ stream: ClientReadableStream<Res>; endpoint: Endpoint }> {
    this.checkLive(opts.signal);
    const ep = this.pick()!;
    const md = await this.metadata(opts.requireLeader, opts.signal);
    const callOpts: Partial<GrpcCallOptions> = {};
    if (opts.deadlineMs !== undefined) callOpts.deadline = new Date(Date.now() + opts.deadlineMs);
    const stream = ep.grpc.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      req,
      md,
      callOpts,
    );
    const onAbort = (): void => stream.cancel();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    this.closeSignal.addEventListener('abort', onAbort, { once: true });
    stream.on('close', () => {
      opts.signal?.removeEventListener('abort', onAbort);
      this.closeSignal.removeEventListener('abort', onAbort);
    });
    return { stream, endpoint: ep };
  }

  /** Throws {@link AbortedError} if the signal fired or the client closed. */
  checkLive(signal?: AbortSignal, cause?: unknown): void {
    if (this.closed) throw new AbortedError('client closed', { cause });
    if (signal?.aborted) throw new AbortedError('call aborted', { cause: signal.reason ?? cause });
  }

  /** Sleeps, waking early (and throwing) on abort or close. */
  pause(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (ms <= 0) {
        resolve();
        return;
      }
      const done = (): void => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        this.closeSignal.removeEventListener('abort', done);
        try {
          this.checkLive(signal);
          resolve();
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      };
      const t = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.closeSignal.addEventListener('abort', done, { once: true });
    });
  }

  /** Closes every channel; pending calls end with {@link AbortedError}. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeController.abort();
    for (const cancel of this.inflight) cancel();
    this.inflight.clear();
    for (const ep of this.endpoints) {
      if (ep.healthTimer) clearTimeout(ep.healthTimer);
      ep.grpc.close();
    }
  }
}

/** True when grpc-js failed the call before any byte reached a server. */
export function neverSent(err: EtcdError): boolean {
  return err instanceof UnavailableError && err.details.startsWith('No connection established');
}
