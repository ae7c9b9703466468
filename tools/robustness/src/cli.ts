/**
 * `pnpm robustness --profile NAME --seed N [--duration SECONDS] [--runs K]`
 * Runs a profile (K times with seeds N, N+1, ...), prints a summary per run,
 * and exits non-zero when a run's outcome is not the profile's expectation.
 */
import { parseArgs } from 'node:util';
import { killAllMembers } from './cluster';
import { PROFILES } from './profiles';
import { runProfile } from './run';

// An interrupted run (Ctrl-C, a timeout) takes its member processes with it.
process.on('exit', killAllMembers);
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    killAllMembers();
    process.exit(130);
  });

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'ci' },
    seed: { type: 'string' },
    duration: { type: 'string' },
    runs: { type: 'string', default: '1' },
    list: { type: 'boolean', default: false },
  },
});

if (values.list) {
  for (const p of Object.values(PROFILES))
    console.log(
      `${p.name.padEnd(20)} ${(p.durationMs / 1000).toString().padStart(4)} s  ${p.description}`,
    );
  process.exit(0);
}

const profile = PROFILES[values.profile];
if (profile === undefined) {
  console.error(`unknown profile ${values.profile}; known: ${Object.keys(PROFILES).join(', ')}`);
  process.exit(2);
}
const firstSeed = values.seed !== undefined ? Number(values.seed) : Date.now() % 1_000_000;
let failed = 0;
for (let r = 0; r < Number(values.runs); r++) {
  const seed = firstSeed + r;
  const res = await runProfile({
    profile,
    seed,
    ...(values.duration !== undefined ? { durationMs: Number(values.duration) * 1000 } : {}),
    log: (l) => console.log(l),
  });
  console.log(
    `${res.ok ? 'PASS' : 'FAIL'} profile ${res.profile} seed ${seed}: ${res.operations} ops (${res.unknown} unknown), revision ${res.finalRevision}, ${res.faults.length} fault events, ${res.watchResumes} watch resumes, ${(res.durationMs / 1000).toFixed(1)} s`,
  );
  if (res.inconclusiveKeys.length > 0)
    console.log(`  inconclusive keys: ${res.inconclusiveKeys.join(', ')}`);
  for (const f of res.findings) console.log(`  [${f.check}] ${f.message}`);
  if (res.resultsDir !== undefined) console.log(`  history and report: ${res.resultsDir}`);
  if (!res.ok) console.log(`  replay: ${res.replay}`);
  if (res.ok === profile.expectFailure) {
    failed++;
    if (profile.expectFailure)
      console.log('  UNEXPECTED: this deliberately broken server was not caught');
  }
}
process.exit(failed > 0 ? 1 : 0);
