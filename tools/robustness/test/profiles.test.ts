// The CI part of the harness: the real server must pass a short run with
// every fault type, and each deliberately broken server must be caught.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { PROFILES } from '../src/profiles';
import { runProfile } from '../src/run';

const seed = Number(process.env.ROBUSTNESS_SEED ?? 1);
const resultsRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-robustness-results-'));
const log = (l: string): void => console.log(l);
const common = { seed, resultsRoot, log, keepFailedData: false };

afterAll(() => fs.rmSync(resultsRoot, { recursive: true, force: true }));

describe('robustness CI profiles', () => {
  it('the real server passes the ci profile (every fault type, failpoints on)', async () => {
    const r = await runProfile({ ...common, profile: PROFILES.ci! });
    expect(r.findings.map((f) => f.message)).toEqual([]);
    expect(r.ok).toBe(true);
    // The run must have exercised something: writes, faults and resumed watches.
    expect(r.finalRevision).toBeGreaterThan(50);
    expect(r.faults.length).toBeGreaterThan(3);
  }, 180_000);

  it('the real server passes the ci-replace profile (members removed, wiped and added back)', async () => {
    const r = await runProfile({ ...common, profile: PROFILES['ci-replace']! });
    expect(r.findings.map((f) => f.message)).toEqual([]);
    expect(r.ok).toBe(true);
    // At least one member was replaced and rejoined under a new ID.
    expect(r.faults.some((f) => / rejoined as [0-9a-f]+$/.test(f.fault))).toBe(true);
    expect(r.finalRevision).toBeGreaterThan(50);
  }, 120_000);

  it('catches stale linearizable reads (KV_UNSAFE_TEST_MODES=stale-reads)', async () => {
    const r = await runProfile({ ...common, profile: PROFILES['ci-stale-reads']! });
    expect(r.ok).toBe(false);
    expect(r.findings.some((f) => f.check === 'linearizability')).toBe(true);
    expect(r.resultsDir).toBeDefined();
    expect(fs.existsSync(path.join(r.resultsDir!, 'report.md'))).toBe(true);
  }, 180_000);

  it('catches acknowledged writes lost in a crash (KV_UNSAFE_TEST_MODES=ack-before-sync)', async () => {
    const r = await runProfile({ ...common, profile: PROFILES['ci-ack-before-sync']! });
    expect(r.ok).toBe(false);
    expect(
      r.findings.some((f) => f.check === 'crash-safety' || f.check === 'linearizability'),
    ).toBe(true);
  }, 180_000);
});
