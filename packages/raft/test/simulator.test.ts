import { describe, expect, it } from 'vitest';
import { runSimulation, SimulationError } from '../src/testing/simulator';

// Default: a few hundred seeds (about 10 s). CI sets RAFT_SIM_SEEDS=5000.
const SEEDS = Number(process.env['RAFT_SIM_SEEDS'] ?? 300);
const FROM = Number(process.env['RAFT_SIM_FROM'] ?? 0);

describe('randomized simulation', () => {
  it(`keeps every invariant and stays live across ${SEEDS} seeds`, { timeout: 600_000 }, () => {
    const failures: string[] = [];
    let committed = 0;
    let reads = 0;
    let snaps = 0;
    let confs = 0;
    let crashes = 0;
    for (let seed = FROM; seed < FROM + SEEDS; seed++) {
      try {
        const r = runSimulation({ seed });
        committed += r.committed;
        reads += r.readsAnswered;
        snaps += r.snapshotsInstalled;
        confs += r.confChangesApplied;
        crashes += r.crashes;
      } catch (e) {
        if (!(e instanceof SimulationError)) throw e;
        failures.push(e.message);
        if (failures.length >= 5) break;
      }
    }
    expect(failures).toEqual([]);
    // The runs must actually exercise the features they claim to.
    expect(committed).toBeGreaterThan(SEEDS * 20);
    expect(reads).toBeGreaterThan(SEEDS);
    expect(snaps).toBeGreaterThan(0);
    expect(confs).toBeGreaterThan(SEEDS * 3);
    expect(crashes).toBeGreaterThan(0);
  });

  it('is deterministic: a seed replays exactly', () => {
    expect(runSimulation({ seed: 12345 })).toEqual(runSimulation({ seed: 12345 }));
  });

  it('catches a node that forgets its vote (two leaders in a term)', () => {
    const found: string[] = [];
    for (let seed = 0; seed < 200 && found.length === 0; seed++) {
      try {
        runSimulation({
          seed,
          sabotage: 'forget-votes',
          crashRate: 0.05,
          preVote: false,
          checkQuorum: false,
        });
      } catch (e) {
        if (e instanceof SimulationError) found.push(e.message);
        else throw e;
      }
    }
    expect(found[0]).toMatch(/two leaders in term|log matching|applied|leader completeness/);
  });

  it('reports a liveness failure with a replay command', () => {
    // With an absurd liveness budget the run must fail, proving failures surface.
    let err: unknown;
    try {
      runSimulation({ seed: 3, livenessSteps: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SimulationError);
    expect((err as SimulationError).replay).toContain('--seed 3');
  });
});
