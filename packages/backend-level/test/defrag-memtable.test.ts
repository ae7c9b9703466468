import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LevelBackend } from '../src/index';

const b = (s: string): Uint8Array => Buffer.from(s);

describe('defragment with the default write buffer', () => {
  it('reclaims deleted data that never left one memtable, and hides its markers', async () => {
    const dir = fs.mkdtempSync(join(os.tmpdir(), 'defrag-'));
    try {
      const backend = await LevelBackend.open(join(dir, 'db'));
      // 2 MB in one 4 MB memtable: the flush puts all of it at LevelDB's level 2.
      const values = Array.from({ length: 20 }, () => randomBytes(100 * 1024));
      for (let i = 0; i < 20; i++)
        backend.put('key', b(`k${String(i).padStart(2, '0')}`), values[i]!);
      await backend.commit();
      for (let i = 0; i < 19; i++) backend.delete('key', b(`k${String(i).padStart(2, '0')}`));
      const { before, after } = await backend.defragment();
      expect(before.total).toBeGreaterThan(2_000_000);
      expect(after.total).toBeLessThan(300_000);
      const left = await backend.range('key', b(''), undefined);
      expect(left.map((e) => Buffer.from(e.key).toString())).toEqual(['k19']);
      expect(Buffer.compare(left[0]!.value, values[19]!)).toBe(0);
      for (const bucket of ['meta', 'alarm'] as const) {
        expect(await backend.range(bucket, b(''), undefined)).toEqual([]);
      }
      await backend.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
