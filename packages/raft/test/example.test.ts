import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from './example';

describe('README example', () => {
  it('runs to completion', () => {
    expect(main()).toEqual(['1: hello', '2: hello', '3: hello']);
  });
  it('is the code shown in the README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    // The README shows the import a user of the package writes.
    const code = readFileSync(new URL('./example.ts', import.meta.url), 'utf8').replaceAll(
      "'../src/index'",
      "'@kv/raft'",
    );
    expect(readme).toContain(code.trim());
  });
});
