import { ElectionService, LockService } from '@kv/api';
import type { etcdserverpb, v3electionpb } from '@kv/api';
import type { Bytes } from './bytes';
import { toBuffer } from './bytes';
import { fromGrpcError } from './errors';
import type { KeepAlive, Lease } from './lease';
import type { CallOptions, Transport } from './transport';

/** Options of lock and election sessions. */
export interface SessionOptions {
  /** TTL in seconds of the session lease (default 60, like etcdctl). */
  ttl?: number;
  /** Use this existing lease instead of granting one; it is not revoked on release. */
  lease?: bigint;
}

/** A lease kept alive for a lock or a candidacy; revoked on close. */
class Session {
  readonly id: bigint;
  readonly keepAlive: KeepAlive;
  private readonly lease: Lease;
  private readonly owned: boolean;
  private constructor(lease: Lease, id: bigint, keepAlive: KeepAlive, owned: boolean) {
    this.lease = lease;
    this.id = id;
    this.keepAlive = keepAlive;
    this.owned = owned;
  }
  static async open(lease: Lease, opts: SessionOptions, call: CallOptions): Promise<Session> {
    if (opts.lease !== undefined)
      return new Session(lease, opts.lease, lease.keepAlive(opts.lease), false);
    const ttl = BigInt(opts.ttl ?? 60);
    const res = await lease.grant(ttl, call);
    return new Session(lease, res.ID, lease.keepAlive(res.ID, { ttlHintSeconds: res.TTL }), true);
  }
  async close(call: CallOptions): Promise<void> {
    this.keepAlive.close();
    if (this.owned) await this.lease.revoke(this.id, call).catch(() => undefined);
  }
}

/** A held lock; `unlock()` releases it and revokes its lease. */
export interface LockHandle {
  /** The lock's ownership key (name/leaseID). */
  readonly key: Buffer;
  /** The session lease. */
  readonly lease: bigint;
  /** Header of the Lock response (its revision orders lock holders). */
  readonly header: etcdserverpb.ResponseHeader | undefined;
  /** Resolves if the session lease is lost while the lock is held. */
  readonly lost: Promise<Error>;
  /** Releases the lock. */
  unlock(opts?: CallOptions): Promise<void>;
}

/**
 * Acquires a distributed lock through etcd's v3lock service (server-side
 * recipe: a key under the name with the session lease, waiting for every
 * older key to go). Blocks until acquired, the deadline or the abort signal.
 */
export async function acquireLock(
  transport: Transport,
  lease: Lease,
  name: Bytes,
  opts: SessionOptions & CallOptions,
): Promise<LockHandle> {
  const session = await Session.open(lease, opts, opts);
  try {
    const res = await transport.unary(
      LockService.lock,
      { name: toBuffer(name), lease: session.id },
      opts,
      'write',
    );
    return {
      key: res.key,
      lease: session.id,
      header: res.header,
      lost: session.keepAlive.lost,
      unlock: async (call: CallOptions = {}) => {
        await transport.unary(LockService.unlock, { key: res.key }, call, 'write');
        await session.close(call);
      },
    };
  } catch (e) {
    await session.close({});
    throw e;
  }
}

/**
 * Leader election through etcd's v3election service: campaign blocks until
 * this candidate leads; proclaim updates the leader value; resign steps down;
 * leader and observe read the current leader.
 */
export class Election {
  private readonly transport: Transport;
  private readonly leaseApi: Lease;
  /** The election name. */
  readonly name: Buffer;
  private readonly opts: SessionOptions;
  private session: Session | undefined;
  private leaderKey: v3electionpb.LeaderKey | undefined;

  /** @internal */
  constructor(transport: Transport, lease: Lease, name: Bytes, opts: SessionOptions = {}) {
    this.transport = transport;
    this.leaseApi = lease;
    this.name = toBuffer(name);
    this.opts = opts;
  }

  /** This candidate's leader key once elected. */
  get key(): v3electionpb.LeaderKey | undefined {
    return this.leaderKey;
  }

  /** Campaigns with `value` and resolves once elected. */
  async campaign(value: Bytes, opts: CallOptions = {}): Promise<v3electionpb.LeaderKey> {
    this.session ??= await Session.open(this.leaseApi, this.opts, opts);
    const res = await this.transport.unary(
      ElectionService.campaign,
      { name: this.name, lease: this.session.id, value: toBuffer(value) },
      opts,
      'write',
    );
    if (!res.leader) throw new TypeError('campaign response without leader key');
    this.leaderKey = res.leader;
    return res.leader;
  }

  /** Publishes a new value as the current leader. */
  async proclaim(value: Bytes, opts: CallOptions = {}): Promise<void> {
    if (!this.leaderKey) throw new TypeError('not elected: campaign first');
    await this.transport.unary(
      ElectionService.proclaim,
      { leader: this.leaderKey, value: toBuffer(value) },
      opts,
      'write',
    );
  }

  /** Steps down and revokes the session lease. */
  async resign(opts: CallOptions = {}): Promise<void> {
    if (this.leaderKey)
      await this.transport.unary(ElectionService.resign, { leader: this.leaderKey }, opts, 'write');
    this.leaderKey = undefined;
    await this.session?.close(opts);
    this.session = undefined;
  }

  /** The current leader's key-value (ElectionNoLeader error when there is none). */
  async leader(opts: CallOptions = {}): Promise<v3electionpb.LeaderResponse> {
    return this.transport.unary(ElectionService.leader, { name: this.name }, opts, 'read');
  }

  /** Streams the leader's key-value each time it changes. */
  async *observe(opts: CallOptions = {}): AsyncGenerator<v3electionpb.LeaderResponse> {
    const { stream } = await this.transport.serverStream(
      ElectionService.observe,
      { name: this.name },
      opts,
    );
    try {
      for await (const res of stream as AsyncIterable<v3electionpb.LeaderResponse>) yield res;
    } catch (e) {
      throw fromGrpcError(e);
    } finally {
      stream.cancel();
    }
  }
}
