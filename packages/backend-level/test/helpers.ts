import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A fresh temporary root for one test file, removed after it; returns a path factory. */
export function tempPaths(label: string): (name?: string) => string {
  const root = mkdtempSync(join(tmpdir(), `backend-level-${label}-`));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  return (name) => join(root, name ?? `db${n++}`);
}

/** UTF-8 bytes of a string. */
export function b(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** A string from UTF-8 bytes. */
export function text(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

/** Resolve with the rejection of `p`, failing if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}
