// Snapshot files: one file per snapshot, named <term>-<index>.snap (16 hex
// digits each), written to a temporary name, synced and renamed into place.
//
//   0  "KVSNAP\0\1"   magic and format version
//   8  u64 index, 16 u64 term, 24 u64 data length
//  32  u32 CRC-32C of bytes [8, 32) followed by the data
//  36  u32 reserved (0)
//  40  data
//
// A snapshot that fails to verify is renamed to <name>.broken (kept for
// inspection, never loaded again) and the next older one is tried.

import fs from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crc32c } from './crc32c';
import { WalError } from './errors';
import * as io from './fs-util';
import { readU64, writeU64 } from './record';
import { hex16 } from './segment-name';
import type { WalSnapshotMarker } from './types';

/** Options of {@link SnapshotStore}. */
export interface SnapshotStoreOptions {
  /** How many snapshot files to keep; older ones are purged after each save. Default 5. */
  readonly keep?: number;
  /** fsync files and the directory. Default true. */
  readonly sync?: boolean;
}

/** A snapshot as saved and loaded. */
export interface StoredSnapshot {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
}

const MAGIC = Buffer.from('KVSNAP\x00\x01', 'latin1');
const HEADER = 40;
const NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

interface Named extends WalSnapshotMarker {
  readonly name: string;
}

/** Saves, loads and purges application snapshots in one directory. */
export class SnapshotStore {
  private readonly dir: string;
  private readonly keep: number;
  private readonly sync: boolean;

  constructor(dir: string, options?: SnapshotStoreOptions) {
    const keep = options?.keep ?? 5;
    if (!Number.isSafeInteger(keep) || keep < 1) {
      throw new WalError('WAL_INVALID_ARGUMENT', 'keep must be an integer >= 1');
    }
    this.dir = dir;
    this.keep = keep;
    this.sync = options?.sync ?? true;
  }

  /** Writes `snap` durably (file and directory entry), then purges beyond `keep`. */
  async save(snap: StoredSnapshot): Promise<void> {
    if (
      !Number.isSafeInteger(snap.index) ||
      snap.index < 0 ||
      !Number.isSafeInteger(snap.term) ||
      snap.term < 0
    ) {
      throw new WalError('WAL_INVALID_ARGUMENT', 'snapshot index and term must be integers >= 0');
    }
    const created = await fs.mkdir(this.dir, { recursive: true });
    if (created !== undefined && this.sync) await io.fsyncDir(dirname(created));
    const header = Buffer.alloc(HEADER);
    MAGIC.copy(header, 0);
    writeU64(header, 8, snap.index);
    writeU64(header, 16, snap.term);
    writeU64(header, 24, snap.data.length);
    header.writeUInt32LE(crc32c(crc32c(0, header, 8, 32), snap.data), 32);
    const name = fileName(snap);
    const tmp = join(this.dir, `${name}.tmp`);
    const fd = await io.open(tmp, 'w');
    try {
      await io.writeFully(fd, header, 0, HEADER, 0);
      await io.writeFully(fd, snap.data, 0, snap.data.length, HEADER);
      if (this.sync) await io.fsync(fd);
    } finally {
      await io.close(fd);
    }
    await fs.rename(tmp, join(this.dir, name));
    if (this.sync) await io.fsyncDir(this.dir);
    await this.purge();
  }

  /** Markers of the snapshot files present, oldest (lowest index) first. */
  async list(): Promise<WalSnapshotMarker[]> {
    return (await this.named()).map(({ index, term }) => ({ index, term }));
  }

  /**
   * Loads the newest snapshot that verifies. A damaged one is renamed aside
   * (`.broken`) and the next older one is tried. Undefined if none is left.
   */
  async loadNewest(): Promise<StoredSnapshot | undefined> {
    return this.loadMatching(() => true);
  }

  /**
   * Like {@link loadNewest}, but only considers snapshots whose index and term
   * appear in `markers` (e.g. from `Wal.readSnapshotMarkers`), so the snapshot
   * chosen is one the WAL can continue from.
   */
  async loadNewestAvailable(
    markers: readonly WalSnapshotMarker[],
  ): Promise<StoredSnapshot | undefined> {
    const wanted = new Set(markers.map((m) => `${m.index}/${m.term}`));
    return this.loadMatching((m) => wanted.has(`${m.index}/${m.term}`));
  }

  /** Loads the snapshot at exactly `marker`; throws SNAPSHOT_CORRUPT or WAL_SNAPSHOT_NOT_FOUND. */
  async load(marker: WalSnapshotMarker): Promise<StoredSnapshot> {
    const name = fileName(marker);
    let buf: Buffer;
    try {
      buf = await fs.readFile(join(this.dir, name));
    } catch (err) {
      if (io.isErrno(err, 'ENOENT')) {
        throw new WalError('WAL_SNAPSHOT_NOT_FOUND', `no snapshot ${marker.index}/${marker.term}`, {
          file: join(this.dir, name),
        });
      }
      throw err;
    }
    return decode(buf, { ...marker, name }, join(this.dir, name));
  }

  private async loadMatching(
    pred: (m: WalSnapshotMarker) => boolean,
  ): Promise<StoredSnapshot | undefined> {
    const all = await this.named();
    for (let i = all.length - 1; i >= 0; i--) {
      const m = all[i]!;
      if (!pred(m)) continue;
      const path = join(this.dir, m.name);
      try {
        return decode(await fs.readFile(path), m, path);
      } catch (err) {
        if (!(err instanceof WalError) || err.code !== 'SNAPSHOT_CORRUPT') throw err;
        await fs.rename(path, `${path}.broken`);
      }
    }
    return undefined;
  }

  private async named(): Promise<Named[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (err) {
      if (io.isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const out: Named[] = [];
    for (const name of names) {
      const m = NAME.exec(name);
      if (!m) continue;
      out.push({ term: Number.parseInt(m[1]!, 16), index: Number.parseInt(m[2]!, 16), name });
    }
    return out.sort((a, b) => a.index - b.index || a.term - b.term);
  }

  private async purge(): Promise<void> {
    // Leftovers of saves interrupted by a crash (the store has one writer).
    for (const name of await fs.readdir(this.dir)) {
      if (name.endsWith('.snap.tmp')) await fs.rm(join(this.dir, name), { force: true });
    }
    const all = await this.named();
    const doomed = all.slice(0, Math.max(0, all.length - this.keep));
    for (const m of doomed) await fs.rm(join(this.dir, m.name), { force: true });
    if (doomed.length > 0 && this.sync) await io.fsyncDir(this.dir);
  }
}

function fileName(m: WalSnapshotMarker): string {
  return `${hex16(m.term)}-${hex16(m.index)}.snap`;
}

function decode(buf: Buffer, m: Named, path: string): StoredSnapshot {
  const bad = (what: string) => new WalError('SNAPSHOT_CORRUPT', what, { file: path });
  if (buf.length < HEADER || !buf.subarray(0, 8).equals(MAGIC)) throw bad('not a snapshot file');
  const index = readU64(buf, 8);
  const term = readU64(buf, 16);
  const len = readU64(buf, 24);
  if (len !== buf.length - HEADER) throw bad(`length ${len} does not match the file`);
  if (crc32c(crc32c(0, buf, 8, 32), buf, HEADER) !== buf.readUInt32LE(32))
    throw bad('checksum mismatch');
  if (index !== m.index || term !== m.term) throw bad('header does not match the file name');
  return { index, term, data: new Uint8Array(buf.subarray(HEADER)) };
}
