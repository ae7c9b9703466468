import type { GatewayService } from '@kv/api';

/** A service the gateway forwards to (`'KV'`, `'Watch'`, `'Lease'`, ...). */
export type ServiceName = GatewayService;

/** Per-call metadata the gateway hands to its backend. */
export interface CallMeta {
  /** The HTTP `Authorization` header, verbatim: an etcd auth token. */
  readonly authorization?: string;
  /**
   * The HTTP `Accept` header, verbatim. grpc-gateway forwards it as
   * `grpcgateway-accept` metadata, from which etcd knows a call came through
   * its gateway (and then ignores the TLS client certificate's CN).
   */
  readonly accept?: string;
  /** Aborted when the HTTP client goes away; the backend should cancel the call. */
  readonly signal: AbortSignal;
}

/**
 * What the gateway forwards to: one method per streaming shape. Requests and
 * responses are the generated @kv/api message objects (`RangeRequest`,
 * `RangeResponse`, ...) of the RPC named by `service`/`method` (etcd's RPC
 * names, e.g. `'KV'`/`'Range'`). Failures are thrown (or raised by the
 * iterators) as errors with a numeric gRPC `code` and a `details` or
 * `message` string, as grpc-js `ServiceError` and `GatewayError` have.
 */
export interface GatewayBackend {
  /** A unary RPC. */
  unary(service: ServiceName, method: string, request: unknown, meta: CallMeta): Promise<unknown>;
  /** A server-streaming RPC (Maintenance/Snapshot, Election/Observe). */
  serverStream(
    service: ServiceName,
    method: string,
    request: unknown,
    meta: CallMeta,
  ): AsyncIterable<unknown>;
  /**
   * A bidirectional RPC (Watch/Watch, Lease/LeaseKeepAlive). `requests` ends
   * when the HTTP body ends: the backend should then half-close its call.
   */
  bidiStream(
    service: ServiceName,
    method: string,
    requests: AsyncIterable<unknown>,
    meta: CallMeta,
  ): AsyncIterable<unknown>;
}
