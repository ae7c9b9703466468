/** Registers every etcd gRPC service of a member on a grpc-js server. */
import type { MethodDefinition, Server, handleUnaryCall } from '@grpc/grpc-js';
import {
  AuthService,
  ClusterService,
  ElectionService,
  FastKVService,
  FastWatchService,
  LeaseService,
  LockService,
  MaintenanceService,
} from '@kv/api';
import type { EtcdServer } from '../etcd-server';
import type { Logger } from '../logger';
import type { MetricsRegistry } from '../metrics';
import type { Clock } from '../clock';
import { authService } from './auth-service';
import { clusterService } from './cluster-service';
import { electionService } from './election-service';
import { Interceptors } from './interceptors';
import { kvService } from './kv-service';
import { leaseService } from './lease-service';
import { lockService } from './lock-service';
import { maintenanceService } from './maintenance-service';
import { watchService } from './watch-service';

export interface RegisterOptions {
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  readonly clock: Clock;
  readonly slowRequestMs?: number;
  readonly progressNotifyMs?: number;
}

/**
 * A unary method as the client port's lean HTTP/2 path calls it: the same
 * handler grpc-js runs (every interceptor and check included) with the
 * method's own codecs.
 */
export interface UnaryRoute {
  readonly path: string;
  readonly deserialize: (bytes: Buffer) => unknown;
  readonly serialize: (response: unknown) => Buffer;
  readonly handler: handleUnaryCall<unknown, unknown>;
}

function unaryRoute<Req, Res>(
  def: MethodDefinition<Req, Res>,
  handler: handleUnaryCall<Req, Res>,
): UnaryRoute {
  return {
    path: def.path,
    deserialize: def.requestDeserialize,
    serialize: (response) => def.responseSerialize(response as Res),
    // The route deserialises with this method's own decoder, so the handler
    // always receives its own request type.
    handler: handler as unknown as handleUnaryCall<unknown, unknown>,
  };
}

export interface RegisteredServices {
  /** The hottest unary methods (KV Range, Put, DeleteRange, Txn). */
  readonly hotUnary: readonly UnaryRoute[];
}

/** Where services go: a grpc-js Server, or anything with its addService. */
export type ServiceRegistrar = Pick<Server, 'addService'>;

export function registerEtcdServices(
  grpcServer: ServiceRegistrar,
  server: EtcdServer,
  options: RegisterOptions,
): RegisteredServices {
  const ic = new Interceptors({
    member: server,
    logger: options.logger,
    metrics: options.metrics,
    ...(options.slowRequestMs !== undefined ? { slowRequestMs: options.slowRequestMs } : {}),
  });
  // The Fast* definitions differ only in their hand-written encoders for
  // Range and Watch responses (byte-identical output, one allocation each).
  const kv = kvService(server, ic);
  grpcServer.addService(FastKVService, kv);
  grpcServer.addService(AuthService, authService(server, ic));
  grpcServer.addService(LeaseService, leaseService(server, ic));
  grpcServer.addService(ClusterService, clusterService(server, ic));
  grpcServer.addService(MaintenanceService, maintenanceService(server, ic));
  grpcServer.addService(LockService, lockService(server, ic));
  grpcServer.addService(ElectionService, electionService(server, ic));
  grpcServer.addService(
    FastWatchService,
    watchService(server, ic, {
      clock: options.clock,
      ...(options.progressNotifyMs !== undefined
        ? { progressNotifyMs: options.progressNotifyMs }
        : {}),
    }),
  );
  return {
    hotUnary: [
      unaryRoute(FastKVService.range, kv.range),
      unaryRoute(FastKVService.put, kv.put),
      unaryRoute(FastKVService.deleteRange, kv.deleteRange),
      unaryRoute(FastKVService.txn, kv.txn),
    ],
  };
}
