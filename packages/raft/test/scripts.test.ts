import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runScript } from '../src/testing/script';

// RAFT_REWRITE=1 rewrites the expected outputs (review the diff!).
const dir = new URL('../testdata/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.txt'));

describe('scripts', () => {
  it('has scripts', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const f of files) {
    it(f, () => {
      const text = readFileSync(new URL(f, dir), 'utf8');
      const actual = runScript(text);
      if (process.env['RAFT_REWRITE']) writeFileSync(new URL(f, dir), actual);
      else expect(actual).toBe(text);
    });
  }
});
