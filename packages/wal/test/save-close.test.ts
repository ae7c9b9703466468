import { describe, expect, it } from 'vitest';
import { Wal, WalError } from '../src/index';
import { META, entries, tempDir } from './helpers';

// Wal.save is a plain function returning the queue's promise, and the flush
// keeps no idle promise of its own: close() must still wait for saves queued
// before it, and errors must still arrive as rejections.
describe('Wal save and close', () => {
  it('close waits for saves queued before it, which are then durable', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META);
    const order: string[] = [];
    const a = w
      .save({ term: 1, vote: 0n, commit: 0 }, entries(1, 3, 1))
      .then(() => order.push('a'));
    const b = w.save(undefined, entries(4, 5, 1)).then(() => order.push('b'));
    await w.close().then(() => order.push('closed'));
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b', 'closed']);
    const r = await Wal.open(dir, { index: 0, term: 0 });
    try {
      expect((await r.readAll()).entries).toEqual(entries(1, 5, 1));
    } finally {
      await r.close();
    }
  });

  it('close writes an unsynced save still waiting for the end of the turn', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META);
    await w.save({ term: 1, vote: 0n, commit: 0 }, entries(1, 2, 1));
    const lazy = w.save({ term: 1, vote: 0n, commit: 2 }, [], { sync: false });
    await w.close();
    await lazy;
    const r = await Wal.open(dir, { index: 0, term: 0 });
    try {
      expect((await r.readAll()).hardState?.commit).toBe(2);
    } finally {
      await r.close();
    }
  });

  it('close after the flush has finished resolves at once; later saves reject, not throw', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META);
    await w.save(undefined, entries(1, 1, 1));
    await w.close();
    await w.close();
    let p: Promise<void> | undefined;
    expect(() => {
      p = w.save(undefined, entries(2, 2, 1));
    }).not.toThrow();
    const err: unknown = await p!.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WalError);
    expect((err as WalError).code).toBe('WAL_CLOSED');
  });
});
