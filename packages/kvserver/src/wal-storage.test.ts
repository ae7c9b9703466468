import fsSync from 'node:fs';
import fsp, { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EntryType } from '@kv/raft';
import { WalMemberStorage } from './wal-storage';

const dirs: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Storage options for a fresh temporary member directory (removed after the test). */
async function tempOptions(metadata: string) {
  const dir = await mkdtemp(join(tmpdir(), 'kv-wal-storage-'));
  dirs.push(dir);
  return { walDir: join(dir, 'wal'), snapDir: join(dir, 'snap'), metadata: Buffer.from(metadata) };
}

async function openStorage(syncOnLoop: boolean) {
  return WalMemberStorage.open({ ...(await tempOptions('meta')), syncOnLoop });
}

describe('WalMemberStorage syncOnLoop', () => {
  const entry = { index: 1, term: 1, type: EntryType.Normal, data: Buffer.from('x') };

  for (const syncOnLoop of [false, true]) {
    it(`passes syncOnLoop=${syncOnLoop} to the WAL`, async () => {
      const { storage } = await openStorage(syncOnLoop);
      const onLoop = vi.spyOn(fsSync, 'fdatasyncSync');
      await storage.save({ term: 1, vote: 0n, commit: 0 }, [entry]);
      expect(onLoop).toHaveBeenCalledTimes(syncOnLoop ? 1 : 0);
      await storage.close();
    });
  }
});

describe('WalMemberStorage restart', () => {
  const conf = {
    voters: [1n],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
  const ent = (index: number) => ({
    index,
    term: 2,
    type: EntryType.Normal,
    data: Buffer.from(`e${index}`),
  });

  it('reads the identity from the WAL head and restores from the newest snapshot, reading the WAL once', async () => {
    const options = { ...(await tempOptions('member=1')), sync: false };
    const first = await WalMemberStorage.open(options);
    const all = Array.from({ length: 30 }, (_, i) => ent(i + 1));
    await first.storage.save({ term: 2, vote: 1n, commit: 20 }, all.slice(0, 20));
    await first.storage.saveSnapshot({
      metadata: { index: 10, term: 2, confState: conf },
      data: Buffer.from('state@10'),
    });
    await first.storage.save({ term: 2, vote: 1n, commit: 25 }, all.slice(20));
    await first.storage.close();

    expect(Buffer.from(await WalMemberStorage.readMetadata(options.walDir)).toString()).toBe(
      'member=1',
    );
    const realOpen = fsp.open.bind(fsp);
    const opened: string[] = [];
    vi.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>) => {
      opened.push(String(args[0]));
      return realOpen(...args);
    });
    const again = await WalMemberStorage.open(options);
    vi.restoreAllMocks();
    const segments = (await readdir(options.walDir)).filter((n) => n.endsWith('.wal'));
    // Each segment is read once (the writer then reopens the last one by fd, not through fs/promises).
    expect(opened.filter((f) => f.endsWith('.wal')).sort()).toEqual(
      segments.map((n) => join(options.walDir, n)).sort(),
    );
    expect(again.boot.snapshot?.metadata.index).toBe(10);
    expect(Buffer.from(again.boot.snapshot?.data ?? []).toString()).toBe('state@10');
    expect(again.boot.hardState).toEqual({ term: 2, vote: 1n, commit: 25 });
    expect(again.boot.entries.map((e) => e.index)).toEqual(all.slice(10).map((e) => e.index));
    expect(again.boot.entries.map((e) => Buffer.from(e.data).toString())).toEqual(
      all.slice(10).map((e) => e.data.toString()),
    );
    await again.storage.close();

    // Another member's identity is still refused.
    await expect(
      WalMemberStorage.open({ ...options, metadata: Buffer.from('member=2') }),
    ).rejects.toMatchObject({ code: 'WAL_METADATA_MISMATCH' });
  });
});

describe('WalMemberStorage received snapshot data', () => {
  async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of chunks) parts.push(Buffer.from(c));
    return Buffer.concat(parts);
  }
  async function* chunksOf(...parts: string[]): AsyncGenerator<Uint8Array> {
    for (const p of parts) yield Buffer.from(p);
  }

  it('keeps the data of a received snapshot on disk, across a reopen, until released', async () => {
    const options = await tempOptions('m');
    const { storage } = await WalMemberStorage.open(options);
    await storage.saveSnapshotData(0x2a, chunksOf('first ', 'chunk ', 'data'));
    await storage.saveSnapshotData(0x40, chunksOf('later'));
    expect(await storage.snapshotData(7)).toBeUndefined();
    expect((await readdir(options.snapDir)).sort()).toEqual([
      '000000000000002a.snap.db',
      '0000000000000040.snap.db',
    ]);
    await storage.close();

    const reopened = (await WalMemberStorage.open(options)).storage;
    expect((await collect((await reopened.snapshotData(0x2a))!)).toString()).toBe(
      'first chunk data',
    );
    await reopened.releaseSnapshotData(0x2a);
    expect(await reopened.snapshotData(0x2a)).toBeUndefined();
    expect((await collect((await reopened.snapshotData(0x40))!)).toString()).toBe('later');
    await reopened.releaseSnapshotData(Number.MAX_SAFE_INTEGER);
    expect(await readdir(options.snapDir)).toEqual([]);
    await reopened.close();
  });

  it('keeps one intact copy when the same snapshot arrives twice at once', async () => {
    const { storage } = await openStorage(false);
    const slow = async function* (label: string): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 20; i++) {
        yield Buffer.from(`${label}${i};`);
        await new Promise((r) => setImmediate(r));
      }
    };
    await Promise.all([
      storage.saveSnapshotData(9, slow('a')),
      storage.saveSnapshotData(9, slow('b')),
    ]);
    const got = (await collect((await storage.snapshotData(9))!)).toString();
    const whole = (label: string): string =>
      Array.from({ length: 20 }, (_, i) => `${label}${i};`).join('');
    expect([whole('a'), whole('b')]).toContain(got);
    await storage.close();
  });

  it('keeps nothing under the final name when the transfer fails', async () => {
    const { storage } = await openStorage(false);
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('part');
      throw new Error('peer went away');
    }
    await expect(storage.saveSnapshotData(5, broken())).rejects.toThrow('peer went away');
    expect(await storage.snapshotData(5)).toBeUndefined();
    await storage.close();
  });
});
