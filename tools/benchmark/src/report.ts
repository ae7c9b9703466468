// Human-readable and JSON renderings of a result.

import type { BenchResult, LatencyMs } from './run';

function ms(v: number): string {
  return v < 10 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(1);
}

function latencyLine(l: LatencyMs): string {
  return `p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  p99.9 ${ms(l.p999)}  max ${ms(l.max)}  (ms, n=${l.count})`;
}

/** A few lines of text for people. */
export function formatText(r: BenchResult): string {
  const lines = [
    `${r.mode}: ${r.clients} clients, ${r.conns} conns, ${r.workers} worker(s) → ${r.endpoints.join(',')}`,
    `  ${r.ops} ${r.unit} in ${r.elapsedSec.toFixed(3)} s = ${r.throughput.toFixed(1)} ${r.unit}/s` +
      (r.unit === 'events' ? ` (${r.writes} puts)` : ''),
    `  latency${r.unit === 'events' ? ' (delivery)' : ''}: ${latencyLine(r.latencyMs)}`,
  ];
  for (const [k, l] of Object.entries(r.subLatencyMs)) lines.push(`  ${k}: ${latencyLine(l)}`);
  const errs = Object.entries(r.errors);
  lines.push(
    errs.length === 0
      ? '  errors: none'
      : `  errors: ${errs.map(([code, n]) => `${code}=${n}`).join(' ')}`,
  );
  return lines.join('\n');
}

/** The whole result as one line of JSON. */
export function formatJson(r: BenchResult): string {
  return JSON.stringify(r);
}
