// Checker cost on synthetic histories shaped like the harness's: C clients
// with overlapping operations on K keys, a share of unknown outcomes.
// Prints the median of 5 runs per size.
import { performance } from 'node:perf_hooks';
import { checkHistory } from '../src/checker';
import type { Operation } from '../src/history';
import { Random } from '../src/random';

function synth(
  opsPerKey: number,
  keys: number,
  clients: number,
  unknownShare: number,
): Operation[] {
  const rnd = new Random(42);
  const ops: Operation[] = [];
  let id = 0;
  for (let k = 0; k < keys; k++) {
    const key = `k${k}`;
    // A sequential "truth" with each op stretched over neighbours: every
    // client's op overlaps the ones just before and after it.
    let value: string | null = null;
    for (let i = 0; i < opsPerKey; i++) {
      const t = i * 10;
      const client = i % clients;
      const span = rnd.int(1, clients) * 10;
      const unknown = rnd.next() < unknownShare;
      if (rnd.next() < 0.5) {
        value = `v${id}`;
        ops.push({
          id: id++,
          client,
          member: 0,
          input: { kind: 'put', key, value },
          call: t - span / 2,
          ret: unknown ? Infinity : t + span / 2,
          output: unknown ? undefined : { kind: 'put' },
        });
      } else {
        ops.push({
          id: id++,
          client,
          member: 0,
          input: { kind: 'get', key },
          call: t - span / 2,
          ret: t + span / 2,
          output: { kind: 'get', value },
        });
      }
    }
  }
  return ops;
}

for (const [perKey, keys] of [
  [200, 5],
  [1000, 5],
  [4000, 5],
] as const) {
  const ops = synth(perKey, keys, 6, 0.05);
  const times: number[] = [];
  let ok = true;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    ok = checkHistory(ops).ok;
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(
    `${ops.length} ops (${keys} keys x ${perKey}, 6 clients, 5% unknown): median ${times[2]!.toFixed(1)} ms, linearizable=${ok}`,
  );
}
