/**
 * @kv/grpc-gateway — etcd's HTTP/JSON gateway (`POST /v3/kv/range`,
 * `/v3/watch`, ...) as a reusable Node HTTP handler over a
 * {@link GatewayBackend}: gRPC clients ({@link grpcClientBackend}) or
 * in-process service implementations.
 *
 * @packageDocumentation
 */

export {
  /** Creates the gateway's HTTP request handler over a backend. */
  createGatewayHandler,
  /** The handler returned by {@link createGatewayHandler}. */
  type GatewayHandler,
  /** Options of {@link createGatewayHandler}. */
  type GatewayOptions,
} from './handler';

export {
  /** What the gateway forwards to: unary, server-streaming and bidirectional calls. */
  type GatewayBackend,
  /** Per-call metadata: the Authorization header and a cancellation signal. */
  type CallMeta,
  /** A service name of the gateway route table (`'KV'`, `'Watch'`, ...). */
  type ServiceName,
} from './backend';

export {
  /** A backend forwarding to a gRPC server (any etcd, or our own listener). */
  grpcClientBackend,
  /** The backend returned by {@link grpcClientBackend}, with `close()`. */
  type GrpcClientBackend,
  /** Options of {@link grpcClientBackend}. */
  type GrpcClientBackendOptions,
} from './grpc-client-backend';

export {
  /** gRPC status codes by name, for backends that throw {@link GatewayError}. */
  GrpcCode,
  /** An error with a gRPC status code, for backends to throw. */
  GatewayError,
  /** The HTTP status grpc-gateway (v1 or v2) uses for a gRPC code. */
  httpStatusFromGrpcCode,
  /** Which grpc-gateway generation's status table to use. */
  type StatusMapping,
} from './status';
