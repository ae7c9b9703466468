/**
 * Concurrent clients: each sends one operation at a time, to the members in
 * turn, and records it in the history. Any error counts as an unknown
 * outcome: the request may still have been applied.
 */
import { performance } from 'node:perf_hooks';
import { etcdserverpb } from '@kv/api';
import type { OpInput, OpOutput, Operation } from './history';
import type { Random } from './random';
import { call, connect } from './rpc';
import type { Conn } from './rpc';

export const KEY_PREFIX = 'rb/';

/** A serializable read, for the never-back-in-time check. */
export interface SerializableRead {
  /** Member and incarnation (its id) that answered. */
  readonly member: string;
  readonly call: number;
  readonly ret: number;
  readonly revision: number;
}

export interface WorkloadOptions {
  readonly endpoints: readonly string[];
  readonly clients: number;
  readonly keys: number;
  readonly timeoutMs: number;
  readonly random: Random;
  /** Names a member's current incarnation. */
  readonly tag: (member: number) => string;
}

export class Workload {
  readonly history: Operation[] = [];
  readonly serializableReads: SerializableRead[] = [];
  /** Error messages by count, for the run summary. */
  readonly errors = new Map<string, number>();
  #nextId = 0;
  #running = false;
  readonly #conns: Conn[][];
  readonly #loops: Promise<void>[] = [];
  /** Resolvers waiting for the next acknowledged write. */
  #ackWaiters: ((acked: boolean) => void)[] = [];

  constructor(readonly options: WorkloadOptions) {
    this.#conns = Array.from({ length: options.clients }, () =>
      options.endpoints.map((e) => connect(e)),
    );
  }

  start(): void {
    this.#running = true;
    for (let c = 0; c < this.options.clients; c++) this.#loops.push(this.#client(c));
  }

  /**
   * Resolves true as soon as the next write (put, delete, CAS, revoke) is
   * acknowledged, or false after `timeoutMs`: lets a crash land while that
   * write may still be on its way to the disk.
   */
  nextAcknowledgedWrite(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#ackWaiters = this.#ackWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = (acked: boolean): void => {
        clearTimeout(timer);
        resolve(acked);
      };
      this.#ackWaiters.push(waiter);
    });
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    for (const cs of this.#conns) for (const c of cs) c.close();
  }

  async #client(client: number): Promise<void> {
    const rnd = this.options.random.fork(client + 1);
    const members = this.options.endpoints.length;
    let member = client % members;
    let seq = 0;
    /** Leases this client attached to a key and has not revoked yet. */
    const leases: { key: string; lease: string }[] = [];
    while (this.#running) {
      member = (member + 1) % members;
      const conn = this.#conns[client]![member]!;
      const key = `${KEY_PREFIX}k${rnd.int(0, this.options.keys - 1)}`;
      const value = `c${client}-${seq++}`;
      const dice = rnd.next();
      if (dice < 0.1) {
        await this.#serializableRead(conn, member, key);
        continue;
      }
      let input: OpInput;
      if (dice < 0.4) input = { kind: 'put', key, value };
      else if (dice < 0.7) input = { kind: 'get', key };
      else if (dice < 0.75) input = { kind: 'delete', key };
      else if (dice < 0.9) {
        const seen = this.#lastSeen(key);
        if (seen === undefined) input = { kind: 'put', key, value };
        else input = { kind: 'cas', key, expected: seen, value };
      } else if (dice < 0.95 || leases.length === 0) {
        const lease = await this.#grant(conn);
        if (lease === undefined) continue;
        input = { kind: 'put', key, value, lease };
        leases.push({ key, lease });
      } else {
        const l = leases.splice(rnd.int(0, leases.length - 1), 1)[0]!;
        input = { kind: 'revoke', key: l.key, lease: l.lease };
      }
      await this.#run(conn, client, member, input);
    }
  }

  /** The latest value this history saw on a key: a plausible CAS guess. */
  #lastSeen(key: string): string | undefined {
    for (let i = this.history.length - 1; i >= 0 && i > this.history.length - 50; i--) {
      const op = this.history[i]!;
      if (op.input.key !== key || op.output === undefined) continue;
      if (op.input.kind === 'put') return op.input.value;
      if (op.output.kind === 'get' && op.output.value !== null) return op.output.value;
    }
    return undefined;
  }

  async #grant(conn: Conn): Promise<string | undefined> {
    try {
      // Long TTL: expiry would be an effect the per-key model cannot time.
      const r = await call(
        conn.lease.leaseGrant.bind(conn.lease),
        etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: 3600n }),
        this.options.timeoutMs,
      );
      return r.ID.toString();
    } catch {
      return undefined;
    }
  }

  async #serializableRead(conn: Conn, member: number, key: string): Promise<void> {
    const t0 = performance.now();
    try {
      const r = await call(
        conn.kv.range.bind(conn.kv),
        etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from(key), serializable: true }),
        this.options.timeoutMs,
      );
      this.serializableReads.push({
        member: this.options.tag(member),
        call: t0,
        ret: performance.now(),
        revision: Number(r.header?.revision ?? 0n),
      });
    } catch {
      // Unavailable members say nothing about time travel.
    }
  }

  async #run(conn: Conn, client: number, member: number, input: OpInput): Promise<void> {
    const id = this.#nextId++;
    const t0 = performance.now();
    let output: OpOutput | undefined;
    let revision: number | undefined;
    try {
      const r = await this.#send(conn, input);
      output = r.output;
      revision = r.revision;
    } catch (err) {
      output = undefined;
      const msg = (err as Error).message.slice(0, 80);
      this.errors.set(msg, (this.errors.get(msg) ?? 0) + 1);
      // grpc-js never sent the request (no connection to the member): a
      // definite failure, left out of the history rather than left unknown.
      if (msg.includes('No connection established')) {
        // Pacing, not synchronisation: stops a client spinning on a down member.
        await new Promise((r) => setTimeout(r, 50));
        return;
      }
    }
    const ret = output === undefined ? Infinity : performance.now();
    this.history.push({
      id,
      client,
      member,
      input,
      call: t0,
      ret,
      output,
      ...(revision !== undefined ? { revision } : {}),
    });
    if (output !== undefined && output.kind !== 'get' && this.#ackWaiters.length > 0) {
      const waiters = this.#ackWaiters;
      this.#ackWaiters = [];
      for (const w of waiters) w(true);
    }
  }

  async #send(conn: Conn, input: OpInput): Promise<{ output: OpOutput; revision: number }> {
    const t = this.options.timeoutMs;
    const key = Buffer.from(input.key);
    switch (input.kind) {
      case 'put': {
        const r = await call(
          conn.kv.put.bind(conn.kv),
          etcdserverpb.PutRequest.fromPartial({
            key,
            value: Buffer.from(input.value),
            ...(input.lease !== undefined ? { lease: BigInt(input.lease) } : {}),
          }),
          t,
        );
        return { output: { kind: 'put' }, revision: Number(r.header?.revision ?? 0n) };
      }
      case 'get': {
        const r = await call(
          conn.kv.range.bind(conn.kv),
          etcdserverpb.RangeRequest.fromPartial({ key }),
          t,
        );
        const kv = r.kvs[0];
        return {
          output: { kind: 'get', value: kv === undefined ? null : kv.value.toString() },
          revision: Number(r.header?.revision ?? 0n),
        };
      }
      case 'delete': {
        const r = await call(
          conn.kv.deleteRange.bind(conn.kv),
          etcdserverpb.DeleteRangeRequest.fromPartial({ key }),
          t,
        );
        return {
          output: { kind: 'delete', deleted: Number(r.deleted) },
          revision: Number(r.header?.revision ?? 0n),
        };
      }
      case 'cas': {
        const r = await call(
          conn.kv.txn.bind(conn.kv),
          etcdserverpb.TxnRequest.fromPartial({
            compare: [
              {
                key,
                result: etcdserverpb.Compare_CompareResult.EQUAL,
                target: etcdserverpb.Compare_CompareTarget.VALUE,
                targetUnion: { $case: 'value', value: Buffer.from(input.expected) },
              },
            ],
            success: [
              {
                request: {
                  $case: 'requestPut',
                  value: etcdserverpb.PutRequest.fromPartial({
                    key,
                    value: Buffer.from(input.value),
                  }),
                },
              },
            ],
            failure: [
              {
                request: {
                  $case: 'requestRange',
                  value: etcdserverpb.RangeRequest.fromPartial({ key }),
                },
              },
            ],
          }),
          t,
        );
        let value: string | null = null;
        const first = r.responses[0]?.response;
        if (!r.succeeded && first?.$case === 'responseRange') {
          const kv = first.value.kvs[0];
          value = kv === undefined ? null : kv.value.toString();
        }
        return {
          output: { kind: 'cas', succeeded: r.succeeded, value },
          revision: Number(r.header?.revision ?? 0n),
        };
      }
      case 'revoke': {
        const r = await call(
          conn.lease.leaseRevoke.bind(conn.lease),
          etcdserverpb.LeaseRevokeRequest.fromPartial({ ID: BigInt(input.lease) }),
          t,
        );
        return { output: { kind: 'revoke' }, revision: Number(r.header?.revision ?? 0n) };
      }
    }
  }
}
