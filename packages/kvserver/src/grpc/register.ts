/** Registers every etcd gRPC service of a member on a grpc-js server. */
import type { Server } from '@grpc/grpc-js';
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

export function registerEtcdServices(
  grpcServer: Server,
  server: EtcdServer,
  options: RegisterOptions,
): void {
  const ic = new Interceptors({
    member: server,
    logger: options.logger,
    metrics: options.metrics,
    ...(options.slowRequestMs !== undefined ? { slowRequestMs: options.slowRequestMs } : {}),
  });
  // The Fast* definitions differ only in their hand-written encoders for
  // Range and Watch responses (byte-identical output, one allocation each).
  grpcServer.addService(FastKVService, kvService(server, ic));
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
}
