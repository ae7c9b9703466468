/**
 * The interceptor chain every unary call passes through, as plain function
 * wrapping (cheaper than grpc-js interceptor objects on the hot path):
 * metrics (started/handled counters and latency by method and code), request
 * logging with slow-request warnings naming the peer, the "require leader"
 * metadata real clients send, and the learner restrictions.
 */
import { Metadata, status } from '@grpc/grpc-js';
import type { ServerUnaryCall, ServiceError, handleUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { EtcdError, Errors } from '../errors';
import type { Logger } from '../logger';
import type { AuthStore } from '../auth/auth-store';
import type { Counter, CounterSeries, Histogram, MetricsRegistry } from '../metrics';
import { exponentialBuckets } from '../metrics';

/** What the chain needs to know about the member. */
export interface MemberState {
  readonly leader: bigint;
  readonly isLearner: boolean;
  readonly stopped: boolean;
  readonly auth: AuthStore;
}

/** What identifies the caller: gRPC metadata and, with TLS, its certificate. */
export interface CallerContext {
  readonly metadata: Metadata;
  getAuthContext?():
    { sslPeerCertificate?: { raw?: Uint8Array; subject?: { CN?: string | string[] } } } | undefined;
}

export interface InterceptorOptions {
  readonly member: MemberState;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  /** Requests slower than this are logged as warnings (etcd: 100 ms for reads, "apply request took too long"). */
  readonly slowRequestMs?: number;
}

/** Which calls a learner may serve. */
export type LearnerPolicy = 'allowed' | 'forbidden' | ((request: unknown) => boolean);

/** grpc_server_handled_total's series of one method, resolved once per code. */
function handledSeries(
  counter: Counter,
  labels: Readonly<Record<string, string>>,
): (code: number) => CounterSeries {
  const byCode: CounterSeries[] = [];
  return (code) => {
    let series = byCode[code];
    if (series === undefined) {
      series = counter.series(Object.freeze({ ...labels, grpc_code: codeName(code) }));
      byCode[code] = series;
    }
    return series;
  };
}

export class Interceptors {
  readonly #o: InterceptorOptions;
  readonly #started: Counter;
  readonly #handled: Counter;
  readonly #latency: Histogram;
  readonly #slowMs: number;

  constructor(options: InterceptorOptions) {
    this.#o = options;
    this.#slowMs = options.slowRequestMs ?? 100;
    this.#started = options.metrics.counter(
      'grpc_server_started_total',
      'Total number of RPCs started on the server.',
    );
    this.#handled = options.metrics.counter(
      'grpc_server_handled_total',
      'Total number of RPCs completed on the server, regardless of success or failure.',
    );
    this.#latency = options.metrics.histogram(
      'grpc_server_handling_seconds',
      'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
      exponentialBuckets(0.0005, 2, 14),
    );
  }

  /** Wraps an async handler into a grpc-js unary handler. */
  unary<Req, Res>(
    service: string,
    method: string,
    learner: LearnerPolicy,
    fn: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
  ): handleUnaryCall<Req, Res> {
    const labels = Object.freeze({
      grpc_type: 'unary',
      grpc_service: service,
      grpc_method: method,
    });
    // Series resolved once per method: a call only adds to them.
    const started = this.#started.series(labels);
    const handled = handledSeries(this.#handled, labels);
    const latency = this.#latency.series(labels);
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      const start = performance.now();
      started.inc();
      const finish = (code: number, err?: unknown): void => {
        const seconds = (performance.now() - start) / 1000;
        handled(code).inc();
        latency.observe(seconds);
        if (seconds * 1000 > this.#slowMs) {
          this.#o.logger.warn(
            {
              method: `/${service}/${method}`,
              took: `${(seconds * 1000).toFixed(1)}ms`,
              peer: call.getPeer(),
              ...(err instanceof Error ? { error: err.message } : {}),
            },
            'request took too long',
          );
        }
      };
      try {
        this.check(call.metadata, learner, call.request);
      } catch (err) {
        const se = toServiceError(err);
        finish(se.code);
        callback(se);
        return;
      }
      fn(call.request, call).then(
        (res) => {
          finish(status.OK);
          callback(null, res);
        },
        (err: unknown) => {
          const se = toServiceError(err);
          finish(se.code, err);
          // etcd's own errors are answers, not failures (some, such as the
          // election service's, carry code Unknown as etcd sends them).
          if (
            (se.code === status.UNKNOWN || se.code === status.INTERNAL) &&
            !(err instanceof EtcdError)
          ) {
            this.#o.logger.error({ method: `/${service}/${method}`, err }, 'request failed');
          }
          callback(se);
        },
      );
    };
  }

  /**
   * The user a call acts for when auth is on: from its token (etcd's "token"
   * metadata), or else from the CN of its (verified) TLS client certificate,
   * as etcd does with --client-cert-auth — an empty CN is the user named "",
   * whom no permission check finds. A call from the JSON gateway (etcd's
   * gateway marks its calls with "grpcgateway-accept" metadata) never acts
   * for the gateway's own certificate. Undefined when auth is off.
   */
  user(call: CallerContext): string | undefined {
    const auth = this.#o.member.auth;
    if (!auth.enabled) return undefined;
    const token = call.metadata.get('token')[0];
    if (typeof token === 'string' && token !== '') {
      const user = auth.userOfToken(token);
      if (user === undefined) throw Errors.invalidAuthToken();
      return user;
    }
    if (call.metadata.get('grpcgateway-accept').length > 0) throw Errors.userEmpty();
    const cert = call.getAuthContext?.()?.sslPeerCertificate;
    // Node reports "no certificate" as an empty object.
    if (cert?.raw === undefined) throw Errors.userEmpty();
    const cn = cert.subject?.CN;
    // Go keeps the last CN of a subject with several.
    return (Array.isArray(cn) ? cn.at(-1) : cn) ?? '';
  }

  /** Runs `check` with the caller's user name when auth is on. */
  authorize(call: CallerContext, check: (user: string, auth: AuthStore) => void): void {
    const user = this.user(call);
    if (user !== undefined) check(user, this.#o.member.auth);
  }

  /** Admin-only calls: the caller must hold the root role when auth is on. */
  requireAdmin(call: CallerContext): void {
    this.authorize(call, (user, auth) => {
      const err = adminError(user, auth);
      if (err !== undefined) throw err;
    });
  }

  /**
   * etcd's guard on Defragment, Hash, HashKV and Snapshot: root only when
   * auth is on, refused with the auth store's own errors ("auth: permission
   * denied", "auth: user name is empty", ...) and code Unknown, as etcd's
   * maintenance server returns them without translating them.
   */
  requireAdminForMaintenance(call: CallerContext): void {
    try {
      this.requireAdmin(call);
    } catch (err) {
      if (!(err instanceof EtcdError)) throw err;
      throw new EtcdError(status.UNKNOWN, err.message.replace(/^etcdserver: /, 'auth: '));
    }
  }

  /** The checks that run before any handler (also used by streaming calls). */
  check(metadata: Metadata, learner: LearnerPolicy, request: unknown): void {
    const m = this.#o.member;
    if (m.stopped) throw Errors.stopped();
    if (m.isLearner) {
      const allowed = learner === 'allowed' || (typeof learner === 'function' && learner(request));
      if (!allowed) throw Errors.notSupportedForLearner();
    }
    const requireLeader = metadata.get('hasleader')[0];
    if (requireLeader === 'true' && m.leader === 0n) throw Errors.noLeader();
  }

  /** Counts a streaming call. */
  streamStarted(service: string, method: string): (code: number) => void {
    const labels = { grpc_type: 'bidi_stream', grpc_service: service, grpc_method: method };
    this.#started.inc(labels);
    return (code) => this.#handled.inc({ ...labels, grpc_code: codeName(code) });
  }
}

/**
 * Why `user` may not make an admin call, as etcd's IsAdminPermitted answers:
 * no user name, an unknown user, or a user without the root role.
 */
export function adminError(user: string, auth: AuthStore): Error | undefined {
  if (user === '') return Errors.userEmpty();
  const u = auth.user(user);
  if (u === undefined) return Errors.userNotFound();
  if (!auth.isAdmin(user)) return Errors.permissionDenied();
  return undefined;
}

const CODE_NAMES = Object.fromEntries(
  Object.entries(status)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, toCamel(k)]),
) as Record<number, string>;

function toCamel(name: string): string {
  // grpc-go's code names: OK, Canceled, Unknown, InvalidArgument, ...
  if (name === 'OK') return 'OK';
  if (name === 'CANCELLED') return 'Canceled';
  return name
    .toLowerCase()
    .split('_')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}

function codeName(code: number): string {
  return CODE_NAMES[code] ?? String(code);
}

/** Maps any error to the gRPC error a client sees. */
export function toServiceError(err: unknown): ServiceError {
  if (err instanceof EtcdError) {
    return Object.assign(new Error(err.message), {
      code: err.grpcCode,
      details: err.message,
      metadata: new Metadata(),
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return Object.assign(new Error(message), {
    code: status.UNKNOWN,
    details: message,
    metadata: new Metadata(),
  });
}
