// A GatewayBackend that forwards over gRPC, so the gateway can front any etcd
// (or our own server's gRPC listener). All services share one channel.
import { Client, Metadata } from '@grpc/grpc-js';
import type { ChannelCredentials, ChannelOptions, ClientDuplexStream } from '@grpc/grpc-js';
import {
  AuthService,
  ClusterService,
  ElectionService,
  KVService,
  LeaseService,
  LockService,
  MaintenanceService,
  WatchService,
  grpcServiceNames,
} from '@kv/api';
import type { CallMeta, GatewayBackend, ServiceName } from './backend';

// The slice of a generated grpc-js method definition used here. Method
// syntax keeps the parameter bivariant, so every generated definition fits.
interface MethodDef {
  readonly path: string;
  requestSerialize(value: never): Buffer;
  responseDeserialize(value: Buffer): unknown;
}

const services: readonly Readonly<Record<string, MethodDef>>[] = [
  KVService,
  WatchService,
  LeaseService,
  ClusterService,
  MaintenanceService,
  AuthService,
  LockService,
  ElectionService,
];

// gRPC path → definition, e.g. '/etcdserverpb.KV/Range'.
const methodsByPath: ReadonlyMap<string, MethodDef> = new Map(
  services.flatMap((svc) => Object.values(svc).map((def) => [def.path, def] as const)),
);

/** A {@link GatewayBackend} holding a gRPC channel that `close()` releases. */
export interface GrpcClientBackend extends GatewayBackend {
  /** Closes the channel; calls in flight fail with CANCELLED or UNAVAILABLE. */
  close(): void;
}

/** Options of {@link grpcClientBackend}. */
export interface GrpcClientBackendOptions {
  /**
   * grpc-js channel options. By default messages of any size are received,
   * as etcd's own gateway allows.
   */
  readonly channelOptions?: ChannelOptions;
}

function methodOf(service: ServiceName, method: string): MethodDef {
  const path = `/${grpcServiceNames[service]}/${method}`;
  const def = methodsByPath.get(path);
  if (def === undefined) throw new Error(`@kv/grpc-gateway: unknown gRPC method ${path}`);
  return def;
}

// etcd reads the auth token from the `token` metadata key; grpc-gateway
// forwards the Accept header as `grpcgateway-accept`.
function metadataOf(meta: CallMeta): Metadata {
  const md = new Metadata();
  if (meta.authorization !== undefined) md.set('token', meta.authorization);
  if (meta.accept !== undefined) md.set('grpcgateway-accept', meta.accept);
  return md;
}

function serialize(def: MethodDef): (value: unknown) => Buffer {
  return (value) => def.requestSerialize(value as never);
}

function deserialize(def: MethodDef): (value: Buffer) => unknown {
  return (value) => def.responseDeserialize(value);
}

// Cancels `call` when the signal fires; returns the unsubscribe function.
function cancelOnAbort(signal: AbortSignal, call: { cancel(): void }): () => void {
  const onAbort = (): void => call.cancel();
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/**
 * A gateway backend that forwards every call to the etcd-compatible gRPC
 * server at `address` (`host:port`) through @grpc/grpc-js, sending the
 * HTTP Authorization header as etcd's `token` metadata.
 */
export function grpcClientBackend(
  address: string,
  credentials: ChannelCredentials,
  options: GrpcClientBackendOptions = {},
): GrpcClientBackend {
  const client = new Client(address, credentials, {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
    ...options.channelOptions,
  });

  return {
    unary(service, method, request, meta) {
      const def = methodOf(service, method);
      return new Promise((resolve, reject) => {
        const call = client.makeUnaryRequest(
          def.path,
          serialize(def),
          deserialize(def),
          request,
          metadataOf(meta),
          {},
          (err, response) => {
            unsubscribe();
            if (err) reject(err);
            else resolve(response);
          },
        );
        const unsubscribe = cancelOnAbort(meta.signal, call);
      });
    },

    async *serverStream(service, method, request, meta) {
      const def = methodOf(service, method);
      const call = client.makeServerStreamRequest(
        def.path,
        serialize(def),
        deserialize(def),
        request,
        metadataOf(meta),
        {},
      );
      const unsubscribe = cancelOnAbort(meta.signal, call);
      try {
        for await (const message of call as AsyncIterable<unknown>) yield message;
      } finally {
        unsubscribe();
        // Stopping early (the HTTP client left) must end the gRPC call too.
        call.cancel();
      }
    },

    async *bidiStream(service, method, requests, meta) {
      const def = methodOf(service, method);
      const call = client.makeBidiStreamRequest(
        def.path,
        serialize(def),
        deserialize(def),
        metadataOf(meta),
        {},
      );
      const unsubscribe = cancelOnAbort(meta.signal, call);
      let finished = false;
      call.once('status', () => (finished = true));
      void pumpRequests(requests, call, () => finished);
      try {
        for await (const message of call as AsyncIterable<unknown>) yield message;
      } finally {
        finished = true;
        unsubscribe();
        call.cancel();
      }
    },

    close() {
      client.close();
    },
  };
}

// Sends every request, then half-closes: the server sees the end of the
// HTTP body as the end of its request stream.
async function pumpRequests(
  requests: AsyncIterable<unknown>,
  call: ClientDuplexStream<unknown, unknown>,
  finished: () => boolean,
): Promise<void> {
  try {
    for await (const request of requests) {
      if (finished()) return;
      if (!call.write(request)) {
        await new Promise<void>((resolve) => {
          call.once('drain', resolve);
          call.once('status', resolve);
        });
      }
    }
  } catch {
    // A broken request stream half-closes the call like a finished one.
  }
  if (!finished()) call.end();
}
