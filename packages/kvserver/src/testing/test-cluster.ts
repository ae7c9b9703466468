/**
 * Whole clusters in one process for tests: members on a LocalNetwork with
 * in-memory backends and member storage, real timers at a fast tick.
 */
import { MemoryBackend } from '@kv/mvcc';
import { systemClock } from '../clock';
import { EtcdServer } from '../etcd-server';
import type { EtcdServerOptions } from '../etcd-server';
import { MemoryMemberStorage } from '../member-storage';
import type { Member } from '../membership/cluster';
import { computeClusterId, computeMemberId } from '../membership/member-id';
import { LocalNetwork } from './local-network';

export interface TestMember {
  readonly name: string;
  readonly id: bigint;
  server: EtcdServer;
  readonly backend: MemoryBackend;
  readonly storage: MemoryMemberStorage;
}

export interface TestClusterOptions {
  readonly size: number;
  readonly snapshotCount?: number;
  readonly snapshotCatchUpEntries?: number;
  readonly heartbeatMs?: number;
  readonly electionMs?: number;
  readonly seed?: number;
  /** See EtcdServerOptions.strictReconfigCheck (default on). */
  readonly strictReconfigCheck?: boolean;
  /** See EtcdServerOptions.reconfigHealthIntervalMs (default 5 s). */
  readonly reconfigHealthIntervalMs?: number;
}

function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

export class TestCluster {
  readonly network = new LocalNetwork();
  readonly members: TestMember[] = [];
  readonly clusterId: bigint;
  readonly #initial: Member[];

  private constructor(private readonly options: TestClusterOptions) {
    this.#initial = Array.from({ length: options.size }, (_, i) => {
      const peerURLs = [`http://127.0.0.1:${23800 + i}`];
      return {
        id: computeMemberId(peerURLs, 'test-cluster'),
        name: `m${i}`,
        peerURLs,
        clientURLs: [`http://127.0.0.1:${23790 + i}`],
        isLearner: false,
      };
    });
    this.clusterId = computeClusterId(this.#initial.map((m) => m.id));
  }

  static async start(options: TestClusterOptions): Promise<TestCluster> {
    const c = new TestCluster(options);
    for (let i = 0; i < options.size; i++) {
      const backend = new MemoryBackend();
      const storage = new MemoryMemberStorage();
      const m = c.#initial[i]!;
      const server = await EtcdServer.start(c.#serverOptions(m, backend, storage, i));
      c.members.push({ name: m.name, id: m.id, server, backend, storage });
    }
    return c;
  }

  #serverOptions(
    m: Member,
    backend: MemoryBackend,
    storage: MemoryMemberStorage,
    i: number,
  ): EtcdServerOptions {
    return {
      name: m.name,
      memberId: m.id,
      clusterId: this.clusterId,
      initialMembers: this.#initial,
      initialClusterState: 'new',
      clientURLs: m.clientURLs,
      backend,
      memberStorage: storage,
      boot: storage.boot(),
      createTransport: this.network.transportFor(m.id),
      clock: systemClock,
      random: seeded((this.options.seed ?? 1) * 7919 + i),
      heartbeatMs: this.options.heartbeatMs ?? 10,
      electionMs: this.options.electionMs ?? 100,
      ...(this.options.snapshotCount !== undefined
        ? { snapshotCount: this.options.snapshotCount }
        : {}),
      ...(this.options.strictReconfigCheck !== undefined
        ? { strictReconfigCheck: this.options.strictReconfigCheck }
        : {}),
      ...(this.options.reconfigHealthIntervalMs !== undefined
        ? { reconfigHealthIntervalMs: this.options.reconfigHealthIntervalMs }
        : {}),
      ...(this.options.snapshotCatchUpEntries !== undefined
        ? { snapshotCatchUpEntries: this.options.snapshotCatchUpEntries }
        : {}),
    };
  }

  /** Waits until a leader is elected and every member knows it. */
  async waitForLeader(): Promise<TestMember> {
    for (;;) {
      const live = this.members.filter((m) => !m.server.stopped);
      await Promise.all(live.map((m) => m.server.waitForLeader(60_000)));
      const leaders = live.filter((m) => m.server.isLeader);
      if (leaders.length === 1) return leaders[0]!;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  readonly #saved = new Map<number, Uint8Array[]>();

  /** Stops a member cleanly, keeping its storage and a copy of its backend. */
  async stopMember(i: number): Promise<void> {
    const m = this.members[i]!;
    await m.server.raftNode.idle();
    const snap = await m.backend.snapshot();
    const chunks: Uint8Array[] = [];
    for await (const c of snap.chunks()) chunks.push(c);
    await snap.close();
    this.#saved.set(i, chunks);
    await m.server.stop();
  }

  /** Restarts a stopped member from what it had persisted. */
  async restartMember(i: number): Promise<void> {
    const m = this.members[i]!;
    const backend = new MemoryBackend();
    const chunks = this.#saved.get(i) ?? [];
    await backend.restore(
      (async function* () {
        yield* chunks;
      })(),
    );
    const server = await EtcdServer.start(
      this.#serverOptions(this.#initial[i]!, backend, m.storage, i),
    );
    this.members[i] = { ...m, backend, server };
  }

  /**
   * Starts a brand-new member, with empty storage, that joins the running
   * cluster as a member started with --initial-cluster-state existing does:
   * `id` must already have been added (a MemberAdd conf change), and
   * `members` is the membership the cluster reports (queryMembers).
   */
  async joinMember(
    id: bigint,
    name: string,
    peerURLs: readonly string[],
    members: readonly Member[],
  ): Promise<TestMember> {
    const backend = new MemoryBackend();
    const storage = new MemoryMemberStorage();
    const self: Member = {
      id,
      name,
      peerURLs: [...peerURLs],
      clientURLs: [`http://127.0.0.1:${24790 + this.members.length}`],
      isLearner: false,
    };
    const server = await EtcdServer.start({
      ...this.#serverOptions(self, backend, storage, this.members.length),
      initialClusterState: 'existing',
      initialMembers: members,
    });
    const m: TestMember = { name, id, server, backend, storage };
    this.members.push(m);
    return m;
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => m.server.stop()));
  }
}
