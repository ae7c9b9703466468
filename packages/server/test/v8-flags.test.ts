import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_V8_FLAGS,
  YOUNG_GROWTH_FROM_BYTES,
  v8FlagsToApply,
  watchYoungGeneration,
  youngGenerationMayGrow,
} from '../src/v8-flags';

const none = { execArgv: [], nodeOptions: undefined, kvV8Flags: undefined };

describe('v8FlagsToApply', () => {
  it('applies the defaults when the user set nothing', () => {
    expect(v8FlagsToApply(none)).toEqual([...DEFAULT_V8_FLAGS]);
    expect(DEFAULT_V8_FLAGS).toContain('--heap-growing-percent=50');
    expect(DEFAULT_V8_FLAGS).toContain('--semi-space-growth-factor=1');
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
    const src = fileURLToPath(new URL('../src/v8-flags.ts', import.meta.url));
    const code = `import { applyV8Flags } from ${JSON.stringify(src)};
      const applied = applyV8Flags();
      let keep = [];
      for (let i = 0; i < 2e5; i++) keep.push({ i });
      keep = [];
      for (let i = 0; i < 2e5; i++) keep.push({ i });
      process.stdout.write('APPLIED ' + JSON.stringify(applied) + '\\n');`;
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
        env: { ...process.env, NODE_OPTIONS: '', ...env },
        encoding: 'utf8',
      });
    const traced = run({ KV_V8_FLAGS: '--trace-gc' });
    expect(traced.stderr).toBe('');
    expect(traced.stdout).toContain('APPLIED ["--trace-gc"]');
    expect(traced.stdout).toMatch(/Scavenge|Mark-Compact/);
    const plain = run({ KV_V8_FLAGS: '' });
    expect(plain.stdout).toContain('APPLIED []');
    expect(plain.stdout).not.toMatch(/Scavenge|Mark-Compact/);
  });
});

describe('the young generation', () => {
  const MiB = 2 ** 20;

  it('may grow once heap and external memory together reach 128 MiB', () => {
    expect(YOUNG_GROWTH_FROM_BYTES).toBe(128 * MiB);
    expect(youngGenerationMayGrow({ used_heap_size: 100 * MiB, external_memory: 27 * MiB })).toBe(
      false,
    );
    expect(youngGenerationMayGrow({ used_heap_size: 100 * MiB, external_memory: 28 * MiB })).toBe(
      true,
    );
    expect(youngGenerationMayGrow({ used_heap_size: 128 * MiB, external_memory: 0 })).toBe(true);
  });

  it('restores V8’s growth factor once, when the heap is large enough', () => {
    vi.useFakeTimers();
    try {
      let used = 10 * MiB;
      const setFlag = vi.fn<(flag: string) => void>();
      watchYoungGeneration({
        intervalMs: 1000,
        readHeap: () => ({ used_heap_size: used, external_memory: 0 }),
        setFlag,
      });
      vi.advanceTimersByTime(5000);
      expect(setFlag).not.toHaveBeenCalled();
      used = 200 * MiB;
      vi.advanceTimersByTime(1000);
      expect(setFlag.mock.calls).toEqual([['--semi-space-growth-factor=2']]);
      // Watching stopped: no timer is left.
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('stays at its start-up size in the running process until the heap is large, then grows', () => {
    const src = fileURLToPath(new URL('../src/v8-flags.ts', import.meta.url));
    // Retained objects survive scavenges, which is what makes V8 grow the young generation.
    const code = `import v8 from 'node:v8';
      import { applyV8Flags, watchYoungGeneration } from ${JSON.stringify(src)};
      applyV8Flags();
      const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20;
      const keep = [];
      const fill = (tag) => { for (let i = 0; i < 1e6; i++) keep.push({ i, s: tag + i }); };
      fill('a');
      const small = young();
      // As if the heap were large: the watcher restores the growth factor.
      // (Its timer is unref'd: a ref'd one keeps this process up meanwhile.)
      const alive = setInterval(() => {}, 1000);
      await new Promise((flagSet) => watchYoungGeneration({
        intervalMs: 1,
        readHeap: () => ({ used_heap_size: 128 * 2 ** 20, external_memory: 0 }),
        setFlag: (f) => { v8.setFlagsFromString(f); flagSet(); },
      }));
      clearInterval(alive);
      fill('b');
      process.stdout.write(JSON.stringify({ small, large: young(), kept: keep.length }) + '\\n');`;
    const run = (kvV8Flags: string | undefined) => {
      const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };
      delete env['KV_V8_FLAGS'];
      if (kvV8Flags !== undefined) env['KV_V8_FLAGS'] = kvV8Flags;
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', code],
        {
          env,
          encoding: 'utf8',
        },
      );
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout) as { small: number; large: number; kept: number };
    };
    const withDefaults = run(undefined);
    expect(withDefaults.kept).toBe(2e6);
    expect(withDefaults.small).toBeLessThanOrEqual(8);
    expect(withDefaults.large).toBeGreaterThan(withDefaults.small);
    // V8's own behaviour, for contrast: the same objects grow it at once.
    expect(run('').small).toBeGreaterThan(withDefaults.small);
  });
});
