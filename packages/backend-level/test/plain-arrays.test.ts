import { describe, expect, it } from 'vitest';
import { LevelBackend } from '../src/index';
import { b, tempPaths, text } from './helpers';

const path = tempPaths('plain');

/** A plain Uint8Array (not a Buffer) with the bytes of `s`, as mvcc passes them. */
function plain(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s));
}

// The write buffer copies small plain Uint8Arrays into Buffers (compact to
// hold until the commit). Reads before and after the commit must see exactly
// the bytes that were put, also when a key arrives once as a plain array and
// once as a Buffer, and whatever the caller does with its arrays afterwards.
describe('puts of plain Uint8Arrays', () => {
  it('are read back the same, before and after the commit', async () => {
    const backend = await LevelBackend.open(path(), { batchInterval: 60_000 });
    try {
      const key = plain('k1');
      const value = plain('v1');
      backend.put('key', key, value);
      backend.put('key', plain('k2'), new Uint8Array(5000).fill(7)); // larger than the pool takes
      backend.put('key', b('k1'), plain('v1b')); // the same key as a Buffer overwrites
      backend.delete('key', plain('k3'));
      key.fill(0);
      value.fill(0);
      const check = async (): Promise<void> => {
        expect(text(await backend.get('key', b('k1')))).toBe('v1b');
        expect(text(await backend.get('key', plain('k1')))).toBe('v1b');
        const k2 = await backend.get('key', b('k2'));
        expect(k2?.length).toBe(5000);
        expect(k2?.every((x) => x === 7)).toBe(true);
        const all = await backend.range('key', b(''), undefined);
        expect(all.map((e) => text(e.key))).toEqual(['k1', 'k2']);
      };
      await check();
      expect(backend.stats().pendingWrites).toBe(4);
      await backend.commit();
      expect(backend.stats().pendingWrites).toBe(0);
      await check();
    } finally {
      await backend.close();
    }
  });
});
