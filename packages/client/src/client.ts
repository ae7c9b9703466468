import type { ChannelCredentials } from '@grpc/grpc-js';
import type { Bytes } from './bytes';
import type { LockHandle, SessionOptions } from './concurrency';
import { Election, acquireLock } from './concurrency';
import { KV } from './kv';
import { Lease } from './lease';
import { Auth, Cluster, Maintenance } from './services';
import type { CallOptions, RetryOptions } from './transport';
import { Transport } from './transport';
import type { WatchOptions } from './watch';
import { Watcher } from './watch';

/** Options of {@link Client}. */
export interface ClientOptions {
  /** Member URLs (`http://127.0.0.1:2379`) or `host:port`. */
  endpoints: string[];
  /** grpc-js channel credentials (default: insecure). */
  credentials?: ChannelCredentials;
  /** User and password; the client fetches a token and refreshes it when rejected. */
  auth?: { username: string; password: string };
  /** Longest wait for a member that is not connected yet, per attempt. */
  dialTimeoutMs?: number;
  /** Send `hasleader: true` on every call (watches always do). */
  requireLeader?: boolean;
  /** Retry tuning. */
  retry?: RetryOptions;
  /** HTTP/2 keep-alive ping interval (default 30 s; etcd rejects < 5 s). */
  keepAliveTimeMs?: number;
  /** Time to wait for a ping ack before the connection is declared dead (default 10 s). */
  keepAliveTimeoutMs?: number;
  /** Extra grpc-js channel options. */
  channelOptions?: Record<string, string | number>;
}

/** An etcd v3 client over a set of endpoints. */
export class Client {
  /** Key-value calls. */
  readonly kv: KV;
  /** Leases. */
  readonly lease: Lease;
  /** Membership. */
  readonly cluster: Cluster;
  /** Per-member maintenance. */
  readonly maintenance: Maintenance;
  /** Users, roles and auth switches. */
  readonly auth: Auth;
  private readonly transport: Transport;

  constructor(opts: ClientOptions) {
    this.transport = new Transport(opts);
    this.kv = new KV(this.transport);
    this.lease = new Lease(this.transport);
    this.cluster = new Cluster(this.transport);
    this.maintenance = new Maintenance(this.transport);
    this.auth = new Auth(this.transport);
  }

  /** The endpoints' addresses (`host:port`), in the order given. */
  get endpoints(): string[] {
    return this.transport.endpoints.map((e) => e.address);
  }

  /** Endpoints currently in rotation (healthy). */
  healthyEndpoints(): string[] {
    return this.transport.endpoints.filter((e) => e.healthy).map((e) => e.address);
  }

  /** Watches a key or range; iterate the result with `for await`. */
  watch(key: Bytes, opts: WatchOptions = {}): Watcher {
    return new Watcher(this.transport, key, opts);
  }

  /** Acquires a lock named `name` (v3lock service), waiting as long as needed. */
  lock(name: Bytes, opts: SessionOptions & CallOptions = {}): Promise<LockHandle> {
    return acquireLock(this.transport, this.lease, name, opts);
  }

  /** An election named `name` (v3election service). */
  election(name: Bytes, opts: SessionOptions = {}): Election {
    return new Election(this.transport, this.lease, name, opts);
  }

  /** Closes every connection; pending calls fail with AbortedError, watches end. */
  close(): void {
    this.transport.close();
  }
}
