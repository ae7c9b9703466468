import fs from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import type { WalEntry } from '../src/index';

export async function tempDir(prefix = 'wal-test-'): Promise<string> {
  return fs.mkdtemp(join(os.tmpdir(), prefix));
}

/** Deterministic payload for an entry, so a reader can check it without a copy. */
export function payload(index: number, term: number, size = 16 + (index % 7) * 13): Uint8Array {
  const out = new Uint8Array(size);
  let x = (index * 2654435761 + term * 97) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
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

export const META = new TextEncoder().encode('cluster=c1 member=m1');
