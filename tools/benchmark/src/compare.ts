// Side-by-side runner: for each cluster size and each workload row, starts a
// fresh cluster of each server kind in turn (alternating which goes first),
// runs the row against it, records the members' CPU seconds and peak RSS,
// stops it, and prints one table with the ratio ours/etcd per row.
//
//   node --conditions=@kv/source --import tsx tools/benchmark/src/compare.ts \
//     [--servers etcd,kv,floor,floor-h2] [--members 1,3] [--duration 5s] [--rows put-1,put-100] \
//     [--warmup 3s] [--warmup-ops 10000] [--warmup-max 15s] [--transport raw|http2|grpc] \
//     [--json-out results.jsonl] [--quick]

import { appendFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs, parseDuration, UsageError } from './options';
import type { BenchOptions } from './options';
import type { Transport } from './connections';
import { runBenchmark } from './run';
import type { BenchResult, LatencyMs } from './run';
import { startServer } from './servers';
import type { RunningCluster, ServerFlags, ServerKind, StartServerOptions } from './servers';
import { withTimeout } from './shard';

/** One workload of the comparison: a load-generator command line without endpoints or duration. */
export interface CompareRow {
  name: string;
  description: string;
  /** Without --total the runner adds --duration. */
  args: readonly string[];
  /** Distinct keys the row leaves in the store: the table then shows RSS growth per key. */
  keys?: number;
}

// Keys of 8 bytes and values of 256 bytes, as in etcd's performance docs.
const KV = ['--key-size', '8', '--val-size', '256'];

/** The rows issue 12 asks for. */
export const STANDARD_ROWS: readonly CompareRow[] = [
  {
    name: 'put-1',
    description: 'put, 1 client, to the leader',
    // To the leader, as etcd's performance docs measure one client: with one
    // connection the row otherwise measured whichever member came first, a
    // follower (proposal forwarded, commit learnt back) two times in three.
    args: [
      'put',
      '--clients',
      '1',
      '--conns',
      '1',
      '--key-space',
      '100000',
      '--target-leader',
      ...KV,
    ],
  },
  {
    name: 'put-100',
    description: 'put, 100 clients / 10 conns',
    args: ['put', '--clients', '100', '--conns', '10', '--key-space', '100000', ...KV],
  },
  {
    name: 'range-l-100',
    description: 'linearizable point read, 100 clients',
    args: ['range', '--consistency', 'l', '--clients', '100', '--conns', '10', '--preload', ...KV],
  },
  {
    name: 'range-s-100',
    description: 'serializable point read, 100 clients',
    args: ['range', '--consistency', 's', '--clients', '100', '--conns', '10', '--preload', ...KV],
  },
  {
    name: 'range-1000',
    description: 'range of 1,000 keys (prefix, limit 1000), 10 clients',
    args: [
      'range',
      '--prefix',
      '--limit',
      '1000',
      '--key-prefix',
      'r/',
      '--key-space',
      '1000',
      '--preload',
      '--clients',
      '10',
      '--conns',
      '2',
      ...KV,
    ],
  },
  {
    name: 'txn-put',
    description: 'txn with 1 put, 100 clients',
    args: ['txn-put', '--clients', '100', '--conns', '10', '--key-space', '100000', ...KV],
  },
  {
    name: 'watch-fanout',
    description: 'watch: 100 watchers on 10 streams, 10 writers (events/s)',
    args: [
      'watch',
      '--watchers',
      '100',
      '--streams',
      '10',
      '--clients',
      '10',
      '--conns',
      '10',
      '--key-prefix',
      'w/',
      '--key-space',
      '1000',
      ...KV,
    ],
  },
];

/** Rows run only when named in --rows. */
export const EXTRA_ROWS: readonly CompareRow[] = [
  {
    name: 'mem-20k',
    description: 'memory: 20,000 distinct keys of 256 B written once (RSS growth per key)',
    args: [
      'put',
      '--sequential-keys',
      '--key-space',
      '20000',
      '--total',
      '20000',
      '--clients',
      '100',
      '--conns',
      '10',
      ...KV,
    ],
    keys: 20_000,
  },
  {
    name: 'mem-100k',
    description: 'memory: 100,000 distinct keys of 256 B written once (RSS growth per key)',
    args: [
      'put',
      '--sequential-keys',
      '--key-space',
      '100000',
      '--total',
      '100000',
      '--clients',
      '100',
      '--conns',
      '10',
      ...KV,
    ],
    keys: 100_000,
  },
];

/** See `CompareOptions.warmupOps`. */
export const DEFAULT_WARMUP_OPS = 10_000;
/** See `CompareOptions.warmupMaxMs`. */
export const DEFAULT_WARMUP_MAX_MS = 15_000;

/** Settings of one comparison. */
export interface CompareOptions {
  servers: ServerKind[];
  members: (1 | 3)[];
  durationMs: number;
  /**
   * The row's workload runs this long, unmeasured, before the measured run
   * (both servers alike): the table then compares steady states, not a JIT's
   * first seconds against compiled code. Rows with `keys` or `--total` skip it.
   */
  warmupMs?: number;
  /**
   * The warm-up goes on, in further runs of `warmupMs`, until it has served
   * this many operations in all (default 10,000) or has lasted `warmupMaxMs`.
   * Why: a JIT tiers code up by how often it runs, not by time. Put with one
   * client on three members serves 400-800 requests/s, and our server's rate
   * rose for its first ~8,000 requests (9-12 s); three seconds measured its
   * first seconds instead of its steady state. Rows at 10,000 requests/s
   * finish the warm-up in its first run, as before. 0 turns the count off.
   */
  warmupOps?: number;
  /** Upper bound of the whole warm-up (default 15 s). */
  warmupMaxMs?: number;
  rows: readonly CompareRow[];
  /**
   * Times each row runs against each server (default 1), alternating which
   * server goes first; the table then shows medians and each round's ratio.
   * On a noisy machine one run of a latency-bound row can move by ×2.
   */
  rounds?: number;
  /** Extra flags for every member of every server, in etcd's names. */
  flags: ServerFlags;
  /** Transport of the rows' Put/Range/Txn calls (default raw: least generator CPU). */
  transport?: Transport;
  /** Per-kind overrides of how members start (tests, alternative builds). */
  start?: Partial<Record<ServerKind, StartServerOptions>>;
  /** Appends each measurement as a JSON line here. */
  jsonOut?: string;
  /** Called after each measurement (progress output). */
  onMeasurement?: (m: Measurement) => void;
}

/** One row measured against one server. */
export interface Measurement {
  row: string;
  members: 1 | 3;
  server: ServerKind;
  /** Which round of the row this is, from 1 (see `CompareOptions.rounds`). */
  round: number;
  result: BenchResult | undefined;
  /** Why the row produced no result. */
  failure: string | undefined;
  /** Operations of the unmeasured warm-up runs (0 when the row had none). */
  warmupOps: number;
  /** How long the warm-up ran in all, milliseconds (0 when the row had none). */
  warmupMs: number;
  /** CPU seconds of all members during the measured run (setup included). */
  serverCpuSeconds: number;
  /** Highest peak RSS among the members, bytes. */
  serverPeakRssBytes: number;
  /** Growth of the highest member's peak RSS during the row, per key of `CompareRow.keys`. */
  rssBytesPerKey: number | undefined;
  /** CPU seconds of the load generator itself during the row. */
  generatorCpuSeconds: number;
}

function rowOptions(
  row: CompareRow,
  endpoints: readonly string[],
  durationMs: number,
  transport: Transport,
): BenchOptions {
  const bounded = row.args.includes('--total');
  const o = parseArgs(bounded ? [...row.args] : [...row.args, '--duration', `${durationMs}ms`]);
  o.endpoints = [...endpoints];
  o.transport = transport;
  return o;
}

/** Measures one row against a freshly started cluster. */
export async function measureRow(
  row: CompareRow,
  server: ServerKind,
  members: 1 | 3,
  o: Pick<
    CompareOptions,
    'durationMs' | 'warmupMs' | 'warmupOps' | 'warmupMaxMs' | 'flags' | 'start' | 'transport'
  >,
  round = 1,
): Promise<Measurement> {
  let cluster;
  try {
    cluster = await startServer(server, members, o.flags, o.start?.[server] ?? {});
  } catch (err) {
    return {
      row: row.name,
      members,
      server,
      round,
      result: undefined,
      failure: `start failed: ${err instanceof Error ? err.message : String(err)}`,
      warmupOps: 0,
      warmupMs: 0,
      serverCpuSeconds: 0,
      serverPeakRssBytes: 0,
      rssBytesPerKey: undefined,
      generatorCpuSeconds: 0,
    };
  }
  // Whatever happens from here on (a bad row, a member that died), the
  // members are stopped: a leaked server would skew every later row.
  try {
    return { ...(await measureStarted(row, server, members, o, cluster)), round };
  } finally {
    await cluster.stop();
  }
}

async function measureStarted(
  row: CompareRow,
  server: ServerKind,
  members: 1 | 3,
  o: Pick<CompareOptions, 'durationMs' | 'warmupMs' | 'warmupOps' | 'warmupMaxMs' | 'transport'>,
  cluster: RunningCluster,
): Promise<Omit<Measurement, 'round'>> {
  let result: BenchResult | undefined;
  let failure: string | undefined;
  const sliceMs = o.warmupMs ?? 0;
  const opsWanted = o.warmupOps ?? DEFAULT_WARMUP_OPS;
  const maxMs = Math.max(sliceMs, o.warmupMaxMs ?? DEFAULT_WARMUP_MAX_MS);
  let warmupOps = 0;
  let warmupMs = 0;
  if (sliceMs > 0 && row.keys === undefined && !row.args.includes('--total')) {
    try {
      // At least one slice; more while too few operations were served and
      // another whole slice fits in the bound.
      do {
        const warm = rowOptions(row, cluster.endpoints, sliceMs, o.transport ?? 'raw');
        // Only the first slice writes the key space.
        if (warmupMs > 0) warm.preload = false;
        const w = await withTimeout(
          runBenchmark(warm),
          sliceMs + 2 * warm.drainTimeoutMs + 60_000,
          `warming up ${row.name}`,
        );
        warmupOps += w.ops;
        warmupMs += sliceMs;
      } while (warmupOps < opsWanted && warmupMs + sliceMs <= maxMs);
    } catch (err) {
      failure = `warm-up: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  const before = cluster.usage();
  const genBefore = process.cpuUsage();
  try {
    if (failure !== undefined) throw new Error(failure);
    const opts = rowOptions(row, cluster.endpoints, o.durationMs, o.transport ?? 'raw');
    // The warm-up already wrote the key space.
    if (warmupOps > 0) opts.preload = false;
    // Bounded: the row's duration, its drain grace, and time for preload/setup.
    result = await withTimeout(
      runBenchmark(opts),
      (opts.durationMs > 0 ? opts.durationMs : 300_000) + 2 * opts.drainTimeoutMs + 60_000,
      `running ${row.name}`,
    );
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
  }
  const gen = process.cpuUsage(genBefore);
  let after = before;
  try {
    after = cluster.usage();
  } catch (err) {
    failure ??= `member died: ${err instanceof Error ? err.message : String(err)}`;
  }
  const peakBefore = Math.max(0, ...before.map((u) => u.peakRssBytes));
  const peakAfter = Math.max(0, ...after.map((u) => u.peakRssBytes));
  return {
    row: row.name,
    members,
    server,
    result,
    failure,
    warmupOps,
    warmupMs,
    serverCpuSeconds: after.reduce((s, u, i) => s + u.cpuSeconds - (before[i]?.cpuSeconds ?? 0), 0),
    serverPeakRssBytes: peakAfter,
    rssBytesPerKey: row.keys !== undefined ? (peakAfter - peakBefore) / row.keys : undefined,
    generatorCpuSeconds: (gen.user + gen.system) / 1e6,
  };
}

/**
 * Runs every row against every server and cluster size, `rounds` times in a
 * row; servers alternate order per round.
 */
export async function runCompare(o: CompareOptions): Promise<Measurement[]> {
  const out: Measurement[] = [];
  let flip = false;
  for (const members of o.members) {
    for (const row of o.rows) {
      for (let round = 1; round <= (o.rounds ?? 1); round++) {
        // Alternating who goes first spreads slow drifts of a noisy machine.
        const order = flip ? [...o.servers].reverse() : o.servers;
        flip = !flip;
        for (const server of order) {
          const m = await measureRow(row, server, members, o, round);
          out.push(m);
          if (o.jsonOut !== undefined) appendFileSync(o.jsonOut, `${JSON.stringify(m)}\n`);
          o.onMeasurement?.(m);
        }
      }
    }
  }
  return out;
}

/** Middle value (mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >>> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/**
 * One server's rounds of a row folded into one: each figure is the median
 * over the rounds that produced a result (undefined if none did).
 */
function medianOf(rounds: readonly Measurement[]): Measurement | undefined {
  const ok = rounds.filter((m) => m.result !== undefined);
  const first = ok[0];
  if (first === undefined) return undefined;
  const med = (f: (m: Measurement) => number): number => median(ok.map(f));
  const lat = (k: keyof LatencyMs): number => med((m) => m.result!.latencyMs[k]);
  return {
    ...first,
    round: 0,
    result: {
      ...first.result!,
      throughput: med((m) => m.result!.throughput),
      errorCount: ok.reduce((s, m) => s + m.result!.errorCount, 0),
      latencyMs: {
        ...first.result!.latencyMs,
        p50: lat('p50'),
        p90: lat('p90'),
        p99: lat('p99'),
        p999: lat('p999'),
      },
    },
    serverCpuSeconds: med((m) => m.serverCpuSeconds),
    serverPeakRssBytes: med((m) => m.serverPeakRssBytes),
    rssBytesPerKey: first.rssBytesPerKey === undefined ? undefined : med((m) => m.rssBytesPerKey!),
    generatorCpuSeconds: med((m) => m.generatorCpuSeconds),
  };
}

function fmt(v: number, digits = 0): string {
  return v.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function ms(v: number): string {
  return v < 10 ? v.toFixed(2) : v.toFixed(1);
}

function ratio(a: number, b: number): string {
  return b > 0 ? `×${(a / b).toFixed(2)}` : 'n/a';
}

function measurementLine(m: Measurement, label: string): string {
  const r = m.result;
  return r
    ? `| ${m.members} | ${m.row} | ${label} | ${fmt(r.throughput)} | ${ms(r.latencyMs.p50)} | ${ms(r.latencyMs.p99)} | ${ms(r.latencyMs.p999)} | ${r.errorCount} | ${fmt(m.serverCpuSeconds, 2)} | ${fmt(m.serverPeakRssBytes / 2 ** 20, 1)} | ${m.rssBytesPerKey === undefined ? '' : fmt(m.rssBytesPerKey)} | ${fmt(m.generatorCpuSeconds, 2)} |`
    : `| ${m.members} | ${m.row} | ${label} | failed: ${(m.failure ?? '').split('\n')[0]} | | | | | | | | |`;
}

function ratioLine(kvM: Measurement, etcdM: Measurement, label: string): string {
  const kv = kvM.result!;
  const etcd = etcdM.result!;
  return `| ${kvM.members} | ${kvM.row} | ${label} | ${ratio(kv.throughput, etcd.throughput)} | ${ratio(kv.latencyMs.p50, etcd.latencyMs.p50)} | ${ratio(kv.latencyMs.p99, etcd.latencyMs.p99)} | ${ratio(kv.latencyMs.p999, etcd.latencyMs.p999)} | | ${ratio(kvM.serverCpuSeconds, etcdM.serverCpuSeconds)} | ${ratio(kvM.serverPeakRssBytes, etcdM.serverPeakRssBytes)} | ${kvM.rssBytesPerKey !== undefined && etcdM.rssBytesPerKey !== undefined ? ratio(kvM.rssBytesPerKey, etcdM.rssBytesPerKey) : ''} | |`;
}

/**
 * A Markdown table of the measurements, with ours/etcd ratios when both ran.
 * A row measured in several rounds gets one line per server with the median
 * of each figure over its rounds, the ratio of those medians, a line of
 * each round's ratios (throughput, p50, p99, p99.9) to show the spread, and
 * the median of those per-round ratios.
 */
export function formatTable(ms_: readonly Measurement[]): string {
  const head =
    '| members | row | server | throughput /s | p50 ms | p99 ms | p99.9 ms | errors | server CPU s | server peak RSS MB | RSS B/key | generator CPU s |';
  const sep = '|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
  const lines = [head, sep];
  const key = (m: Measurement): string => `${m.members}/${m.row}`;
  const groups = new Map<string, Measurement[]>();
  for (const m of ms_) groups.set(key(m), [...(groups.get(key(m)) ?? []), m]);
  for (const group of groups.values()) {
    const servers = [...new Set(group.map((m) => m.server))];
    const folded = new Map<ServerKind, Measurement>();
    for (const server of servers) {
      const rounds = group.filter((m) => m.server === server);
      if (rounds.length === 1) {
        lines.push(measurementLine(rounds[0]!, server));
        if (rounds[0]!.result) folded.set(server, rounds[0]!);
        continue;
      }
      for (const m of rounds)
        if (!m.result) lines.push(measurementLine(m, `${server} #${m.round}`));
      const med = medianOf(rounds);
      if (med === undefined) continue;
      const n = rounds.filter((m) => m.result).length;
      lines.push(measurementLine(med, `${server} (median of ${n})`));
      folded.set(server, med);
    }
    const kvM = folded.get('kv');
    const etcdM = folded.get('etcd');
    if (kvM === undefined || etcdM === undefined) continue;
    lines.push(ratioLine(kvM, etcdM, 'ours/etcd'));
    // Each round's pair (etcd and ours ran one after the other).
    const pairs: [Measurement, Measurement][] = [];
    for (const k of group) {
      const e = group.find((m) => m.server === 'etcd' && m.round === k.round);
      if (k.server === 'kv' && k.result && e?.result) pairs.push([k, e]);
    }
    if (pairs.length > 1) {
      const each = (f: (m: BenchResult) => number): string =>
        pairs.map(([k, e]) => ratio(f(k.result!), f(e.result!))).join(' ');
      lines.push(
        `| ${kvM.members} | ${kvM.row} | ours/etcd by round | ${each((r) => r.throughput)} | ${each((r) => r.latencyMs.p50)} | ${each((r) => r.latencyMs.p99)} | ${each((r) => r.latencyMs.p999)} | | | | | |`,
      );
      // The pairs ran back to back, so each ratio saw the same machine; the
      // ratio of the medians above can pair a slow minute of one server with
      // a fast minute of the other when the machine's speed drifts.
      const mid = (f: (m: Measurement) => number | undefined): string => {
        const rs: number[] = [];
        for (const [k, e] of pairs) {
          const a = f(k);
          const b = f(e);
          if (a !== undefined && b !== undefined && b > 0) rs.push(a / b);
        }
        return rs.length > 0 ? `×${median(rs).toFixed(2)}` : '';
      };
      lines.push(
        `| ${kvM.members} | ${kvM.row} | ours/etcd, median of the round ratios | ${mid((m) => m.result!.throughput)} | ${mid((m) => m.result!.latencyMs.p50)} | ${mid((m) => m.result!.latencyMs.p99)} | ${mid((m) => m.result!.latencyMs.p999)} | | ${mid((m) => m.serverCpuSeconds)} | ${mid((m) => m.serverPeakRssBytes)} | ${mid((m) => m.rssBytesPerKey)} | |`,
      );
    }
  }
  return lines.join('\n');
}

/** Parses the compare runner's command line. */
export function parseCompareArgs(argv: readonly string[]): CompareOptions {
  const o: CompareOptions = {
    // Both, so that the table has its ratio column (needs `pnpm build` first).
    servers: ['etcd', 'kv'],
    members: [1, 3],
    durationMs: 5000,
    warmupMs: 3000,
    rows: STANDARD_ROWS,
    flags: {},
  };
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    const eq = tok.indexOf('=');
    const name = eq === -1 ? tok : tok.slice(0, eq);
    const takeValue = (): string => {
      if (eq !== -1) return tok.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    switch (name) {
      case '--servers': {
        const kinds = takeValue().split(',');
        for (const k of kinds) {
          if (k !== 'etcd' && k !== 'kv' && k !== 'floor' && k !== 'floor-h2') {
            throw new UsageError(`unknown server "${k}" (etcd, kv, floor, floor-h2)`);
          }
        }
        o.servers = kinds as ServerKind[];
        break;
      }
      case '--members': {
        const ms = takeValue().split(',').map(Number);
        for (const m of ms)
          if (m !== 1 && m !== 3) throw new UsageError('--members takes 1 and/or 3');
        o.members = ms as (1 | 3)[];
        break;
      }
      case '--duration':
        o.durationMs = parseDuration(takeValue());
        break;
      case '--warmup':
        o.warmupMs = parseDuration(takeValue());
        break;
      case '--warmup-ops': {
        const v = takeValue();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0)
          throw new UsageError(`--warmup-ops takes a whole number >= 0, not "${v}"`);
        o.warmupOps = n;
        break;
      }
      case '--warmup-max':
        o.warmupMaxMs = parseDuration(takeValue());
        break;
      case '--rows': {
        const names = takeValue().split(',');
        const rows = names.map((n) => {
          const all = [...STANDARD_ROWS, ...EXTRA_ROWS];
          const r = all.find((row) => row.name === n);
          if (!r) {
            throw new UsageError(`unknown row "${n}" (${all.map((x) => x.name).join(', ')})`);
          }
          return r;
        });
        o.rows = rows;
        break;
      }
      case '--flag': {
        // --flag snapshot-count=10000 → passed to every member as --snapshot-count=10000
        const v = takeValue();
        const at = v.indexOf('=');
        if (at <= 0) throw new UsageError('--flag takes name=value');
        o.flags = { ...o.flags, [v.slice(0, at).replace(/^--/, '')]: v.slice(at + 1) };
        break;
      }
      case '--transport': {
        const t = takeValue();
        if (t !== 'grpc' && t !== 'http2' && t !== 'raw')
          throw new UsageError('--transport is grpc, http2 or raw');
        o.transport = t;
        break;
      }
      case '--json-out':
        o.jsonOut = takeValue();
        break;
      case '--rounds': {
        const v = takeValue();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1)
          throw new UsageError(`--rounds takes a whole number >= 1, not "${v}"`);
        o.rounds = n;
        break;
      }
      case '--quick':
        // A fast sanity pass for `pnpm bench`: 1 member, 1 s per row.
        o.members = [1];
        o.durationMs = 1000;
        o.warmupMs = 0;
        break;
      default:
        throw new UsageError(`unknown flag ${name}`);
    }
  }
  return o;
}

async function main(argv: string[]): Promise<number> {
  let o: CompareOptions;
  try {
    o = parseCompareArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}`);
      return 1;
    }
    throw err;
  }
  o.onMeasurement = (m) => {
    const r = m.result;
    console.error(
      r
        ? `${m.members}m ${m.row} ${m.server} #${m.round}: ${r.throughput.toFixed(0)}/s p99 ${r.latencyMs.p99.toFixed(2)} ms errors ${r.errorCount}`
        : `${m.members}m ${m.row} ${m.server} #${m.round}: FAILED ${m.failure ?? ''}`,
    );
  };
  const results = await runCompare(o);
  console.log(formatTable(results));
  return results.some((m) => m.result === undefined) ? 2 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
