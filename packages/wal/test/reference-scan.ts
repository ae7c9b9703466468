// The WAL's start-up scan as it was before it learned to skip a segment's
// zero tail (it read every segment whole with fs.readFile), kept verbatim as
// the oracle for scan-bounded.test.ts: the bounded scan must classify every
// file exactly as this one does. Do not "fix" or refactor it.
import fs from 'node:fs/promises';
import { join } from 'node:path';
import { WalError } from '../src/errors';
import { crc32c } from '../src/crc32c';
import {
  HEADER_SIZE,
  RecordType,
  isBad,
  paddedSize,
  readU32,
  readU64,
  type BadRecord,
  type RawRecord,
} from '../src/record';
import type { ScanOptions, ScanResult } from '../src/scan';
import type { SegmentName } from '../src/segment-name';

const MAX_PAYLOAD = 0x7fff_ffff;
const MAX_TYPE = 6;

function parseRecord(buf: Uint8Array, off: number, end: number): RawRecord | BadRecord {
  if (off + HEADER_SIZE > end) return { kind: 'short' };
  const type = buf[off + 12]!;
  const pad = buf[off + 13]!;
  const len = readU32(buf, off + 8);
  if (
    type === 0 ||
    type > MAX_TYPE ||
    buf[off + 14] !== 0 ||
    buf[off + 15] !== 0 ||
    len > MAX_PAYLOAD ||
    pad !== paddedSize(len) - HEADER_SIZE - len
  ) {
    return { kind: 'header' };
  }
  const payloadEnd = off + HEADER_SIZE + len;
  const next = payloadEnd + pad;
  if (next > end) return { kind: 'short' };
  const crc = readU32(buf, off);
  if (
    crc32c(crc32c(0, buf, off + HEADER_SIZE, payloadEnd), buf, off + 4, off + HEADER_SIZE) !== crc
  ) {
    return { kind: 'checksum', payloadEnd };
  }
  for (let i = payloadEnd; i < next; i++) if (buf[i] !== 0) return { kind: 'checksum', payloadEnd };
  return {
    type: type as RecordType,
    crc,
    prevCrc: readU32(buf, off + 4),
    payloadStart: off + HEADER_SIZE,
    payloadEnd,
    next,
  };
}

function findRecordAfter(
  buf: Uint8Array,
  from: number,
  end: number,
  type: RecordType,
): number | undefined {
  // Trailing zeros are preallocated space: skip them without probing.
  let last = end;
  while (last > from && buf[last - 1] === 0) last--;
  for (let off = from + 8; off + HEADER_SIZE <= last; off += 8) {
    if (buf[off + 12] !== type) continue;
    if (!isBad(parseRecord(buf, off, end))) return off;
  }
  return undefined;
}

const SECTOR = 512;

/**
 * True if the damaged record at `off` looks like a write that did not finish:
 * the file ends inside it, or one of the sector-aligned pieces it spans is all
 * zeros (never written). A flipped bit leaves no such zero piece behind.
 */
function looksTorn(buf: Uint8Array, off: number, end: number, bad: BadRecord): boolean {
  if (bad.kind === 'short') return true;
  // For a damaged header we cannot trust the length: the piece up to the next
  // sector boundary is all we can inspect.
  // Padding is zero by design, so it is left out.
  const recEnd =
    bad.kind === 'checksum'
      ? bad.payloadEnd
      : Math.min(end, Math.max(off + HEADER_SIZE, nextSector(off)));
  let p = off;
  while (p < recEnd) {
    const q = Math.min(recEnd, nextSector(p));
    let zero = true;
    for (let i = p; i < q; i++) {
      if (buf[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) return true;
    p = q;
  }
  return false;
}

function nextSector(off: number): number {
  return (Math.floor(off / SECTOR) + 1) * SECTOR;
}

function corrupt(file: string, offset: number, what: string): WalError {
  return new WalError('WAL_CORRUPT', what, { file, offset });
}

/** Reads `segments` (a contiguous run that ends with the last segment) in order. */
export async function referenceScanSegments(
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
    const buf = await fs.readFile(file);
    const size = buf.length;
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
        for (let i = off; i < size; i++) {
          if (buf[i] !== 0) {
            zerosToEnd = false;
            break;
          }
        }
        if (zerosToEnd) break; // clean end: preallocated space follows
        if (!looksTorn(buf, off, size, r)) throw corrupt(file, off, `damaged record (${r.kind})`);
        // A torn write leaves bytes either right or zero: a length that runs
        // past the end of the write its group record announced was changed.
        const declaredEnd = off + paddedSize(buf.length >= off + 12 ? readU32(buf, off + 8) : 0);
        if (off < groupEnd && declaredEnd > groupEnd) {
          throw corrupt(file, off, 'damaged record length (beyond its write)');
        }
        const later = findRecordAfter(buf, off, size, RecordType.Group);
        if (later !== undefined) {
          throw corrupt(file, off, `damaged record followed by a later write at ${later}`);
        }
        let g = size;
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
      if (r.type === RecordType.Group) groupEnd = off + readU64(buf, r.payloadStart);
      apply(buf, r, file, off, seg, base, opts, res);
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
