/**
 * An in-process network for tests: members' transports deliver to each other
 * asynchronously (next turn of the event loop), with links that can be cut
 * to simulate partitions. Snapshots are streamed in chunks like the real
 * transport.
 */
import type { Message } from '@kv/raft';
import { MessageType } from '@kv/raft';
import type { SnapshotSource, Transport, TransportHandler } from '../transport/peer-transport';

interface Endpoint {
  readonly handler: TransportHandler;
  readonly snapshotSource: SnapshotSource;
}

export class LocalNetwork {
  readonly #endpoints = new Map<bigint, Endpoint>();
  readonly #cut = new Set<string>();
  /** When each member's transport was created (performance.now() ms). */
  readonly #attachedAt = new Map<bigint, number>();
  /** When each directed link was last healed. */
  readonly #healedAt = new Map<string, number>();

  /** A transport factory for EtcdServerOptions.createTransport. */
  transportFor(
    id: bigint,
  ): (handler: TransportHandler, snapshotSource: SnapshotSource) => Transport {
    return (handler, snapshotSource) => {
      this.#endpoints.set(id, { handler, snapshotSource });
      this.#attachedAt.set(id, performance.now());
      return new LocalTransport(id, this);
    };
  }

  /** Drops every message between a and b (both directions) until heal(). */
  cut(a: bigint, b: bigint): void {
    this.#cut.add(`${a}-${b}`).add(`${b}-${a}`);
  }

  /** Cuts a member off from everyone. */
  isolate(id: bigint): void {
    for (const other of this.#endpoints.keys()) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    const now = performance.now();
    for (const link of this.#cut) this.#healedAt.set(link, now);
    this.#cut.clear();
  }

  detach(id: bigint): void {
    this.#endpoints.delete(id);
    this.#attachedAt.delete(id);
  }

  /** Since when the link from one member to another has been up, or 0 (see Transport.activeSince). */
  activeSince(from: bigint, to: bigint): number {
    const a = this.#attachedAt.get(from);
    const b = this.#attachedAt.get(to);
    if (a === undefined || b === undefined || this.#cut.has(`${from}-${to}`)) return 0;
    return Math.max(a, b, this.#healedAt.get(`${from}-${to}`) ?? 0);
  }

  /** @internal */
  async request(from: bigint, to: bigint, kind: string, payload: Uint8Array): Promise<Uint8Array> {
    if (this.#cut.has(`${from}-${to}`)) throw new Error('peer unreachable');
    const handler = this.#endpoints.get(to)?.handler.onRequest;
    if (handler === undefined) throw new Error('peer unreachable');
    return handler(kind, payload);
  }

  /** @internal */
  deliver(from: bigint, m: Message): void {
    if (this.#cut.has(`${from}-${m.to}`)) {
      this.#endpoints.get(from)?.handler.reportUnreachable(m.to);
      return;
    }
    const target = this.#endpoints.get(m.to);
    const source = this.#endpoints.get(from);
    if (target === undefined || source === undefined) return;
    if (m.type === MessageType.MsgSnap) {
      void (async () => {
        try {
          const snap = await source.snapshotSource(m);
          await target.handler.onSnapshot(snap.message, snap.chunks);
          source.handler.reportSnapshot(m.to, 'finish');
        } catch {
          source.handler.reportSnapshot(m.to, 'failure');
        }
      })();
      return;
    }
    setImmediate(() => {
      if (this.#cut.has(`${from}-${m.to}`)) return;
      this.#endpoints.get(m.to)?.handler.onMessage(m);
    });
  }
}

class LocalTransport implements Transport {
  #closed = false;
  constructor(
    private readonly id: bigint,
    private readonly network: LocalNetwork,
  ) {}
  send(messages: readonly Message[]): void {
    if (this.#closed) return;
    for (const m of messages) this.network.deliver(this.id, m);
  }
  addPeer(): void {}
  updatePeer(): void {}
  removePeer(): void {}
  isActive(): boolean {
    return !this.#closed;
  }
  activeSince(peer: bigint): number {
    return this.#closed ? 0 : this.network.activeSince(this.id, peer);
  }
  request(peer: bigint, kind: string, payload: Uint8Array): Promise<Uint8Array> {
    return this.network.request(this.id, peer, kind, payload);
  }
  async close(): Promise<void> {
    this.#closed = true;
    this.network.detach(this.id);
  }
}
