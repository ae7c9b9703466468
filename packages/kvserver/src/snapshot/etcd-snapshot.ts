/**
 * Turns our backend's snapshot stream (format KVSNAP01, documented as shared
 * by @kv/backend-level and @kv/mvcc's MemoryBackend) into the byte stream of
 * etcd's Snapshot RPC: a bbolt file followed by the SHA-256 of its bytes.
 */
import { createHash } from 'node:crypto';
import { crc32c, decodeUint64, encodeRevision } from '@kv/mvcc';
import type { BboltBucket, BboltEntry, BboltFile } from './bbolt-writer';
import { writeBbolt } from './bbolt-writer';

const MAGIC = Buffer.from('KVSNAP01', 'latin1');
const TAG_RECORD = 0x01;
const TAG_TRAILER = 0xff;

/** Size of each SnapshotResponse blob, as etcd sends them. */
export const SNAPSHOT_CHUNK_BYTES = 32 * 1024;

/**
 * Decode a whole KVSNAP01 stream into buckets, verifying its CRC-32C
 * trailer. Entries are views into the collected stream.
 */
export function decodeKvSnapshot(stream: Buffer): BboltBucket[] {
  const fail = (why: string): Error => new Error(`backend snapshot rejected: ${why}`);
  if (stream.length < MAGIC.length || !stream.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw fail('bad magic');
  }
  let pos = MAGIC.length;
  const varint = (): number => {
    let n = 0;
    let scale = 1;
    for (;;) {
      const b = stream[pos++];
      if (b === undefined) throw fail('truncated varint');
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
      if (scale > 2 ** 35) throw fail('varint too long');
    }
  };
  const field = (): Buffer => {
    const len = varint();
    if (pos + len > stream.length) throw fail('truncated field');
    const f = stream.subarray(pos, pos + len);
    pos += len;
    return f;
  };
  const byName = new Map<string, { name: Buffer; entries: BboltEntry[] }>();
  for (;;) {
    const tag = stream[pos];
    if (tag === TAG_TRAILER) {
      if (pos + 5 !== stream.length) throw fail('bad trailer length');
      if (stream.readUInt32BE(pos + 1) !== crc32c(stream.subarray(0, pos))) {
        throw fail('checksum mismatch');
      }
      break;
    }
    if (tag !== TAG_RECORD) throw fail(tag === undefined ? 'no trailer' : `unknown tag ${tag}`);
    pos++;
    const name = field();
    const key = field();
    const value = field();
    const id = name.toString('latin1');
    let bucket = byName.get(id);
    if (bucket === undefined) {
      bucket = { name, entries: [] };
      byName.set(id, bucket);
    }
    bucket.entries.push({ key, value });
  }
  return [...byName.values()];
}

/** Meta keys that etcd stores as 17-byte revisions and our store as 8-byte integers. */
const META_REVISION_KEYS = new Set(['scheduledCompactRev', 'finishedCompactRev']);

/**
 * Rewrite values whose encoding differs from etcd's on-disk one, so that
 * `etcdctl snapshot restore` (which decodes them) accepts the file. Entry
 * counts are unchanged.
 */
function toEtcdEncoding(bucket: string, entry: BboltEntry): BboltEntry {
  if (
    bucket === 'meta' &&
    entry.value.length === 8 &&
    META_REVISION_KEYS.has(Buffer.from(entry.key).toString('latin1'))
  ) {
    return { key: entry.key, value: encodeRevision(decodeUint64(entry.value), 0) };
  }
  return entry;
}

/**
 * Build the bbolt file for a backend snapshot. `bucketNames` are created even
 * when empty, as etcd creates all its buckets at start.
 */
export async function bboltFromBackendSnapshot(
  chunks: AsyncIterable<Uint8Array>,
  bucketNames: readonly string[],
): Promise<BboltFile> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  const buckets = decodeKvSnapshot(Buffer.concat(parts)).map((b) => {
    const name = Buffer.from(b.name).toString('utf8');
    return { name: b.name, entries: b.entries.map((e) => toEtcdEncoding(name, e)) };
  });
  const present = new Set(buckets.map((b) => Buffer.from(b.name).toString('latin1')));
  for (const name of bucketNames) {
    const raw = Buffer.from(name, 'utf8');
    if (!present.has(raw.toString('latin1'))) buckets.push({ name: raw, entries: [] });
  }
  return writeBbolt(buckets);
}

/** One SnapshotResponse's payload. */
export interface SnapshotPiece {
  readonly remainingBytes: bigint;
  readonly blob: Buffer;
}

/**
 * The file in `chunkBytes` pieces, then its SHA-256 as a last piece.
 * remainingBytes counts file bytes still to come, as etcd reports it.
 */
export function* snapshotPieces(
  file: BboltFile,
  chunkBytes = SNAPSHOT_CHUNK_BYTES,
): Generator<SnapshotPiece> {
  const sha = createHash('sha256');
  let sent = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const emit = (): SnapshotPiece => {
    const blob = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    sha.update(blob);
    sent += blob.length;
    return { remainingBytes: BigInt(file.size - sent), blob };
  };
  for (const page of file.pages) {
    let from = 0;
    while (from < page.length) {
      const n = Math.min(chunkBytes - pendingBytes, page.length - from);
      pending.push(page.subarray(from, from + n));
      pendingBytes += n;
      from += n;
      if (pendingBytes === chunkBytes) yield emit();
    }
  }
  if (pendingBytes > 0) yield emit();
  yield { remainingBytes: 0n, blob: sha.digest() };
}
