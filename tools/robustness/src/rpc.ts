/** Promise wrappers over the generated @kv/api gRPC clients, with deadlines. */
import { Metadata, credentials } from '@grpc/grpc-js';
import type { CallOptions, ChannelOptions, ServiceError } from '@grpc/grpc-js';
import { KVClient, LeaseClient, MaintenanceClient, WatchClient } from '@kv/api';

const CHANNEL_OPTIONS: ChannelOptions = {
  // Each client gets its own connection, so one stuck member does not block others.
  'grpc.use_local_subchannel_pool': 1,
  'grpc.enable_retries': 0,
  // Reconnect quickly after a member restarts.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 500,
};

/** The clients of one connection to one member. */
export interface Conn {
  readonly kv: KVClient;
  readonly lease: LeaseClient;
  readonly watch: WatchClient;
  readonly maintenance: MaintenanceClient;
  close(): void;
}

export function connect(endpoint: string): Conn {
  const kv = new KVClient(endpoint, credentials.createInsecure(), CHANNEL_OPTIONS);
  const channelOverride = kv.getChannel();
  const opts = { channelOverride };
  return {
    kv,
    lease: new LeaseClient(endpoint, credentials.createInsecure(), opts),
    watch: new WatchClient(endpoint, credentials.createInsecure(), opts),
    maintenance: new MaintenanceClient(endpoint, credentials.createInsecure(), opts),
    close: () => kv.close(),
  };
}

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** Calls a unary method with a deadline; rejects with the ServiceError. */
export function call<Req, Res>(method: Unary<Req, Res>, req: Req, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    method(req, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
      err !== null ? reject(err) : resolve(res),
    );
  });
}
