// A deterministic, fault-injecting simulator. One seeded PRNG drives
// everything (network, faults, workload, election timeouts), so a seed
// replays exactly. Invariants are checked after every step.
import { decodeConfChange } from '../codec';
import { describeMessage } from '../describe';
import { RaftError } from '../errors';
import { RawNode } from '../raw-node';
import { MemoryStorage } from '../storage';
import type { ConfChangeSingle, ConfState, Entry, Message, NodeId } from '../types';
import { ConfChangeType, EntryType, MessageType } from '../types';
import { mustPersistBeforeSend } from '../util';
import { seededRandom } from './rng';

/** Knobs of one simulation run; every field has a default. */
export interface SimulationOptions {
  readonly seed: number;
  /** Initial voters. Default 3 (5 for odd seeds). */
  readonly voters?: number;
  /** Extra node IDs available to membership changes. Default 2. */
  readonly spares?: number;
  /** Chaos steps (one tick each). Default 600. */
  readonly steps?: number;
  /** Steps allowed after faults stop for a leader to emerge and all proposals to commit. Default 400. */
  readonly livenessSteps?: number;
  readonly dropRate?: number;
  readonly duplicateRate?: number;
  /** Max delivery delay in steps; random delays reorder messages. Default 3. */
  readonly maxDelay?: number;
  readonly partitionRate?: number;
  readonly crashRate?: number;
  readonly confChangeRate?: number;
  readonly proposeRate?: number;
  readonly readRate?: number;
  readonly compactRate?: number;
  readonly transferRate?: number;
  /** Default: derived from the seed. */
  readonly preVote?: boolean;
  /** Default: derived from the seed. */
  readonly checkQuorum?: boolean;
  /** Append every node's state to failure messages. */
  readonly verbose?: boolean;
  readonly trace?: boolean;
  /**
   * Deliberately break the storage contract, to prove the checks catch it:
   * `forget-votes` loses the persisted vote at every restart.
   */
  readonly sabotage?: 'none' | 'forget-votes';
}

/** What a run observed. */
export interface SimulationResult {
  readonly seed: number;
  readonly steps: number;
  readonly committed: number;
  readonly leadersElected: number;
  readonly readsAnswered: number;
  readonly snapshotsInstalled: number;
  readonly crashes: number;
  readonly confChangesApplied: number;
}

/** Thrown when an invariant breaks; `replay` is a one-line command reproducing it. */
export class SimulationError extends Error {
  readonly seed: number;
  readonly step: number;
  readonly replay: string;
  constructor(seed: number, step: number, msg: string, replay: string) {
    super(`seed ${seed}, step ${step}: ${msg}\n  replay: ${replay}`);
    this.name = 'SimulationError';
    this.seed = seed;
    this.step = step;
    this.replay = replay;
  }
}

interface SimNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  raw: RawNode | undefined; // undefined while crashed
  appliedIndex: number;
  confState: ConfState;
  downUntil: number;
  leaderChecked: number; // leader completeness checked up to this index (for the current term)
  leaderTerm: number;
}

interface InFlight {
  at: number;
  msg: Message;
}

const latin1 = (b: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
};

/** Runs one simulation; throws SimulationError on an invariant violation. */
export function runSimulation(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}

/** The replay command for a seed. */
export function replayCommand(seed: number): string {
  return `cd packages/raft && npx tsx test/simulate.ts --seed ${seed}`;
}

class Simulation {
  private readonly o: Required<SimulationOptions>;
  private readonly rnd: () => number;
  private readonly nodes = new Map<NodeId, SimNode>();
  private net: InFlight[] = [];
  private now = 0;
  private partition: Set<NodeId> | undefined;
  private faults = true;
  // Safety bookkeeping.
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly committedEntries = new Map<number, { term: number; data: string }>();
  private readonly logIdentity = new Map<string, string>(); // "index/term" -> prevTerm + data
  private readonly maxCommitByTerm = new Map<number, number>();
  private maxCommitted = 0;
  private readonly pendingReads = new Map<string, number>(); // ctx -> min index
  private readonly proposals = new Map<string, number>(); // data -> step proposed
  private readonly removed = new Set<NodeId>(); // proposed for removal: never re-added
  // Applied removals. Like etcd's transport, peers refuse traffic from removed
  // members, which would otherwise disrupt the cluster with endless campaigns.
  private readonly removedApplied = new Set<NodeId>();
  private seq = 0;
  private readonly stats = {
    leadersElected: 0,
    readsAnswered: 0,
    snapshotsInstalled: 0,
    crashes: 0,
    confChangesApplied: 0,
  };

  constructor(opts: SimulationOptions) {
    const seed = opts.seed;
    this.rnd = seededRandom(seed);
    this.o = {
      seed,
      voters: opts.voters ?? (seed % 2 === 0 ? 3 : 5),
      spares: opts.spares ?? 2,
      steps: opts.steps ?? 600,
      livenessSteps: opts.livenessSteps ?? 400,
      dropRate: opts.dropRate ?? 0.05,
      duplicateRate: opts.duplicateRate ?? 0.02,
      maxDelay: opts.maxDelay ?? 3,
      partitionRate: opts.partitionRate ?? 0.01,
      crashRate: opts.crashRate ?? 0.005,
      confChangeRate: opts.confChangeRate ?? 0.01,
      proposeRate: opts.proposeRate ?? 0.3,
      readRate: opts.readRate ?? 0.05,
      compactRate: opts.compactRate ?? 0.01,
      transferRate: opts.transferRate ?? 0.005,
      preVote: opts.preVote ?? (seed >> 1) % 2 === 0,
      checkQuorum: opts.checkQuorum ?? (seed >> 2) % 2 === 0,
      verbose: opts.verbose ?? false,
      trace: opts.trace ?? false,
      sabotage: opts.sabotage ?? 'none',
    };
    const peers: { id: NodeId }[] = [];
    for (let i = 1; i <= this.o.voters; i++) peers.push({ id: BigInt(i) });
    for (let i = 1; i <= this.o.voters + this.o.spares; i++) {
      const id = BigInt(i);
      const storage = new MemoryStorage();
      const n: SimNode = {
        id,
        storage,
        raw: undefined,
        appliedIndex: 0,
        confState: storage.initialState().confState,
        downUntil: 0,
        leaderChecked: 0,
        leaderTerm: 0,
      };
      n.raw = this.newRawNode(n);
      if (i <= this.o.voters) n.raw.bootstrap(peers);
      this.nodes.set(id, n);
    }
  }

  /** One line per node: role, term, lead, commit, applied, config. */
  describeNodes(): string {
    const lines: string[] = [];
    for (const n of this.nodes.values()) {
      if (n.raw === undefined) {
        lines.push(`  ${n.id}: down`);
        continue;
      }
      const st = n.raw.status();
      const pr = [...st.progress].map(
        ([id, p]) =>
          `${id}:${p.state}/${p.match}/${p.next}${p.paused ? 'P' : ''}${p.recentActive ? '' : 'I'}`,
      );
      lines.push(
        `  ${n.id}: ${st.softState.role} term=${st.hardState.term} lead=${st.softState.lead} commit=${st.hardState.commit} applied=${st.applied} last=${n.raw.raft.raftLog.lastIndex()} voters=${st.config.voters.join(',')} out=${st.config.votersOutgoing.join(',')} learners=${st.config.learners.join(',')} ${pr.join(' ')}`,
      );
    }
    return lines.join('\n');
  }

  private fail(msg: string): never {
    if (this.o.verbose) msg += `\n${this.describeNodes()}`;
    throw new SimulationError(this.o.seed, this.now, msg, replayCommand(this.o.seed));
  }

  private newRawNode(n: SimNode): RawNode {
    return new RawNode({
      id: n.id,
      electionTick: 10,
      heartbeatTick: 2,
      storage: n.storage,
      applied: n.storage.snapshot().metadata.index,
      random: this.rnd,
      preVote: this.o.preVote,
      checkQuorum: this.o.checkQuorum,
      maxSizePerMsg: 512,
      maxInflightMsgs: 4,
      maxUncommittedEntriesSize: 1 << 16,
      // Like etcd's server, a removed leader must not linger.
      stepDownOnRemoval: true,
    });
  }

  private chance(p: number): boolean {
    return this.rnd() < p;
  }

  private pick<T>(xs: readonly T[]): T | undefined {
    if (xs.length === 0) return undefined;
    return xs[Math.floor(this.rnd() * xs.length)];
  }

  private live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raw !== undefined);
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.live()) {
      const st = n.raw!.basicStatus();
      if (
        st.softState.role === 'Leader' &&
        (best === undefined || st.hardState.term > best.raw!.basicStatus().hardState.term)
      )
        best = n;
    }
    return best;
  }

  run(): SimulationResult {
    for (; this.now < this.o.steps; this.now++) this.step();
    // Faults stop: heal, restart everyone, deliver reliably.
    this.faults = false;
    this.partition = undefined;
    for (const n of this.nodes.values()) if (n.raw === undefined) this.restart(n);
    const deadline = this.o.steps + this.o.livenessSteps;
    for (; this.now < deadline; this.now++) {
      this.step();
      // Clients retry proposals that were lost (dropped or truncated).
      if (this.now % 20 === 0) this.retryProposals();
      if (this.proposals.size === 0 && this.leader() !== undefined && this.now > this.o.steps + 50)
        break;
    }
    if (this.leader() === undefined) this.fail('liveness: no leader after faults stopped');
    if (this.proposals.size > 0) {
      this.fail(
        `liveness: ${this.proposals.size} proposals not committed after faults stopped (e.g. ${[...this.proposals.keys()][0]})`,
      );
    }
    return { seed: this.o.seed, steps: this.now, committed: this.maxCommitted, ...this.stats };
  }

  private step(): void {
    if (this.faults) this.injectFaults();
    this.workload();
    for (const n of this.live()) n.raw!.tick();
    this.deliver();
    for (const n of this.live()) this.handleReady(n);
    this.checkInvariants();
  }

  private injectFaults(): void {
    if (this.chance(this.o.partitionRate)) {
      if (this.partition) this.partition = undefined;
      else {
        const s = new Set<NodeId>();
        for (const id of this.nodes.keys()) if (this.chance(0.5)) s.add(id);
        this.partition = s;
      }
    }
    for (const n of this.nodes.values()) {
      if (n.raw === undefined && this.now >= n.downUntil) this.restart(n);
    }
    if (this.chance(this.o.crashRate)) {
      const n = this.pick(this.live());
      if (n) this.crash(n);
    }
  }

  private crash(n: SimNode): void {
    // Everything not in storage is lost: the RawNode, its unstable entries,
    // unsent messages. In-flight messages to it are dropped at delivery.
    n.raw = undefined;
    n.downUntil = this.now + 5 + Math.floor(this.rnd() * 50);
    this.stats.crashes++;
  }

  private restart(n: SimNode): void {
    if (this.o.sabotage === 'forget-votes') {
      const hs = n.storage.initialState().hardState;
      n.storage.setHardState({ ...hs, vote: 0n });
    }
    n.raw = this.newRawNode(n);
    const snap = n.storage.snapshot();
    n.appliedIndex = snap.metadata.index;
    n.confState = snap.metadata.confState;
    n.leaderTerm = 0;
  }

  private workload(): void {
    if (this.chance(this.o.proposeRate)) {
      const n = this.pick(this.live());
      if (n) {
        const data = `p${this.seq++}`;
        if (this.tryLocal(() => n.raw!.propose(new TextEncoder().encode(data))))
          this.proposals.set(data, this.now);
      }
    }
    if (this.chance(this.o.readRate)) {
      const n = this.pick(this.live());
      if (n) {
        const ctx = `r${this.seq++}`;
        // Every write acknowledged before the read began is at or below this.
        if (this.tryLocal(() => n.raw!.readIndex(new TextEncoder().encode(ctx))))
          this.pendingReads.set(ctx, this.maxCommitted);
      }
    }
    if (this.faults && this.chance(this.o.confChangeRate)) this.proposeConfChange();
    if (this.faults && this.chance(this.o.transferRate)) {
      const l = this.leader();
      const to = l ? this.pick(l.confState.voters) : undefined;
      if (l && to !== undefined) this.tryLocal(() => l.raw!.transferLeadership(to));
    }
    if (this.chance(this.o.compactRate)) {
      const n = this.pick(this.live());
      if (n && n.appliedIndex > n.storage.snapshot().metadata.index) {
        n.storage.createSnapshot(
          n.appliedIndex,
          n.confState,
          new TextEncoder().encode(String(n.appliedIndex)),
        );
        n.storage.compact(n.appliedIndex);
      }
    }
  }

  private retryProposals(): void {
    const l = this.leader();
    if (!l) return;
    for (const data of this.proposals.keys()) {
      this.tryLocal(() => l.raw!.propose(new TextEncoder().encode(data)));
    }
  }

  private proposeConfChange(): void {
    const l = this.leader();
    if (!l) return;
    const cs = l.confState;
    const all = [...this.nodes.keys()].filter((id) => !this.removed.has(id));
    const members = new Set([...cs.voters, ...cs.learners, ...cs.votersOutgoing]);
    const outsiders = all.filter((id) => !members.has(id));
    const changes: ConfChangeSingle[] = [];
    const r = this.rnd();
    if (r < 0.3 && outsiders.length > 0) {
      changes.push({ type: ConfChangeType.AddLearnerNode, nodeId: this.pick(outsiders)! });
    } else if (r < 0.55 && cs.learners.length > 0) {
      changes.push({ type: ConfChangeType.AddNode, nodeId: this.pick(cs.learners)! });
    } else if (r < 0.75 && cs.voters.length > 3) {
      // Removed IDs are never reused, as in etcd.
      const victim = this.pick(cs.voters)!;
      changes.push({ type: ConfChangeType.RemoveNode, nodeId: victim });
    } else if (outsiders.length > 0) {
      changes.push({ type: ConfChangeType.AddNode, nodeId: this.pick(outsiders)! });
      if (cs.voters.length > 3 && this.chance(0.5))
        changes.push({ type: ConfChangeType.RemoveNode, nodeId: this.pick(cs.voters)! });
    }
    if (changes.length === 0) return;
    const v2 = changes.length > 1 || this.chance(0.3);
    const ok = this.tryLocal(() =>
      l.raw!.proposeConfChange(
        v2
          ? {
              transition: this.chance(0.5) ? 'auto' : 'implicit',
              changes,
              context: new Uint8Array(),
            }
          : { type: changes[0]!.type, nodeId: changes[0]!.nodeId, context: new Uint8Array() },
      ),
    );
    if (ok)
      for (const c of changes) if (c.type === ConfChangeType.RemoveNode) this.removed.add(c.nodeId);
  }

  // Runs a local call, tolerating the errors an application must expect.
  private tryLocal(f: () => void): boolean {
    try {
      f();
      return true;
    } catch (e) {
      if (
        e instanceof RaftError &&
        (e.code === 'RAFT_PROPOSAL_DROPPED' || e.code === 'RAFT_STEP_PEER_NOT_FOUND')
      ) {
        return false;
      }
      if (e instanceof SimulationError) throw e;
      this.fail(`unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  }

  // The transport reports the fate of snapshots, as an application must.
  private reportSnapshot(m: Message, ok: boolean): void {
    if (m.type !== MessageType.MsgSnap) return;
    const from = this.nodes.get(m.from);
    if (from?.raw !== undefined)
      this.tryLocal(() => from.raw!.reportSnapshot(m.to, ok ? 'finish' : 'failure'));
  }

  private send(msg: Message): void {
    let m = msg;
    if (m.type === MessageType.MsgSnap) {
      // Like etcd's server, send a snapshot of the current applied state: the
      // stored one may predate the recipient's membership, and the recipient
      // refuses a snapshot whose configuration does not include it.
      const n = this.nodes.get(m.from)!;
      if (n.appliedIndex > n.storage.snapshot().metadata.index) {
        n.storage.createSnapshot(
          n.appliedIndex,
          n.confState,
          new TextEncoder().encode(String(n.appliedIndex)),
        );
      }
      m = { ...m, snapshot: n.storage.snapshot() };
    }
    if (this.faults && this.chance(this.o.dropRate)) return this.reportSnapshot(m, false);
    const delay = () => Math.floor(this.rnd() * ((this.faults ? this.o.maxDelay : 1) + 1));
    this.net.push({ at: this.now + delay(), msg: m });
    if (this.faults && this.chance(this.o.duplicateRate))
      this.net.push({ at: this.now + delay(), msg: m });
  }

  private deliver(): void {
    const due: Message[] = [];
    const rest: InFlight[] = [];
    for (const f of this.net) {
      if (f.at <= this.now) due.push(f.msg);
      else rest.push(f);
    }
    this.net = rest;
    for (const m of due) {
      const to = this.nodes.get(m.to);
      if (
        to?.raw === undefined ||
        this.removedApplied.has(m.from) ||
        this.removedApplied.has(m.to) ||
        (this.partition && this.partition.has(m.from) !== this.partition.has(m.to))
      ) {
        this.reportSnapshot(m, false);
        // A transport that notices the failure tells the leader.
        const from = this.nodes.get(m.from);
        if (m.type === MessageType.MsgApp && from?.raw !== undefined && this.chance(0.5)) {
          this.tryLocal(() => from.raw!.reportUnreachable(m.to));
        }
        continue;
      }
      if (this.o.trace && this.now > this.o.steps + 300) console.log(this.now, describeMessage(m));
      this.tryLocal(() => to.raw!.step(m));
      this.reportSnapshot(m, true);
    }
  }

  private handleReady(n: SimNode): void {
    const raw = n.raw!;
    if (!raw.hasReady()) return;
    const rd = raw.ready();
    // Messages that do not vouch for durable state may leave before the write.
    const early = this.faults && this.chance(0.5);
    if (early) for (const m of rd.messages) if (!mustPersistBeforeSend(m)) this.send(m);
    if (this.faults && this.chance(this.o.crashRate)) return this.crash(n); // crash before the write
    if (rd.snapshot) {
      n.storage.applySnapshot(rd.snapshot);
      this.stats.snapshotsInstalled++;
    }
    if (rd.entries.length > 0) {
      this.checkLogIdentity(n, rd.entries);
      n.storage.append(rd.entries);
    }
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    if (this.faults && this.chance(this.o.crashRate)) return this.crash(n); // crash after the write
    for (const m of rd.messages) if (!early || mustPersistBeforeSend(m)) this.send(m);

    if (rd.softState?.role === 'Leader') {
      const term = raw.basicStatus().hardState.term;
      const prev = this.leaderOfTerm.get(term);
      if (prev !== undefined && prev !== n.id)
        this.fail(`two leaders in term ${term}: ${prev} and ${n.id}`);
      this.leaderOfTerm.set(term, n.id);
      this.stats.leadersElected++;
    }
    if (rd.hardState && raw.basicStatus().softState.role === 'Leader')
      this.recordLeaderCommit(n, rd.hardState.term, rd.hardState.commit);

    if (rd.snapshot) {
      n.appliedIndex = rd.snapshot.metadata.index;
      n.confState = rd.snapshot.metadata.confState;
    }
    for (const e of rd.committedEntries) this.apply(n, e);
    for (const rs of rd.readStates) {
      const ctx = latin1(rs.requestCtx);
      const min = this.pendingReads.get(ctx);
      if (min !== undefined && rs.index < min) {
        this.fail(
          `read ${ctx} answered at index ${rs.index} < ${min}, committed before the read began`,
        );
      }
      this.pendingReads.delete(ctx);
      this.stats.readsAnswered++;
    }
    raw.advance(rd);
  }

  private apply(n: SimNode, e: Entry): void {
    if (e.index !== n.appliedIndex + 1)
      this.fail(`node ${n.id} applied ${e.index} after ${n.appliedIndex}`);
    n.appliedIndex = e.index;
    const data = latin1(e.data);
    const known = this.committedEntries.get(e.index);
    if (known === undefined) this.committedEntries.set(e.index, { term: e.term, data });
    else if (known.term !== e.term || known.data !== data) {
      this.fail(
        `node ${n.id} applied ${e.term}/${e.index} but ${known.term}/${e.index} was applied elsewhere`,
      );
    }
    if (e.index > this.maxCommitted) this.maxCommitted = e.index;
    if (e.type === EntryType.Normal) this.proposals.delete(data);
    else {
      const before = new Set([
        ...n.confState.voters,
        ...n.confState.learners,
        ...n.confState.votersOutgoing,
      ]);
      n.confState = n.raw!.applyConfChange(decodeConfChange(e.data));
      this.stats.confChangesApplied++;
      const after = new Set([
        ...n.confState.voters,
        ...n.confState.learners,
        ...n.confState.votersOutgoing,
      ]);
      for (const id of before) if (!after.has(id)) this.removedApplied.add(id);
    }
  }

  // Log matching: an (index, term) pair identifies the entry and, by
  // induction over its predecessor's term, the whole prefix.
  private checkLogIdentity(n: SimNode, ents: readonly Entry[]): void {
    const log = n.raw!.raft.raftLog;
    for (const e of ents) {
      const prevTerm = e.index === 1 ? 0 : log.termOrUndefined(e.index - 1);
      const id = `${prevTerm ?? '?'}|${latin1(e.data)}`;
      const key = `${e.index}/${e.term}`;
      const known = this.logIdentity.get(key);
      if (known === undefined) this.logIdentity.set(key, id);
      else if (known !== id && prevTerm !== undefined && !known.startsWith('?')) {
        this.fail(`log matching: entry ${key} on node ${n.id} differs from another node's`);
      }
    }
  }

  private recordLeaderCommit(n: SimNode, term: number, commit: number): void {
    const prev = this.maxCommitByTerm.get(term) ?? 0;
    if (commit > prev) this.maxCommitByTerm.set(term, commit);
    void n;
  }

  // Leader completeness: a leader of term T holds every entry committed by
  // leaders of earlier terms.
  private checkInvariants(): void {
    for (const n of this.live()) {
      const r = n.raw!.raft;
      if (r.state !== 'Leader') continue;
      if (n.leaderTerm !== r.term) {
        n.leaderTerm = r.term;
        n.leaderChecked = 0;
      }
      let target = 0;
      for (const [t, c] of this.maxCommitByTerm) if (t < r.term && c > target) target = c;
      target = Math.min(target, this.maxCommitted);
      const first = r.raftLog.firstIndex();
      let i = Math.max(n.leaderChecked + 1, first);
      for (; i <= target; i++) {
        // Entries not yet applied anywhere are checked on a later step.
        const known = this.committedEntries.get(i);
        if (known === undefined) break;
        const t = r.raftLog.termOrUndefined(i);
        if (t !== known.term) {
          this.fail(
            `leader completeness: leader ${n.id} of term ${r.term} has term ${t} at committed index ${i} (want ${known.term})`,
          );
        }
      }
      n.leaderChecked = Math.max(n.leaderChecked, i - 1);
    }
  }
}
