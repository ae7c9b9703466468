// Proves the lint rule behind docs/architecture.md's dependency directions
// rejects forbidden imports and accepts allowed ones.
import { ESLint } from 'eslint';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import tseslint from 'typescript-eslint';
import nx from '@nx/eslint-plugin';
// @ts-expect-error plain JS module without types
// eslint-disable-next-line @nx/enforce-module-boundaries -- the rule config itself, shared with eslint.config.js
import { moduleBoundaries, moduleBoundariesForTests } from '../../lint/module-boundaries.js';

const root = path.resolve(import.meta.dirname, '../../..');

async function boundaryErrors(
  pkg: string,
  source: string,
  where: 'src' | 'test' = 'src',
): Promise<string[]> {
  const eslint = new ESLint({
    cwd: root,
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { '@nx': nx as unknown as ESLint.Plugin },
        rules: {
          '@nx/enforce-module-boundaries':
            where === 'src' ? moduleBoundaries : moduleBoundariesForTests,
        },
      },
    ],
  });
  const filePath = path.join(root, 'packages', pkg, where, '__boundary_probe__.ts');
  const [result] = await eslint.lintText(source, { filePath });
  return (result?.messages ?? []).map((m) => m.message);
}

describe('package dependency directions', () => {
  it('rejects @kv/raft importing another @kv package', async () => {
    const errors = await boundaryErrors(
      'raft',
      "import { packageName } from '@kv/mvcc';\nexport const x = packageName;\n",
    );
    expect(errors.join('\n')).toMatch(/scope:raft/);
  });

  it('rejects @kv/mvcc importing a storage engine', async () => {
    const errors = await boundaryErrors(
      'mvcc',
      "import { ClassicLevel } from 'classic-level';\nexport const x = ClassicLevel;\n",
    );
    expect(errors.join('\n')).toMatch(/classic-level/);
  });

  it('rejects @kv/client importing the server core', async () => {
    const errors = await boundaryErrors(
      'client',
      "import { packageName } from '@kv/kvserver';\nexport const x = packageName;\n",
    );
    expect(errors.join('\n')).toMatch(/scope:client/);
  });

  it('lets tests, but not shipped sources, use the shared test helpers', async () => {
    const probe =
      "import { reservePort } from '@kv-tools/test-ports';\nexport const x = reservePort;\n";
    expect((await boundaryErrors('raft', probe)).join('\n')).toMatch(/scope:raft/);
    expect(await boundaryErrors('raft', probe, 'test')).toEqual([]);
  });

  it('allows @kv/kvserver to import @kv/raft', async () => {
    const errors = await boundaryErrors(
      'kvserver',
      "import { packageName } from '@kv/raft';\nexport const x = packageName;\n",
    );
    expect(errors).toEqual([]);
  });
});
