import fs from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnapshotStore, Wal, WalError } from '../src/index';
import { META, entries, payload, tempDir } from './helpers';

const snap = (index: number, term: number, size = 1000) => ({
  index,
  term,
  data: payload(index, term, size),
});

describe('SnapshotStore', () => {
  it('saves and loads the newest snapshot, listing oldest first', async () => {
    const dir = join(await tempDir(), 'snap'); // created on first save
    const store = new SnapshotStore(dir);
    expect(await store.loadNewest()).toBeUndefined();
    expect(await store.list()).toEqual([]);
    await store.save(snap(10, 1));
    await store.save(snap(30, 2, 0));
    await store.save(snap(20, 2, 70_000));
    expect(await store.list()).toEqual([
      { index: 10, term: 1 },
      { index: 20, term: 2 },
      { index: 30, term: 2 },
    ]);
    expect(await store.loadNewest()).toEqual(snap(30, 2, 0));
    expect(await store.load({ index: 20, term: 2 })).toEqual(snap(20, 2, 70_000));
    await expect(store.load({ index: 21, term: 2 })).rejects.toMatchObject({
      code: 'WAL_SNAPSHOT_NOT_FOUND',
    });
    expect((await fs.readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('renames a corrupt newest snapshot aside and falls back to the previous one', async () => {
    const dir = await tempDir();
    const store = new SnapshotStore(dir);
    await store.save(snap(10, 1));
    await store.save(snap(20, 1));
    await store.save(snap(30, 1));
    const newest = join(dir, '0000000000000001-000000000000001e.snap');
    const buf = await fs.readFile(newest);
    buf[500]! ^= 0x04;
    await fs.writeFile(newest, buf);
    // Truncated one in the middle as well.
    const middle = join(dir, '0000000000000001-0000000000000014.snap');
    await fs.truncate(middle, 600);
    expect(await store.loadNewest()).toEqual(snap(10, 1));
    const names = (await fs.readdir(dir)).sort();
    expect(names).toEqual([
      '0000000000000001-000000000000000a.snap',
      '0000000000000001-0000000000000014.snap.broken',
      '0000000000000001-000000000000001e.snap.broken',
    ]);
    await expect(store.load({ index: 30, term: 1 })).rejects.toMatchObject({
      code: 'WAL_SNAPSHOT_NOT_FOUND',
    });
    expect(await new SnapshotStore(dir).load({ index: 10, term: 1 })).toEqual(snap(10, 1));
  });

  it('rejects a file whose header disagrees with its name', async () => {
    const dir = await tempDir();
    const store = new SnapshotStore(dir);
    await store.save(snap(5, 1));
    await fs.rename(
      join(dir, '0000000000000001-0000000000000005.snap'),
      join(dir, '0000000000000001-0000000000000006.snap'),
    );
    const err = await store.load({ index: 6, term: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WalError);
    expect((err as WalError).code).toBe('SNAPSHOT_CORRUPT');
  });

  it('purges beyond keep', async () => {
    const dir = await tempDir();
    const store = new SnapshotStore(dir, { keep: 2 });
    await fs.writeFile(join(dir, '0000000000000001-0000000000000063.snap.tmp'), 'torn'); // crash leftover
    for (const i of [1, 2, 3, 4]) await store.save(snap(i * 10, 1, 10));
    expect((await fs.readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(await store.list()).toEqual([
      { index: 30, term: 1 },
      { index: 40, term: 1 },
    ]);
    expect(() => new SnapshotStore(dir, { keep: 0 })).toThrow(WalError);
  });

  it('loads the newest snapshot the WAL can continue from', async () => {
    const root = await tempDir();
    const walDir = join(root, 'wal');
    const store = new SnapshotStore(join(root, 'snap'));
    const w = await Wal.create(walDir, META);
    await w.save({ term: 1, vote: 1n, commit: 20 }, entries(1, 30));
    await store.save(snap(10, 1));
    await w.saveSnapshot({ index: 10, term: 1 });
    await store.save(snap(20, 1));
    await w.saveSnapshot({ index: 20, term: 1 });
    // A snapshot file written but its WAL marker never saved (crash in between),
    // and a marker beyond the durable commit index: neither may be used.
    await store.save(snap(25, 1));
    await w.saveSnapshot({ index: 30, term: 1 });
    await store.save(snap(30, 1));
    await w.close();

    const markers = await Wal.readSnapshotMarkers(walDir);
    expect(markers).toEqual([
      { index: 0, term: 0 },
      { index: 10, term: 1 },
      { index: 20, term: 1 },
    ]);
    const chosen = await store.loadNewestAvailable(markers);
    expect(chosen).toEqual(snap(20, 1));
    const r = await Wal.open(walDir, chosen!);
    expect((await r.readAll()).entries).toEqual(entries(21, 30));
    await r.close();
  });
});
