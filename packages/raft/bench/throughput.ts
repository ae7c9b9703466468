// Benchmarks for @kv/raft. Run: pnpm nx run raft:bench (or `npx tsx bench/throughput.ts`).
// Prints the median of several runs for each figure.
import os from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Message, Ready } from '../src/index';
import { MessageType, MemoryStorage, RawNode } from '../src/index';
import { seededRandom } from '../src/testing/rng';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Node {
  raw: RawNode;
  storage: MemoryStorage;
  applied: number;
}

// A minimal application loop: persist to MemoryStorage, deliver instantly, apply.
class Group {
  readonly nodes = new Map<bigint, Node>();
  private queue: Message[] = [];
  dropAppResp = false;
  constructor(
    size: number,
    seed: number,
    cfg: { maxInflightMsgs?: number; maxSizePerMsg?: number } = {},
  ) {
    const rnd = seededRandom(seed);
    const peers = Array.from({ length: size }, (_, i) => ({ id: BigInt(i + 1) }));
    for (const p of peers) {
      const storage = new MemoryStorage();
      const raw = new RawNode({
        id: p.id,
        electionTick: 10,
        heartbeatTick: 1,
        storage,
        random: rnd,
        maxInflightMsgs: cfg.maxInflightMsgs ?? 4096,
        maxSizePerMsg: cfg.maxSizePerMsg ?? 1 << 20,
      });
      raw.bootstrap(peers);
      this.nodes.set(p.id, { raw, storage, applied: 0 });
    }
  }
  handle(n: Node): boolean {
    if (!n.raw.hasReady()) return false;
    const rd: Ready = n.raw.ready();
    if (rd.entries.length > 0) n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) this.queue.push(m);
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last) n.applied = last.index;
    n.raw.advance(rd);
    return true;
  }
  round(): boolean {
    let busy = false;
    for (const n of this.nodes.values()) if (this.handle(n)) busy = true;
    const q = this.queue;
    this.queue = [];
    for (const m of q) {
      if (this.dropAppResp && m.type === MessageType.MsgAppResp) continue;
      this.nodes.get(m.to)!.raw.step(m);
      busy = true;
    }
    return busy;
  }
  settle(): void {
    while (this.round()) {
      /* until quiet */
    }
  }
  leader(): Node {
    const n = this.nodes.get(1n)!;
    return n;
  }
  compact(): void {
    for (const n of this.nodes.values()) {
      const snapIdx = n.storage.snapshot().metadata.index;
      if (n.applied - snapIdx > 10_000) {
        n.storage.createSnapshot(n.applied, undefined, new Uint8Array());
        n.storage.compact(n.applied);
      }
    }
  }
}

function started(): Group {
  const g = new Group(3, 1);
  g.settle();
  g.leader().raw.campaign();
  g.settle();
  return g;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const payload = new Uint8Array(128);

function unbatched(total: number): number {
  const g = started();
  const l = g.leader();
  const start = l.applied;
  const t0 = performance.now();
  // Each proposal is its own propose() call; ready processing is pipelined.
  for (let i = 0; i < total; i++) {
    l.raw.propose(payload);
    g.round();
    if (i % 4096 === 0) g.compact();
  }
  g.settle();
  const dt = (performance.now() - t0) / 1000;
  return (l.applied - start) / dt;
}

function batched(total: number, batch: number): number {
  const g = started();
  const l = g.leader();
  const start = l.applied;
  const data = Array.from({ length: batch }, () => payload);
  const t0 = performance.now();
  for (let i = 0; i < total / batch; i++) {
    l.raw.proposeBatch(data);
    g.round();
    g.round();
    if (i % 8 === 0) g.compact();
  }
  g.settle();
  const dt = (performance.now() - t0) / 1000;
  return (l.applied - start) / dt;
}

function idleTicks(groups: number, rounds: number): number {
  const gs: Group[] = [];
  for (let i = 0; i < groups; i++) gs.push(started());
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (const g of gs) {
      for (const n of g.nodes.values()) n.raw.tick();
      g.settle();
    }
  }
  const dt = (performance.now() - t0) / 1000;
  return (groups * rounds) / dt; // group-ticks (every node of the group ticked, heartbeats handled)
}

function memoryPerInflightEntry(n: number): number {
  const g = started();
  g.dropAppResp = true; // followers never ack: everything stays in flight
  const l = g.leader();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) {
    l.raw.propose(new Uint8Array(128));
    g.round();
  }
  gc();
  const after = process.memoryUsage().heapUsed;
  if (l.raw.basicStatus().hardState.commit > 10) throw new Error('entries committed unexpectedly');
  // Counted on all 3 nodes (the leader's log and both followers' stored copies).
  return (after - before) / n;
}

const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
// Rates are computed on wall time; on a shared machine, CPU time (this
// process only) is the fairer measure, so both are printed.
function report(name: string, unit: string, f: () => number, rate = true): void {
  f(); // warm-up
  const xs: number[] = [];
  const cpuXs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const w0 = performance.now();
    const c0 = process.cpuUsage();
    const x = f();
    const c = process.cpuUsage(c0);
    const wall = performance.now() - w0;
    const cpu = (c.user + c.system) / 1000;
    xs.push(x);
    cpuXs.push(rate ? (x * wall) / cpu : x);
  }
  const cpuNote = rate ? `; ${fmt(median(cpuXs))} per CPU-second` : '';
  console.log(`${name}: median ${fmt(median(xs))} ${unit} (${RUNS} runs${cpuNote})`);
}

report('3 nodes, 128 B proposals one at a time', 'committed entries/s', () => unbatched(100_000));
report('3 nodes, 128 B proposals in batches of 1000', 'committed entries/s', () =>
  batched(500_000, 1000),
);
report('1000 idle 3-node groups', 'group ticks/s', () => idleTicks(1000, 20));
report(
  'memory per in-flight 128 B entry (3 nodes)',
  'bytes',
  () => memoryPerInflightEntry(20_000),
  false,
);
console.log(
  `node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)}`,
);
