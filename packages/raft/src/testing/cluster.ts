// An in-memory cluster with instant, controllable delivery: the building
// block of the unit tests, the script runner and the benchmark.
import { decodeConfChange } from '../codec';
import type { RaftConfig } from '../config';
import { RawNode } from '../raw-node';
import type { Ready } from '../raw-node';
import { MemoryStorage } from '../storage';
import type { ConfState, Entry, Message, NodeId, ReadState } from '../types';
import { EntryType, MessageType } from '../types';
import { seededRandom } from './rng';

/** Per-node overrides of the Raft configuration. */
export type NodeConfigOverrides = Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;

/** One member of a Cluster: the node, its durable storage and what it applied. */
export interface ClusterNode {
  readonly id: NodeId;
  rawNode: RawNode;
  readonly storage: MemoryStorage;
  /** Every entry applied, in order (including empty leader entries). */
  readonly applied: Entry[];
  readStates: ReadState[];
  confState: ConfState;
}

/** Options for a Cluster. */
export interface ClusterOptions {
  /** Voter IDs to bootstrap. */
  readonly ids: readonly NodeId[];
  /** Extra IDs that start empty (not bootstrapped), to be added later. */
  readonly spare?: readonly NodeId[];
  /** Seed for election timeouts. Default 1. */
  readonly seed?: number;
  /** Config applied to every node. Defaults: electionTick 10, heartbeatTick 1. */
  readonly config?: NodeConfigOverrides;
}

/** Filter deciding whether a message is delivered. */
export type MessageFilter = (m: Message) => boolean;

/**
 * A deterministic in-memory cluster. Messages go into a queue; `deliver()`
 * steps them into their destination; `stabilize()` alternates readies and
 * delivery until nothing is left to do.
 */
export class Cluster {
  readonly nodes = new Map<NodeId, ClusterNode>();
  /** Messages sent but not yet delivered. */
  queue: Message[] = [];
  /** Messages satisfying any filter are dropped. */
  readonly dropFilters: MessageFilter[] = [];
  /** Called for every message taken off the queue (for transcripts). */
  onDeliver: ((m: Message, dropped: boolean) => void) | undefined = undefined;
  private readonly random: () => number;
  private readonly baseConfig: NodeConfigOverrides;

  constructor(opts: ClusterOptions) {
    this.random = seededRandom(opts.seed ?? 1);
    this.baseConfig = opts.config ?? {};
    const peers = opts.ids.map((id) => ({ id }));
    for (const id of opts.ids) {
      const n = this.makeNode(id, new MemoryStorage(), 0);
      n.rawNode.bootstrap(peers);
      this.nodes.set(id, n);
    }
    for (const id of opts.spare ?? [])
      this.nodes.set(id, this.makeNode(id, new MemoryStorage(), 0));
  }

  private makeNode(id: NodeId, storage: MemoryStorage, applied: number): ClusterNode {
    const rawNode = new RawNode({
      electionTick: 10,
      heartbeatTick: 1,
      ...this.baseConfig,
      id,
      storage,
      applied,
      random: this.random,
    });
    return {
      id,
      rawNode,
      storage,
      applied: [],
      readStates: [],
      confState: storage.initialState().confState,
    };
  }

  node(id: NodeId): ClusterNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raw(id: NodeId): RawNode {
    return this.node(id).rawNode;
  }

  /** Replaces a node's RawNode by one restarted from its storage (unpersisted state is lost). */
  restart(id: NodeId, overrides: NodeConfigOverrides = {}): void {
    const n = this.node(id);
    const snap = n.storage.snapshot();
    const applied = overrides.applied ?? snap.metadata.index;
    const rawNode = new RawNode({
      electionTick: 10,
      heartbeatTick: 1,
      ...this.baseConfig,
      ...overrides,
      id,
      storage: n.storage,
      applied,
      random: this.random,
    });
    n.rawNode = rawNode;
    n.applied.length = 0;
    n.confState = n.storage.initialState().confState;
    this.queue = this.queue.filter((m) => m.to !== id);
  }

  /** Handles one Ready of a node the way an application must. Returns whether there was one. */
  handleReady(id: NodeId): Ready | undefined {
    const n = this.node(id);
    if (!n.rawNode.hasReady()) return undefined;
    const rd = n.rawNode.ready();
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages)
      this.queue.push(m.type === MessageType.MsgSnap ? this.freshSnapshot(n, m) : m);
    if (rd.snapshot) n.confState = rd.snapshot.metadata.confState;
    for (const e of rd.committedEntries) {
      n.applied.push(e);
      if (e.type !== EntryType.Normal)
        n.confState = n.rawNode.applyConfChange(decodeConfChange(e.data));
    }
    for (const rs of rd.readStates) n.readStates.push(rs);
    n.rawNode.advance(rd);
    return rd;
  }

  // A follower refuses a snapshot whose membership does not include it, so,
  // like etcd's server, send one of the current applied state instead when
  // the stored one predates the recipient.
  private freshSnapshot(n: ClusterNode, m: Message): Message {
    const s = m.snapshot;
    if (s === undefined) return m;
    const cs = s.metadata.confState;
    if ([...cs.voters, ...cs.learners, ...cs.votersOutgoing].includes(m.to)) return m;
    const applied = n.rawNode.basicStatus().applied;
    if (applied <= s.metadata.index) return m;
    return { ...m, snapshot: n.storage.createSnapshot(applied, n.confState, s.data) };
  }

  /** Steps every queued message (in order) into its destination; returns how many were delivered. */
  deliver(): number {
    const q = this.queue;
    this.queue = [];
    let count = 0;
    for (const m of q) {
      const dropped = this.dropFilters.some((f) => f(m));
      this.onDeliver?.(m, dropped);
      // The transport reports snapshot delivery back to the sender, as an application must.
      if (m.type === MessageType.MsgSnap)
        this.nodes.get(m.from)?.rawNode.reportSnapshot(m.to, dropped ? 'failure' : 'finish');
      if (dropped) continue;
      const n = this.nodes.get(m.to);
      if (n === undefined) continue;
      try {
        n.rawNode.step(m);
      } catch (e) {
        // Dropped proposals and messages from removed peers are normal here.
        if (
          !(e instanceof Error) ||
          !/RAFT_PROPOSAL_DROPPED|RAFT_STEP_PEER_NOT_FOUND/.test(e.message)
        )
          throw e;
      }
      count++;
    }
    return count;
  }

  /** Processes readies and delivers messages until quiet (bounded). */
  stabilize(maxRounds = 10_000): void {
    for (let i = 0; i < maxRounds; i++) {
      let busy = false;
      for (const id of this.nodes.keys()) if (this.handleReady(id)) busy = true;
      if (this.queue.length > 0) {
        this.deliver();
        busy = true;
      }
      if (!busy) return;
    }
    throw new Error('cluster did not stabilize');
  }

  /** Ticks every node once. */
  tickAll(): void {
    for (const n of this.nodes.values()) n.rawNode.tick();
  }

  /** Makes `id` campaign and stabilizes. */
  elect(id: NodeId): void {
    // Apply what is committed first: a node with unapplied conf changes won't campaign.
    this.stabilize();
    this.raw(id).campaign();
    this.stabilize();
  }

  /** Drops all messages between `a` and the rest until heal(). */
  isolate(a: NodeId): void {
    this.dropFilters.push((m) => m.from === a || m.to === a);
  }

  /** Drops messages across the two sides until heal(). */
  partition(side: readonly NodeId[]): void {
    const s = new Set(side);
    this.dropFilters.push((m) => s.has(m.from) !== s.has(m.to));
  }

  /** Drops messages of one type (optionally only to one node) until heal(). */
  dropType(type: number, to?: NodeId): void {
    this.dropFilters.push((m) => m.type === type && (to === undefined || m.to === to));
  }

  heal(): void {
    this.dropFilters.length = 0;
  }

  leader(): NodeId | undefined {
    for (const n of this.nodes.values())
      if (n.rawNode.basicStatus().softState.role === 'Leader') return n.id;
    return undefined;
  }

  /** Takes a snapshot at the node's applied index and compacts its log up to it. */
  compact(id: NodeId, data: Uint8Array = new Uint8Array()): void {
    const n = this.node(id);
    const applied = n.rawNode.basicStatus().applied;
    n.storage.createSnapshot(applied, n.confState, data);
    n.storage.compact(applied);
  }

  /** Data of the normal, non-empty entries a node applied, as strings. */
  appliedData(id: NodeId): string[] {
    const dec = new TextDecoder();
    return this.node(id)
      .applied.filter((e) => e.type === EntryType.Normal && e.data.length > 0)
      .map((e) => dec.decode(e.data));
  }
}
