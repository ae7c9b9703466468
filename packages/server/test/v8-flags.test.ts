import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SEMI_SPACE_CAP_MIB,
  DEFAULT_V8_FLAGS,
  WARM_UP_INTERRUPT_BUDGET,
  defaultV8Flags,
  semiSpaceCapToApply,
  semiSpaceGrowthFactor,
  tiersUpByInterruptBudget,
  v8FlagsToApply,
} from '../src/v8-flags';

const none = { execArgv: [], nodeOptions: undefined, kvV8Flags: undefined };

const V8_FLAGS_SRC = fileURLToPath(new URL('../src/v8-flags.ts', import.meta.url));

/**
 * Runs `body` in a fresh node that has imported `applyV8Flags` from the
 * source, with no `NODE_OPTIONS` and no inherited `KV_V8_FLAGS`; `env` and
 * `nodeFlags` add to that.
 */
function runWithV8Flags(body: string, env: Record<string, string>, nodeFlags: string[] = []) {
  const inherited = { ...process.env };
  delete inherited['KV_V8_FLAGS'];
  const code = `import { applyV8Flags } from ${JSON.stringify(V8_FLAGS_SRC)};\n${body}`;
  return spawnSync(
    process.execPath,
    [...nodeFlags, '--import', 'tsx', '--input-type=module', '-e', code],
    { env: { ...inherited, NODE_OPTIONS: '', ...env }, encoding: 'utf8' },
  );
}

describe('v8FlagsToApply', () => {
  it('applies the defaults when the user set nothing', () => {
    expect(v8FlagsToApply(none)).toEqual([...DEFAULT_V8_FLAGS]);
    expect(DEFAULT_V8_FLAGS).toEqual(defaultV8Flags(process.versions.v8));
    expect(DEFAULT_V8_FLAGS).toContain('--heap-growing-percent=50');
  });

  it('leaves out a default the user gave node, in either spelling, on the command line or in NODE_OPTIONS', () => {
    const d = ['--heap-growing-percent=50', '--other-flag=1'];
    expect(v8FlagsToApply({ ...none, execArgv: ['--heap-growing-percent=100'] }, d)).toEqual([
      '--other-flag=1',
    ]);
    expect(v8FlagsToApply({ ...none, execArgv: ['--heap_growing_percent=20'] }, d)).toEqual([
      '--other-flag=1',
    ]);
    expect(
      v8FlagsToApply({ ...none, nodeOptions: '--max-semi-space-size=8 --no-other-flag' }, d),
    ).toEqual(['--heap-growing-percent=50']);
    expect(v8FlagsToApply({ ...none, execArgv: ['--heap-growing'] }, d)).toEqual(d);
  });

  it('KV_V8_FLAGS replaces the defaults; empty applies none', () => {
    expect(v8FlagsToApply({ ...none, kvV8Flags: '' })).toEqual([]);
    expect(
      v8FlagsToApply({ ...none, kvV8Flags: ' --heap-growing-percent=30  --trace-gc ' }),
    ).toEqual(['--heap-growing-percent=30', '--trace-gc']);
  });
});

describe('applyV8Flags', () => {
  it('sets the flags in the running process (V8 reads them after start-up)', () => {
    // --trace-gc set at run time prints the next GC: proof the flags reach V8 in this node.
    const body = `const applied = applyV8Flags();
      let keep = [];
      for (let i = 0; i < 2e5; i++) keep.push({ i });
      keep = [];
      for (let i = 0; i < 2e5; i++) keep.push({ i });
      process.stdout.write('APPLIED ' + JSON.stringify(applied) + '\\n');`;
    const run = (env: Record<string, string>) => runWithV8Flags(body, env);
    const traced = run({ KV_V8_FLAGS: '--trace-gc' });
    expect(traced.stderr).toBe('');
    expect(traced.stdout).toContain('APPLIED ["--trace-gc"]');
    expect(traced.stdout).toMatch(/Scavenge|Mark-Compact/);
    const plain = run({ KV_V8_FLAGS: '' });
    expect(plain.stdout).toContain('APPLIED []');
    expect(plain.stdout).not.toMatch(/Scavenge|Mark-Compact/);
  });
});

describe('semiSpaceCapToApply', () => {
  it('caps at 8 MiB unless KV_V8_FLAGS is set or the user sized the young generation', () => {
    expect(DEFAULT_SEMI_SPACE_CAP_MIB).toBe(8);
    expect(semiSpaceCapToApply(none)).toBe(8);
    expect(semiSpaceCapToApply({ ...none, execArgv: ['--heap-growing-percent=20'] })).toBe(8);
    expect(semiSpaceCapToApply({ ...none, kvV8Flags: '' })).toBeUndefined();
    expect(semiSpaceCapToApply({ ...none, execArgv: ['--max_semi_space_size=4'] })).toBeUndefined();
    expect(
      semiSpaceCapToApply({ ...none, nodeOptions: '--min-semi-space-size=2' }),
    ).toBeUndefined();
    expect(
      semiSpaceCapToApply({ ...none, nodeOptions: '--trace-gc --semi-space-growth-factor=4' }),
    ).toBeUndefined();
  });
});

describe('semiSpaceGrowthFactor', () => {
  it('lets the young generation grow until a semi-space (half of new_space) reaches the cap', () => {
    const MiB = 2 ** 20;
    expect(semiSpaceGrowthFactor(8 * MiB, 8)).toBe(2);
    expect(semiSpaceGrowthFactor(16 * MiB - 1, 8)).toBe(2);
    expect(semiSpaceGrowthFactor(16 * MiB, 8)).toBe(1);
    expect(semiSpaceGrowthFactor(32 * MiB, 8)).toBe(1);
    expect(semiSpaceGrowthFactor(16 * MiB, 16)).toBe(2);
  });
});

describe('the young generation cap in a running process', () => {
  it('stops new_space at 16 MiB under a load whose survivors grow it to 32 MiB without the cap', () => {
    // Each turn keeps part of what it allocates, like a write load storing
    // keys; the event loop turns between chunks, as it does between requests.
    const body = `const { getHeapSpaceStatistics } = await import('node:v8');
      applyV8Flags();
      const kept = [];
      let peak = 0;
      for (let turn = 0; turn < 400; turn++) {
        for (let i = 0; i < 5000; i++) {
          const o = { i, s: 'k' + i, a: [i, turn] };
          if (i % 3 === 0) kept.push(o);
        }
        await new Promise((r) => setImmediate(r));
        const ns = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
        peak = Math.max(peak, ns);
      }
      process.stdout.write('PEAK ' + peak + ' KEPT ' + kept.length + '\\n');`;
    const peakOf = (env: Record<string, string>): number => {
      const r = runWithV8Flags(body, env);
      expect(r.stderr).toBe('');
      const m = /PEAK (\d+)/.exec(r.stdout);
      expect(m).not.toBeNull();
      return Number(m![1]) / 2 ** 20;
    };
    expect(peakOf({ KV_V8_FLAGS: '' })).toBeGreaterThan(16);
    expect(peakOf({})).toBeLessThanOrEqual(16);
  });
});

describe('defaultV8Flags', () => {
  it('lowers the tier-up budget only on the V8 that knows the flag (Node 20)', () => {
    const budget = `--interrupt-budget=${WARM_UP_INTERRUPT_BUDGET}`;
    expect(WARM_UP_INTERRUPT_BUDGET).toBe(67_584 / 4);
    expect(defaultV8Flags('11.3.244.8-node.38')).toEqual(['--heap-growing-percent=50', budget]);
    expect(defaultV8Flags('10.2.154.26-node.36')).toContain(budget);
    for (const newer of ['11.8.172.17-node.20', '12.4.254.21-node.57', '13.6.233.17-node.53']) {
      expect(tiersUpByInterruptBudget(newer)).toBe(false);
      expect(defaultV8Flags(newer)).toEqual(['--heap-growing-percent=50']);
    }
  });
});

describe('the tier-up budget in a running process', () => {
  it('optimizes a hot function after fewer calls, and no default flag is unknown to this V8', () => {
    // V8 11.3 marks this probe for optimization after ~1,600-2,400 calls with
    // its default budget and ~400-600 with a quarter of it.
    const body = `applyV8Flags();
      function tierProbe(a, b) {
        const s = a * 3 + b;
        const t = (s ^ (a << 2)) + (b >>> 1);
        const u = t % 7 === 0 ? t - a : t + b;
        const v = (u * 5 + s) | 0;
        return (v ^ (u >> 3)) + ((s & 255) | (t & 15));
      }
      let acc = 0;
      for (let i = 0; i < 1000; i++) acc = (acc + tierProbe(i, acc & 1023)) | 0;
      process.stdout.write('ACC ' + acc + '\\n');`;
    const run = (env: Record<string, string>) => runWithV8Flags(body, env, ['--trace-opt']);
    const markedForOptimization = (out: string): boolean =>
      /marking .*tierProbe.* for optimization/.test(out);
    const withDefaults = run({});
    expect(withDefaults.stderr).toBe('');
    expect(withDefaults.stdout).toContain('ACC ');
    if (tiersUpByInterruptBudget(process.versions.v8)) {
      expect(markedForOptimization(withDefaults.stdout)).toBe(true);
      const withoutDefaults = run({ KV_V8_FLAGS: '' });
      expect(withoutDefaults.stdout).toContain('ACC ');
      expect(markedForOptimization(withoutDefaults.stdout)).toBe(false);
    } else {
      expect(DEFAULT_V8_FLAGS.some((f) => f.startsWith('--interrupt-budget'))).toBe(false);
    }
  });
});
