// Crash damage: torn tails are repaired to the last whole record; damage to
// records that were already followed by others is an error naming file and offset.
import fs from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Wal, WalError, type WalEntry, type WalHardState } from '../src/index';
import { RecordType, isBad, parseRecord, readU64 } from '../src/record';
import { META, copyDir, entries, payload, segmentFiles, tempDir } from './helpers';

const ZERO = { index: 0, term: 0 };
const OPTS = { sync: false, segmentSize: 16384 } as const;

interface Rec {
  off: number;
  next: number;
  type: number;
  index: number;
}

async function records(file: string): Promise<Rec[]> {
  const buf = await fs.readFile(file);
  const out: Rec[] = [];
  let off = 0;
  for (;;) {
    const r = parseRecord(buf, off, buf.length);
    if (isBad(r)) break;
    out.push({
      off,
      next: r.next,
      type: r.type,
      index: r.type === RecordType.Entry ? readU64(buf, r.payloadStart) : 0,
    });
    off = r.next;
  }
  return out;
}

async function lastSegment(dir: string): Promise<string> {
  const files = await segmentFiles(dir);
  return join(dir, files[files.length - 1]!);
}

async function openErr(dir: string): Promise<WalError> {
  try {
    const w = await Wal.open(dir, ZERO, OPTS);
    await w.close();
  } catch (err) {
    if (err instanceof WalError) return err;
    throw err;
  }
  throw new Error('open succeeded');
}

/** A WAL whose last segment ends with single-entry saves of varied sizes, each with a hard state. */
async function buildWal(
  sizes: number[],
): Promise<{ dir: string; saved: { e: WalEntry; hs: WalHardState }[] }> {
  const dir = await tempDir();
  const w = await Wal.create(dir, META, OPTS);
  await w.save({ term: 1, vote: 5n, commit: 0 }, entries(1, 3));
  const saved: { e: WalEntry; hs: WalHardState }[] = [];
  let i = 4;
  for (const size of sizes) {
    const e = { index: i, term: 1, data: payload(i, 1, size) };
    const hs = { term: 1, vote: 5n, commit: i - 1 };
    await w.save(hs, [e]);
    saved.push({ e, hs });
    i++;
  }
  await w.close();
  return { dir, saved };
}

describe('torn tail repair', () => {
  // Opens a WAL per offset: seconds alone, far longer while CI runs every package.
  it('truncation at every byte offset of the final records keeps exactly the whole records', async () => {
    const { dir } = await buildWal([40, 1, 300, 77]);
    const file = await lastSegment(dir);
    const recs = await records(file);
    const tail = recs.slice(-6); // the last three saves: entry + hard state each
    const work = await tempDir();
    let n = 0;
    for (let cut = tail[0]!.off; cut <= tail[tail.length - 1]!.next; cut++) {
      const d = join(work, `c${cut}`);
      await copyDir(dir, d);
      await fs.truncate(join(d, file.slice(dir.length + 1)), cut);
      const whole = recs.filter((r) => r.next <= cut);
      const lastEntry = Math.max(
        ...whole.filter((r) => r.type === RecordType.Entry).map((r) => r.index),
      );
      const hsCount = whole.filter((r) => r.type === RecordType.HardState).length;

      const w = await Wal.open(d, ZERO, OPTS);
      const got = await w.readAll();
      expect(got.entries.map((e) => e.index)).toEqual(
        Array.from({ length: lastEntry }, (_, k) => k + 1),
      );
      for (const e of got.entries) expect(e.data).toEqual(payload(e.index, 1, e.data.length));
      // The first hard state has commit 0, the k-th single-entry save commit k+2.
      expect(got.hardState?.commit).toBe(hsCount === 1 ? 0 : hsCount + 1);
      // The repaired log takes new saves and reads back whole.
      if (cut % 5 === 0) {
        await w.save(
          { term: 2, vote: 6n, commit: lastEntry },
          entries(lastEntry + 1, lastEntry + 2, 2),
        );
        await w.close();
        const r = await Wal.open(d, ZERO, OPTS);
        const again = await r.readAll();
        expect(again.entries.length).toBe(lastEntry + 2);
        expect(again.entries[lastEntry + 1]!.term).toBe(2);
        expect(again.hardState).toEqual({ term: 2, vote: 6n, commit: lastEntry });
        await r.close();
      } else {
        await w.close();
      }
      await fs.rm(d, { recursive: true });
      n++;
    }
    expect(n).toBeGreaterThan(500);
  }, 120_000);

  it('repairs unwritten sectors of a final write inside preallocated space', async () => {
    const { dir, saved } = await buildWal([100, 3000]);
    const file = await lastSegment(dir);
    const recs = await records(file);
    const last = recs[recs.length - 2]!; // entry record of the final save
    expect(last.next - last.off).toBeGreaterThan(2048);
    const work = await tempDir();
    const firstSector = Math.ceil((last.off + 1) / 512) * 512;
    const cases: [string, number, number][] = [];
    // Only a prefix of the write reached the disk.
    for (let b = firstSector; b < last.next; b += 512)
      cases.push([`prefix${b}`, b, recs[recs.length - 1]!.next]);
    // A middle sector of the final record did not reach the disk, the ones after it did.
    cases.push(['hole', firstSector + 512, firstSector + 1024]);
    for (const [name, from, to] of cases) {
      const d = join(work, name);
      await copyDir(dir, d);
      const f = join(d, file.slice(dir.length + 1));
      const buf = await fs.readFile(f);
      buf.fill(0, from, to);
      await fs.writeFile(f, buf);
      const w = await Wal.open(d, ZERO, OPTS);
      const got = await w.readAll();
      expect(got.entries.length).toBe(saved[0]!.e.index);
      expect(got.hardState).toEqual(saved[0]!.hs);
      await w.save(undefined, entries(got.entries.length + 1, got.entries.length + 1, 3));
      await w.close();
      const r = await Wal.open(d, ZERO, OPTS);
      expect((await r.readAll()).entries.length).toBe(saved[0]!.e.index + 1);
      await r.close();
    }
  });
});

describe('torn final write, sectors lost in any order', () => {
  // Opens a WAL per offset: seconds alone, far longer while CI runs every package.
  it('always repairs to the records before the first lost sector', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META, OPTS);
    await w.save({ term: 1, vote: 5n, commit: 0 }, entries(1, 3));
    const prevHs = { term: 1, vote: 5n, commit: 3 };
    await w.save(prevHs, entries(4, 4));
    // The final write: one group of six ~700 B entries and a hard state, ~10 sectors.
    await w.save({ term: 2, vote: 6n, commit: 8 }, entries(5, 10, 2, 700));
    await w.close();
    const file = await lastSegment(dir);
    const recs = await records(file);
    const groupStart = recs.findIndex((r) => r.type === RecordType.Entry && r.index === 5) - 1;
    const group = recs.slice(groupStart);
    expect(group[0]!.type).toBe(RecordType.Group);
    const start = group[0]!.off;
    const end = group[group.length - 1]!.next;
    const firstSector = Math.floor(start / 512);
    const lastSector = Math.floor((end - 1) / 512);
    let seed = 12345;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const work = await tempDir();
    for (let trial = 0; trial < 40; trial++) {
      const lost = new Set<number>();
      for (let sct = firstSector; sct <= lastSector; sct++) if (rand() < 0.35) lost.add(sct);
      if (lost.size === 0) lost.add(lastSector);
      const d = join(work, `t${trial}`);
      await copyDir(dir, d);
      const f = join(d, file.slice(dir.length + 1));
      const orig = await fs.readFile(f);
      const buf = Buffer.from(orig);
      // Bytes of the write that fell in a lost sector never reached the disk.
      for (const sct of lost)
        buf.fill(0, Math.max(start, sct * 512), Math.min(end, (sct + 1) * 512));
      await fs.writeFile(f, buf);
      let changed = start;
      while (changed < end && buf[changed] === orig[changed]) changed++;
      const firstHit = group.findIndex((r) => r.next > changed);
      expect(firstHit, 'the lost sectors changed some byte of the write').toBeGreaterThanOrEqual(0);
      const kept = group.slice(0, firstHit).filter((r) => r.type === RecordType.Entry).length;
      const r = await Wal.open(d, ZERO, OPTS);
      const got = await r.readAll();
      expect(
        got.entries.map((e) => e.index),
        `trial ${trial}, lost ${[...lost].join(',')}`,
      ).toEqual(Array.from({ length: 4 + kept }, (_, k) => k + 1));
      expect(got.hardState).toEqual(prevHs);
      await r.close();
      await fs.rm(d, { recursive: true });
    }
  }, 120_000);
});

describe('damage that is not a torn tail', () => {
  // Opens a WAL per offset: seconds alone, far longer while CI runs every package.
  it('a bit flip anywhere in an older record is a corruption error naming file and offset', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META, { sync: false, segmentSize: 4096 });
    for (let i = 1; i <= 120; i += 3)
      await w.save({ term: 1, vote: 1n, commit: i }, entries(i, i + 2, 1, 90));
    await w.close();
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThan(2);
    const targets: { name: string; rec: Rec }[] = [];
    const first = await records(join(dir, files[0]!));
    targets.push(
      { name: files[0]!, rec: first[0]! },
      { name: files[0]!, rec: first[first.length - 1]! },
    );
    const mid = await records(join(dir, files[1]!));
    targets.push({ name: files[1]!, rec: mid[3]! });
    const lastName = files[files.length - 1]!;
    const tail = await records(join(dir, lastName));
    // Records of the last segment that later writes followed (the final save is 5 records).
    expect(tail.length).toBeGreaterThan(10);
    targets.push(
      { name: lastName, rec: tail[2]! },
      { name: lastName, rec: tail[tail.length - 6]! },
    );

    const work = await tempDir();
    let flips = 0;
    for (const { name, rec } of targets) {
      const d = join(work, 'flip');
      await copyDir(dir, d);
      const f = join(d, name);
      const pristine = await fs.readFile(f);
      for (let at = rec.off; at < rec.next; at++) {
        const buf = Buffer.from(pristine);
        buf[at]! ^= 1 << (at % 8);
        await fs.writeFile(f, buf);
        const err = await openErr(d);
        expect(err.code, `flip at ${name}:${at}`).toBe('WAL_CORRUPT');
        expect(err.file).toBe(f);
        expect(err.offset).toBe(rec.off);
        flips++;
      }
      await fs.rm(d, { recursive: true });
    }
    expect(flips).toBeGreaterThan(150);
  }, 120_000);

  it('a length changed in the final write is corruption, not a torn write', async () => {
    const { dir } = await buildWal([100, 200]);
    const file = await lastSegment(dir);
    const recs = await records(file);
    const entry = recs[recs.length - 2]!; // the final save: group, entry, hard state
    expect(entry.type).toBe(RecordType.Entry);
    const work = await tempDir();
    // Bit 30 (far past the file), bit 9 (+512: into the zeros after the write).
    for (const [byte, bit] of [
      [3, 6],
      [1, 1],
    ] as const) {
      const d = join(work, `len${byte}-${bit}`);
      await copyDir(dir, d);
      const f = join(d, file.slice(dir.length + 1));
      const buf = await fs.readFile(f);
      buf[entry.off + 8 + byte]! ^= 1 << bit;
      await fs.writeFile(f, buf);
      const err = await openErr(d);
      expect([err.code, err.file, err.offset]).toEqual(['WAL_CORRUPT', f, entry.off]);
    }
  });

  it('detects a record removed from the middle, a shortened older segment and a missing segment', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META, { sync: false, segmentSize: 4096 });
    // Until the last segment holds a few saves after a cut.
    for (let i = 1; i <= 150 || (await records(await lastSegment(dir))).length < 12; i += 3) {
      await w.save(undefined, entries(i, i + 2, 1, 90));
    }
    await w.close();
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThan(3);
    const work = await tempDir();

    // A record cut out of the last segment: everything parses, the chain does not.
    let d = join(work, 'removed');
    await copyDir(dir, d);
    const lastFile = join(d, files[files.length - 1]!);
    const recs = await records(lastFile);
    const victim = recs[3]!;
    const buf = await fs.readFile(lastFile);
    const spliced = Buffer.concat([
      buf.subarray(0, victim.off),
      buf.subarray(victim.next),
      Buffer.alloc(victim.next - victim.off),
    ]);
    await fs.writeFile(lastFile, spliced);
    let err = await openErr(d);
    expect([err.code, err.file, err.offset]).toEqual(['WAL_CORRUPT', lastFile, victim.off]);

    // The last record of an older segment lost: the next segment's crc carrier disagrees.
    d = join(work, 'short');
    await copyDir(dir, d);
    const older = await records(join(d, files[1]!));
    await fs.truncate(join(d, files[1]!), older[older.length - 1]!.off);
    err = await openErr(d);
    expect([err.code, err.file, err.offset]).toEqual(['WAL_CORRUPT', join(d, files[2]!), 0]);

    // A whole segment missing.
    d = join(work, 'missing');
    await copyDir(dir, d);
    await fs.rm(join(d, files[1]!));
    err = await openErr(d);
    expect(err.code).toBe('WAL_CORRUPT');
    expect(err.message).toContain('segment 1 is missing');

    // A damaged header of the last segment cannot be repaired.
    d = join(work, 'header');
    await copyDir(dir, d);
    const lf = join(d, files[files.length - 1]!);
    const hb = await fs.readFile(lf);
    hb[20]! ^= 0x10;
    await fs.writeFile(lf, hb);
    err = await openErr(d);
    expect([err.code, err.offset]).toEqual(['WAL_CORRUPT', 0]);
    // ... nor can an empty or all-zero one.
    await fs.writeFile(lf, Buffer.alloc(4096));
    expect((await openErr(d)).code).toBe('WAL_CORRUPT');
    await fs.writeFile(lf, Buffer.alloc(0));
    expect((await openErr(d)).code).toBe('WAL_CORRUPT');
  });
});
