import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Wal, WalError, type WalHardState } from '../src/index';
import { META, entries, segmentFiles, tempDir } from './helpers';

const open: Wal[] = [];
async function track(p: Promise<Wal>): Promise<Wal> {
  const w = await p;
  open.push(w);
  return w;
}
afterEach(async () => {
  for (const w of open.splice(0)) await w.close();
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof WalError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('Wal round trip', () => {
  it('reads back metadata, hard state, entries and snapshot markers', async () => {
    const dir = await tempDir();
    expect(await Wal.exists(dir)).toBe(false);
    const w = await Wal.create(dir, META);
    expect(await Wal.exists(dir)).toBe(true);
    const hs: WalHardState = { term: 7, vote: (1n << 64n) - 1n, commit: 3 };
    await w.save(hs, entries(1, 5, 7));
    await w.save(undefined, entries(6, 6, 7, 0)); // empty payload
    await w.saveSnapshot({ index: 4, term: 7 });
    await w.save({ term: 8, vote: 0x1234_5678_9abc_def0n, commit: 6 }, entries(7, 9, 8, 5000));
    await w.close();

    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    const all = await r.readAll();
    expect(Buffer.from(all.metadata).equals(Buffer.from(META))).toBe(true);
    expect(all.hardState).toEqual({ term: 8, vote: 0x1234_5678_9abc_def0n, commit: 6 });
    expect(all.entries).toEqual([
      ...entries(1, 5, 7),
      ...entries(6, 6, 7, 0),
      ...entries(7, 9, 8, 5000),
    ]);
    await r.close();
    open.pop();

    const s = await track(Wal.open(dir, { index: 4, term: 7 }));
    expect((await s.readAll()).entries.map((e) => e.index)).toEqual([5, 6, 7, 8, 9]);
    expect(await Wal.readSnapshotMarkers(dir)).toEqual([
      { index: 0, term: 0 },
      { index: 4, term: 7 },
    ]);
  });

  it('continues after reopening and keeps the chain valid', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META, { segmentSize: 4096 });
    await w.save({ term: 1, vote: 1n, commit: 0 }, entries(1, 10));
    await w.close();
    for (let round = 0; round < 3; round++) {
      const r = await Wal.open(dir, { index: 0, term: 0 }, { segmentSize: 4096 });
      const { entries: got } = await r.readAll();
      expect(got.length).toBe(10 + round * 40);
      const last = got.length;
      await r.save({ term: 1, vote: 1n, commit: last }, entries(last + 1, last + 40));
      await r.close();
    }
    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    const got = await r.readAll();
    expect(got.entries).toEqual(entries(1, 130));
    expect(got.hardState?.commit).toBe(90);
  });

  it('allows readAll once after create and refuses saves before readAll after open', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META);
    expect((await w.readAll()).entries).toEqual([]);
    expect(await code(w.readAll())).toBe('WAL_STATE');
    await w.save(undefined, entries(1, 1));
    await w.close();
    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    expect(await code(r.save(undefined, entries(2, 2)))).toBe('WAL_STATE');
    await r.readAll();
    await r.save(undefined, entries(2, 2));
  });
});

describe('Wal errors', () => {
  it('refuses to create over an existing WAL and to open a missing one', async () => {
    const dir = await tempDir();
    await (await Wal.create(dir, META)).close();
    expect(await code(Wal.create(dir, META))).toBe('WAL_EXISTS');
    expect(await code(Wal.open(join(dir, 'nope'), { index: 0, term: 0 }))).toBe('WAL_NOT_FOUND');
  });

  it('locks the directory against a second opener', async () => {
    const dir = await tempDir();
    const w = await track(Wal.create(dir, META));
    expect(await code(Wal.open(dir, { index: 0, term: 0 }))).toBe('WAL_LOCKED');
    await w.close();
    open.pop();
    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    expect(r).toBeInstanceOf(Wal);
  });

  it('takes over a lock left by a dead process', async () => {
    const dir = await tempDir();
    await (await Wal.create(dir, META)).close();
    // pid 2^22 + 1 is above Linux's pid_max ceiling, so no such process exists.
    await fs.writeFile(join(dir, 'wal.lock'), `${(1 << 22) + 1} - -\n`);
    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    expect((await r.readAll()).entries).toEqual([]);
  });

  it('checks metadata, the snapshot marker and its term', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META);
    await w.save(undefined, entries(1, 3));
    await w.saveSnapshot({ index: 2, term: 1 });
    await w.close();
    const other = new TextEncoder().encode('cluster=c2 member=m1');
    expect(await code(Wal.open(dir, { index: 0, term: 0 }, { expectedMetadata: other }))).toBe(
      'WAL_METADATA_MISMATCH',
    );
    expect(await code(Wal.open(dir, { index: 3, term: 1 }))).toBe('WAL_SNAPSHOT_NOT_FOUND');
    expect(await code(Wal.open(dir, { index: 2, term: 9 }))).toBe('WAL_SNAPSHOT_MISMATCH');
    const r = await track(Wal.open(dir, { index: 2, term: 1 }, { expectedMetadata: META }));
    expect((await r.readAll()).entries.map((e) => e.index)).toEqual([3]);
  });

  it('validates arguments', async () => {
    const dir = await tempDir();
    const w = await track(Wal.create(dir, META));
    await w.save(undefined, entries(1, 3));
    expect(await code(w.save(undefined, entries(5, 6)))).toBe('WAL_INVALID_ARGUMENT'); // gap
    expect(await code(w.save(undefined, [...entries(4, 4), ...entries(6, 6)]))).toBe(
      'WAL_INVALID_ARGUMENT',
    );
    expect(await code(w.save(undefined, entries(0, 0)))).toBe('WAL_INVALID_ARGUMENT');
    expect(await code(w.save({ term: 1, vote: -1n, commit: 0 }, []))).toBe('WAL_INVALID_ARGUMENT');
    expect(await code(w.save({ term: 1.5, vote: 1n, commit: 0 }, []))).toBe('WAL_INVALID_ARGUMENT');
    // A snapshot moves the expected next index (follower installing a snapshot).
    await w.saveSnapshot({ index: 10, term: 2 });
    await w.save(undefined, entries(11, 12, 2));
    await w.close();
    open.pop();
    expect(await code(w.save(undefined, []))).toBe('WAL_CLOSED');
    const r = await track(Wal.open(dir, { index: 10, term: 2 }));
    expect((await r.readAll()).entries).toEqual(entries(11, 12, 2));
  });

  it('reports a gap when opened at a marker older than an installed snapshot', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META);
    await w.save(undefined, entries(1, 2));
    await w.saveSnapshot({ index: 10, term: 2 });
    await w.save(undefined, entries(11, 12, 2));
    await w.close();
    expect(await code(Wal.open(dir, { index: 0, term: 0 }))).toBe('WAL_GAP');
  });
});

describe('Wal segments', () => {
  it('cuts segments named by sequence and first index, and releases old ones', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META, { segmentSize: 4096 });
    for (let i = 1; i <= 200; i += 10) {
      await w.save({ term: 1, vote: 2n, commit: i - 1 }, entries(i, i + 9, 1, 100));
    }
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThan(4);
    expect(files[0]).toBe('0000000000000000-0000000000000000.wal');
    const firsts = files.map((f) => Number.parseInt(f.slice(17, 33), 16));
    const seqs = files.map((f) => Number.parseInt(f.slice(0, 16), 16));
    expect(seqs).toEqual(seqs.map((_, i) => i));
    for (let i = 1; i < firsts.length; i++) expect(firsts[i]! % 10).toBe(1); // cut between saves
    expect(w.stats.cuts).toBe(files.length - 1);
    // Only the preallocated next segment besides the segments and the lock.
    expect((await fs.readdir(dir)).sort()).toEqual([...files, 'next.tmp', 'wal.lock'].sort());

    await w.saveSnapshot({ index: 150, term: 1 });
    await w.releaseTo(150);
    const left = await segmentFiles(dir);
    const leftFirsts = left.map((f) => Number.parseInt(f.slice(17, 33), 16));
    expect(leftFirsts[0]!).toBeLessThanOrEqual(150);
    expect(leftFirsts[1]!).toBeGreaterThan(150);
    expect(left.length).toBeLessThan(files.length);
    await w.save({ term: 1, vote: 2n, commit: 200 }, []);
    await w.close();

    expect(await code(Wal.open(dir, { index: 0, term: 0 }))).toBe('WAL_SNAPSHOT_NOT_FOUND');
    const r = await track(Wal.open(dir, { index: 150, term: 1 }));
    const got = await r.readAll();
    expect(got.entries).toEqual(entries(151, 200, 1, 100));
    expect(got.metadata).toEqual(new Uint8Array(META));
    expect(got.hardState).toEqual({ term: 1, vote: 2n, commit: 200 });
  });

  it('releases segments before the open marker too (no holes in the sequence)', async () => {
    const dir = await tempDir();
    const opts = { segmentSize: 4096 } as const;
    const w = await Wal.create(dir, META, opts);
    await w.save({ term: 1, vote: 1n, commit: 100 }, entries(1, 100, 1, 100));
    for (let i = 101; i <= 200; i += 10) await w.save(undefined, entries(i, i + 9, 1, 100));
    await w.saveSnapshot({ index: 150, term: 1 });
    await w.close();
    const r = await Wal.open(dir, { index: 150, term: 1 }, opts);
    await r.readAll();
    await r.save({ term: 1, vote: 1n, commit: 200 }, []);
    await r.saveSnapshot({ index: 190, term: 1 });
    await r.releaseTo(190);
    await r.close();
    const seqs = (await segmentFiles(dir)).map((f) => Number.parseInt(f.slice(0, 16), 16));
    expect(seqs[0]).toBeGreaterThan(0);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    const again = await track(Wal.open(dir, { index: 190, term: 1 }, opts));
    expect((await again.readAll()).entries).toEqual(entries(191, 200, 1, 100));
  });

  it('cuts into zero-filled preallocated segments too', async () => {
    const dir = await tempDir();
    const opts = { segmentSize: 8192, preallocate: 'zeros' } as const;
    const w = await Wal.create(dir, META, opts);
    for (let i = 1; i <= 120; i += 4) await w.save(undefined, entries(i, i + 3, 1, 300));
    expect(w.stats.cuts).toBeGreaterThan(3);
    await w.close();
    const r = await track(Wal.open(dir, { index: 0, term: 0 }, opts));
    expect((await r.readAll()).entries).toEqual(entries(1, 120, 1, 300));
    await r.save(undefined, entries(121, 121));
  });

  it('keeps the hard state across a cut when the old segments are released', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META, { segmentSize: 4096 });
    await w.save({ term: 3, vote: 9n, commit: 0 }, []);
    for (let i = 1; i <= 100; i += 10) await w.save(undefined, entries(i, i + 9, 3, 200));
    await w.saveSnapshot({ index: 100, term: 3 });
    await w.releaseTo(100);
    await w.close();
    const r = await track(Wal.open(dir, { index: 100, term: 3 }));
    const got = await r.readAll();
    expect(got.hardState).toEqual({ term: 3, vote: 9n, commit: 0 });
    expect(got.entries).toEqual([]);
  });

  it('overwrites a conflicting suffix, across segment boundaries', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META, { segmentSize: 4096 });
    for (let i = 1; i <= 100; i += 5) await w.save(undefined, entries(i, i + 4, 1, 150));
    const before = (await segmentFiles(dir)).length;
    expect(before).toBeGreaterThan(3);
    // Rewrite from 20 on (several segments back) with term 2, long enough to cut again.
    await w.save({ term: 2, vote: 1n, commit: 19 }, entries(20, 60, 2, 150));
    await w.save(undefined, entries(61, 62, 2, 150));
    // And a short rewrite that only touches the current segment.
    await w.save(undefined, entries(62, 63, 3, 150));
    expect((await segmentFiles(dir)).length).toBeGreaterThan(before);
    await w.close();
    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    const got = await r.readAll();
    expect(got.entries).toEqual([
      ...entries(1, 19, 1, 150),
      ...entries(20, 61, 2, 150),
      ...entries(62, 63, 3, 150),
    ]);
    // The segment cut after the truncation is named after the rewritten log.
    const names = await segmentFiles(dir);
    const last = Number.parseInt(names[names.length - 1]!.slice(17, 33), 16);
    expect(last).toBeLessThanOrEqual(62);
  });
});

describe('Wal group commit', () => {
  it('covers concurrent saves with one write and one sync', async () => {
    const dir = await tempDir();
    const w = await track(Wal.create(dir, META));
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 64; i++)
      saves.push(w.save({ term: 1, vote: 1n, commit: i - 1 }, entries(i, i)));
    await Promise.all(saves);
    expect(w.stats.writes).toBe(1);
    expect(w.stats.syncs).toBe(1);
    // Saves arriving while a sync is in flight share the next one.
    const first = w.save(undefined, entries(65, 65));
    await Promise.resolve(); // the first write starts
    const rest: Promise<void>[] = [];
    for (let i = 66; i <= 80; i++) rest.push(w.save(undefined, entries(i, i)));
    await Promise.all([first, ...rest]);
    expect(w.stats.syncs).toBeLessThanOrEqual(3);
    await w.close();
    open.pop();
    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    const got = await r.readAll();
    expect(got.entries).toEqual(entries(1, 80));
    expect(got.hardState?.commit).toBe(63);
  });

  it('syncs before resolving each save of a lone saver', async () => {
    const dir = await tempDir();
    const w = await track(Wal.create(dir, META));
    for (let i = 1; i <= 20; i++) {
      await w.save({ term: 1, vote: 1n, commit: i - 1 }, entries(i, i));
      expect(w.stats).toMatchObject({ writes: i, syncs: i });
    }
    // Nothing to write: no write, no sync.
    await w.save(undefined, []);
    expect(w.stats).toMatchObject({ writes: 20, syncs: 20 });
  });

  it('writes small groups on the calling thread and large ones in the thread pool', async () => {
    const dir = await tempDir();
    const w = await track(Wal.create(dir, META));
    await w.save({ term: 1, vote: 1n, commit: 0 }, entries(1, 3, 1, 100));
    expect(w.stats).toMatchObject({ writes: 1, inlineWrites: 1, syncs: 1 });
    // 300 KiB in one group: too much to copy while the event loop waits.
    await w.save({ term: 1, vote: 1n, commit: 3 }, entries(4, 6, 1, 100 * 1024));
    expect(w.stats).toMatchObject({ writes: 2, inlineWrites: 1, syncs: 2 });
    await w.save(undefined, entries(7, 7, 1, 10), { sync: false });
    expect(w.stats).toMatchObject({ writes: 3, inlineWrites: 2, syncs: 2 });
    await w.close();
    open.pop();
    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    const got = await r.readAll();
    expect(got.entries).toEqual([
      ...entries(1, 3, 1, 100),
      ...entries(4, 6, 1, 100 * 1024),
      ...entries(7, 7, 1, 10),
    ]);
  });

  it('writes a save with sync: false without an fdatasync of its own', async () => {
    const dir = await tempDir();
    const w = await track(Wal.create(dir, META));
    await w.save({ term: 1, vote: 1n, commit: 0 }, entries(1, 3));
    expect(w.stats).toMatchObject({ writes: 1, syncs: 1 });
    await w.save({ term: 1, vote: 1n, commit: 3 }, [], { sync: false });
    expect(w.stats).toMatchObject({ writes: 2, syncs: 1 });
    // In one group with a synced save, the group is synced once.
    await Promise.all([
      w.save({ term: 1, vote: 1n, commit: 3 }, entries(4, 4)),
      w.save({ term: 1, vote: 1n, commit: 4 }, [], { sync: false }),
    ]);
    expect(w.stats).toMatchObject({ writes: 3, syncs: 2 });
    await w.close();
    open.pop();
    // Written all the same: a reopen (no power loss in between) sees it.
    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    const got = await r.readAll();
    expect(got.entries).toEqual(entries(1, 4));
    expect(got.hardState?.commit).toBe(4);
  });

  it('writes an unsynced save at the end of the turn, unless a synced save comes first', async () => {
    const dir = await tempDir();
    // No fdatasync at all: every save here resolves within the turn it is written in.
    const w = await track(Wal.create(dir, META, { sync: false }));
    await w.save({ term: 1, vote: 1n, commit: 0 }, entries(1, 1));
    expect(w.stats.writes).toBe(1);
    const lazy = w.save({ term: 1, vote: 1n, commit: 1 }, [], { sync: false });
    // The caller's microtasks and ticks of this turn run before the write.
    await Promise.resolve();
    await new Promise<void>((r) => process.nextTick(r));
    expect(w.stats.writes).toBe(1);
    await lazy;
    expect(w.stats.writes).toBe(2);
    // A synced save queued behind an unsynced one takes it along, in order,
    // and does not wait for the end of the turn.
    let turnEnded = false;
    setImmediate(() => (turnEnded = true));
    const first = w.save({ term: 1, vote: 1n, commit: 1 }, [], { sync: false });
    await w.save({ term: 1, vote: 1n, commit: 2 }, entries(2, 2));
    expect(turnEnded).toBe(false);
    await first;
    expect(w.stats.writes).toBe(3);
    await w.close();
    open.pop();
    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    const got = await r.readAll();
    expect(got.entries).toEqual(entries(1, 2));
    expect(got.hardState?.commit).toBe(2);
  });

  it('with syncOnLoop, syncs each small synced group on the calling thread before resolving', async () => {
    const dir = await tempDir();
    const w = await track(Wal.create(dir, META, { syncOnLoop: true }));
    const log: string[] = [];
    const onLoop = vi.spyOn(fsSync, 'fdatasyncSync').mockImplementation(() => {
      log.push('sync');
    });
    try {
      await w.save({ term: 1, vote: 1n, commit: 0 }, entries(1, 1)).then(() => log.push('saved'));
      expect(log).toEqual(['sync', 'saved']);
      // A commit-only save asks for no sync, on the loop or elsewhere.
      await w.save({ term: 1, vote: 1n, commit: 1 }, [], { sync: false });
      expect(onLoop).toHaveBeenCalledTimes(1);
      await Promise.all([
        w.save({ term: 1, vote: 1n, commit: 1 }, entries(2, 2)),
        w.save({ term: 1, vote: 1n, commit: 2 }, [], { sync: false }),
      ]);
      expect(onLoop).toHaveBeenCalledTimes(2);
      expect(w.stats).toMatchObject({ writes: 3, syncs: 2 });
      // One entry of 8 KiB is still a lone writer's group: on the loop.
      await w.save({ term: 1, vote: 1n, commit: 2 }, entries(3, 3, 1, 8 * 1024));
      expect(onLoop).toHaveBeenCalledTimes(3);
      // Several entries (concurrent writers), or more than 64 KiB: in the pool.
      await w.save({ term: 1, vote: 1n, commit: 3 }, entries(4, 5));
      await w.save({ term: 1, vote: 1n, commit: 5 }, entries(6, 6, 1, 65 * 1024));
      expect(onLoop).toHaveBeenCalledTimes(3);
      expect(w.stats).toMatchObject({ writes: 6, syncs: 5 });
    } finally {
      onLoop.mockRestore();
    }
    await w.close();
    open.pop();
    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    const got = await r.readAll();
    expect(got.entries).toEqual([
      ...entries(1, 2),
      ...entries(3, 3, 1, 8 * 1024),
      ...entries(4, 5),
      ...entries(6, 6, 1, 65 * 1024),
    ]);
    expect(got.hardState?.commit).toBe(5);
  });

  it("with syncOnLoop 'auto' (the default), moves small syncs to the pool while the disk is slow, and back", async () => {
    const dir = await tempDir();
    const w = await track(Wal.create(dir, META));
    const where: string[] = [];
    let slowMs = 0;
    let walFd = -1;
    // The WAL times its syncs with performance.now: a clock that moves only
    // in a sync makes the test independent of how busy the machine is.
    let now = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    const onLoop = vi.spyOn(fsSync, 'fdatasyncSync').mockImplementation((fd) => {
      walFd = fd;
      where.push('loop');
      // A slow disk: the sync holds the thread this long.
      now += slowMs;
    });
    const inPool = vi.spyOn(fsSync, 'fdatasync').mockImplementation((fd, cb) => {
      // Only the segment's syncs: the next segment is prepared in the background.
      if (fd === walFd) where.push('pool');
      queueMicrotask(() => (cb as (err: null) => void)(null));
    });
    let index = 0;
    const put = () => {
      index++;
      return w.save({ term: 1, vote: 1n, commit: index - 1 }, entries(index, index));
    };
    try {
      await put();
      expect(where).toEqual(['loop']);
      slowMs = 20;
      await put();
      // The average is now above 1 ms: the next small syncs go to the pool...
      slowMs = 0;
      await put();
      await put();
      expect(where).toEqual(['loop', 'loop', 'pool', 'pool']);
      // ...until fast syncs bring it back down.
      for (let i = 0; i < 30; i++) await put();
      expect(where.at(-1)).toBe('loop');
      expect(where.filter((x) => x === 'pool').length).toBeLessThan(30);
    } finally {
      clock.mockRestore();
      onLoop.mockRestore();
      inPool.mockRestore();
    }
    await w.close();
    open.pop();
    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    expect((await r.readAll()).entries).toEqual(entries(1, index));
  });

  it('with syncOnLoop false, syncs every group in the pool', async () => {
    const dir = await tempDir();
    const w = await track(Wal.create(dir, META, { syncOnLoop: false }));
    const onLoop = vi.spyOn(fsSync, 'fdatasyncSync');
    try {
      await w.save({ term: 1, vote: 1n, commit: 0 }, entries(1, 1));
      expect(onLoop).not.toHaveBeenCalled();
      expect(w.stats).toMatchObject({ syncs: 1 });
    } finally {
      onLoop.mockRestore();
    }
    await w.close();
    open.pop();
  });

  it('close waits for queued saves', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META);
    const p = w.save(undefined, entries(1, 50));
    await w.close();
    await p;
    const r = await track(Wal.open(dir, { index: 0, term: 0 }));
    expect((await r.readAll()).entries.length).toBe(50);
  });
});
