/**
 * @kv/api — etcd v3 wire definitions: message codecs and @grpc/grpc-js
 * service definitions generated from proto/ by ts-proto, plus the HTTP
 * gateway route table.
 *
 * Every int64/uint64 field is a `bigint` in TypeScript, everywhere. Every
 * `bytes` field is a Node `Buffer`. `oneof` groups are discriminated unions
 * `{ $case: 'fieldName'; value: T } | undefined`.
 *
 * @packageDocumentation
 */

/**
 * etcd's `etcdserverpb` package: every KV, Watch, Lease, Cluster, Maintenance
 * and Auth request/response message (each a type plus a codec object with
 * `encode`, `decode`, `fromPartial`, `create`, `fromJSON`, `toJSON`), the
 * enums as `as const` objects, and the grpc-js service definitions.
 */
export * as etcdserverpb from './gen/etcdserverpb/rpc';
/** etcd's `mvccpb` package: `KeyValue` and `Event`. */
export * as mvccpb from './gen/mvccpb/kv';
/** etcd's `authpb` package: `User`, `UserAddOptions`, `Permission`, `Role`. */
export * as authpb from './gen/authpb/auth';
/** etcd's `v3lockpb` package: the Lock service and its messages. */
export * as v3lockpb from './gen/v3lockpb/v3lock';
/** etcd's `v3electionpb` package: the Election service and its messages. */
export * as v3electionpb from './gen/v3electionpb/v3election';

/**
 * grpc-js service definitions (pass to `server.addService`), server handler
 * interfaces (implement them) and client constructors
 * (`new KVClient('127.0.0.1:2379', credentials.createInsecure())`) for
 * etcd's core services. Method keys are camel-cased RPC names
 * (`range`, `leaseGrant`, `hashKv`); the gRPC paths are etcd's
 * (`/etcdserverpb.KV/Range`).
 */
export {
  /** grpc-js definition of `etcdserverpb.KV`. */
  KVService,
  /** Server handlers for `etcdserverpb.KV`. */
  type KVServer,
  /** Client constructor and client type for `etcdserverpb.KV`. */
  KVClient,
  /** grpc-js definition of `etcdserverpb.Watch`. */
  WatchService,
  /** Server handlers for `etcdserverpb.Watch`. */
  type WatchServer,
  /** Client constructor and client type for `etcdserverpb.Watch`. */
  WatchClient,
  /** grpc-js definition of `etcdserverpb.Lease`. */
  LeaseService,
  /** Server handlers for `etcdserverpb.Lease`. */
  type LeaseServer,
  /** Client constructor and client type for `etcdserverpb.Lease`. */
  LeaseClient,
  /** grpc-js definition of `etcdserverpb.Cluster`. */
  ClusterService,
  /** Server handlers for `etcdserverpb.Cluster`. */
  type ClusterServer,
  /** Client constructor and client type for `etcdserverpb.Cluster`. */
  ClusterClient,
  /** grpc-js definition of `etcdserverpb.Maintenance`. */
  MaintenanceService,
  /** Server handlers for `etcdserverpb.Maintenance`. */
  type MaintenanceServer,
  /** Client constructor and client type for `etcdserverpb.Maintenance`. */
  MaintenanceClient,
  /** grpc-js definition of `etcdserverpb.Auth`. */
  AuthService,
  /** Server handlers for `etcdserverpb.Auth`. */
  type AuthServer,
  /** Client constructor and client type for `etcdserverpb.Auth`. */
  AuthClient,
} from './gen/etcdserverpb/rpc';

export {
  /** grpc-js definition of `v3lockpb.Lock`. */
  LockService,
  /** Server handlers for `v3lockpb.Lock`. */
  type LockServer,
  /** Client constructor and client type for `v3lockpb.Lock`. */
  LockClient,
} from './gen/v3lockpb/v3lock';

export {
  /** grpc-js definition of `v3electionpb.Election`. */
  ElectionService,
  /** Server handlers for `v3electionpb.Election`. */
  type ElectionServer,
  /** Client constructor and client type for `v3electionpb.Election`. */
  ElectionClient,
} from './gen/v3electionpb/v3election';

export {
  /** Every HTTP route of etcd 3.6's JSON gateway, with its target method. */
  gatewayRoutes,
  /** One gateway route. */
  type GatewayRoute,
  /** Services reachable through the gateway. */
  type GatewayService,
  /** Streaming shape of a gateway route. */
  type GatewayStreaming,
  /** Fully qualified gRPC service name per gateway service. */
  grpcServiceNames,
  /** gRPC path (`/etcdserverpb.KV/Range`) a route forwards to. */
  grpcPathOf,
  /** `/v3beta`, the extra prefix etcd 3.4 also served. */
  GATEWAY_V3BETA_PREFIX,
  /** Routes that etcd 3.4's gateway did not have. */
  gatewayRoutesAddedAfter34,
} from './gateway-routes';

export {
  /** Hand-written RangeRequest decoder: the same object as `etcdserverpb.RangeRequest.decode(bytes)`. */
  decodeRangeRequest,
  /** Hand-written PutRequest decoder: the same object as `etcdserverpb.PutRequest.decode(bytes)`. */
  decodePutRequest,
} from './request-codec';

export {
  /**
   * Hand-written RangeResponse encoder: the same bytes as
   * `etcdserverpb.RangeResponse.encode(msg).finish()`, 1.1-1.6x faster (see README).
   */
  encodeRangeResponse,
  /** Hand-written PutResponse encoder: the same bytes as `etcdserverpb.PutResponse.encode(msg).finish()`. */
  encodePutResponse,
  /** Hand-written TxnResponse encoder: the same bytes as `etcdserverpb.TxnResponse.encode(msg).finish()`. */
  encodeTxnResponse,
  /**
   * Hand-written RangeResponse decoder: the same object as
   * `etcdserverpb.RangeResponse.decode(bytes)`; `{ copy: false }` returns key and
   * value Buffers that are views into `bytes`.
   */
  decodeRangeResponse,
  /** Options of {@link decodeRangeResponse}. */
  type DecodeRangeResponseOptions,
  /** A KeyValue carried as its protobuf encoding, which `encodeRangeResponse` copies as is. */
  EncodedKeyValue,
  /** `KVService` whose Range response (de)serializers use the hand-written codec. */
  FastKVService,
  /** Client constructor for `FastKVService`, typed like `KVClient`. */
  FastKVClient,
} from './range-response-codec';

export {
  /**
   * Hand-written WatchResponse encoder: the same bytes as
   * `etcdserverpb.WatchResponse.encode(msg).finish()`, in one allocation.
   */
  encodeWatchResponse,
  /** One mvccpb.Event's protobuf bytes, to copy into many watch responses. */
  encodeEvent,
  /** One ResponseHeader's protobuf bytes, shared by the responses of a revision. */
  encodeResponseHeader,
  /** Several WatchResponses with pre-encoded parts as back-to-back gRPC messages in one Buffer. */
  encodeWatchResponseFrames,
  /** A WatchResponse whose header and events are already encoded. */
  type PreEncodedWatchResponse,
  /** `WatchService` whose server-side response serializer is `encodeWatchResponse`. */
  FastWatchService,
} from './watch-response-codec';

/**
 * JSON exactly as etcd's HTTP gateway writes it: `etcdJson.<pkg>.<Message>.toJSON(msg)`
 * uses the original .proto field names (`cluster_id`, `create_revision`,
 * `raftTerm`), int64 as decimal strings, bytes as base64, enums by name, and
 * omits default values. For input, the regular `<pkg>.<Message>.fromJSON`
 * accepts both original and camel-cased names, as etcd's gateway does.
 */
export * as etcdJson from './etcd-json';

/** The etcd API version these definitions match. */
export const ETCD_API_VERSION = '3.6';
