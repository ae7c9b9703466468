// Reading segments back: framing, the checksum chain, record decoding, Raft
// log replay (a lower index overwrites the suffix) and torn-tail detection.
//
// A segment is preallocated to its full size (64 MiB by default) and mostly
// zeros until it fills, so only its bytes up to the last non-zero one are read
// into memory; the zeros after them are known without being held (see
// readSegmentData, and parseRecord's zero tail).

import fs from 'node:fs/promises';
import { join } from 'node:path';
import { WalError } from './errors';
import {
  HEADER_SIZE,
  RecordType,
  paddedSize,
  readU32,
  isBad,
  looksTorn,
  parseRecord,
  readU64,
  findRecordAfter,
  type RawRecord,
} from './record';
import { parseSegmentName, TMP_SUFFIX, type SegmentName } from './segment-name';
import type { WalEntry, WalHardState, WalSnapshotMarker } from './types';

export async function listSegments(dir: string, removeTmp: boolean): Promise<SegmentName[]> {
  const names = await fs.readdir(dir);
  const segments: SegmentName[] = [];
  for (const name of names) {
    const parsed = parseSegmentName(name);
    if (parsed) segments.push(parsed);
    else if (removeTmp && name.endsWith(TMP_SUFFIX)) await fs.rm(join(dir, name), { force: true });
  }
  segments.sort((a, b) => a.seq - b.seq);
  for (let i = 1; i < segments.length; i++) {
    if (segments[i]!.seq !== segments[i - 1]!.seq + 1) {
      throw new WalError('WAL_CORRUPT', `segment ${segments[i - 1]!.seq + 1} is missing`, {
        file: join(dir, segments[i]!.name),
      });
    }
  }
  return segments;
}

export interface ScanOptions {
  /** Entries with index <= marker.index are dropped; the marker must appear in the log. */
  readonly marker: WalSnapshotMarker;
  readonly collectEntries: boolean;
  /** Chunk size for finding a segment's last non-zero byte (default {@link TAIL_CHUNK}; tests use small ones). */
  readonly tailChunk?: number;
  /** Called after each segment is read (tests check how much was read and held). */
  readonly onSegmentRead?: (file: string, read: SegmentData) => void;
  /**
   * Where a segment's bytes come from (default {@link readSegmentData}): an
   * open that has just read them for its first pass passes them on instead of
   * reading the files again. Every record is verified either way.
   */
  readonly readSegment?: ((file: string) => Promise<SegmentData>) | undefined;
}

export interface ScanResult {
  metadata: Uint8Array | undefined;
  hardState: WalHardState | undefined;
  entries: WalEntry[];
  snapshots: WalSnapshotMarker[];
  matched: boolean;
  /** Highest index the log reaches (entries or snapshot markers), for the writer. */
  lastIndex: number;
  lastCrc: number;
  /** End of the last whole record in the last segment. */
  tailEnd: number;
  /** End of the damaged bytes after tailEnd that repair must clear (tailEnd if none). */
  garbageEnd: number;
  tailSize: number;
}

function corrupt(file: string, offset: number, what: string): WalError {
  return new WalError('WAL_CORRUPT', what, { file, offset });
}

/** A segment file as the scan holds it: its bytes up to the last non-zero one. */
export interface SegmentData {
  /** The file's bytes [0, data.length); every byte after them, up to `size`, is zero. */
  readonly data: Buffer;
  /** The file's size. */
  readonly size: number;
  /** Bytes read from the file to find and load `data`. */
  readonly bytesRead: number;
}

/** How much of a segment's end is examined at a time while looking for its last non-zero byte. */
export const TAIL_CHUNK = 1024 * 1024;

async function readAt(fd: fs.FileHandle, buf: Buffer, len: number, pos: number): Promise<number> {
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fd.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) break; // the file is shorter than we were told
    got += bytesRead;
  }
  return got;
}

/**
 * Reads a segment's bytes up to its last non-zero byte. The end is found by
 * reading backwards over trailing zeros in chunks of `chunkSize`, so memory
 * is bounded by the data present plus one chunk, not by the preallocated size.
 */
export async function readSegmentData(file: string, chunkSize = TAIL_CHUNK): Promise<SegmentData> {
  const fd = await fs.open(file, 'r');
  try {
    let size = (await fd.stat()).size;
    let bytesRead = 0;
    let dataEnd = 0;
    const chunk = Buffer.allocUnsafe(Math.min(chunkSize, size));
    let pos = size;
    while (pos > 0) {
      const start = Math.max(0, pos - chunk.length);
      const n = await readAt(fd, chunk, pos - start, start);
      bytesRead += n;
      // A file that shrank meanwhile ends where the read ended.
      if (n < pos - start) size = start + n;
      if (n > 0) {
        // All zeros iff the first byte is zero and every byte equals the next
        // (one native compare of the chunk with itself shifted by one).
        const allZero = chunk[0] === 0 && chunk.compare(chunk, 1, n, 0, n - 1) === 0;
        if (!allZero) {
          let i = n;
          while (chunk[i - 1] === 0) i--;
          dataEnd = start + i;
          break;
        }
      }
      pos = start;
    }
    const data = Buffer.allocUnsafe(dataEnd);
    const n = await readAt(fd, data, dataEnd, 0);
    bytesRead += n;
    if (n < dataEnd) return { data: data.subarray(0, n), size: n, bytesRead };
    return { data, size, bytesRead };
  } finally {
    await fd.close();
  }
}

/**
 * A record of `buf` (whose bytes past its length are zeros) as a buffer that
 * holds all of it: `buf` itself, or a zero-extended copy when its payload ends
 * in the zero tail.
 */
function wholeRecord(buf: Buffer, off: number, r: RawRecord): { b: Buffer; r: RawRecord } {
  if (r.next <= buf.length) return { b: buf, r };
  const b = Buffer.alloc(r.next - off);
  buf.copy(b, 0, off);
  return {
    b,
    r: {
      ...r,
      payloadStart: r.payloadStart - off,
      payloadEnd: r.payloadEnd - off,
      next: r.next - off,
    },
  };
}

/** readU32 of `buf` whose bytes past its length are zeros. */
function readU32Zeros(buf: Buffer, off: number): number {
  if (off + 4 <= buf.length) return readU32(buf, off);
  let v = 0;
  for (let i = 3; i >= 0; i--) v = v * 256 + (off + i < buf.length ? buf[off + i]! : 0);
  return v;
}

/**
 * The metadata record of a segment, read from the segment's head alone: its
 * crc record and the metadata record after it, with the checks a full scan
 * applies to those bytes (framing, checksums, the segment's sequence number,
 * the chain between the two). Any damage there is WAL_CORRUPT naming the file
 * and offset: a segment's header is synced before the segment gets its name,
 * so damage in it is never a torn write, and a full open refuses it too.
 */
export async function readSegmentMetadata(dir: string, seg: SegmentName): Promise<Uint8Array> {
  const file = join(dir, seg.name);
  const fd = await fs.open(file, 'r');
  try {
    const size = (await fd.stat()).size;
    // Grows to hold whole records; the head is normally far below 4 KiB.
    let buf = Buffer.alloc(0);
    const hold = async (end: number): Promise<void> => {
      const want = Math.min(end, size);
      if (want <= buf.length) return;
      const next = Buffer.allocUnsafe(want);
      buf.copy(next);
      const n = await readAt(fd, next.subarray(buf.length), want - buf.length, buf.length);
      buf = next.subarray(0, buf.length + n);
    };
    const record = async (off: number): Promise<RawRecord> => {
      await hold(off + HEADER_SIZE);
      // Only a length that passes parseRecord's header checks is worth reading.
      if (buf.length >= off + HEADER_SIZE) await hold(off + paddedSize(readU32(buf, off + 8)));
      // The file's own size as the end: a record cut short by it is 'short', as in a full scan.
      const r = parseRecord(buf, off, Math.min(size, buf.length));
      if (isBad(r)) throw corrupt(file, off, `damaged record (${r.kind})`);
      return r;
    };
    const head = await record(0);
    if (head.type !== RecordType.Crc) {
      throw corrupt(file, 0, 'segment does not start with a crc record');
    }
    if (head.payloadEnd - head.payloadStart !== 8 || readU64(buf, head.payloadStart) !== seg.seq) {
      throw corrupt(file, 0, 'crc record names another segment');
    }
    const md = await record(head.next);
    if (md.prevCrc !== head.crc) throw corrupt(file, head.next, 'chain broken (record lost)');
    if (md.type !== RecordType.Metadata) throw corrupt(file, head.next, 'no metadata record');
    return new Uint8Array(buf.subarray(md.payloadStart, md.payloadEnd));
  } finally {
    await fd.close();
  }
}

/** Reads `segments` (a contiguous run that ends with the last segment) in order. */
export async function scanSegments(
  dir: string,
  segments: readonly SegmentName[],
  opts: ScanOptions,
): Promise<ScanResult> {
  const base = opts.marker.index;
  const res: ScanResult = {
    metadata: undefined,
    hardState: undefined,
    entries: [],
    snapshots: [],
    matched: false,
    lastIndex: base,
    lastCrc: 0,
    tailEnd: 0,
    garbageEnd: 0,
    tailSize: 0,
  };
  let crc = 0;
  for (let s = 0; s < segments.length; s++) {
    const seg = segments[s]!;
    const file = join(dir, seg.name);
    const isLast = s === segments.length - 1;
    const read = await (opts.readSegment?.(file) ?? readSegmentData(file, opts.tailChunk));
    opts.onSegmentRead?.(file, read);
    // The file is `size` bytes; `buf` holds them up to the last non-zero one.
    const buf = read.data;
    const size = read.size;
    let off = 0;
    // End of the write that the last valid group record announced.
    let groupEnd = 0;
    for (;;) {
      if (off === size && !isLast) break;
      const r = off < size ? parseRecord(buf, off, size) : undefined;
      if (r === undefined || isBad(r)) {
        if (!isLast) throw corrupt(file, off, 'damaged record');
        if (r === undefined) break; // the file ends exactly after a record
        let zerosToEnd = true;
        for (let i = off; i < buf.length; i++) {
          if (buf[i] !== 0) {
            zerosToEnd = false;
            break;
          }
        }
        if (zerosToEnd) break; // clean end: preallocated space follows
        if (!looksTorn(buf, off, size, r)) throw corrupt(file, off, `damaged record (${r.kind})`);
        // A torn write leaves bytes either right or zero: a length that runs
        // past the end of the write its group record announced was changed.
        const declaredEnd = off + paddedSize(size >= off + 12 ? readU32Zeros(buf, off + 8) : 0);
        if (off < groupEnd && declaredEnd > groupEnd) {
          throw corrupt(file, off, 'damaged record length (beyond its write)');
        }
        const later = findRecordAfter(buf, off, size, RecordType.Group);
        if (later !== undefined) {
          throw corrupt(file, off, `damaged record followed by a later write at ${later}`);
        }
        let g = Math.min(size, buf.length);
        while (g > off && buf[g - 1] === 0) g--;
        res.garbageEnd = g;
        break;
      }
      const first = off === 0;
      if (first !== (r.type === RecordType.Crc)) {
        throw corrupt(
          file,
          off,
          first ? 'segment does not start with a crc record' : 'stray crc record',
        );
      }
      if (!(first && s === 0) && r.prevCrc !== crc) {
        throw corrupt(
          file,
          off,
          first ? 'chain broken across segments (records lost)' : 'chain broken (record lost)',
        );
      }
      crc = r.crc;
      // Rare: a record whose payload ends in zeros at the very end of the data.
      const whole = wholeRecord(buf, off, r);
      if (r.type === RecordType.Group) groupEnd = off + readU64(whole.b, whole.r.payloadStart);
      apply(whole.b, whole.r, file, off, seg, base, opts, res);
      off = r.next;
    }
    if (isLast) {
      // Headers are synced before a segment gets its name, so a last segment
      // without one was damaged afterwards: appending to it would be unsafe.
      if (off === 0) throw corrupt(file, 0, 'segment has no valid header');
      res.tailEnd = off;
      res.tailSize = size;
      if (res.garbageEnd < off) res.garbageEnd = off;
    }
  }
  res.lastCrc = crc;
  if (res.lastIndex < base) res.lastIndex = base;
  return res;
}

function apply(
  buf: Buffer,
  r: RawRecord,
  file: string,
  off: number,
  seg: SegmentName,
  base: number,
  opts: ScanOptions,
  res: ScanResult,
): void {
  const p = r.payloadStart;
  const len = r.payloadEnd - p;
  switch (r.type) {
    case RecordType.Group:
      if (len !== 8) throw corrupt(file, off, 'bad group record');
      return;
    case RecordType.Crc:
      if (len !== 8 || readU64(buf, p) !== seg.seq) {
        throw corrupt(file, off, 'crc record names another segment');
      }
      return;
    case RecordType.Metadata: {
      const md = buf.subarray(p, r.payloadEnd);
      if (res.metadata === undefined) res.metadata = new Uint8Array(md);
      else if (!Buffer.from(res.metadata).equals(md)) {
        throw corrupt(file, off, 'metadata differs between segments');
      }
      return;
    }
    case RecordType.Entry: {
      if (len < 16) throw corrupt(file, off, 'short entry record');
      const index = readU64(buf, p);
      res.lastIndex = index;
      if (!opts.collectEntries) return;
      const ents = res.entries;
      // Replay as Raft does: an entry replaces everything from its index on.
      if (index <= base) {
        ents.length = 0;
        return;
      }
      if (index - base - 1 > ents.length) {
        throw new WalError(
          'WAL_GAP',
          `entry ${index} does not follow ${base + ents.length}; open the WAL at the newest snapshot marker`,
          { file, offset: off },
        );
      }
      ents.length = index - base - 1;
      const term = readU64(buf, p + 8);
      ents.push({ index, term, data: new Uint8Array(buf.subarray(p + 16, r.payloadEnd)) });
      return;
    }
    case RecordType.HardState:
      if (len !== 24) throw corrupt(file, off, 'bad hard state record');
      res.hardState = {
        term: readU64(buf, p),
        vote: buf.readBigUInt64LE(p + 8),
        commit: readU64(buf, p + 16),
      };
      return;
    case RecordType.Snapshot: {
      if (len !== 16) throw corrupt(file, off, 'bad snapshot record');
      const index = readU64(buf, p);
      const term = readU64(buf, p + 8);
      res.snapshots.push({ index, term });
      if (index === opts.marker.index) {
        if (term !== opts.marker.term) {
          throw new WalError(
            'WAL_SNAPSHOT_MISMATCH',
            `snapshot ${index} has term ${term} in the WAL, not ${opts.marker.term}`,
            { file, offset: off },
          );
        }
        res.matched = true;
      }
      if (index > res.lastIndex) res.lastIndex = index;
      return;
    }
  }
}
