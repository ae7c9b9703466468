/**
 * EtcdServer: one member of the replicated store. It composes the Raft node
 * loop, the apply step (MVCC, lessor, membership), the linearizable read gate
 * and the peer transport. Everything it touches is handed in (backend, member
 * storage, transport factory, clock, randomness), so a whole cluster can run
 * in one process in tests.
 *
 * Write path: validate → propose an internal request with an ID → Raft
 * replicates and commits → apply in log order: MVCC write txn + consistent
 * index in the same backend batch → the waiter with that ID gets the response.
 * Read path: linearizable reads pass the ReadIndex gate, serializable reads
 * do not; both then read MVCC locally.
 */
import { etcdserverpb } from '@kv/api';
import {
  MemoryStorage,
  RawNode,
  RaftError,
  EntryType,
  MessageType,
  ConfChangeType,
  StateRole,
  decodeConfChange,
  encodeConfChange,
} from '@kv/raft';
import type { ConfState, Entry, Message, Snapshot, SoftState, ReadState } from '@kv/raft';
import { MvccStore } from '@kv/mvcc';
import type { Backend, WriteTxn } from '@kv/mvcc';
import type { Clock } from './clock';
import { silentLogger } from './logger';
import type { Logger } from './logger';
import { EtcdError, Errors } from './errors';
import {
  RequestIdGenerator,
  RequestKind,
  INTERNAL_HEADER_BYTES,
  decodeInternalRequest,
  decodePutRequest,
  decodeTxnRequest,
  encodeInternalRequest,
  encodePutEntry,
  encodeTxnEntry,
} from './internal-request';
import type { InternalRequest } from './internal-request';
import {
  applyDeleteRange,
  applyPut,
  applyTxn,
  emptyHeader,
  executeRange,
  mapMvccError,
  toSafeNumber,
} from './apply/kv';
import type { ApplyContext } from './apply/kv';
import { AlarmStore } from './alarms';
import {
  CorruptionChecker,
  HASHKV_REQUEST,
  answerHashKVRequest,
  decodeHashKVAnswer,
  encodeHashKVRequest,
} from './corruption';
import { AuthStore } from './auth/auth-store';
import { hashPassword, verifyPassword } from './auth/password';
import { Lessor } from './lease/lessor';
import { Cluster } from './membership/cluster';
import type { Member } from './membership/cluster';
import type { BootState, MemberStorage } from './member-storage';
import { RaftNode } from './raft-node';
import { ReadIndexGate } from './read-index';
import type { SnapshotSource, Transport, TransportHandler } from './transport/peer-transport';
import { WaitRegistry } from './wait';
import { checkDeleteRange, checkPut, checkRange, checkTxn } from './validate';

const META_CONSISTENT_INDEX = Buffer.from('consistent_index');
const META_TERM = Buffer.from('term');

/** An unsigned 64-bit big-endian integer, for values below 2^53. */
function uint64BE(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 0);
  b.writeUInt32BE(n >>> 0, 4);
  return b;
}

export interface EtcdServerOptions {
  readonly name: string;
  readonly memberId: bigint;
  readonly clusterId: bigint;
  /** The bootstrap membership of a new cluster (ignored when storage holds state). */
  readonly initialMembers: readonly Member[];
  /** --initial-cluster-state: 'new' bootstraps, 'existing' joins a running cluster. */
  readonly initialClusterState: 'new' | 'existing';
  readonly clientURLs: readonly string[];
  readonly backend: Backend;
  readonly memberStorage: MemberStorage;
  readonly boot: BootState;
  readonly createTransport: (
    handler: TransportHandler,
    snapshotSource: SnapshotSource,
  ) => Transport;
  readonly clock: Clock;
  /** Seeded randomness for election timeouts. */
  readonly random: () => number;
  /** Heartbeat interval in ms (one Raft tick); etcd's default 100. */
  readonly heartbeatMs?: number;
  /** Election timeout in ms; etcd's default 1000. */
  readonly electionMs?: number;
  /** Applied entries between snapshots; etcd 3.4's default 100,000. */
  readonly snapshotCount?: number;
  /** Entries kept in the Raft log behind a snapshot for slow followers. */
  readonly snapshotCatchUpEntries?: number;
  readonly maxRequestBytes?: number;
  readonly maxTxnOps?: number;
  /** Backend size above which writes are refused (NOSPACE); etcd's default 2 GiB. */
  readonly quotaBackendBytes?: number;
  readonly preVote?: boolean;
  /**
   * --strict-reconfig-check (etcd 3.4's default: on): refuse a membership
   * change that could leave the cluster without a quorum of started and
   * connected members.
   */
  readonly strictReconfigCheck?: boolean;
  /**
   * How long every voting peer must have been connected for the cluster to
   * count as healthy for a membership change (etcd's HealthInterval, 5 s).
   */
  readonly reconfigHealthIntervalMs?: number;
  /** --experimental-initial-corrupt-check: compare HashKV with peers before serving (restarts only). */
  readonly initialCorruptCheck?: boolean;
  /** --experimental-corrupt-check-time in ms: the leader's periodic HashKV comparison (0 = off). */
  readonly corruptCheckTimeMs?: number;
  readonly failpoint?: (name: string) => Promise<void> | void;
  readonly logger?: Logger;
  /** Called with the heartbeat round trip to a peer, in seconds (leader only). */
  readonly onPeerRoundTrip?: (peer: bigint, seconds: number) => void;
  /**
   * TEST ONLY — deliberately broken modes that the robustness harness must
   * detect: `staleReads` serves linearizable reads from local state without
   * ReadIndex; `ackBeforeSync` acknowledges writes before the WAL has them;
   * `corruptPuts` alters the value of every applied Put, so this member's
   * HashKV differs from its peers' (for the corruption check).
   */
  readonly unsafeTestModes?: {
    readonly staleReads?: boolean;
    readonly ackBeforeSync?: boolean;
    readonly corruptPuts?: boolean;
  };
  readonly onFatal?: (err: unknown) => void;
  /**
   * This member learnt that it was removed from the cluster (it applied its
   * own removal, or a peer refused it as removed); it is stopping. etcd exits
   * then: the embedding process decides.
   */
  readonly onRemoved?: () => void;
}

/** The response of an applied request, handed to the proposer's waiter. */
type ApplyResult = object;

/** Metrics counters the operations endpoints expose. */
export interface ServerCounters {
  proposalsCommitted: number;
  proposalsApplied: number;
  proposalsPending: number;
  proposalsFailed: number;
  leaderChanges: number;
}

export class EtcdServer {
  readonly name: string;
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly lessor: Lessor;
  readonly alarms = new AlarmStore();
  readonly auth: AuthStore;
  readonly counters: ServerCounters = {
    proposalsCommitted: 0,
    proposalsApplied: 0,
    proposalsPending: 0,
    proposalsFailed: 0,
    leaderChanges: 0,
  };
  mvcc!: MvccStore;
  cluster!: Cluster;
  #o: EtcdServerOptions;
  #raft!: RaftNode;
  #raftStorage!: MemoryStorage;
  #transport!: Transport;
  #reads!: ReadIndexGate;
  readonly #waits: WaitRegistry<ApplyResult>;
  /** Physical compactions applied for this member's own Compact calls, by request ID. */
  readonly #compactions = new Map<bigint, Promise<void>>();
  /** The term as a bigint for response headers, converted once per term. */
  #termBig = 0n;
  #termOfBig = 0;
  #ids: RequestIdGenerator;
  #consistentIndex = 0;
  /** Term last written next to the consistent index (-1: not written by this process). */
  #consistentTerm = -1;
  #appliedIndex = 0;
  #snapshotIndex = 0;
  #confState: ConfState = {
    voters: [],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
  #snapshotting = false;
  #leaderWaiters: (() => void)[] = [];
  #stopped = false;
  #leaseTimer: { cancel(): void } | undefined;
  #publishTimer: { cancel(): void } | undefined;
  #published = false;
  #publishedWaiters: (() => void)[] = [];
  #lastLeader = 0n;
  /**
   * Conf changes this member proposed that are not applied yet, by request
   * ID, with the function that proposes each again (see proposeConfChange).
   */
  readonly #pendingConfChanges = new Map<bigint, () => void>();
  /** Term of the last applied entry (an empty entry within a term is a dropped conf change). */
  #lastAppliedTerm = 0;
  #corruption: CorruptionChecker | undefined;
  /** Called on every leader or role change (event-driven waits, no polling). */
  readonly #roleListeners = new Set<() => void>();
  /** When the oldest unanswered heartbeat to each peer was sent (for the RTT metric). */
  readonly #heartbeatSent = new Map<bigint, number>();
  readonly heartbeatMs: number;
  readonly electionMs: number;
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  readonly requestTimeoutMs: number;
  readonly strictReconfigCheck: boolean;
  readonly reconfigHealthIntervalMs: number;
  readonly snapshotCount: number;
  readonly quotaBackendBytes: number;
  #dbSize = 0;

  private constructor(options: EtcdServerOptions) {
    this.#o = options;
    this.name = options.name;
    this.memberId = options.memberId;
    this.clusterId = options.clusterId;
    this.heartbeatMs = options.heartbeatMs ?? 100;
    this.electionMs = options.electionMs ?? 1000;
    this.maxRequestBytes = options.maxRequestBytes ?? 1.5 * 1024 * 1024;
    this.maxTxnOps = options.maxTxnOps ?? 128;
    this.requestTimeoutMs = 5000 + 2 * this.electionMs;
    this.strictReconfigCheck = options.strictReconfigCheck ?? true;
    this.reconfigHealthIntervalMs = options.reconfigHealthIntervalMs ?? 5000;
    this.snapshotCount = options.snapshotCount ?? 100_000;
    this.quotaBackendBytes = options.quotaBackendBytes ?? 2 * 1024 * 1024 * 1024;
    this.#ids = new RequestIdGenerator(options.memberId, Date.now());
    this.lessor = new Lessor(options.clock, Math.ceil((1.5 * this.electionMs) / 1000));
    this.auth = new AuthStore(options.clock);
    this.#waits = new WaitRegistry<ApplyResult>({
      clock: options.clock,
      timeoutError: () => (this.leader === 0n ? Errors.timeoutDueToLeaderFail() : Errors.timeout()),
      onSettled: (failed) => {
        this.counters.proposalsPending--;
        if (failed) this.counters.proposalsFailed++;
      },
    });
  }

  /** Opens the member's state and starts the Raft loop. */
  static async start(options: EtcdServerOptions): Promise<EtcdServer> {
    const s = new EtcdServer(options);
    await s.#init();
    return s;
  }

  /**
   * A member that crashed after recording a snapshot from the leader and
   * before its data replaced the backend restarts with a log that begins
   * after the snapshot: the backend is replaced now, from the data kept on
   * disk (etcd's recoverSnapshotBackend), or entries in between would never
   * be applied. Received data that is no longer needed is deleted.
   */
  async #recoverSnapshotBackend(): Promise<void> {
    const storage = this.#o.memberStorage;
    const index = this.#o.boot.snapshot?.metadata.index ?? 0;
    if (index > this.#consistentIndex) {
      const data = await storage.snapshotData(index);
      if (data === undefined) {
        throw new Error(
          `failed to recover v3 backend from snapshot: failed to find database snapshot file for index ${index} (backend consistent index ${this.#consistentIndex}) (snap: snapshot file doesn't exist)`,
        );
      }
      await this.mvcc.restore(data);
      this.#consistentIndex = await this.#readConsistentIndex();
      this.#log.info(
        { index, 'consistent-index': this.#consistentIndex },
        'recovered v3 backend from snapshot',
      );
    }
    await storage.releaseSnapshotData(Number.MAX_SAFE_INTEGER);
  }

  async #init(): Promise<void> {
    const o = this.#o;
    this.mvcc = await MvccStore.open(o.backend);
    this.#consistentIndex = await this.#readConsistentIndex();
    await this.#recoverSnapshotBackend();
    this.cluster = await Cluster.load(o.backend, this.clusterId);
    await this.lessor.restore(o.backend, (id) => this.mvcc.keysWithLease(id));
    await this.alarms.load(o.backend);
    await this.auth.load(o.backend);
    this.#dbSize = (await o.backend.size()).total;

    const storage = new MemoryStorage();
    const boot = o.boot;
    if (boot.snapshot !== undefined) {
      storage.applySnapshot(boot.snapshot);
      this.#snapshotIndex = boot.snapshot.metadata.index;
      this.#confState = boot.snapshot.metadata.confState;
    }
    if (boot.hardState !== undefined) storage.setHardState(boot.hardState);
    if (boot.entries.length > 0) storage.append([...boot.entries]);
    this.#raftStorage = storage;
    this.#appliedIndex = Math.max(this.#snapshotIndex, 0);

    const fresh =
      boot.hardState === undefined && boot.entries.length === 0 && boot.snapshot === undefined;
    const rawNode = new RawNode({
      id: this.memberId,
      electionTick: Math.max(2, Math.round(this.electionMs / this.heartbeatMs)),
      heartbeatTick: 1,
      storage,
      random: o.random,
      checkQuorum: true,
      preVote: o.preVote ?? true,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 512,
      maxUncommittedEntriesSize: 1 << 30,
    });
    if (fresh && o.initialClusterState === 'new') {
      rawNode.bootstrap(
        o.initialMembers.map((m) => ({ id: m.id, context: encodeMemberContext(m) })),
      );
    }

    this.#transport = o.createTransport(this.#transportHandler(), (m) => this.#snapshotSource(m));
    for (const m of this.cluster.members()) this.#transport.addPeer(m.id, m.peerURLs);
    if (fresh) for (const m of o.initialMembers) this.#transport.addPeer(m.id, m.peerURLs);

    this.#reads = new ReadIndexGate({
      clock: o.clock,
      requestReadIndex: (ctx) => this.#raft.withRawNode((n) => n.readIndex(ctx)),
      appliedIndex: () => this.#appliedIndex,
      // A round whose answer went missing (a dropped heartbeat, a leader change)
      // is asked again soon; an answer to the earlier ask still counts.
      retryMs: Math.max(50, 3 * this.heartbeatMs),
      timeoutMs: this.requestTimeoutMs,
    });

    this.#raft = new RaftNode({
      rawNode,
      raftStorage: storage,
      memberStorage: o.memberStorage,
      clock: o.clock,
      tickMs: this.heartbeatMs,
      ...(o.failpoint !== undefined ? { failpoint: o.failpoint } : {}),
      ...(o.unsafeTestModes?.ackBeforeSync === true ? { unsafeAckBeforeSync: true } : {}),
      hooks: {
        send: (messages) => {
          if (o.onPeerRoundTrip !== undefined) {
            const now = o.clock.now();
            for (const m of messages) {
              if (m.type === MessageType.MsgHeartbeat && !this.#heartbeatSent.has(m.to)) {
                this.#heartbeatSent.set(m.to, now);
              }
            }
          }
          this.#transport.send(messages);
        },
        applySnapshot: (snap) => this.#applySnapshot(snap),
        applyEntries: (entries) => this.#applyEntries(entries),
        onSoftState: (st) => this.#onSoftState(st),
        onReadStates: (states) => this.#onReadStates(states),
        onFatal: (err) => this.#fatal(err),
      },
    });
    this.#corruption = this.#corruptionChecker();
    if (o.initialCorruptCheck === true && !fresh) await this.#initialCorruptCheck();
    this.#raft.start();
    this.#corruption.start(o.corruptCheckTimeMs ?? 0);
    this.#campaignIfAlone();
    this.#leaseTimer = o.clock.setInterval(() => this.#revokeExpiredLeases(), 500);
    this.#schedulePublish(0);
  }

  /**
   * A member that is the only voter need not wait an election timeout to
   * lead (etcd fast-forwards its ticks for the same reason). The bootstrap
   * configuration is applied with the first Ready, so this waits for it.
   */
  #campaignIfAlone(): void {
    const tryCampaign = async (): Promise<void> => {
      await this.#raft.idle();
      const voters = this.#raft.rawNode.status().config.voters;
      if (voters.length === 1 && voters[0] === this.memberId && this.leader === 0n) {
        this.#raft.withRawNode((n) => n.campaign());
      }
    };
    setImmediate(() => void tryCampaign());
  }

  // ---------------------------------------------------------------- status

  get leader(): bigint {
    return this.#raft.leader;
  }

  get isLeader(): boolean {
    return this.#raft.isLeader;
  }

  get term(): number {
    return this.#raft.term;
  }

  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  get raftNode(): RaftNode {
    return this.#raft;
  }

  get isLearner(): boolean {
    return this.cluster.member(this.memberId)?.isLearner ?? false;
  }

  /** Raft status of this member (commit index, per-follower progress on the leader). */
  raftStatus(): ReturnType<RawNode['status']> {
    return this.#raft.rawNode.status();
  }

  /** The response header every reply carries. */
  header(revision?: number): etcdserverpb.ResponseHeader {
    const term = this.term;
    if (term !== this.#termOfBig) {
      this.#termBig = BigInt(term);
      this.#termOfBig = term;
    }
    return {
      clusterId: this.clusterId,
      memberId: this.memberId,
      revision: BigInt(revision ?? this.mvcc.currentRevision()),
      raftTerm: this.#termBig,
    };
  }

  /** Resolves when a leader is known (or rejects after the request timeout). */
  waitForLeader(timeoutMs = this.requestTimeoutMs): Promise<void> {
    if (this.leader !== 0n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = this.#o.clock.setTimeout(() => reject(Errors.noLeader()), timeoutMs);
      this.#leaderWaiters.push(() => {
        timer.cancel();
        resolve();
      });
    });
  }

  /** Resolves when `target` is leader (for MoveLeader), or rejects after the request timeout. */
  async waitForLeaderChange(target: bigint): Promise<void> {
    if (!(await this.#waitRole(() => this.leader === target, this.requestTimeoutMs))) {
      throw Errors.timeoutDueToLeaderFail();
    }
  }

  /** Resolves true once `done()` holds after a leader/role change, false at the timeout. */
  #waitRole(done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const listener = (): void => {
        if (!done() && !this.#stopped) return;
        timer.cancel();
        this.#roleListeners.delete(listener);
        resolve(done());
      };
      const timer = this.#o.clock.setTimeout(() => {
        this.#roleListeners.delete(listener);
        resolve(done());
      }, timeoutMs);
      this.#roleListeners.add(listener);
    });
  }

  /**
   * Before a planned stop, a leader hands leadership to its most caught-up
   * voting follower so the cluster does not wait for an election timeout.
   * Resolves when another member leads, or after two election timeouts.
   */
  async transferLeadershipForShutdown(): Promise<boolean> {
    if (!this.isLeader || this.#stopped) return false;
    const status = this.raftStatus();
    let best: { id: bigint; match: number } | undefined;
    for (const [id, pr] of status.progress) {
      if (id === this.memberId || pr.isLearner) continue;
      if (best === undefined || pr.match > best.match) best = { id, match: pr.match };
    }
    if (best === undefined) return false;
    const target = best.id;
    this.#raft.withRawNode((n) => n.transferLeadership(target));
    return this.#waitRole(() => !this.isLeader, 2 * this.electionMs);
  }

  /** Resolves when this member has published its attributes to the cluster. */
  waitPublished(): Promise<void> {
    if (this.#published) return Promise.resolve();
    return new Promise((resolve) => this.#publishedWaiters.push(resolve));
  }

  // ---------------------------------------------------------------- KV API

  async range(r: etcdserverpb.RangeRequest): Promise<etcdserverpb.RangeResponse> {
    checkRange(r);
    if (!r.serializable) await this.linearizableReadBarrier();
    const resp = await executeRange(this.mvcc, r);
    resp.header = this.header(Number(resp.header?.revision ?? 0n));
    return resp;
  }

  /** Waits until a linearizable read may be served locally. */
  async linearizableReadBarrier(): Promise<void> {
    if (this.#stopped) throw Errors.stopped();
    if (this.#o.unsafeTestModes?.staleReads === true) return;
    await this.#reads.wait();
  }

  // put and txn are not async functions: on the hot path the waiter's own
  // promise is the only one a write costs (errors still arrive as rejections).
  put(p: etcdserverpb.PutRequest): Promise<etcdserverpb.PutResponse> {
    try {
      checkPut(p);
      const quota = this.#checkQuota(p.key.length + p.value.length);
      return quota === undefined ? this.#proposePut(p) : quota.then(() => this.#proposePut(p));
    } catch (err) {
      return rejected(err);
    }
  }

  async deleteRange(d: etcdserverpb.DeleteRangeRequest): Promise<etcdserverpb.DeleteRangeResponse> {
    checkDeleteRange(d);
    const response = await this.#propose(
      RequestKind.DeleteRange,
      etcdserverpb.DeleteRangeRequest.encode(d).finish(),
    );
    return response as etcdserverpb.DeleteRangeResponse;
  }

  txn(t: etcdserverpb.TxnRequest): Promise<etcdserverpb.TxnResponse> {
    try {
      checkTxn(t, { maxTxnOps: this.maxTxnOps });
      if (isReadOnlyTxn(t)) return this.#readOnlyTxn(t);
      const id = this.#ids.next();
      const data =
        encodeTxnEntry(id, t) ??
        encodeInternalRequest({
          kind: RequestKind.Txn,
          id,
          payload: etcdserverpb.TxnRequest.encode(t).finish(),
        });
      const payloadBytes = data.length - INTERNAL_HEADER_BYTES;
      const quota = this.#checkQuota(payloadBytes);
      if (quota !== undefined) {
        return quota.then(
          () => this.#proposeEntry(data, payloadBytes, id, t) as Promise<etcdserverpb.TxnResponse>,
        );
      }
      return this.#proposeEntry(data, payloadBytes, id, t) as Promise<etcdserverpb.TxnResponse>;
    } catch (err) {
      return rejected(err);
    }
  }

  /**
   * Read-only txns need no log entry: a read barrier gives linearizability,
   * and pinning one revision makes every compare and range see one state.
   */
  async #readOnlyTxn(t: etcdserverpb.TxnRequest): Promise<etcdserverpb.TxnResponse> {
    if (!isSerializableTxn(t)) await this.linearizableReadBarrier();
    const revision = this.mvcc.currentRevision();
    const resp = await applyTxn({ txn: readOnlyTxn(this.mvcc, revision), leases: undefined }, t);
    stampHeader(resp, this.header(revision));
    return resp;
  }

  async compact(c: etcdserverpb.CompactionRequest): Promise<etcdserverpb.CompactionResponse> {
    const id = this.#ids.next();
    try {
      const response = await this.#propose(
        RequestKind.Compaction,
        etcdserverpb.CompactionRequest.encode(c).finish(),
        undefined,
        id,
      );
      const physical = this.#compactions.get(id);
      if (c.physical && physical !== undefined) await physical;
      return response as etcdserverpb.CompactionResponse;
    } finally {
      this.#compactions.delete(id);
    }
  }

  // ---------------------------------------------------------------- Lease API

  async leaseGrant(r: etcdserverpb.LeaseGrantRequest): Promise<etcdserverpb.LeaseGrantResponse> {
    let id = r.ID;
    if (id === 0n) {
      // Random positive int64, like etcd's ID generator output.
      id =
        (this.#ids.next() ^ (BigInt(Math.floor(this.#o.random() * 2 ** 31)) << 16n)) &
        0x7fff_ffff_ffff_ffffn;
      if (id === 0n) id = 1n;
    }
    if (r.TTL > BigInt(9_000_000_000)) throw Errors.leaseTTLTooLarge();
    const quota = this.#checkQuota(64);
    if (quota !== undefined) await quota;
    const req: etcdserverpb.LeaseGrantRequest = { TTL: r.TTL, ID: id };
    const response = await this.#propose(
      RequestKind.LeaseGrant,
      etcdserverpb.LeaseGrantRequest.encode(req).finish(),
    );
    return response as etcdserverpb.LeaseGrantResponse;
  }

  async leaseRevoke(r: etcdserverpb.LeaseRevokeRequest): Promise<etcdserverpb.LeaseRevokeResponse> {
    const response = await this.#propose(
      RequestKind.LeaseRevoke,
      etcdserverpb.LeaseRevokeRequest.encode(r).finish(),
    );
    return response as etcdserverpb.LeaseRevokeResponse;
  }

  /** Renews a lease; only the leader keeps lease clocks, so followers forward. */
  async leaseRenew(id: bigint): Promise<number> {
    if (this.isLeader) {
      await this.linearizableReadBarrier();
      return this.lessor.renew(id);
    }
    const answer = await this.#askLeader('lease-renew', id);
    return Number(answer.readBigInt64BE(1));
  }

  /** Remaining and granted TTL of a lease, as the leader sees it; undefined if unknown. */
  async leaseTimeToLive(
    id: bigint,
  ): Promise<{ ttl: number; granted: number; keys: Uint8Array[] } | undefined> {
    await this.linearizableReadBarrier();
    const lease = this.lessor.get(id);
    if (lease === undefined) return undefined;
    const keys = [...lease.keys.values()];
    if (this.isLeader) return { ttl: this.lessor.remaining(lease), granted: lease.ttl, keys };
    try {
      const answer = await this.#askLeader('lease-ttl', id);
      return { ttl: Number(answer.readBigInt64BE(1)), granted: lease.ttl, keys };
    } catch (err) {
      if (err instanceof EtcdError && err.message === Errors.leaseNotFound().message)
        return undefined;
      throw err;
    }
  }

  /** Forwards a lease question to the leader: [status][i64] answers, status 0 = ok. */
  async #askLeader(kind: 'lease-renew' | 'lease-ttl', id: bigint): Promise<Buffer> {
    if (this.leader === 0n) await this.waitForLeader();
    const payload = Buffer.alloc(8);
    payload.writeBigInt64BE(id);
    let raw: Uint8Array;
    try {
      raw = await this.#transport.request(this.leader, kind, payload, this.requestTimeoutMs);
    } catch {
      throw Errors.noLeader();
    }
    const answer = Buffer.from(raw);
    if (answer[0] === 1) throw Errors.leaseNotFound();
    if (answer[0] !== 0 || answer.length < 9) throw Errors.notLeader();
    return answer;
  }

  /** Answers lease questions forwarded by followers (leader side), and membership queries. */
  async #answerPeer(kind: string, payload: Uint8Array): Promise<Uint8Array> {
    if (kind === HASHKV_REQUEST) {
      return answerHashKVRequest(this.memberId, payload, (rev) => this.mvcc.hashKV(rev));
    }
    if (kind === PROMOTE_REQUEST) return this.#answerPromote(payload);
    if (kind === 'members') {
      return Buffer.from(
        JSON.stringify({
          clusterId: this.clusterId.toString(16),
          members: this.cluster.members().map((m) => ({ ...m, id: m.id.toString(16) })),
        }),
      );
    }
    const out = Buffer.alloc(9);
    if (!this.isLeader || payload.length < 8) {
      out[0] = 2;
      return out;
    }
    const id = Buffer.from(payload).readBigInt64BE(0);
    const lease = this.lessor.get(id);
    if (lease === undefined) {
      out[0] = 1;
      return out;
    }
    if (kind === 'lease-renew') {
      await this.linearizableReadBarrier();
      out.writeBigInt64BE(BigInt(this.lessor.renew(id)), 1);
    } else {
      out.writeBigInt64BE(BigInt(this.lessor.remaining(lease)), 1);
    }
    return out;
  }

  // ---------------------------------------------------------------- alarms, quota

  #corruptionChecker(): CorruptionChecker {
    return new CorruptionChecker({
      memberId: this.memberId,
      hashKV: (rev) => this.mvcc.hashKV(rev),
      peers: () => {
        const known = this.cluster.members();
        const members = known.length > 0 ? known : this.#o.initialMembers;
        return members.map((m) => m.id).filter((id) => id !== this.memberId);
      },
      peerHashKV: async (peer, rev) =>
        decodeHashKVAnswer(
          await this.#transport.request(
            peer,
            HASHKV_REQUEST,
            encodeHashKVRequest(rev),
            this.requestTimeoutMs,
          ),
        ),
      isLeader: () => this.isLeader && !this.#stopped,
      readBarrier: () => this.linearizableReadBarrier(),
      raiseCorruptAlarm: async (memberID) => {
        await this.alarm({
          action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE,
          memberID,
          alarm: etcdserverpb.AlarmType.CORRUPT,
        });
      },
      clock: this.#o.clock,
      logger: this.#log,
    });
  }

  /** A member that finds its data differs from its peers' closes everything and refuses to start. */
  async #initialCorruptCheck(): Promise<void> {
    try {
      await this.#corruption!.initialCheck();
    } catch (err) {
      this.#stopped = true;
      await this.#transport.close();
      await this.mvcc.close();
      await this.#o.backend.close();
      await this.#o.memberStorage.close();
      throw err;
    }
  }

  /**
   * Refuses writes while NOSPACE is raised, and raises it when the backend is
   * full. Synchronous (undefined) unless the backend must be measured: the
   * common case costs no promise on the write path.
   */
  #checkQuota(cost: number): Promise<void> | undefined {
    const NOSPACE = etcdserverpb.AlarmType.NOSPACE;
    if (this.alarms.has(NOSPACE)) throw Errors.noSpace();
    // The cached size is the last measurement plus what was let in since, so
    // the backend is measured again only when that estimate reaches the quota.
    if (this.#dbSize + cost > this.quotaBackendBytes) return this.#measureQuota(cost);
    this.#dbSize += cost;
    return undefined;
  }

  async #measureQuota(cost: number): Promise<void> {
    // Applied writes wait in the backend's batch: commit them to measure them.
    await this.#o.backend.commit();
    this.#dbSize = (await this.#o.backend.size()).total;
    if (this.#dbSize + cost > this.quotaBackendBytes) {
      await this.alarm({
        action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE,
        memberID: this.memberId,
        alarm: etcdserverpb.AlarmType.NOSPACE,
      }).catch(() => undefined);
      throw Errors.noSpace();
    }
    this.#dbSize += cost;
  }

  /** Refreshes the cached backend size (the quota check reads it). */
  async refreshDbSize(): Promise<{ total: number; inUse: number }> {
    const size = await this.#o.backend.size();
    this.#dbSize = size.total;
    return size;
  }

  get backend(): Backend {
    return this.#o.backend;
  }

  async alarm(r: etcdserverpb.AlarmRequest): Promise<etcdserverpb.AlarmResponse> {
    if (r.action === etcdserverpb.AlarmRequest_AlarmAction.GET) {
      await this.linearizableReadBarrier();
      return {
        header: this.header(),
        alarms: this.alarms
          .list(r.alarm)
          .map((a) => ({ memberID: a.memberId, alarm: a.type as etcdserverpb.AlarmType })),
      };
    }
    const response = await this.#propose(
      RequestKind.Alarm,
      etcdserverpb.AlarmRequest.encode(r).finish(),
    );
    return response as etcdserverpb.AlarmResponse;
  }

  // ---------------------------------------------------------------- Auth API

  async #proposeAuth(
    kind: RequestKind,
    payload: Uint8Array,
  ): Promise<{ header: etcdserverpb.ResponseHeader | undefined }> {
    const response = await this.#propose(kind, payload);
    return response as { header: etcdserverpb.ResponseHeader | undefined };
  }

  authEnable(): Promise<{ header: etcdserverpb.ResponseHeader | undefined }> {
    return this.#proposeAuth(RequestKind.AuthEnable, new Uint8Array(0));
  }

  authDisable(): Promise<{ header: etcdserverpb.ResponseHeader | undefined }> {
    return this.#proposeAuth(RequestKind.AuthDisable, new Uint8Array(0));
  }

  /** Checks the password here, then replicates the new token through Raft. */
  async authenticate(name: string, password: string): Promise<etcdserverpb.AuthenticateResponse> {
    if (!this.auth.enabled) throw Errors.authNotEnabled();
    const user = this.auth.user(name);
    if (user === undefined || user.options?.noPassword === true) throw Errors.authFailed();
    if (!(await verifyPassword(password, user.password.toString('utf8'))))
      throw Errors.authFailed();
    const token = this.auth.newToken();
    await this.#proposeAuth(RequestKind.Authenticate, Buffer.from(JSON.stringify({ name, token })));
    return { header: this.header(), token };
  }

  /** Adds a user; the password is hashed before it enters the log. */
  async userAdd(
    r: etcdserverpb.AuthUserAddRequest,
  ): Promise<{ header: etcdserverpb.ResponseHeader | undefined }> {
    if (r.name === '') throw Errors.userEmpty();
    const noPassword = r.options?.noPassword === true;
    if (!noPassword && r.password === '' && r.hashedPassword === '') throw Errors.authFailed();
    const hashed = noPassword
      ? ''
      : r.password !== ''
        ? await hashPassword(r.password)
        : r.hashedPassword;
    const req: etcdserverpb.AuthUserAddRequest = {
      name: r.name,
      password: '',
      options: r.options,
      hashedPassword: hashed,
    };
    return this.#proposeAuth(
      RequestKind.AuthUserAdd,
      etcdserverpb.AuthUserAddRequest.encode(req).finish(),
    );
  }

  async userChangePassword(
    r: etcdserverpb.AuthUserChangePasswordRequest,
  ): Promise<{ header: etcdserverpb.ResponseHeader | undefined }> {
    const hashed = r.password !== '' ? await hashPassword(r.password) : r.hashedPassword;
    const req: etcdserverpb.AuthUserChangePasswordRequest = {
      name: r.name,
      password: '',
      hashedPassword: hashed,
    };
    return this.#proposeAuth(
      RequestKind.AuthUserChangePassword,
      etcdserverpb.AuthUserChangePasswordRequest.encode(req).finish(),
    );
  }

  userDelete(
    r: etcdserverpb.AuthUserDeleteRequest,
  ): Promise<{ header: etcdserverpb.ResponseHeader | undefined }> {
    return this.#proposeAuth(
      RequestKind.AuthUserDelete,
      etcdserverpb.AuthUserDeleteRequest.encode(r).finish(),
    );
  }

  userGrantRole(
    r: etcdserverpb.AuthUserGrantRoleRequest,
  ): Promise<{ header: etcdserverpb.ResponseHeader | undefined }> {
    return this.#proposeAuth(
      RequestKind.AuthUserGrantRole,
      etcdserverpb.AuthUserGrantRoleRequest.encode(r).finish(),
    );
  }

  userRevokeRole(
    r: etcdserverpb.AuthUserRevokeRoleRequest,
  ): Promise<{ header: etcdserverpb.ResponseHeader | undefined }> {
    return this.#proposeAuth(
      RequestKind.AuthUserRevokeRole,
      etcdserverpb.AuthUserRevokeRoleRequest.encode(r).finish(),
    );
  }

  roleAdd(
    r: etcdserverpb.AuthRoleAddRequest,
  ): Promise<{ header: etcdserverpb.ResponseHeader | undefined }> {
    return this.#proposeAuth(
      RequestKind.AuthRoleAdd,
      etcdserverpb.AuthRoleAddRequest.encode(r).finish(),
    );
  }

  roleDelete(
    r: etcdserverpb.AuthRoleDeleteRequest,
  ): Promise<{ header: etcdserverpb.ResponseHeader | undefined }> {
    return this.#proposeAuth(
      RequestKind.AuthRoleDelete,
      etcdserverpb.AuthRoleDeleteRequest.encode(r).finish(),
    );
  }

  roleGrantPermission(
    r: etcdserverpb.AuthRoleGrantPermissionRequest,
  ): Promise<{ header: etcdserverpb.ResponseHeader | undefined }> {
    if (r.perm === undefined) throw Errors.permissionNotGiven();
    return this.#proposeAuth(
      RequestKind.AuthRoleGrantPermission,
      etcdserverpb.AuthRoleGrantPermissionRequest.encode(r).finish(),
    );
  }

  roleRevokePermission(
    r: etcdserverpb.AuthRoleRevokePermissionRequest,
  ): Promise<{ header: etcdserverpb.ResponseHeader | undefined }> {
    return this.#proposeAuth(
      RequestKind.AuthRoleRevokePermission,
      etcdserverpb.AuthRoleRevokePermissionRequest.encode(r).finish(),
    );
  }

  // ---------------------------------------------------------------- proposing

  #proposePut(p: etcdserverpb.PutRequest): Promise<etcdserverpb.PutResponse> {
    const id = this.#ids.next();
    const data = encodePutEntry(id, p);
    if (data === undefined) {
      return this.#proposeResponse(RequestKind.Put, etcdserverpb.PutRequest.encode(p).finish(), p);
    }
    return this.#proposeEntry(
      data,
      data.length - INTERNAL_HEADER_BYTES,
      id,
      p,
    ) as Promise<etcdserverpb.PutResponse>;
  }

  /** #propose for a client request whose response type the caller knows. */
  #proposeResponse<R>(kind: RequestKind, payload: Uint8Array, request: object): Promise<R> {
    return this.#propose(kind, payload, request) as Promise<R>;
  }

  /**
   * Proposes a request and resolves with its apply response, or rejects
   * after the request timeout. `request` is the object `payload` encodes:
   * applying this member's own entry then needs no decoding (see
   * WaitRegistry.local). No async function and no timer per request: the
   * registry's promise is the only one, its single timer the only timer.
   */
  #propose(
    kind: RequestKind,
    payload: Uint8Array,
    request?: object,
    id = this.#ids.next(),
  ): Promise<ApplyResult> {
    const data = encodeInternalRequest({ kind, id, payload });
    return this.#proposeEntry(data, payload.length, id, request);
  }

  /** Proposes an encoded entry (see #propose); `payloadBytes` is the request's size. */
  #proposeEntry(
    data: Uint8Array,
    payloadBytes: number,
    id: bigint,
    request: object | undefined,
  ): Promise<ApplyResult> {
    if (this.#stopped) return Promise.reject(Errors.stopped());
    if (payloadBytes > this.maxRequestBytes) return Promise.reject(Errors.requestTooLarge());
    if (this.leader === 0n) {
      return this.waitForLeader().then(() => this.#proposeNow(data, id, request));
    }
    return this.#proposeNow(data, id, request);
  }

  #proposeNow(data: Uint8Array, id: bigint, request: object | undefined): Promise<ApplyResult> {
    this.counters.proposalsPending++;
    const result = this.#waits.register(id, this.requestTimeoutMs, data, request);
    try {
      this.#raft.propose(data);
    } catch (err) {
      this.#waits.reject(id, err instanceof RaftError ? Errors.noLeader() : err);
    }
    return result;
  }

  // ---------------------------------------------------------------- apply

  async #readConsistentIndex(): Promise<number> {
    const v = await this.#o.backend.get('meta', META_CONSISTENT_INDEX);
    if (v === undefined || v.length < 8) return 0;
    return Number(Buffer.from(v).readBigUInt64BE(0));
  }

  #writeConsistentIndex(index: number, term: number): void {
    this.#o.backend.put('meta', META_CONSISTENT_INDEX, uint64BE(index));
    // The stored term changes rarely: rewrite it only when it does.
    if (term !== this.#consistentTerm) {
      this.#o.backend.put('meta', META_TERM, uint64BE(term));
      this.#consistentTerm = term;
    }
    this.#consistentIndex = index;
  }

  async #applyEntries(entries: readonly Entry[]): Promise<void> {
    let droppedConfChange = false;
    for (const e of entries) {
      const alreadyApplied = e.index <= this.#consistentIndex;
      // A leader's only empty entry is the first of its term; any other one
      // is a conf change raft refused (one was still unapplied) and emptied.
      if (e.type === EntryType.Normal && e.data.length === 0 && e.term === this.#lastAppliedTerm)
        droppedConfChange = true;
      this.#lastAppliedTerm = e.term;
      if (e.type === EntryType.ConfChange || e.type === EntryType.ConfChangeV2) {
        this.#applyConfChange(e, alreadyApplied);
      } else if (!alreadyApplied && e.data.length > 0) {
        // Most entries apply without awaiting anything (see #applyNormal).
        const pending = this.#applyNormal(e);
        if (pending !== undefined) await pending;
      } else if (!alreadyApplied) {
        this.#writeConsistentIndex(e.index, e.term);
      }
      this.#appliedIndex = e.index;
      this.counters.proposalsApplied++;
    }
    this.counters.proposalsCommitted = this.#appliedIndex;
    this.#reads.onApplied(this.#appliedIndex);
    if (droppedConfChange) this.#reproposeConfChanges();
    if (this.#appliedIndex - this.#snapshotIndex > this.snapshotCount) {
      void this.#snapshot();
    }
  }

  /**
   * Applies one normal entry. Returns undefined when it is done (the common
   * case: a put or a txn without reads applies synchronously, with no
   * promise), or a promise when some step had to wait.
   */
  #applyNormal(e: Entry): Promise<void> | undefined {
    let req: InternalRequest;
    try {
      req = decodeInternalRequest(e.data);
    } catch {
      this.#writeConsistentIndex(e.index, e.term);
      return undefined;
    }
    const failpoint = this.#o.failpoint?.('beforeApply');
    if (failpoint !== undefined) return failpoint.then(() => this.#applyRequest(e, req));
    return this.#applyRequest(e, req);
  }

  #applyRequest(e: Entry, req: InternalRequest): Promise<void> | undefined {
    const txn = this.mvcc.write();
    let result: ApplyResult | Promise<ApplyResult>;
    try {
      result = this.#dispatch(req, e.data, { txn, leases: this.lessor });
    } catch (err) {
      return this.#finishApply(e, req.id, txn, undefined, err);
    }
    if (result instanceof Promise) {
      return result.then(
        (r) => this.#finishApply(e, req.id, txn, r, undefined),
        (err: unknown) => this.#finishApply(e, req.id, txn, undefined, err),
      );
    }
    return this.#finishApply(e, req.id, txn, result, undefined);
  }

  #finishApply(
    e: Entry,
    id: bigint,
    txn: WriteTxn,
    result: ApplyResult | undefined,
    error: unknown,
  ): Promise<void> | undefined {
    // From here until the waiter is settled nothing awaits: the MVCC changes
    // and the consistent index reach the backend buffer together, so a batch
    // commit can never separate them.
    txn.end();
    this.#writeConsistentIndex(e.index, e.term);
    const revision = this.mvcc.currentRevision();
    if (error !== undefined) {
      this.#waits.reject(id, error);
      return undefined;
    }
    if (result !== undefined && this.#waits.has(id)) {
      const failpoint = this.#o.failpoint?.('beforeRespond');
      if (failpoint !== undefined) return failpoint.then(() => this.#respond(id, result, revision));
      this.#respond(id, result, revision);
    }
    return undefined;
  }

  #respond(id: bigint, result: ApplyResult, revision: number): void {
    stampHeader(result, this.header(revision));
    this.#waits.resolve(id, result);
  }

  /**
   * Runs one request against the open write txn. A put or txn this member
   * proposed is applied from the object it encoded (identical to what
   * decoding the entry gives, see WaitRegistry.local); other members decode.
   * Synchronous unless the request must read.
   */
  #dispatch(
    req: InternalRequest,
    data: Uint8Array,
    ctx: ApplyContext,
  ): ApplyResult | Promise<ApplyResult> {
    // While CORRUPT is raised, etcd's apply refuses every change to the key
    // space and to leases (reads, alarms and membership still work).
    if (REFUSED_WHEN_CORRUPT.has(req.kind) && this.alarms.has(etcdserverpb.AlarmType.CORRUPT)) {
      throw Errors.corrupt();
    }
    switch (req.kind) {
      case RequestKind.Put: {
        let p =
          (this.#waits.local(req.id, data) as etcdserverpb.PutRequest | undefined) ??
          decodePutRequest(req.payload) ??
          etcdserverpb.PutRequest.decode(req.payload);
        if (this.#o.unsafeTestModes?.corruptPuts === true) {
          // A copy: the local request object belongs to the caller.
          p = { ...p, value: Buffer.concat([p.value, Buffer.from('\u0000corrupted')]) };
        }
        return applyPut(ctx, p);
      }
      case RequestKind.DeleteRange:
        return applyDeleteRange(ctx, etcdserverpb.DeleteRangeRequest.decode(req.payload));
      case RequestKind.Txn: {
        const t =
          (this.#waits.local(req.id, data) as etcdserverpb.TxnRequest | undefined) ??
          decodeTxnRequest(req.payload) ??
          etcdserverpb.TxnRequest.decode(req.payload);
        const prechecked = this.#precheckTxn(ctx.txn, t);
        if (prechecked !== undefined) return prechecked.then(() => applyTxn(ctx, t));
        return applyTxn(ctx, t);
      }
      case RequestKind.Compaction: {
        const c = etcdserverpb.CompactionRequest.decode(req.payload);
        let physical: Promise<void>;
        try {
          physical = this.mvcc.compact(toSafeNumber(c.revision));
        } catch (err) {
          throw mapMvccError(err);
        }
        physical.catch(() => undefined);
        if (this.#waits.has(req.id)) this.#compactions.set(req.id, physical);
        return { header: emptyHeader() };
      }
      case RequestKind.LeaseGrant: {
        const g = etcdserverpb.LeaseGrantRequest.decode(req.payload);
        const lease = this.lessor.grant(this.#o.backend, g.ID, toSafeNumber(g.TTL));
        return { header: emptyHeader(), ID: lease.id, TTL: BigInt(lease.ttl), error: '' };
      }
      case RequestKind.LeaseRevoke: {
        const r = etcdserverpb.LeaseRevokeRequest.decode(req.payload);
        const lease = this.lessor.revoke(this.#o.backend, r.ID);
        for (const key of lease.keys.values()) ctx.txn.deleteRange(key, undefined);
        return { header: emptyHeader() };
      }
      case RequestKind.Alarm: {
        const a = etcdserverpb.AlarmRequest.decode(req.payload);
        const alarm = { memberId: a.memberID, type: a.alarm };
        const Action = etcdserverpb.AlarmRequest_AlarmAction;
        let changed: { memberId: bigint; type: number }[] = [];
        if (a.action === Action.ACTIVATE && a.alarm !== etcdserverpb.AlarmType.NONE) {
          this.alarms.activate(this.#o.backend, alarm);
          changed = [alarm];
        } else if (a.action === Action.DEACTIVATE) {
          const targets = a.alarm === etcdserverpb.AlarmType.NONE ? this.alarms.list() : [alarm];
          changed = targets.filter((t) => this.alarms.deactivate(this.#o.backend, t));
        }
        return {
          header: emptyHeader(),
          alarms: changed.map((c) => ({ memberID: c.memberId, alarm: c.type })),
        };
      }
      case RequestKind.MemberAttributes: {
        const a = JSON.parse(Buffer.from(req.payload).toString('utf8')) as {
          id: string;
          name: string;
          clientURLs: string[];
        };
        this.cluster.update(this.#o.backend, BigInt(`0x${a.id}`), {
          name: a.name,
          clientURLs: a.clientURLs,
        });
        return {};
      }
      case RequestKind.Noop:
        return {};
      case RequestKind.AuthEnable:
        this.auth.applyEnable(this.#o.backend);
        return { header: emptyHeader() };
      case RequestKind.AuthDisable:
        this.auth.applyDisable(this.#o.backend);
        return { header: emptyHeader() };
      case RequestKind.Authenticate: {
        const a = JSON.parse(Buffer.from(req.payload).toString('utf8')) as {
          name: string;
          token: string;
        };
        this.auth.applyAuthenticate(a.name, a.token);
        return { header: emptyHeader() };
      }
      case RequestKind.AuthUserAdd:
        this.auth.applyUserAdd(
          this.#o.backend,
          etcdserverpb.AuthUserAddRequest.decode(req.payload),
        );
        return { header: emptyHeader() };
      case RequestKind.AuthUserDelete:
        this.auth.applyUserDelete(
          this.#o.backend,
          etcdserverpb.AuthUserDeleteRequest.decode(req.payload).name,
        );
        return { header: emptyHeader() };
      case RequestKind.AuthUserChangePassword: {
        const c = etcdserverpb.AuthUserChangePasswordRequest.decode(req.payload);
        this.auth.applyUserChangePassword(this.#o.backend, c.name, c.hashedPassword);
        return { header: emptyHeader() };
      }
      case RequestKind.AuthUserGrantRole: {
        const g = etcdserverpb.AuthUserGrantRoleRequest.decode(req.payload);
        this.auth.applyUserGrantRole(this.#o.backend, g.user, g.role);
        return { header: emptyHeader() };
      }
      case RequestKind.AuthUserRevokeRole: {
        const g = etcdserverpb.AuthUserRevokeRoleRequest.decode(req.payload);
        this.auth.applyUserRevokeRole(this.#o.backend, g.name, g.role);
        return { header: emptyHeader() };
      }
      case RequestKind.AuthRoleAdd:
        this.auth.applyRoleAdd(
          this.#o.backend,
          etcdserverpb.AuthRoleAddRequest.decode(req.payload).name,
        );
        return { header: emptyHeader() };
      case RequestKind.AuthRoleDelete:
        this.auth.applyRoleDelete(
          this.#o.backend,
          etcdserverpb.AuthRoleDeleteRequest.decode(req.payload).role,
        );
        return { header: emptyHeader() };
      case RequestKind.AuthRoleGrantPermission: {
        const g = etcdserverpb.AuthRoleGrantPermissionRequest.decode(req.payload);
        if (g.perm === undefined) throw Errors.permissionNotGiven();
        this.auth.applyRoleGrantPermission(this.#o.backend, g.name, g.perm);
        return { header: emptyHeader() };
      }
      case RequestKind.AuthRoleRevokePermission: {
        const g = etcdserverpb.AuthRoleRevokePermissionRequest.decode(req.payload);
        this.auth.applyRoleRevokePermission(this.#o.backend, g.role, g.key, g.rangeEnd);
        return { header: emptyHeader() };
      }
      default:
        throw new EtcdError(12, `unknown request kind ${req.kind as number}`);
    }
  }

  /**
   * Errors a txn's chosen branch would hit, found before anything is written.
   * Undefined when no op needs a read (checked without a promise), else the
   * promise of the full check.
   */
  #precheckTxn(txn: WriteTxn, t: etcdserverpb.TxnRequest): Promise<void> | undefined {
    if (this.#precheckNeedsRead(t.success) || this.#precheckNeedsRead(t.failure)) {
      return this.#precheckTxnReading(txn, t);
    }
    this.#precheckLeases(t.success);
    this.#precheckLeases(t.failure);
    return undefined;
  }

  #precheckNeedsRead(ops: readonly etcdserverpb.RequestOp[]): boolean {
    for (const op of ops) {
      const r = op.request;
      if (r?.$case === 'requestPut' && (r.value.ignoreValue || r.value.ignoreLease)) return true;
      if (
        r?.$case === 'requestTxn' &&
        (this.#precheckNeedsRead(r.value.success) || this.#precheckNeedsRead(r.value.failure))
      ) {
        return true;
      }
    }
    return false;
  }

  #precheckLeases(ops: readonly etcdserverpb.RequestOp[]): void {
    for (const op of ops) {
      const r = op.request;
      if (r?.$case === 'requestPut') {
        const lease = r.value.lease;
        if (lease !== 0n && !this.lessor.exists(lease)) throw Errors.leaseNotFound();
      } else if (r?.$case === 'requestTxn') {
        this.#precheckLeases(r.value.success);
        this.#precheckLeases(r.value.failure);
      }
    }
  }

  async #precheckTxnReading(txn: WriteTxn, t: etcdserverpb.TxnRequest): Promise<void> {
    const visit = async (ops: readonly etcdserverpb.RequestOp[]): Promise<void> => {
      for (const op of ops) {
        const r = op.request;
        if (r?.$case === 'requestPut') {
          const p = r.value;
          if (p.ignoreValue || p.ignoreLease) {
            const cur = await txn.range(p.key, undefined, {});
            if (cur.kvs.length === 0) throw Errors.keyNotFound();
          }
          if (p.lease !== 0n && !this.lessor.exists(p.lease)) throw Errors.leaseNotFound();
        } else if (r?.$case === 'requestTxn') {
          await visit(r.value.success);
          await visit(r.value.failure);
        }
      }
    };
    await visit(t.success);
    await visit(t.failure);
  }

  #applyConfChange(e: Entry, alreadyApplied: boolean): void {
    const cc = decodeConfChange(e.data);
    const change = 'changes' in cc ? undefined : cc;
    if (change === undefined) {
      this.#confState = this.#raft.rawNode.applyConfChange(cc);
      return;
    }
    const backend = alreadyApplied ? undefined : this.#o.backend;
    let waiterId: bigint | undefined;
    let rejected = false;
    let ignored = false;
    switch (change.type) {
      case ConfChangeType.AddNode:
      case ConfChangeType.AddLearnerNode: {
        const ctx = decodeMemberContext(change.context);
        waiterId = ctx.requestId;
        const existing = this.cluster.member(change.nodeId);
        if (this.cluster.isRemoved(change.nodeId)) {
          rejected = true;
        } else if (existing !== undefined && change.type === ConfChangeType.AddNode) {
          // Promotion of a learner (or a voter added again: nothing changes).
          this.cluster.update(backend, change.nodeId, { isLearner: false });
        } else if (existing !== undefined) {
          // A learner added again (a proposal made twice): nothing changes.
          ignored = true;
        } else {
          this.cluster.add(backend, {
            id: change.nodeId,
            name: ctx.member.name,
            peerURLs: ctx.member.peerURLs,
            clientURLs: ctx.member.clientURLs,
            isLearner: change.type === ConfChangeType.AddLearnerNode,
          });
          if (change.nodeId !== this.memberId) {
            this.#transport.addPeer(change.nodeId, ctx.member.peerURLs);
          }
        }
        break;
      }
      case ConfChangeType.RemoveNode: {
        waiterId =
          change.context.length > 0 ? decodeMemberContext(change.context).requestId : undefined;
        this.cluster.remove(backend, change.nodeId);
        if (change.nodeId !== this.memberId) this.#transport.removePeer(change.nodeId);
        break;
      }
      case ConfChangeType.UpdateNode: {
        const ctx = decodeMemberContext(change.context);
        waiterId = ctx.requestId;
        this.cluster.update(backend, change.nodeId, { peerURLs: ctx.member.peerURLs });
        this.#transport.updatePeer(change.nodeId, ctx.member.peerURLs);
        break;
      }
    }
    if (rejected || ignored) {
      this.#confState = this.#raft.rawNode.applyConfChange({
        type: ConfChangeType.RemoveNode,
        nodeId: 0n,
        context: new Uint8Array(0),
      });
    } else {
      this.#confState = this.#raft.rawNode.applyConfChange(change);
    }
    if (!alreadyApplied) this.#writeConsistentIndex(e.index, e.term);
    if (waiterId !== undefined && waiterId !== 0n) {
      if (rejected) this.#waits.reject(waiterId, Errors.memberNotFound());
      else this.#waits.resolve(waiterId, this.cluster.members());
    }
    if (change.type === ConfChangeType.RemoveNode && change.nodeId === this.memberId) {
      // This member was removed: it stops serving. Whether it learns so by
      // applying the entry or by a peer's refusal depends on timing, so both
      // paths say the same.
      this.#removed();
    }
  }

  // ------------------------------------------------------------ membership

  /** Voting members connected to this one for the health interval (this one counts). */
  #numConnectedSince(since: number, voters: readonly Member[]): number {
    let n = 0;
    for (const m of voters) {
      if (m.id === this.memberId) {
        n++;
        continue;
      }
      const t = this.#transport.activeSince(m.id);
      if (t !== 0 && t < since) n++;
    }
    return n;
  }

  #voters(): Member[] {
    return this.cluster.members().filter((m) => !m.isLearner);
  }

  /**
   * etcd's mayAddMember (--strict-reconfig-check): a voting member is added
   * only if the started members stay a quorum, and any member only while
   * this member has been connected to every voting member for the health
   * interval.
   */
  mayAddMember(isLearner: boolean): void {
    if (!this.strictReconfigCheck) return;
    const voters = this.#voters();
    if (!isLearner) {
      // The member being added counts, not started.
      const members = voters.length + 1;
      const started = voters.filter((m) => m.name !== '').length;
      const restoring = started === 1 && members === 2;
      if (!restoring && started < Math.floor(members / 2) + 1) {
        throw Errors.memberNotEnoughStarted();
      }
    }
    const since = this.#o.clock.now() - this.reconfigHealthIntervalMs;
    if (this.#numConnectedSince(since, voters) !== voters.length) throw Errors.unhealthy();
  }

  /**
   * etcd's mayRemoveMember: a learner may always go; a voting member only if
   * the started members left are a quorum and, unless it is down already,
   * the members connected for the health interval stay a quorum without it.
   */
  mayRemoveMember(id: bigint): void {
    if (!this.strictReconfigCheck) return;
    if (this.cluster.member(id)?.isLearner === true) return;
    const voters = this.#voters();
    const rest = voters.filter((m) => m.id !== id);
    const started = rest.filter((m) => m.name !== '').length;
    if (started < Math.floor(rest.length / 2) + 1) throw Errors.memberNotEnoughStarted();
    // A member that is down is not part of the active quorum.
    if (id !== this.memberId && this.#transport.activeSince(id) === 0) return;
    const since = this.#o.clock.now() - this.reconfigHealthIntervalMs;
    const active = this.#numConnectedSince(since, voters);
    if (active - 1 < 1 + Math.floor((voters.length - 1) / 2)) throw Errors.unhealthy();
  }

  /**
   * Promotes a learner (etcd's PromoteMember). Only the leader knows whether
   * the learner has caught up: a follower forwards the request to it over
   * the peer transport and returns its answer, asking again (the leader may
   * change) until the request timeout.
   */
  async promoteMember(id: bigint): Promise<Member[]> {
    try {
      return await this.#promoteAsLeader(id);
    } catch (err) {
      if (!(err instanceof EtcdError) || err.message !== Errors.notLeader().message) throw err;
    }
    const deadline = this.#o.clock.now() + this.requestTimeoutMs;
    const payload = Buffer.alloc(8);
    payload.writeBigUInt64BE(id);
    for (;;) {
      const left = deadline - this.#o.clock.now();
      if (left <= 0 || this.#stopped) throw this.#stopped ? Errors.stopped() : Errors.timeout();
      if (this.leader === 0n) {
        try {
          await this.waitForLeader(left);
        } catch {
          throw Errors.noLeader();
        }
        continue;
      }
      if (this.isLeader) return this.#promoteAsLeader(id);
      let answer: { members?: StoredMemberJson[]; error?: { code: number; message: string } };
      try {
        const raw = await this.#transport.request(this.leader, PROMOTE_REQUEST, payload, left);
        answer = JSON.parse(Buffer.from(raw).toString('utf8')) as typeof answer;
      } catch {
        answer = {};
      }
      if (answer.members !== undefined) {
        return answer.members.map((m) => ({ ...m, id: BigInt(`0x${m.id}`) }));
      }
      // The leader's final answers; anything else is asked again, as etcd does.
      const e = answer.error;
      if (e !== undefined && PROMOTE_FINAL_ERRORS.has(e.message)) {
        throw new EtcdError(e.code, e.message);
      }
      await new Promise<void>((resolve) => {
        this.#o.clock.setTimeout(resolve, Math.min(50, Math.max(1, left)));
      });
    }
  }

  async #promoteAsLeader(id: bigint): Promise<Member[]> {
    const m = this.cluster.member(id);
    if (m === undefined) throw Errors.memberNotFound();
    if (!m.isLearner) throw Errors.memberNotLearner();
    if (!this.isLeader) throw Errors.notLeader();
    // A learner is ready when it has at least 90% of the leader's log.
    const status = this.raftStatus();
    const progress = status.progress?.get(id);
    const commit = status.hardState.commit;
    if (progress === undefined || progress.match < commit * 0.9) throw Errors.learnerNotReady();
    if (this.strictReconfigCheck) {
      // etcd's IsReadyToPromoteMember: the learner counts as a started voter.
      const voters = this.#voters();
      const members = voters.length + 1;
      const started = voters.filter((v) => v.name !== '').length + 1;
      if (started < Math.floor(members / 2) + 1) throw Errors.memberNotEnoughStarted();
    }
    return this.proposeConfChange(ConfChangeType.AddNode, id, {
      name: m.name,
      peerURLs: m.peerURLs,
      clientURLs: m.clientURLs,
    });
  }

  /** The leader's side of a promotion forwarded by a follower. */
  async #answerPromote(payload: Uint8Array): Promise<Uint8Array> {
    let answer: unknown;
    try {
      if (payload.length < 8) throw Errors.memberNotFound();
      const members = await this.#promoteAsLeader(Buffer.from(payload).readBigUInt64BE(0));
      answer = { members: members.map((m) => ({ ...m, id: m.id.toString(16) })) };
    } catch (err) {
      answer =
        err instanceof EtcdError
          ? { error: { code: err.grpcCode, message: err.message } }
          : { error: { code: 2, message: String(err) } };
    }
    return Buffer.from(JSON.stringify(answer));
  }

  /** Proposes a membership change and waits until it is applied. */
  async proposeConfChange(
    type: ConfChangeType,
    nodeId: bigint,
    member: Omit<Member, 'id' | 'isLearner'> | undefined,
  ): Promise<Member[]> {
    if (this.leader === 0n) await this.waitForLeader();
    const requestId = this.#ids.next();
    const context = encodeMemberContext(
      {
        id: nodeId,
        name: member?.name ?? '',
        peerURLs: member?.peerURLs ?? [],
        clientURLs: member?.clientURLs ?? [],
        isLearner: false,
      },
      requestId,
    );
    this.counters.proposalsPending++;
    const result = this.#waits.register(requestId, this.requestTimeoutMs);
    // etcd-io/raft turns a conf change into an empty entry while another one
    // is unapplied (and a proposal forwarded to a leader that goes away is
    // lost), so this one is proposed again when that is seen, until it is
    // applied or times out. Applying a conf change twice changes nothing.
    const propose = (): void => {
      try {
        this.#raft.withRawNode((n) => n.proposeConfChange({ type, nodeId, context }));
      } catch {
        // No leader right now: the next leader change proposes it again.
      }
    };
    try {
      this.#raft.withRawNode((n) => n.proposeConfChange({ type, nodeId, context }));
    } catch (err) {
      this.#waits.reject(requestId, err instanceof RaftError ? Errors.noLeader() : err);
    }
    this.#pendingConfChanges.set(requestId, propose);
    const retry = this.#o.clock.setInterval(propose, Math.max(this.electionMs, 100));
    try {
      return (await result) as Member[];
    } finally {
      retry.cancel();
      this.#pendingConfChanges.delete(requestId);
    }
  }

  /** Proposes the pending conf changes again, once raft has advanced past this apply. */
  #reproposeConfChanges(): void {
    if (this.#pendingConfChanges.size === 0) return;
    setImmediate(() => {
      if (this.#stopped) return;
      for (const propose of this.#pendingConfChanges.values()) propose();
    });
  }

  // ---------------------------------------------------------------- snapshots

  async #snapshot(): Promise<void> {
    if (this.#snapshotting || this.#stopped) return;
    this.#snapshotting = true;
    try {
      const index = this.#appliedIndex;
      // The backend must hold everything up to the snapshot, on disk (commits
      // do not fsync), before the log behind it can be dropped.
      await this.#o.backend.commit({ sync: true });
      const snap = this.#raftStorage.createSnapshot(index, this.#confState, new Uint8Array(0));
      await this.#o.memberStorage.saveSnapshot(snap);
      this.#snapshotIndex = index;
      const keep = this.#o.snapshotCatchUpEntries ?? 5000;
      const compactTo = index - keep;
      if (compactTo > this.#raftStorage.firstIndex()) {
        this.#raftStorage.compact(compactTo);
      }
      await this.#o.memberStorage.releaseTo(index);
      this.#log.info({ index, 'compacted-raft-log-to': compactTo }, 'saved snapshot');
    } catch (err) {
      if (!this.#stopped) this.#fatal(err);
    } finally {
      this.#snapshotting = false;
    }
  }

  /**
   * The snapshot sent to a follower describes the backend as it is now: the
   * backend is committed, and the message's metadata is replaced by the
   * current applied index, its term and the current membership (a follower
   * refuses a snapshot whose membership does not include it, as a member
   * added after the last snapshot would be).
   */
  async #snapshotSource(
    m: Message,
  ): Promise<{ message: Message; chunks: AsyncIterable<Uint8Array> }> {
    await this.#raft.idle();
    await this.#o.backend.commit();
    // Read the index before taking the snapshot: the data then holds at least
    // every entry up to it (later ones are harmless, the consistent index in
    // the data makes the follower skip them).
    const index = this.#appliedIndex;
    const snap = await this.#o.backend.snapshot();
    const metadata = { index, term: this.#raftStorage.term(index), confState: this.#confState };
    const message: Message = { ...m, snapshot: { data: new Uint8Array(0), metadata } };
    const chunks = (async function* () {
      try {
        yield* snap.chunks();
      } finally {
        await snap.close();
      }
    })();
    return { message, chunks };
  }

  async #applySnapshot(snap: Snapshot): Promise<void> {
    const index = snap.metadata.index;
    const chunks = await this.#o.memberStorage.snapshotData(index);
    if (chunks === undefined) {
      throw new Error(`snapshot data for index ${index} was not received`);
    }
    // In place, as etcd: watchers survive and catch up from the new contents.
    await this.mvcc.restore(chunks);
    // The backend holds it now, on disk (restore syncs and swaps atomically).
    await this.#o.memberStorage.releaseSnapshotData(index);
    this.#consistentIndex = await this.#readConsistentIndex();
    this.#consistentTerm = -1;
    this.cluster = await Cluster.load(this.#o.backend, this.clusterId);
    await this.lessor.restore(this.#o.backend, (id) => this.mvcc.keysWithLease(id));
    await this.alarms.load(this.#o.backend);
    await this.auth.load(this.#o.backend);
    for (const m of this.cluster.members()) this.#transport.updatePeer(m.id, m.peerURLs);
    this.#confState = snap.metadata.confState;
    this.#snapshotIndex = snap.metadata.index;
    this.#appliedIndex = snap.metadata.index;
    this.#reads.onApplied(this.#appliedIndex);
    this.#log.info(
      {
        index: snap.metadata.index,
        term: snap.metadata.term,
        revision: this.mvcc.currentRevision(),
      },
      'applied incoming snapshot',
    );
  }

  get #log(): Logger {
    return this.#o.logger ?? silentLogger;
  }

  #transportHandler(): TransportHandler {
    return {
      onMessage: (m) => {
        if (m.type === MessageType.MsgHeartbeatResp) {
          const sent = this.#heartbeatSent.get(m.from);
          if (sent !== undefined) {
            this.#heartbeatSent.delete(m.from);
            this.#o.onPeerRoundTrip?.(m.from, (this.#o.clock.now() - sent) / 1000);
          }
        }
        this.#raft.step(m);
      },
      onSnapshot: async (m, chunks) => {
        // On disk before Raft sees it: once Raft records the snapshot the log
        // before it is gone, and a restart needs the data to replace the backend.
        const index = m.snapshot?.metadata.index ?? 0;
        try {
          await this.#o.memberStorage.saveSnapshotData(index, chunks);
        } catch (err) {
          // The leader is told and tries again; say why here.
          this.#log.warn(
            { index, from: m.from.toString(16), error: String(err) },
            'failed to save incoming database snapshot',
          );
          throw err;
        }
        if (this.#stopped) throw new Error('member stopped while receiving a snapshot');
        this.#raft.step(m);
      },
      reportUnreachable: (id) => this.#raft.withRawNode((n) => n.reportUnreachable(id)),
      reportSnapshot: (id, status) => this.#raft.withRawNode((n) => n.reportSnapshot(id, status)),
      onRequest: (kind, payload) => this.#answerPeer(kind, payload),
      isRemovedMember: (id) => this.cluster.isRemoved(id),
      onRemovedFromCluster: () => {
        // A peer applied this member's removal (this member missed it, cut
        // off at the time): it stops, as one that applies its own removal.
        this.#removed();
      },
    };
  }

  // ---------------------------------------------------------------- events

  #onSoftState(st: SoftState): void {
    for (const listener of [...this.#roleListeners]) listener();
    if (st.lead !== this.#lastLeader) {
      if (st.lead !== 0n) this.counters.leaderChanges++;
      this.#lastLeader = st.lead;
      this.#reads.onLeaderChange();
      // A conf change forwarded to the old leader may be lost.
      if (st.lead !== 0n) this.#reproposeConfChanges();
    }
    if (st.role === StateRole.Leader && !this.lessor.isPrimary) {
      this.lessor.promote(this.electionMs);
    } else if (st.role !== StateRole.Leader && this.lessor.isPrimary) {
      this.lessor.demote();
    }
    if (st.lead !== 0n) {
      const waiters = this.#leaderWaiters;
      this.#leaderWaiters = [];
      for (const w of waiters) w();
    }
  }

  #onReadStates(states: readonly ReadState[]): void {
    for (const s of states) this.#reads.onReadState(s.requestCtx, s.index);
  }

  #revokeExpiredLeases(): void {
    if (!this.isLeader || this.#stopped) return;
    for (const id of this.lessor.expired(1000)) {
      this.leaseRevoke({ ID: id }).catch(() => undefined);
    }
  }

  #schedulePublish(delayMs: number): void {
    if (this.#stopped || this.#published) return;
    this.#publishTimer = this.#o.clock.setTimeout(() => {
      const attrs = JSON.stringify({
        id: this.memberId.toString(16),
        name: this.name,
        clientURLs: this.#o.clientURLs,
      });
      this.#propose(RequestKind.MemberAttributes, Buffer.from(attrs)).then(
        () => {
          this.#published = true;
          const ws = this.#publishedWaiters;
          this.#publishedWaiters = [];
          for (const w of ws) w();
        },
        () => this.#schedulePublish(this.electionMs),
      );
    }, delayMs);
  }

  #removed(): void {
    if (this.#stopped) return;
    this.#log.warn({}, 'this member was removed from the cluster; stopping');
    void this.stop();
    this.#o.onRemoved?.();
  }

  #fatal(err: unknown): void {
    this.#o.onFatal?.(err);
    void this.stop();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Stops the member: pending requests fail, storage is flushed and closed. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#leaseTimer?.cancel();
    this.#publishTimer?.cancel();
    void this.#corruption?.stop();
    await this.#raft.stop();
    this.#reads.close(Errors.stopped());
    this.#waits.rejectAll(Errors.stopped());
    await this.#transport.close();
    await this.mvcc.close();
    await this.#o.backend.close();
    await this.#o.memberStorage.close();
  }
}

const REFUSED_WHEN_CORRUPT: ReadonlySet<RequestKind> = new Set([
  RequestKind.Put,
  RequestKind.DeleteRange,
  RequestKind.Txn,
  RequestKind.Compaction,
  RequestKind.LeaseGrant,
  RequestKind.LeaseRevoke,
]);

/** A WriteTxn look-alike that reads at a fixed revision and refuses writes. */
function readOnlyTxn(mvcc: MvccStore, revision: number): WriteTxn {
  const refuse = (): never => {
    throw new Error('write in a read-only txn');
  };
  return {
    revision,
    range: (key, end, options) =>
      mvcc.range(key, end, { ...options, revision: options?.revision || revision }),
    put: refuse,
    deleteRange: refuse,
    end: () => [],
  };
}

/** A txn whose every range asks for serializable reads. */
function isSerializableTxn(t: etcdserverpb.TxnRequest): boolean {
  return allSerializable(t.success) && allSerializable(t.failure);
}

function allSerializable(ops: readonly etcdserverpb.RequestOp[]): boolean {
  for (const op of ops) {
    const r = op.request;
    if (r === undefined) continue;
    if (r.$case === 'requestRange' ? !r.value.serializable : r.$case !== 'requestTxn') return false;
    if (r.$case === 'requestTxn' && !isSerializableTxn(r.value)) return false;
  }
  return true;
}

// Loops rather than every() with closures: this runs on every txn.
function isReadOnlyTxn(t: etcdserverpb.TxnRequest): boolean {
  return allReadOnly(t.success) && allReadOnly(t.failure);
}

function allReadOnly(ops: readonly etcdserverpb.RequestOp[]): boolean {
  for (const op of ops) {
    const r = op.request;
    if (r === undefined || r.$case === 'requestRange') continue;
    if (r.$case !== 'requestTxn' || !isReadOnlyTxn(r.value)) return false;
  }
  return true;
}

/**
 * Sets the header of a response object. Responses nested in a txn carry only
 * the txn's revision, as etcd reports them.
 */
function stampHeader(response: unknown, header: etcdserverpb.ResponseHeader): void {
  if (typeof response !== 'object' || response === null) return;
  const r = response as {
    header?: etcdserverpb.ResponseHeader;
    responses?: etcdserverpb.ResponseOp[];
  };
  if ('header' in r) r.header = header;
  if (Array.isArray(r.responses) && r.responses.length > 0) {
    // One header object for all nested responses: they are only read (encoded).
    const nested = { clusterId: 0n, memberId: 0n, revision: header.revision, raftTerm: 0n };
    stampNested(r.responses, nested);
  }
}

function stampNested(
  ops: readonly etcdserverpb.ResponseOp[],
  header: etcdserverpb.ResponseHeader,
): void {
  for (const op of ops) {
    const inner = op.response;
    if (inner === undefined) continue;
    inner.value.header = header;
    if (inner.$case === 'responseTxn') stampNested(inner.value.responses, header);
  }
}

/** Peer request kind: a follower forwards MemberPromote to the leader. */
const PROMOTE_REQUEST = 'member-promote';

/** The leader's answers to a forwarded promotion that end it (etcd's promoteMemberHTTP). */
const PROMOTE_FINAL_ERRORS = new Set([
  Errors.learnerNotReady().message,
  Errors.memberNotFound().message,
  Errors.memberNotLearner().message,
]);

interface StoredMemberJson {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

interface MemberContext {
  readonly requestId: bigint;
  readonly member: { name: string; peerURLs: string[]; clientURLs: string[] };
}

export function encodeMemberContext(m: Member, requestId = 0n): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      requestId: requestId.toString(16),
      member: { name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs },
    }),
  );
}

function decodeMemberContext(b: Uint8Array): MemberContext {
  if (b.length === 0) return { requestId: 0n, member: { name: '', peerURLs: [], clientURLs: [] } };
  const j = JSON.parse(Buffer.from(b).toString('utf8')) as {
    requestId: string;
    member: MemberContext['member'];
  };
  return { requestId: BigInt(`0x${j.requestId}`), member: j.member };
}

export { encodeConfChange };

/** A promise rejected with `err` (thrown as is, whatever its type). */
async function rejected(err: unknown): Promise<never> {
  throw err;
}
