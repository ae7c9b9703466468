// Replays (or explores) simulator seeds from the command line:
//   npx tsx test/simulate.ts --seed 42 [--verbose]
//   npx tsx test/simulate.ts --from 0 --count 1000
import { runSimulation } from '../src/testing/simulator';

function arg(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  return v === undefined ? undefined : Number(v);
}

const seed = arg('seed');
const from = seed ?? arg('from') ?? 0;
const count = seed !== undefined ? 1 : (arg('count') ?? 100);
let failed = 0;
const t0 = performance.now();
for (let s = from; s < from + count; s++) {
  try {
    const r = runSimulation({
      seed: s,
      verbose: process.argv.includes('--verbose'),
      trace: process.argv.includes('--trace'),
    });
    if (seed !== undefined) console.log(JSON.stringify(r));
  } catch (e) {
    failed++;
    console.error(e instanceof Error ? e.message : String(e));
  }
}
console.log(
  `${count - failed} passed, ${failed} failed (${((performance.now() - t0) / 1000).toFixed(1)}s)`,
);
process.exitCode = failed > 0 ? 1 : 0;
