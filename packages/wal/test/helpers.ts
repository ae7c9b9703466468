import fs from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { WalEntry } from '../src/index';
import { payload } from './data';

export { META, payload } from './data';

const made: string[] = [];
// Every test file that imports these helpers removes its scratch directories.
afterAll(async () => {
  for (const dir of made.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

export async function tempDir(prefix = 'wal-test-'): Promise<string> {
  const dir = await fs.mkdtemp(join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function entries(from: number, to: number, term = 1, size?: number): WalEntry[] {
  const out: WalEntry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, data: payload(i, term, size) });
  return out;
}

export async function segmentFiles(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
}

export async function copyDir(from: string, to: string): Promise<void> {
  await fs.cp(from, to, { recursive: true });
}
