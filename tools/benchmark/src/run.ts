// The coordinator: splits the load into shards (the main thread, or one per
// worker thread), steps them through setup → run → drain together, and
// merges what they measured.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Histogram } from './histogram';
import { findLeaderEndpoint } from './leader';
import type { LatencySummary } from './histogram';
import type { BenchOptions, Mode } from './options';
import { Shard, subKinds } from './shard';
import type { ShardPlan, ShardResult } from './shard';
import type { WorkerCommand, WorkerInit, WorkerReply } from './worker-protocol';

/** Latency percentiles in milliseconds. */
export type LatencyMs = LatencySummary;

/** The outcome of one run, as printed and as emitted in the JSON line. */
export interface BenchResult {
  mode: Mode;
  endpoints: string[];
  clients: number;
  conns: number;
  workers: number;
  /** What `ops` counts: requests, or delivered watch events. */
  unit: 'requests' | 'events';
  ops: number;
  /** Successful puts (watch modes), else 0. */
  writes: number;
  errors: Record<string, number>;
  errorCount: number;
  elapsedSec: number;
  /** ops per second. */
  throughput: number;
  latencyMs: LatencyMs;
  /** Latency per request kind, e.g. `read`/`write` in mixed modes, `put` in watch modes. */
  subLatencyMs: Record<string, LatencyMs>;
}

interface ShardHandle {
  setup(): Promise<void>;
  run(durationMs: number): Promise<number>;
  drain(totalWrites: number): Promise<void>;
  result(): Promise<ShardResult>;
  close(): Promise<void>;
}

function share(n: number, parts: number, i: number): number {
  return Math.floor(n / parts) + (i < n % parts ? 1 : 0);
}

/** Splits the run over `o.workers` shards. */
export function planShards(o: BenchOptions): ShardPlan[] {
  const parts = o.workers;
  return Array.from({ length: parts }, (_, i) => {
    const watchers = share(o.watchers, parts, i);
    return {
      index: i,
      clients: share(o.clients, parts, i),
      conns: Math.max(1, share(o.conns, parts, i)),
      total: share(o.total, parts, i),
      rate: o.rate / parts,
      watchers,
      streams: watchers === 0 ? 0 : Math.max(1, Math.min(watchers, share(o.streams, parts, i))),
      keyOffset: Math.floor((o.keySpace / parts) * i),
    };
  });
}

class LocalShard implements ShardHandle {
  private readonly shard: Shard;
  constructor(o: BenchOptions, plan: ShardPlan) {
    this.shard = new Shard(o, plan);
  }
  setup(): Promise<void> {
    return this.shard.setup();
  }
  run(durationMs: number): Promise<number> {
    return this.shard.run(durationMs);
  }
  drain(totalWrites: number): Promise<void> {
    return this.shard.drain(totalWrites);
  }
  async result(): Promise<ShardResult> {
    return this.shard.result();
  }
  close(): Promise<void> {
    return this.shard.close();
  }
}

/**
 * How to start the worker entry next to this module: dist's worker.js
 * directly; from source, a small bootstrap that loads worker.ts through
 * tsx's API (Node 20 does not apply --import loader hooks to a worker's
 * entry module, and vitest does not pass tsx at all). tsx is a root
 * devDependency of the repository.
 */
function workerEntry(): { entry: URL | string; eval: boolean; execArgv: string[] | undefined } {
  if (!import.meta.url.endsWith('.ts')) {
    return { entry: new URL('./worker.js', import.meta.url), eval: false, execArgv: undefined };
  }
  const tsxDir = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const api = pathToFileURL(join(tsxDir, 'dist/esm/api/index.mjs')).href;
  const worker = new URL('./worker.ts', import.meta.url).href;
  const code =
    `import(${JSON.stringify(api)})` +
    `.then((m) => m.tsImport(${JSON.stringify(worker)}, ${JSON.stringify(import.meta.url)}))` +
    `.catch((e) => { console.error(e); process.exit(1); });`;
  return { entry: code, eval: true, execArgv: ['--conditions=@kv/source'] };
}

class WorkerShard implements ShardHandle {
  private readonly worker: Worker;
  private waiting: ((r: WorkerReply) => void) | undefined;
  private failure: Error | undefined;

  constructor(o: BenchOptions, plan: ShardPlan) {
    const { entry, eval: isEval, execArgv } = workerEntry();
    const init: WorkerInit = { options: o, plan };
    this.worker = new Worker(entry, {
      eval: isEval,
      workerData: init,
      ...(execArgv ? { execArgv } : {}),
    });
    this.worker.on('message', (r: WorkerReply) => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.(r);
    });
    const fail = (err: Error): void => {
      this.failure = err;
      const w = this.waiting;
      this.waiting = undefined;
      w?.({ type: 'error', message: err.message });
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`worker exited with code ${code}`)));
  }

  private async ask(cmd: WorkerCommand): Promise<WorkerReply> {
    if (this.failure) throw this.failure;
    const reply = await new Promise<WorkerReply>((resolve) => {
      this.waiting = resolve;
      this.worker.postMessage(cmd);
    });
    if (reply.type === 'error') throw new Error(`worker: ${reply.message}`);
    return reply;
  }

  async setup(): Promise<void> {
    await this.ask({ type: 'setup' });
  }
  async run(durationMs: number): Promise<number> {
    const r = await this.ask({ type: 'run', durationMs });
    return r.type === 'ran' ? r.writes : 0;
  }
  async drain(totalWrites: number): Promise<void> {
    await this.ask({ type: 'drain', totalWrites });
  }
  async result(): Promise<ShardResult> {
    const r = await this.ask({ type: 'result' });
    if (r.type !== 'result') throw new Error('worker sent no result');
    return r.result;
  }
  async close(): Promise<void> {
    try {
      await this.ask({ type: 'close' });
    } finally {
      this.worker.removeAllListeners('exit');
      await this.worker.terminate();
    }
  }
}

/** Writes every key of the key space once, so reads find data. */
export async function preload(o: BenchOptions): Promise<void> {
  const clients = Math.min(64, o.keySpace);
  const po: BenchOptions = {
    ...o,
    mode: 'put',
    sequentialKeys: true,
    total: o.keySpace,
    durationMs: 0,
    rate: 0,
    workers: 1,
  };
  const shard = new Shard(po, {
    index: 0,
    clients,
    conns: 1,
    total: o.keySpace,
    rate: 0,
    watchers: 0,
    streams: 0,
    keyOffset: 0,
  });
  try {
    await shard.setup();
    await shard.run(0);
    const r = shard.result();
    const failed = Object.entries(r.errors);
    if (failed.length > 0) throw new Error(`preload failed: ${JSON.stringify(r.errors)}`);
  } finally {
    await shard.close();
  }
}

function toMs(h: Histogram): LatencyMs {
  const s = h.summary();
  return {
    count: s.count,
    min: s.min / 1000,
    mean: s.mean / 1000,
    p50: s.p50 / 1000,
    p90: s.p90 / 1000,
    p99: s.p99 / 1000,
    p999: s.p999 / 1000,
    max: s.max / 1000,
  };
}

/** Merges per-shard results into one report. */
export function mergeResults(o: BenchOptions, results: readonly ShardResult[]): BenchResult {
  const latency = new Histogram();
  const sub = new Map(subKinds(o).map((k) => [k, new Histogram()]));
  const errors: Record<string, number> = {};
  let ops = 0;
  let writes = 0;
  let elapsedMs = 0;
  for (const r of results) {
    ops += r.ops;
    writes += r.writes;
    elapsedMs = Math.max(elapsedMs, r.elapsedMs);
    latency.merge(r.latency);
    for (const [k, snap] of Object.entries(r.sub)) sub.get(k)?.merge(snap);
    for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  }
  const elapsedSec = elapsedMs / 1000;
  const subLatencyMs: Record<string, LatencyMs> = {};
  for (const [k, h] of sub) subLatencyMs[k] = toMs(h);
  return {
    mode: o.mode,
    endpoints: o.endpoints,
    clients: o.clients,
    conns: o.conns,
    workers: o.workers,
    unit: o.mode === 'watch' || o.mode === 'watch-latency' ? 'events' : 'requests',
    ops,
    writes,
    errors,
    errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
    elapsedSec,
    throughput: elapsedSec > 0 ? ops / elapsedSec : 0,
    latencyMs: toMs(latency),
    subLatencyMs,
  };
}

/** Runs one benchmark as configured and returns the merged measurements. */
export async function runBenchmark(options: BenchOptions): Promise<BenchResult> {
  const o = options.targetLeader
    ? { ...options, endpoints: [await findLeaderEndpoint(options.endpoints)] }
    : options;
  if (o.preload) await preload(o);
  const plans = planShards(o);
  const shards: ShardHandle[] = plans.map((p) =>
    o.workers > 1 ? new WorkerShard(o, p) : new LocalShard(o, p),
  );
  try {
    // Every shard is connected (and every watcher created) before any load.
    await Promise.all(shards.map((s) => s.setup()));
    const writes = await Promise.all(shards.map((s) => s.run(o.durationMs)));
    const totalWrites = writes.reduce((a, b) => a + b, 0);
    await Promise.all(shards.map((s) => s.drain(totalWrites)));
    const results = await Promise.all(shards.map((s) => s.result()));
    const merged = mergeResults(o, results);
    // Each thread opens at least one connection of its own.
    merged.conns = plans.reduce((n, p) => n + p.conns, 0);
    return merged;
  } finally {
    await Promise.allSettled(shards.map((s) => s.close()));
  }
}
