import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_V8_FLAGS, v8FlagsToApply } from '../src/v8-flags';

const none = { execArgv: [], nodeOptions: undefined, kvV8Flags: undefined };

describe('v8FlagsToApply', () => {
  it('applies the defaults when the user set nothing', () => {
    expect(v8FlagsToApply(none)).toEqual([...DEFAULT_V8_FLAGS]);
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
