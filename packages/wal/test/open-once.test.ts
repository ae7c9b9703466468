// Wal.readMetadata (the first segment's head only) and Wal.openAtChosenMarker
// (readSnapshotMarkers + open in one pass over the files): same results and
// the same corruption errors as the full reads they replace, fewer reads.

import fs from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Wal, WalError, type WalSnapshotMarker } from '../src/index';
import { HeldSegments } from '../src/wal';
import { copyDir, entries, META, segmentFiles, tempDir } from './helpers';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Counts the files opened through fs/promises (as the scan opens segments) and the bytes read from them. */
function watchReads(): { opened: string[]; bytesRead: () => number } {
  const realOpen = fs.open.bind(fs);
  const opened: string[] = [];
  let bytes = 0;
  vi.spyOn(fs, 'open').mockImplementation(async (...args: Parameters<typeof fs.open>) => {
    const fh = await realOpen(...args);
    opened.push(String(args[0]));
    const realRead = fh.read.bind(fh) as (...a: unknown[]) => Promise<{ bytesRead: number }>;
    (fh as { read: unknown }).read = async (...a: unknown[]) => {
      const r = await realRead(...a);
      bytes += r.bytesRead;
      return r;
    };
    return fh;
  });
  return { opened, bytesRead: () => bytes };
}

async function err(p: Promise<unknown>): Promise<WalError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof WalError) return e;
    throw e;
  }
  throw new Error('expected a WalError');
}

/** A WAL of several 4 KiB segments with snapshot markers at 30 and 60 (commit 90). */
async function buildWal(): Promise<string> {
  const dir = await tempDir();
  const w = await Wal.create(dir, META, { sync: false, segmentSize: 4096 });
  for (let i = 1; i <= 120; i += 3) {
    await w.save({ term: 2, vote: 3n, commit: Math.min(i + 2, 90) }, entries(i, i + 2, 2, 90));
    if (i + 2 === 30 || i + 2 === 60) await w.saveSnapshot({ index: i + 2, term: 2 });
  }
  await w.close();
  expect((await segmentFiles(dir)).length).toBeGreaterThan(3);
  return dir;
}

describe('Wal.readMetadata', () => {
  it('returns the metadata reading only the head of the first segment', async () => {
    const dir = await buildWal();
    const files = await segmentFiles(dir);
    const reads = watchReads();
    expect(Buffer.from(await Wal.readMetadata(dir)).equals(Buffer.from(META))).toBe(true);
    expect(reads.opened).toEqual([join(dir, files[0]!)]);
    // crc record (24 B) + metadata record (16 B header + payload, padded).
    expect(reads.bytesRead()).toBeLessThanOrEqual(24 + 16 + META.length + 7);
  });

  it('reads a large metadata record whole', async () => {
    const dir = await tempDir();
    const big = new Uint8Array(10_000).map((_, i) => (i * 7) & 0xff);
    await (await Wal.create(dir, big, { sync: false })).close();
    expect(Buffer.from(await Wal.readMetadata(dir)).equals(Buffer.from(big))).toBe(true);
  });

  // Opens a WAL per offset: seconds alone, far longer while CI runs every package.
  it('refuses a damaged head exactly as open does (every byte, first and only segment)', async () => {
    const multi = await buildWal();
    const single = await tempDir();
    // A small segment (still the only one): each flip copies the directory.
    const w = await Wal.create(single, META, { sync: false, segmentSize: 64 * 1024 });
    await w.save({ term: 1, vote: 1n, commit: 3 }, entries(1, 3));
    await w.close();
    expect(await segmentFiles(single)).toHaveLength(1);
    const work = await tempDir();
    let refused = 0;
    for (const src of [multi, single]) {
      const name = (await segmentFiles(src))[0]!;
      const headEnd = 24 + ((16 + META.length + 7) & ~7);
      for (let at = 0; at < headEnd; at++) {
        const d = join(work, `flip-${refused}-${at}`);
        await copyDir(src, d);
        const f = join(d, name);
        const buf = await fs.readFile(f);
        buf[at]! ^= 1 << (at % 8);
        await fs.writeFile(f, buf);
        const fromOpen = await err(Wal.open(d, { index: 0, term: 0 }, { sync: false }));
        const fromHead = await err(Wal.readMetadata(d));
        expect(fromHead.code, `flip at ${at}`).toBe('WAL_CORRUPT');
        expect(fromOpen.code, `flip at ${at}`).toBe('WAL_CORRUPT');
        expect(fromHead.file).toBe(f);
        expect(fromHead.file).toBe(fromOpen.file);
        if (src === multi) expect(fromHead.offset, `flip at ${at}`).toBe(fromOpen.offset);
        refused++;
        await fs.rm(d, { recursive: true });
      }
    }
    expect(refused).toBeGreaterThan(100);
  }, 120_000);

  it('refuses a truncated head, a missing segment and a missing WAL as open does', async () => {
    const dir = await buildWal();
    const files = await segmentFiles(dir);
    const work = await tempDir();
    for (const keep of [0, 10, 24, 30]) {
      const d = join(work, `cut-${keep}`);
      await copyDir(dir, d);
      await fs.truncate(join(d, files[0]!), keep);
      const e = await err(Wal.readMetadata(d));
      expect(e.code, `cut at ${keep}`).toBe('WAL_CORRUPT');
      expect(e.file).toBe(join(d, files[0]!));
      expect((await err(Wal.open(d, { index: 0, term: 0 }, { sync: false }))).code).toBe(
        'WAL_CORRUPT',
      );
    }
    const gap = join(work, 'gap');
    await copyDir(dir, gap);
    await fs.rm(join(gap, files[1]!));
    expect((await err(Wal.readMetadata(gap))).code).toBe('WAL_CORRUPT');
    expect((await err(Wal.readMetadata(join(work, 'none')))).code).toBe('WAL_NOT_FOUND');
  });
});

describe('Wal.openAtChosenMarker', () => {
  it('gives what readSnapshotMarkers + open give, reading each segment once', async () => {
    const dir = await buildWal();
    const files = await segmentFiles(dir);
    const expectedMarkers = await Wal.readSnapshotMarkers(dir);
    expect(expectedMarkers.map((m) => m.index)).toEqual([0, 30, 60]);
    for (const pick of [0, 1, 2]) {
      const ref = await Wal.open(dir, expectedMarkers[pick]!, { sync: false });
      const want = await ref.readAll();
      await ref.close();

      const reads = watchReads();
      let seen: WalSnapshotMarker[] = [];
      const w = await Wal.openAtChosenMarker(
        dir,
        (markers) => {
          seen = markers;
          return Promise.resolve(markers[pick]!);
        },
        { sync: false, expectedMetadata: META },
      );
      const walOpens = reads.opened.filter((f) => f.endsWith('.wal'));
      vi.restoreAllMocks();
      expect(seen).toEqual(expectedMarkers);
      expect(walOpens.sort()).toEqual(files.map((f) => join(dir, f)));
      expect(await w.readAll()).toEqual(want);
      // And it continues like an opened WAL.
      await w.save({ term: 3, vote: 3n, commit: 121 }, entries(121, 121, 3));
      await w.close();
      const again = await Wal.open(dir, expectedMarkers[pick]!, { sync: false });
      expect((await again.readAll()).entries.at(-1)?.index).toBe(121);
      await again.close();
      // Undo the extra entry for the next round: rebuild from scratch.
      await fs.rm(dir, { recursive: true });
      await copyDir(await buildWal(), dir);
    }
  });

  it('verifies every segment, also those before the chosen marker, before choosing', async () => {
    const dir = await buildWal();
    const files = await segmentFiles(dir);
    const work = await tempDir();
    // A flipped byte in a record of the first segment: the marker at 60 lies in a later one.
    const d = join(work, 'flip');
    await copyDir(dir, d);
    const f = join(d, files[0]!);
    const buf = await fs.readFile(f);
    buf[200]! ^= 0x10;
    await fs.writeFile(f, buf);
    const fromMarkers = await err(Wal.readSnapshotMarkers(d));
    let chosen = false;
    const e = await err(
      Wal.openAtChosenMarker(d, (m) => {
        chosen = true;
        return Promise.resolve(m[m.length - 1]!);
      }),
    );
    expect(chosen).toBe(false);
    expect([e.code, e.file, e.offset]).toEqual([
      fromMarkers.code,
      fromMarkers.file,
      fromMarkers.offset,
    ]);
    expect(e.code).toBe('WAL_CORRUPT');
    // The lock was released: the undamaged copy opens.
    const ok = await Wal.openAtChosenMarker(dir, (m) => Promise.resolve(m[m.length - 1]!));
    await ok.close();
  });

  it('keeps open’s checks for the chosen marker and releases the lock on failure', async () => {
    const dir = await buildWal();
    const mismatch = await err(
      Wal.openAtChosenMarker(dir, () => Promise.resolve({ index: 30, term: 9 })),
    );
    expect(mismatch.code).toBe('WAL_SNAPSHOT_MISMATCH');
    const missing = await err(
      Wal.openAtChosenMarker(dir, () => Promise.resolve({ index: 31, term: 2 })),
    );
    expect(missing.code).toBe('WAL_SNAPSHOT_NOT_FOUND');
    const bad = await err(
      Wal.openAtChosenMarker(dir, () => Promise.resolve({ index: -1, term: 2 })),
    );
    expect(bad.code).toBe('WAL_INVALID_ARGUMENT');
    const other = await err(
      Wal.openAtChosenMarker(dir, (m) => Promise.resolve(m[0]!), {
        expectedMetadata: new Uint8Array([1]),
      }),
    );
    expect(other.code).toBe('WAL_METADATA_MISMATCH');
    const held = await Wal.openAtChosenMarker(dir, (m) => Promise.resolve(m[0]!));
    expect((await err(Wal.openAtChosenMarker(dir, (m) => Promise.resolve(m[0]!)))).code).toBe(
      'WAL_LOCKED',
    );
    await held.close();
  });
});

describe('HeldSegments', () => {
  it('keeps the newest segments within its budget and reads dropped ones again', async () => {
    const dir = await buildWal();
    const files = (await segmentFiles(dir)).map((f) => join(dir, f));
    const sizes = await Promise.all(files.map(async (f) => (await fs.stat(f)).size));
    // Room for the last two segments only.
    const held = new HeldSegments(sizes.at(-1)! + sizes.at(-2)!);
    const first = new Map<string, Buffer>();
    for (const f of files) first.set(f, (await held.read(f)).data);
    const reads = watchReads();
    for (const f of files) {
      const got = await held.take(f);
      expect(got.data.equals(first.get(f)!)).toBe(true);
      // The two newest come from memory (the very same buffer), the rest from disk.
      expect(got.data === first.get(f), f).toBe(files.indexOf(f) >= files.length - 2);
    }
    expect(reads.opened).toEqual(files.slice(0, -2));
  });
});
