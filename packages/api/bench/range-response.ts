// Encode/decode throughput of RangeResponse with 1, 100 and 10,000
// key-values (16-byte keys, 256-byte values): the generated ts-proto codec
// against the hand-written one in src/range-response-codec.ts.
// Run: pnpm nx run api:bench   (or: cd packages/api && npx tsx bench/range-response.ts)
// BENCH_SAMPLES and BENCH_SAMPLE_MS tune the run length.
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { etcdserverpb } from '../src/index';
import { decodeRangeResponse, encodeRangeResponse } from '../src/range-response-codec';

const { RangeResponse } = etcdserverpb;

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

const rows: string[][] = [];
for (const n of [1, 100, 10_000]) {
  const msg = makeResponse(n);
  const bytes = Buffer.from(RangeResponse.encode(msg).finish());
  if (!encodeRangeResponse(msg).equals(bytes)) throw new Error('hand encoder disagrees');
  const cases: [string, () => unknown][] = [
    ['encode ts-proto', () => (sink = RangeResponse.encode(msg).finish())],
    ['encode hand-written', () => (sink = encodeRangeResponse(msg))],
    ['decode ts-proto', () => (sink = RangeResponse.decode(bytes))],
    ['decode hand-written (copy)', () => (sink = decodeRangeResponse(bytes))],
    ['decode hand-written (no copy)', () => (sink = decodeRangeResponse(bytes, { copy: false }))],
  ];
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
      ((ops * bytes.length) / 1e6).toFixed(1),
      String(bytes.length),
    ]);
    console.log(rows.at(-1)!.join('\t'));
  });
}
void sink;

console.log(
  `\nmedian of ${SAMPLES} samples x ${SAMPLE_MS} ms of CPU time; node ${process.version}; ` +
    `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}\n`,
);
console.log('| kvs | codec | ops/s (per CPU-second) | MB/s | message bytes |');
console.log('|---:|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
