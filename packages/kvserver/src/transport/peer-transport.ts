/**
 * The peer transport (etcd's rafthttp, redesigned): long-lived connections
 * between members carrying batched, pipelined Raft messages, and separate
 * connections that stream backend snapshots in chunks.
 *
 * - One outbound connection per peer for ordinary messages. Messages queued in
 *   the same turn of the event loop are written together (one syscall).
 * - A connection that fails is dropped and redialled with exponential backoff;
 *   messages that cannot be delivered are reported to Raft as unreachable.
 * - MsgSnap goes over its own connection, followed by the snapshot chunks; the
 *   receiver answers with an ack once it has stored them, and the outcome is
 *   reported to Raft (reportSnapshot).
 * - Every connection starts with a hello naming the cluster and both members;
 *   a member of another cluster is refused.
 */
import net from 'node:net';
import tls from 'node:tls';
import { MessageType, decodeMessage, encodeMessage } from '@kv/raft';
import type { Message } from '@kv/raft';
import type { Clock, TimerHandle } from '../clock';
import { FrameReader, FrameType, encodeFrame } from './frames';
import type { Frame } from './frames';

/** What the transport delivers to, and reports to, the local Raft node. */
export interface TransportHandler {
  /** A message from a peer, to step into Raft. */
  onMessage(message: Message): void;
  /**
   * A snapshot message with the backend snapshot's bytes. Resolve once the
   * bytes are stored so the message can be stepped; reject to refuse it.
   */
  onSnapshot(message: Message, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  reportUnreachable(peer: bigint): void;
  reportSnapshot(peer: bigint, status: 'finish' | 'failure'): void;
  /** Answers a request from a peer (see {@link Transport.request}). */
  readonly onRequest?: (kind: string, payload: Uint8Array) => Promise<Uint8Array>;
  /** True for a member removed from the cluster: its connections are refused. */
  readonly isRemovedMember?: (id: bigint) => boolean;
  /** A peer refused this member as removed from the cluster (etcd then stops it). */
  readonly onRemovedFromCluster?: () => void;
}

/** The reason a peer gives a removed member for refusing it (etcd's text). */
export const REMOVED_MEMBER_REASON = 'the member has been permanently removed from the cluster';

/** See {@link PeerTransportOptions.snapshotSource}. */
export type SnapshotSource = (
  message: Message,
) => Promise<{ readonly message: Message; readonly chunks: AsyncIterable<Uint8Array> }>;

/** The port the server uses to reach its peers. */
export interface Transport {
  send(messages: readonly Message[]): void;
  addPeer(id: bigint, urls: readonly string[]): void;
  updatePeer(id: bigint, urls: readonly string[]): void;
  removePeer(id: bigint): void;
  /** True if a connection to the peer is up. */
  isActive(id: bigint): boolean;
  /**
   * Since when (clock ms) the connection to the peer has been up without a
   * break, or 0 if it is down (etcd's rafthttp ActiveSince).
   */
  activeSince(id: bigint): number;
  /** Sends a request to a peer's server and resolves with its answer. */
  request(peer: bigint, kind: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface PeerTransportOptions {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly handler: TransportHandler;
  /**
   * Produces the snapshot to send for a MsgSnap: the message to send (the
   * server may replace the snapshot metadata with a fresher one matching the
   * data) and the backend snapshot's bytes.
   */
  readonly snapshotSource: SnapshotSource;
  readonly clock: Clock;
  /** TLS for outbound connections (server identity and client certificate). */
  readonly tls?: tls.ConnectionOptions;
  /** Messages kept per peer while disconnected before they are dropped. */
  readonly maxQueuedMessages?: number;
}

interface Hello {
  readonly clusterId: string;
  readonly from: string;
  readonly to: string;
  readonly kind: 'stream' | 'snapshot' | 'request';
  readonly joining?: boolean;
}

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;

class PeerLink {
  #socket: net.Socket | undefined;
  #connected = false;
  #queue: Buffer[] = [];
  #backoff = MIN_BACKOFF_MS;
  #retry: TimerHandle | undefined;
  #urlIndex = 0;
  #closed = false;
  #activeSince = 0;

  constructor(
    readonly id: bigint,
    public urls: readonly string[],
    private readonly transport: PeerTransport,
  ) {}

  get active(): boolean {
    return this.#connected;
  }

  get activeSince(): number {
    return this.#connected ? this.#activeSince : 0;
  }

  /** Dials now, so the peer's liveness is known before there is anything to send. */
  start(): void {
    if (this.#socket === undefined && this.#retry === undefined) this.#dial();
  }

  /** Queues a frame; {@link flush} writes the queue (a connecting link writes it once connected). */
  enqueue(frame: Buffer): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.transport.maxQueued) {
      // Raft retransmits; dropping here is safe and bounds memory.
      this.transport.reportUnreachable(this.id);
      return;
    }
    this.#queue.push(frame);
    if (this.#socket === undefined && this.#retry === undefined) this.#dial();
  }

  /** Writes everything queued as one chunk, if connected. */
  flush(): void {
    this.#flush();
  }

  #flush(): void {
    const socket = this.#socket;
    if (socket === undefined || !this.#connected || this.#queue.length === 0) return;
    const batch = this.#queue.length === 1 ? this.#queue[0]! : Buffer.concat(this.#queue);
    this.#queue = [];
    socket.write(batch);
  }

  #dial(): void {
    if (this.#closed || this.urls.length === 0) return;
    const url = new URL(this.urls[this.#urlIndex % this.urls.length]!);
    this.#urlIndex++;
    const socket = this.transport.connect(url);
    this.#socket = socket;
    socket.setNoDelay(true);
    const onReady = (): void => {
      socket.write(this.transport.hello(this.id, 'stream'));
      this.#connected = true;
      this.#activeSince = this.transport.clock.now();
      this.#backoff = MIN_BACKOFF_MS;
      this.#flush();
    };
    socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', onReady);
    const reader = new FrameReader();
    socket.on('data', (data: Buffer) => {
      try {
        for (const frame of reader.push(data)) {
          if (frame.type === FrameType.Reject) {
            this.transport.onReject(this.id, Buffer.from(frame.payload).toString('utf8'));
            socket.destroy();
          }
        }
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => {
      /* handled by close */
    });
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      const wasConnected = this.#connected;
      this.#connected = false;
      if (this.#closed) return;
      if (this.#queue.length > 0 || !wasConnected) this.transport.reportUnreachable(this.id);
      this.#queue = [];
      this.#retry = this.transport.clock.setTimeout(() => {
        this.#retry = undefined;
        this.#dial();
      }, this.#backoff);
      this.#backoff = Math.min(MAX_BACKOFF_MS, this.#backoff * 2);
    });
  }

  close(): void {
    this.#closed = true;
    this.#retry?.cancel();
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#queue = [];
  }
}

/** TCP/TLS implementation of {@link Transport}, with a listener for inbound peers. */
export class PeerTransport implements Transport {
  readonly #peers = new Map<bigint, PeerLink>();
  readonly #servers: net.Server[] = [];
  readonly #inbound = new Set<net.Socket>();
  /** The sending member of each inbound connection, once its hello is read. */
  readonly #inboundFrom = new WeakMap<net.Socket, string>();
  readonly maxQueued: number;
  readonly clock: Clock;
  #closed = false;

  constructor(private readonly options: PeerTransportOptions) {
    this.maxQueued = options.maxQueuedMessages ?? 4096;
    this.clock = options.clock;
  }

  /** Starts accepting peer connections on a URL (http:// or https:// host:port). */
  async listen(url: string, serverTls?: tls.TlsOptions): Promise<{ port: number }> {
    const u = new URL(url);
    const onConnection = (socket: net.Socket): void => this.#accept(socket);
    const server =
      u.protocol === 'https:' || serverTls !== undefined
        ? tls.createServer(serverTls ?? {}, onConnection)
        : net.createServer(onConnection);
    this.#servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(u.port || 2380), u.hostname, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    return { port: typeof address === 'object' && address !== null ? address.port : 0 };
  }

  addPeer(id: bigint, urls: readonly string[]): void {
    if (id === this.options.memberId || this.#peers.has(id) || this.#closed) return;
    const link = new PeerLink(id, urls, this);
    this.#peers.set(id, link);
    // Connected eagerly (as etcd's streams are): how long each peer has been
    // reachable is what --strict-reconfig-check asks.
    link.start();
  }

  updatePeer(id: bigint, urls: readonly string[]): void {
    const link = this.#peers.get(id);
    if (link === undefined) this.addPeer(id, urls);
    else link.urls = urls;
  }

  removePeer(id: bigint): void {
    this.#peers.get(id)?.close();
    this.#peers.delete(id);
    // Its connections to this member go too: if it is still running, it
    // dials again and is refused as removed (see isRemovedMember).
    const from = id.toString(16);
    for (const socket of this.#inbound)
      if (this.#inboundFrom.get(socket) === from) socket.destroy();
  }

  isActive(id: bigint): boolean {
    return this.#peers.get(id)?.active ?? false;
  }

  activeSince(id: bigint): number {
    return this.#peers.get(id)?.activeSince ?? 0;
  }

  /**
   * Writes the messages to their peers' sockets before returning, one write
   * per peer: a Ready's messages arrive in one call, and writing at once
   * instead of on a later turn of the event loop takes a loop iteration off
   * every replication hop (the leader's append, the follower's ack).
   */
  send(messages: readonly Message[]): void {
    let touched: PeerLink[] | undefined;
    for (const m of messages) {
      if (m.to === 0n || this.#closed) continue;
      const link = this.#peers.get(m.to);
      if (link === undefined) continue;
      if (m.type === MessageType.MsgSnap) {
        void this.#sendSnapshot(link, m);
        continue;
      }
      link.enqueue(encodeFrame(FrameType.RaftMessage, encodeMessage(m)));
      touched ??= [];
      if (!touched.includes(link)) touched.push(link);
    }
    if (touched !== undefined) for (const link of touched) link.flush();
  }

  request(peer: bigint, kind: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const link = this.#peers.get(peer);
    if (link === undefined || this.#closed)
      return Promise.reject(new Error(`unknown peer ${peer.toString(16)}`));
    const url = new URL(link.urls[0] ?? '');
    return new Promise<Uint8Array>((resolve, reject) => {
      const socket = this.connect(url);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('peer request timed out'));
      }, timeoutMs);
      const finish = (err: Error | undefined, value?: Uint8Array): void => {
        clearTimeout(timer);
        socket.destroy();
        if (err !== undefined) reject(err);
        else resolve(value ?? new Uint8Array(0));
      };
      socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
        socket.write(this.hello(peer, 'request'));
        const body = Buffer.concat([
          Buffer.from([kind.length]),
          Buffer.from(kind, 'latin1'),
          payload,
        ]);
        socket.write(encodeFrame(FrameType.Request, body));
      });
      const reader = new FrameReader();
      socket.on('data', (data: Buffer) => {
        try {
          for (const f of reader.push(data)) {
            if (f.type === FrameType.Response) finish(undefined, f.payload);
            else if (f.type === FrameType.Reject)
              finish(new Error(Buffer.from(f.payload).toString('utf8')));
          }
        } catch (err) {
          finish(err as Error);
        }
      });
      socket.on('error', (err) => finish(err));
      socket.on('close', () => finish(new Error('peer closed the connection')));
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const link of this.#peers.values()) link.close();
    for (const socket of this.#inbound) socket.destroy();
    await Promise.all(
      this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    );
  }

  /** @internal */
  connect(url: URL): net.Socket {
    const port = Number(url.port || 2380);
    if (url.protocol === 'https:') {
      return tls.connect({ ...(this.options.tls ?? {}), host: url.hostname, port });
    }
    return net.connect({ host: url.hostname, port });
  }

  /** @internal */
  hello(to: bigint, kind: Hello['kind']): Buffer {
    const hello: Hello = {
      clusterId: this.options.clusterId.toString(16),
      from: this.options.memberId.toString(16),
      to: to.toString(16),
      kind,
    };
    return encodeFrame(FrameType.Hello, Buffer.from(JSON.stringify(hello)));
  }

  /** @internal */
  reportUnreachable(id: bigint): void {
    if (!this.#closed) this.options.handler.reportUnreachable(id);
  }

  /** @internal */
  onReject(_id: bigint, reason: string): void {
    // Another cluster: keep retrying quietly (Raft treats it as unreachable).
    // Removed from the cluster: the peer has applied it, so it is final.
    if (reason === REMOVED_MEMBER_REASON && !this.#closed)
      this.options.handler.onRemovedFromCluster?.();
  }

  async #sendSnapshot(link: PeerLink, message: Message): Promise<void> {
    const report = (status: 'finish' | 'failure'): void => {
      if (!this.#closed) this.options.handler.reportSnapshot(link.id, status);
    };
    let socket: net.Socket | undefined;
    try {
      const source = await this.options.snapshotSource(message);
      const chunks = source.chunks;
      const url = new URL(link.urls[0] ?? '');
      socket = this.connect(url);
      const s = socket;
      await new Promise<void>((resolve, reject) => {
        s.once(s instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => resolve());
        s.once('error', reject);
      });
      const ack = new Promise<boolean>((resolve) => {
        const reader = new FrameReader();
        s.on('data', (data: Buffer) => {
          try {
            for (const f of reader.push(data)) {
              if (f.type === FrameType.SnapshotAck) resolve(f.payload[0] === 1);
              if (f.type === FrameType.Reject) resolve(false);
            }
          } catch {
            resolve(false);
          }
        });
        s.on('close', () => resolve(false));
        s.on('error', () => resolve(false));
      });
      s.write(this.hello(link.id, 'snapshot'));
      s.write(encodeFrame(FrameType.SnapshotMessage, encodeMessage(source.message)));
      for await (const chunk of chunks) {
        if (!s.write(encodeFrame(FrameType.SnapshotChunk, chunk))) {
          await new Promise<void>((resolve) => s.once('drain', () => resolve()));
        }
      }
      s.write(encodeFrame(FrameType.SnapshotEnd, new Uint8Array(0)));
      const ok = await ack;
      report(ok ? 'finish' : 'failure');
    } catch {
      report('failure');
    } finally {
      socket?.destroy();
    }
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#inbound.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.#inbound.delete(socket));
    socket.on('error', () => socket.destroy());
    const reader = new FrameReader();
    let hello: Hello | undefined;
    let snapshot: SnapshotReceiver | undefined;
    socket.on('data', (data: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(data);
      } catch {
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        if (hello === undefined) {
          hello = this.#checkHello(socket, frame);
          if (hello === undefined) return;
          this.#inboundFrom.set(socket, hello.from);
          continue;
        }
        if (frame.type === FrameType.RaftMessage) {
          let message: Message;
          try {
            message = decodeMessage(frame.payload);
          } catch {
            socket.destroy();
            return;
          }
          this.options.handler.onMessage(message);
        } else if (frame.type === FrameType.SnapshotMessage && hello.kind === 'snapshot') {
          const message = decodeMessage(frame.payload);
          snapshot = new SnapshotReceiver();
          const receiver = snapshot;
          this.options.handler.onSnapshot(message, receiver.chunks()).then(
            () => {
              socket.end(encodeFrame(FrameType.SnapshotAck, Uint8Array.of(1)));
            },
            () => {
              receiver.abort();
              socket.end(encodeFrame(FrameType.SnapshotAck, Uint8Array.of(0)));
            },
          );
        } else if (frame.type === FrameType.Request && hello.kind === 'request') {
          const handler = this.options.handler.onRequest;
          const p = frame.payload;
          const kindLength = p[0] ?? 0;
          const kind = Buffer.from(p.subarray(1, 1 + kindLength)).toString('latin1');
          if (handler === undefined || (hello.joining === true && kind !== 'members')) {
            socket.end(encodeFrame(FrameType.Reject, Buffer.from('requests not served')));
            continue;
          }
          handler(kind, p.subarray(1 + kindLength)).then(
            (answer) => socket.end(encodeFrame(FrameType.Response, answer)),
            (err: unknown) => socket.end(encodeFrame(FrameType.Reject, Buffer.from(String(err)))),
          );
        } else if (frame.type === FrameType.SnapshotChunk) {
          snapshot?.push(frame.payload);
        } else if (frame.type === FrameType.SnapshotEnd) {
          snapshot?.end();
        }
      }
    });
    socket.on('close', () => snapshot?.abort());
  }

  #checkHello(socket: net.Socket, frame: Frame): Hello | undefined {
    const refuse = (reason: string): undefined => {
      socket.end(encodeFrame(FrameType.Reject, Buffer.from(reason)));
      return undefined;
    };
    if (frame.type !== FrameType.Hello) return refuse('expected hello');
    let hello: Hello;
    try {
      hello = JSON.parse(Buffer.from(frame.payload).toString('utf8')) as Hello;
    } catch {
      return refuse('malformed hello');
    }
    // A member joining with --initial-cluster-state existing does not know the
    // cluster yet: it may only ask for the membership (see queryMembers).
    if (hello.clusterId === '0' && hello.kind === 'request') return { ...hello, joining: true };
    if (hello.clusterId !== this.options.clusterId.toString(16)) {
      return refuse(
        `cluster ID mismatch: local ${this.options.clusterId.toString(16)}, remote ${hello.clusterId}`,
      );
    }
    // A removed member is told so, and stops (etcd's rafthttp answers it 410 Gone).
    const removed = this.options.handler.isRemovedMember;
    if (removed !== undefined && /^[0-9a-f]{1,16}$/.test(hello.from)) {
      if (removed(BigInt(`0x${hello.from}`))) return refuse(REMOVED_MEMBER_REASON);
    }
    if (hello.to !== this.options.memberId.toString(16)) {
      return refuse(`member ID mismatch: this is ${this.options.memberId.toString(16)}`);
    }
    return hello;
  }
}

/** Turns pushed chunks into an async iterable that ends or fails with the stream. */
class SnapshotReceiver {
  #chunks: Uint8Array[] = [];
  #done = false;
  #failed = false;
  #wake: (() => void) | undefined;

  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#wake?.();
  }

  end(): void {
    this.#done = true;
    this.#wake?.();
  }

  abort(): void {
    if (this.#done) return;
    this.#failed = true;
    this.#wake?.();
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = this.#chunks.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.#failed) throw new Error('snapshot stream aborted');
      if (this.#done) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}

/** The membership a running cluster reports to a member about to join it. */
export interface ClusterInfo {
  readonly clusterId: bigint;
  readonly members: readonly {
    readonly id: bigint;
    readonly name: string;
    readonly peerURLs: readonly string[];
    readonly clientURLs: readonly string[];
    readonly isLearner: boolean;
  }[];
}

/**
 * Asks the members at `urls` for the cluster's membership (the first that
 * answers wins), as a member started with --initial-cluster-state existing
 * must before it can know its own ID.
 */
export async function queryMembers(
  urls: readonly string[],
  options: { readonly tls?: tls.ConnectionOptions; readonly timeoutMs?: number } = {},
): Promise<ClusterInfo> {
  let lastError: unknown = new Error('no peer URLs to ask');
  for (const raw of urls) {
    try {
      const url = new URL(raw);
      const port = Number(url.port || 2380);
      const answer = await new Promise<Uint8Array>((resolve, reject) => {
        const socket =
          url.protocol === 'https:'
            ? tls.connect({ ...(options.tls ?? {}), host: url.hostname, port })
            : net.connect({ host: url.hostname, port });
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`${raw}: timed out`));
        }, options.timeoutMs ?? 3000);
        const done = (err: Error | undefined, v?: Uint8Array): void => {
          clearTimeout(timer);
          socket.destroy();
          if (err !== undefined) reject(err);
          else resolve(v ?? new Uint8Array(0));
        };
        socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
          const hello: Hello = { clusterId: '0', from: '0', to: '0', kind: 'request' };
          socket.write(encodeFrame(FrameType.Hello, Buffer.from(JSON.stringify(hello))));
          socket.write(
            encodeFrame(
              FrameType.Request,
              Buffer.concat([Buffer.from([7]), Buffer.from('members')]),
            ),
          );
        });
        const reader = new FrameReader();
        socket.on('data', (d: Buffer) => {
          for (const f of reader.push(d)) {
            if (f.type === FrameType.Response) done(undefined, f.payload);
            else if (f.type === FrameType.Reject)
              done(new Error(Buffer.from(f.payload).toString('utf8')));
          }
        });
        socket.on('error', (err: Error) => done(err));
        socket.on('close', () => done(new Error(`${raw}: connection closed`)));
      });
      const j = JSON.parse(Buffer.from(answer).toString('utf8')) as {
        clusterId: string;
        members: {
          id: string;
          name: string;
          peerURLs: string[];
          clientURLs: string[];
          isLearner: boolean;
        }[];
      };
      return {
        clusterId: BigInt(`0x${j.clusterId}`),
        members: j.members.map((m) => ({ ...m, id: BigInt(`0x${m.id}`) })),
      };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
