// The generated code and the test descriptor set are committed; this proves
// they are exactly what the pinned generator makes from proto/ today, so a
// .proto edit without `pnpm nx run api:generate` fails CI.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const buf = join(pkgDir, 'node_modules', '.bin', 'buf');
const outDir = mkdtempSync(join(tmpdir(), 'kv-api-gen-'));

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

describe('committed generated code', () => {
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('is byte for byte what `buf generate` produces from proto/', () => {
    execFileSync(buf, ['generate', '--output', outDir], { cwd: pkgDir, stdio: 'pipe' });
    const fresh = join(outDir, 'src', 'gen');
    const committed = join(pkgDir, 'src', 'gen');
    const freshFiles = listFiles(fresh)
      .map((f) => relative(fresh, f))
      .sort();
    expect(
      listFiles(committed)
        .map((f) => relative(committed, f))
        .sort(),
    ).toEqual(freshFiles);
    for (const file of freshFiles) {
      expect(
        readFileSync(join(committed, file)).equals(readFileSync(join(fresh, file))),
        file,
      ).toBe(true);
    }
  });

  it('has a descriptor set in testdata/ matching proto/', () => {
    const out = join(outDir, 'etcd-api.binpb');
    execFileSync(buf, ['build', '--exclude-source-info', '-o', out], {
      cwd: pkgDir,
      stdio: 'pipe',
    });
    expect(readFileSync(out).equals(readFileSync(join(pkgDir, 'testdata', 'etcd-api.binpb')))).toBe(
      true,
    );
  });
});
