/**
 * Leases. Grant and revoke go through Raft (every member applies them);
 * expiry is decided by the leader alone, which proposes a revoke when a lease
 * runs out. Followers keep no deadlines: a member that becomes leader starts
 * every lease's clock afresh (remaining TTL refreshed to the full TTL), so no
 * lease expires because of an election.
 *
 * Persistence: bucket 'lease', key = lease ID as 8 big-endian bytes, value =
 * [TTL seconds: i64 BE]. The keys attached to a lease are not stored here;
 * MVCC knows them (it records the lease in each KeyValue) and hands them back
 * on restart.
 */
import type { Backend } from '@kv/mvcc';
import type { Clock } from '../clock';
import { Errors } from '../errors';

/** etcd's upper bound on a lease TTL, in seconds. */
export const MAX_LEASE_TTL = 9_000_000_000;

export interface Lease {
  readonly id: bigint;
  readonly ttl: number;
  /** Keys attached, by their latin1 image (a stable Map key for bytes). */
  readonly keys: Map<string, Uint8Array>;
  /** Clock time (ms) when the lease expires; Infinity on followers. */
  expiry: number;
}

function idKey(id: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(id);
  return b;
}

export class Lessor {
  readonly #leases = new Map<bigint, Lease>();
  /** The lease of each attached key (latin1 image of the key → lease ID), so puts need no read. */
  readonly #keyLease = new Map<string, bigint>();
  #primary = false;

  constructor(
    private readonly clock: Clock,
    /** Smallest TTL granted (etcd: ceil(1.5 × election timeout)). */
    readonly minTtl: number,
  ) {}

  /** Rebuilds the in-memory table from the backend and MVCC's key attachments. */
  async restore(backend: Backend, keysOf: (id: bigint) => Uint8Array[]): Promise<void> {
    this.#leases.clear();
    this.#keyLease.clear();
    const all = await backend.range('lease', new Uint8Array(0), undefined);
    for (const { key, value } of all) {
      const id = Buffer.from(key).readBigInt64BE(0);
      const ttl = Number(Buffer.from(value).readBigInt64BE(0));
      const lease: Lease = { id, ttl, keys: new Map(), expiry: Infinity };
      for (const k of keysOf(id)) {
        const name = Buffer.from(k).toString('latin1');
        lease.keys.set(name, k);
        this.#keyLease.set(name, id);
      }
      this.#leases.set(id, lease);
    }
    if (this.#primary) this.promote(0);
  }

  get isPrimary(): boolean {
    return this.#primary;
  }

  exists(id: bigint): boolean {
    return this.#leases.has(id);
  }

  get(id: bigint): Lease | undefined {
    return this.#leases.get(id);
  }

  list(): Lease[] {
    return [...this.#leases.values()];
  }

  /** Applies a grant (all members). */
  grant(backend: Backend, id: bigint, requestedTtl: number): Lease {
    if (id === 0n) throw Errors.leaseNotFound();
    if (requestedTtl > MAX_LEASE_TTL) throw Errors.leaseTTLTooLarge();
    if (this.#leases.has(id)) throw Errors.leaseExist();
    const ttl = Math.max(requestedTtl, this.minTtl);
    const lease: Lease = {
      id,
      ttl,
      keys: new Map(),
      expiry: this.#primary ? this.clock.now() + ttl * 1000 : Infinity,
    };
    this.#leases.set(id, lease);
    const v = Buffer.alloc(8);
    v.writeBigInt64BE(BigInt(ttl));
    backend.put('lease', idKey(id), v);
    return lease;
  }

  /** Removes a lease (all members); the caller deletes its keys in the same apply. */
  revoke(backend: Backend, id: bigint): Lease {
    const lease = this.#leases.get(id);
    if (lease === undefined) throw Errors.leaseNotFound();
    this.#leases.delete(id);
    for (const name of lease.keys.keys()) this.#keyLease.delete(name);
    backend.delete('lease', idKey(id));
    return lease;
  }

  attach(id: bigint, key: Uint8Array): void {
    const name = Buffer.from(key).toString('latin1');
    const lease = this.#leases.get(id);
    if (lease === undefined) return;
    lease.keys.set(name, key);
    this.#keyLease.set(name, id);
  }

  detach(id: bigint, key: Uint8Array): void {
    const name = Buffer.from(key).toString('latin1');
    this.#leases.get(id)?.keys.delete(name);
    if (this.#keyLease.get(name) === id) this.#keyLease.delete(name);
  }

  /** The lease a key is attached to, or 0n. */
  leaseOf(key: Uint8Array): bigint {
    if (this.#keyLease.size === 0) return 0n;
    return this.#keyLease.get(Buffer.from(key).toString('latin1')) ?? 0n;
  }

  /** True if any key is attached to any lease. */
  get hasAttachedKeys(): boolean {
    return this.#keyLease.size > 0;
  }

  /** Renews a lease on the leader; returns its TTL. */
  renew(id: bigint): number {
    const lease = this.#leases.get(id);
    if (lease === undefined) throw Errors.leaseNotFound();
    lease.expiry = this.clock.now() + lease.ttl * 1000;
    return lease.ttl;
  }

  /** Seconds left, as etcd reports them (rounded up), or the TTL on followers. */
  remaining(lease: Lease): number {
    if (lease.expiry === Infinity) return lease.ttl;
    return Math.max(0, Math.ceil((lease.expiry - this.clock.now()) / 1000));
  }

  /** This member became leader: every lease gets a full TTL, plus `extendMs`. */
  promote(extendMs: number): void {
    this.#primary = true;
    const now = this.clock.now();
    for (const lease of this.#leases.values()) lease.expiry = now + extendMs + lease.ttl * 1000;
  }

  demote(): void {
    this.#primary = false;
    for (const lease of this.#leases.values()) lease.expiry = Infinity;
  }

  /** Leases whose time is up (leader only), at most `limit`. */
  expired(limit: number): bigint[] {
    if (!this.#primary) return [];
    const now = this.clock.now();
    const out: bigint[] = [];
    for (const lease of this.#leases.values()) {
      if (lease.expiry <= now) {
        out.push(lease.id);
        if (out.length >= limit) break;
      }
    }
    return out;
  }
}
