import { describe, expect, it } from 'vitest';
import { LevelBackend } from '../src/index';
import { b, rejection, tempPaths, text } from './helpers';

const path = tempPaths('stream');

async function* streamOf(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}

async function snapshotBytes(backend: LevelBackend): Promise<Buffer> {
  const snapshot = await backend.snapshot();
  const parts: Uint8Array[] = [];
  for await (const c of snapshot.chunks()) parts.push(c);
  await snapshot.close();
  return Buffer.concat(parts);
}

describe('snapshot stream damage', () => {
  it('rejects the stream cut at any offset or with a single bit flipped, keeping the data', async () => {
    const source = await LevelBackend.open(path());
    source.put('key', b('alpha'), b('1'));
    source.put('key', b('beta'), new Uint8Array(150).fill(9)); // a two-byte varint length
    source.put('members_removed', b('m'), b('gone'));
    const whole = await snapshotBytes(source);
    await source.close();

    const target = await LevelBackend.open(path());
    target.put('meta', b('mine'), b('kept'));
    await target.commit();
    // Every offset of the header, the first record and the trailer; every 7th
    // byte in between (every offset with LONG_TESTS=1).
    const offsets = [...whole.keys()].filter(
      (i) => process.env['LONG_TESTS'] === '1' || i < 28 || i >= whole.length - 12 || i % 7 === 0,
    );
    for (const cut of offsets) {
      const err = await rejection(target.restore(streamOf(whole.subarray(0, cut))));
      expect(err.code).toBe('BACKEND_SNAPSHOT_CORRUPT');
    }
    for (const at of offsets) {
      const flipped = Buffer.from(whole);
      flipped[at]! ^= 1 << (at % 8);
      const err = await rejection(target.restore(streamOf(flipped)));
      expect(err.code).toBe('BACKEND_SNAPSHOT_CORRUPT');
    }
    expect(text(await target.get('meta', b('mine')))).toBe('kept');
    expect(await target.get('key', b('alpha'))).toBeUndefined();
    // The undamaged stream, fed one byte per chunk, is accepted.
    const bytes = [...whole].map((x) => new Uint8Array([x]));
    await target.restore(streamOf(...bytes));
    expect(text(await target.get('members_removed', b('m')))).toBe('gone');
    expect((await target.get('key', b('beta')))?.length).toBe(150);
    await target.close();
  });

  it('streams large values across many small chunks and back', async () => {
    const source = await LevelBackend.open(path(), { snapshotChunkSize: 1000 });
    const big = new Uint8Array(10_000).map((_, i) => i % 251);
    source.put('key', b('big'), big);
    source.put('key', b('small'), b('s'));
    const snapshot = await source.snapshot();
    const sizes: number[] = [];
    const parts: Uint8Array[] = [];
    for await (const c of snapshot.chunks()) {
      sizes.push(c.length);
      parts.push(c);
    }
    // Twice over the same snapshot gives the same bytes.
    const again: Uint8Array[] = [];
    for await (const c of snapshot.chunks()) again.push(c);
    await snapshot.close();
    expect(Buffer.concat(again).equals(Buffer.concat(parts))).toBe(true);
    expect(Math.max(...sizes)).toBe(1000);
    expect(sizes.length).toBeGreaterThan(10);
    const target = await LevelBackend.open(path());
    await target.restore(streamOf(...parts));
    expect(Buffer.compare((await target.get('key', b('big')))!, big)).toBe(0);
    await Promise.all([source.close(), target.close()]);
  });
});
