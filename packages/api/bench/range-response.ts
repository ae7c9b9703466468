// Encode/decode throughput of RangeResponse with 1, 100 and 10,000
// key-values (16-byte keys, 256-byte values), and encode throughput of
// WatchResponse with 1 and 100 events: the generated ts-proto codec against
// the hand-written ones in src/range-response-codec.ts and
// src/watch-response-codec.ts.
// Run: pnpm nx run api:bench   (or: cd packages/api && npx tsx bench/range-response.ts)
// BENCH_SAMPLES and BENCH_SAMPLE_MS tune the run length.
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { etcdserverpb } from '../src/index';
import { decodeRangeResponse, encodeRangeResponse } from '../src/range-response-codec';
import { encodeWatchResponse } from '../src/watch-response-codec';

const { RangeResponse, WatchResponse } = etcdserverpb;

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 7);
const SAMPLE_MS = Number(process.env.BENCH_SAMPLE_MS ?? 250);

function makeResponse(n: number): etcdserverpb.RangeResponse {
  const kvs = [];
  for (let i = 0; i < n; i++) {
    kvs.push({
      key: Buffer.from(`key/${String(i).padStart(12, '0')}`), // 16 bytes
      value: randomBytes(256),
      createRevision: BigInt(1_000_000 + i),
      modRevision: BigInt(2_000_000 + i),
      version: BigInt(1 + (i % 7)),
      lease: i % 3 === 0 ? 0x694d_7a3c_1b2e_0f01n : 0n,
    });
  }
  return RangeResponse.fromPartial({
    header: {
      clusterId: 0xcdd4_16c4_ee9a_f8d2n,
      memberId: 0x8e9e_05c5_2164_694dn,
      revision: BigInt(2_000_000 + n),
      raftTerm: 7n,
    },
    kvs,
    count: BigInt(n),
  });
}

/** Process CPU time (user + system, all threads) in milliseconds. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** How many calls take about 1 ms, so the clock is read once per batch. */
function batchSize(fn: () => unknown): number {
  let ops = 0;
  const start = performance.now();
  while (performance.now() - start < 50) {
    fn();
    ops++;
  }
  return Math.max(1, Math.round(ops / 50));
}

/**
 * Ops per second of CPU time over one run of at least SAMPLE_MS CPU
 * milliseconds. CPU time rather than wall time, because the machine is shared
 * and wall time would count the time slices other processes take.
 */
function sample(fn: () => unknown, batch: number): number {
  let ops = 0;
  const start = cpuMs();
  let now = start;
  while (now - start < SAMPLE_MS) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    now = cpuMs();
  }
  return (ops * 1000) / (now - start);
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

let sink: unknown;

/** Runs the cases of one message size and appends a table row per case. */
function runGroup(rows: string[][], n: number, bytes: number, cases: [string, () => unknown][]) {
  // Warm every case up, then interleave the samples so that load from other
  // processes on the machine spreads evenly over the codecs being compared.
  const batches = cases.map(([, fn]) => batchSize(fn));
  cases.forEach(([, fn], i) => sample(fn, batches[i]!));
  const rates = cases.map(() => [] as number[]);
  for (let s = 0; s < SAMPLES; s++) {
    cases.forEach(([, fn], i) => rates[i]!.push(sample(fn, batches[i]!)));
  }
  cases.forEach(([name], i) => {
    const ops = median(rates[i]!);
    rows.push([
      String(n),
      name,
      ops.toFixed(ops < 100 ? 1 : 0),
      ((ops * bytes) / 1e6).toFixed(1),
      String(bytes),
    ]);
    console.log(rows.at(-1)!.join('\t'));
  });
}

function printTable(title: string, what: string, rows: string[][]) {
  console.log(`\n${title}\n`);
  console.log(`| ${what} | codec | ops/s (per CPU-second) | MB/s | message bytes |`);
  console.log('|---:|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

const rangeRows: string[][] = [];
for (const n of [1, 100, 10_000]) {
  const msg = makeResponse(n);
  const bytes = Buffer.from(RangeResponse.encode(msg).finish());
  if (!encodeRangeResponse(msg).equals(bytes)) throw new Error('hand encoder disagrees');
  runGroup(rangeRows, n, bytes.length, [
    ['encode ts-proto', () => (sink = RangeResponse.encode(msg).finish())],
    ['encode hand-written', () => (sink = encodeRangeResponse(msg))],
    ['decode ts-proto', () => (sink = RangeResponse.decode(bytes))],
    ['decode hand-written (copy)', () => (sink = decodeRangeResponse(bytes))],
    ['decode hand-written (no copy)', () => (sink = decodeRangeResponse(bytes, { copy: false }))],
  ]);
}

// Watch fan-out: one response per watcher per batch; each event carries the
// new key-value and, with prev_kv, the old one.
const watchRows: string[][] = [];
for (const n of [1, 100]) {
  const kvs = makeResponse(n).kvs;
  const msg = WatchResponse.fromPartial({
    header: { clusterId: 0xcdd4_16c4_ee9a_f8d2n, memberId: 9n, revision: 2_000_100n, raftTerm: 7n },
    watchId: 3n,
    events: kvs.map((kv) => ({ type: 0, kv, prevKv: kv })),
  });
  const bytes = Buffer.from(WatchResponse.encode(msg).finish());
  if (!encodeWatchResponse(msg).equals(bytes)) throw new Error('hand encoder disagrees');
  runGroup(watchRows, n, bytes.length, [
    ['encode ts-proto', () => (sink = WatchResponse.encode(msg).finish())],
    ['encode hand-written', () => (sink = encodeWatchResponse(msg))],
  ]);
}
void sink;

console.log(
  `\nmedian of ${SAMPLES} samples x ${SAMPLE_MS} ms of CPU time; node ${process.version}; ` +
    `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
);
printTable('RangeResponse (16 B keys, 256 B values)', 'kvs', rangeRows);
printTable('WatchResponse (events with kv and prev_kv)', 'events', watchRows);
