// `pnpm bench` for this package: the histogram's recording cost, and each
// standard compare row run 3 times for 1 s against one freshly started
// 1-member etcd, printing medians (throughput, p99, generator CPU per request).
import { Histogram } from '../src/histogram';
import { STANDARD_ROWS } from '../src/compare';
import { parseArgs } from '../src/options';
import { runBenchmark } from '../src/run';
import { startServer } from '../src/servers';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const RUNS = 3;

function histogramBench(): number {
  const samples: number[] = [];
  const values = Array.from({ length: 1_000_000 }, (_, i) => ((i * 7919) % 500_000) + 1);
  for (let r = 0; r < 5; r++) {
    const h = new Histogram();
    const t0 = performance.now();
    for (const v of values) h.record(v);
    samples.push(((performance.now() - t0) * 1e6) / values.length);
  }
  return median(samples);
}

console.log(
  `histogram.record: median ${histogramBench().toFixed(1)} ns/value (5 runs of 1M values)`,
);

const etcd = await startServer('etcd', 1);
try {
  console.log(`etcd 3.4, 1 member, ${RUNS} runs of 1 s per row; medians:`);
  console.log('row                throughput/s   p99 ms   generator CPU µs/request');
  // Rows use http2 like the compare runner; range-s-100 again over grpc-js shows the transport's cost.
  const rows = [
    ...STANDARD_ROWS.map((r) => ({ ...r, transport: 'http2' as const })),
    {
      ...STANDARD_ROWS.find((r) => r.name === 'range-s-100')!,
      name: 'range-s-100 grpc',
      transport: 'grpc' as const,
    },
  ];
  for (const row of rows) {
    const tput: number[] = [];
    const p99: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const o = parseArgs([...row.args, '--duration', '1s']);
      o.endpoints = etcd.endpoints;
      o.transport = row.transport;
      // Includes connection setup and any preload; per-request it is an upper bound.
      const c0 = process.cpuUsage();
      const res = await runBenchmark(o);
      const c = process.cpuUsage(c0);
      tput.push(res.throughput);
      p99.push(res.latencyMs.p99);
      const reqs = res.unit === 'events' ? res.writes : res.ops;
      cpu.push((c.user + c.system) / Math.max(1, reqs));
    }
    console.log(
      `${row.name.padEnd(18)} ${median(tput).toFixed(0).padStart(12)} ${median(p99).toFixed(2).padStart(8)} ${median(cpu).toFixed(0).padStart(12)}`,
    );
  }
} finally {
  await etcd.stop();
}
