import fsSync from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
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

async function openStorage(syncOnLoop: boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'kv-wal-storage-'));
  dirs.push(dir);
  return WalMemberStorage.open({
    walDir: join(dir, 'wal'),
    snapDir: join(dir, 'snap'),
    metadata: Buffer.from('meta'),
    syncOnLoop,
  });
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
