// The start-up scan holds a segment's bytes only up to its last non-zero one
// (a preallocated segment is mostly zeros), and still classifies every file
// exactly as the scan that read segments whole did (test/reference-scan.ts).
import fs from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Wal, WalError } from '../src/index';
import { RecordType, isBad, parseRecord } from '../src/record';
import {
  listSegments,
  scanSegments,
  type ScanOptions,
  type ScanResult,
  type SegmentData,
} from '../src/scan';
import { crc32c } from '../src/crc32c';
import { referenceScanSegments } from './reference-scan';
import { META, copyDir, entries, tempDir } from './helpers';

const ZERO = { index: 0, term: 0 };

/** A scan result with entry payloads reduced to checksums (deep-comparing bytes is slow). */
function comparable(res: ScanResult): unknown {
  return {
    ...res,
    metadata: res.metadata && Buffer.from(res.metadata).toString('hex'),
    entries: res.entries.map((e) => `${e.index}/${e.term}/${e.data.length}/${crc32c(0, e.data)}`),
  };
}

type Outcome =
  | { ok: true; res: unknown }
  | {
      ok: false;
      code: string;
      message: string;
      file: string | undefined;
      offset: number | undefined;
    };

async function outcome(run: () => Promise<ScanResult>): Promise<Outcome> {
  try {
    return { ok: true, res: comparable(await run()) };
  } catch (err) {
    if (!(err instanceof WalError)) throw err;
    return { ok: false, code: err.code, message: err.message, file: err.file, offset: err.offset };
  }
}

/** Both scans of `dir`, with entries and without, and the bounded one with several chunk sizes. */
async function expectSameAsReference(dir: string, label: string): Promise<Outcome> {
  const segments = await listSegments(dir, false);
  let ref: Outcome | undefined;
  for (const collectEntries of [true, false]) {
    const opts: ScanOptions = { marker: ZERO, collectEntries };
    ref = await outcome(() => referenceScanSegments(dir, segments, opts));
    for (const tailChunk of collectEntries ? [undefined, 3000] : [undefined]) {
      const o = tailChunk === undefined ? opts : { ...opts, tailChunk };
      const got = await outcome(() => scanSegments(dir, segments, o));
      expect(got, `${label}, chunk ${tailChunk ?? 'default'}`).toEqual(ref);
    }
  }
  return ref!;
}

async function lastSegment(dir: string): Promise<string> {
  const segs = await listSegments(dir, false);
  return join(dir, segs[segs.length - 1]!.name);
}

/** Offsets of the whole records at the start of `buf`. */
function recordOffsets(buf: Buffer): { off: number; next: number; type: number }[] {
  const out: { off: number; next: number; type: number }[] = [];
  for (let off = 0; ;) {
    const r = parseRecord(buf, off, buf.length);
    if (isBad(r)) return out;
    out.push({ off, next: r.next, type: r.type });
    off = r.next;
  }
}

let seed = 0x2545f491;
function rand(n: number): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return Math.floor((seed / 2 ** 32) * n);
}

describe('bounded start-up scan', () => {
  it('holds only the written part of a large preallocated segment', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META, { sync: false }); // 64 MiB segments
    await w.save({ term: 1, vote: 1n, commit: 2 }, entries(1, 20));
    await w.close();
    const segs = await listSegments(dir, false);
    expect(segs.length).toBe(1);
    const file = join(dir, segs[0]!.name);
    expect((await fs.stat(file)).size).toBe(64 * 1024 * 1024);
    const reads: SegmentData[] = [];
    const res = await scanSegments(dir, segs, {
      marker: ZERO,
      collectEntries: true,
      onSegmentRead: (_f, r) => reads.push(r),
    });
    expect(res.entries.length).toBe(20);
    expect(reads.length).toBe(1);
    expect(reads[0]!.size).toBe(64 * 1024 * 1024);
    // Held: the records and nothing of the zeros after them.
    expect(reads[0]!.data.length).toBeLessThanOrEqual(res.tailEnd);
    expect(reads[0]!.data.length).toBeGreaterThan(res.tailEnd - 8);

    // Opening it end to end does not allocate anything like the segment size.
    const before = process.memoryUsage().arrayBuffers;
    const r = await Wal.open(dir, ZERO, { sync: false });
    const grew = process.memoryUsage().arrayBuffers - before;
    expect((await r.readAll()).entries.length).toBe(20);
    await r.close();
    expect(grew).toBeLessThan(8 * 1024 * 1024);
  });

  it('reads a record whose payload ends in zeros at the very end of the data', async () => {
    const dir = await tempDir();
    const w = await Wal.create(dir, META, { sync: false, segmentSize: 256 * 1024 });
    await w.save({ term: 1, vote: 1n, commit: 0 }, entries(1, 2));
    const zeroData = new Uint8Array(20_000);
    zeroData[0] = 7;
    await w.save(undefined, [{ index: 3, term: 1, data: zeroData }]);
    await w.close();
    const segs = await listSegments(dir, false);
    const reads: SegmentData[] = [];
    const res = await scanSegments(dir, segs, {
      marker: ZERO,
      collectEntries: true,
      onSegmentRead: (_f, r) => reads.push(r),
    });
    expect(reads[0]!.data.length).toBeLessThan(res.tailEnd - 19_000);
    expect(res.entries[2]!.data).toEqual(zeroData);
    await expectSameAsReference(dir, 'zero payload');
    const r = await Wal.open(dir, ZERO, { sync: false, segmentSize: 256 * 1024 });
    expect((await r.readAll()).entries[2]!.data).toEqual(zeroData);
    await r.close();
  });

  it('classifies torn, damaged and zero-tailed segments exactly as the whole-file scan', async () => {
    // Three segments of 64 KiB; the last ends with a large all-zero entry
    // (its payload runs into the zero tail) after ordinary saves.
    const base = await tempDir();
    const opts = { sync: false, segmentSize: 64 * 1024 } as const;
    const w = await Wal.create(base, META, opts);
    let next = 1;
    while ((await listSegments(base, false)).length < 3) {
      await w.save({ term: 1, vote: 3n, commit: next - 1 }, entries(next, next + 9, 1, 900));
      next += 10;
    }
    await w.save({ term: 2, vote: 3n, commit: next - 1 }, entries(next, next + 2, 2, 300));
    next += 3;
    const zeroData = new Uint8Array(3000);
    zeroData[1] = 1;
    await w.save({ term: 2, vote: 3n, commit: next - 1 }, [
      { index: next, term: 2, data: zeroData },
    ]);
    await w.close();
    expect((await expectSameAsReference(base, 'pristine')).ok).toBe(true);

    const last = await lastSegment(base);
    const segs = await listSegments(base, false);
    const first = join(base, segs[0]!.name);
    const pristine = await fs.readFile(last);
    const recs = recordOffsets(pristine);
    const dataEnd = recs[recs.length - 1]!.next;
    const groups = recs.filter((r) => r.type === RecordType.Group);
    const finalGroup = groups[groups.length - 1]!;
    const work = await tempDir();
    let n = 0;
    const mutate = async (label: string, file: string, f: (b: Buffer) => Buffer) => {
      const d = join(work, `c${n++}`);
      await copyDir(base, d);
      const target = join(d, file.slice(base.length + 1));
      await fs.writeFile(target, f(Buffer.from(await fs.readFile(target))));
      const got = await expectSameAsReference(d, label);
      await fs.rm(d, { recursive: true });
      return got;
    };
    const kinds = new Set<string>();
    const note = (o: Outcome) => {
      if (!o.ok)
        kinds.add(
          o.message
            .replace(/^WAL_CORRUPT: /, '')
            .replace(/ \(\/.*$/, '')
            .replace(/\d+/g, 'N'),
        );
      else {
        const r = o.res as { tailEnd: number; garbageEnd: number };
        kinds.add(r.garbageEnd > r.tailEnd ? 'repaired' : 'ok');
      }
    };

    // Truncations: inside the data, inside the zero payload, in the zero tail.
    for (let i = 0; i < 30; i++) {
      const at = i < 20 ? finalGroup.off + rand(dataEnd - finalGroup.off + 64) : rand(64 * 1024);
      note(await mutate(`truncate ${at}`, last, (b) => b.subarray(0, at)));
    }
    // Bit flips in the last segment's data and in the first segment.
    for (let i = 0; i < 40; i++) {
      const at = rand(dataEnd);
      const bit = 1 << rand(8);
      note(
        await mutate(`flip ${at}`, last, (b) => {
          b[at]! ^= bit;
          return b;
        }),
      );
    }
    for (let i = 0; i < 5; i++) {
      const at = rand(64 * 1024);
      note(
        await mutate(`flip first ${at}`, first, (b) => {
          b[at]! ^= 1;
          return b;
        }),
      );
    }
    // Lost sectors of the final write, and of earlier writes.
    for (let i = 0; i < 25; i++) {
      const lo = i < 15 ? finalGroup.off : groups[0]!.off;
      const s = Math.floor((lo + rand(dataEnd - lo)) / 512) * 512;
      note(await mutate(`hole ${s}`, last, (b) => b.fill(0, s, s + 512)));
    }
    // Garbage far out in the zero tail, with and without a valid group record.
    for (let i = 0; i < 10; i++) {
      const at = dataEnd + 8 + rand(60 * 1024 - dataEnd) * 1;
      const aligned = at & ~7;
      note(
        await mutate(`garbage ${at}`, last, (b) => {
          b[at] = 0x5a;
          return b;
        }),
      );
      note(
        await mutate(`later group ${aligned} after a hole`, last, (b) => {
          pristine.copy(b, aligned, finalGroup.off, finalGroup.next);
          return b.fill(0, finalGroup.next, finalGroup.next + 512);
        }),
      );
    }
    // A damaged length in the final record's header, large and small.
    const lastRec = recs[recs.length - 1]!;
    for (const len of [0x7fff_0000, 40_000, 5]) {
      note(
        await mutate(`length ${len}`, last, (b) => {
          b.writeUInt32LE(len, lastRec.off + 8);
          return b;
        }),
      );
    }
    // The scans really did meet the different classifications.
    expect([...kinds].sort()).toEqual([
      'damaged record',
      'damaged record (checksum)',
      'damaged record (header)',
      'damaged record followed by a later write at N',
      'damaged record length (beyond its write)',
      'ok',
      'repaired',
    ]);
  }, 120_000);
});
