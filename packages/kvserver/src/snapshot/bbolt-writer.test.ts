import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BUCKETS, MemoryBackend, encodeRevision, encodeUint64 } from '@kv/mvcc';
import { META_CHECKSUMMED, PAGE_SIZE, fnv1a64, writeBbolt } from './bbolt-writer';
import type { BboltBucket } from './bbolt-writer';
import { readBbolt } from './bbolt-reader';
import { bboltFromBackendSnapshot, decodeKvSnapshot, snapshotPieces } from './etcd-snapshot';

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const concat = (pages: readonly Buffer[]): Buffer => Buffer.concat(pages);

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
function bytes(seed: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function roundTrip(buckets: BboltBucket[]) {
  const file = writeBbolt(buckets);
  const buf = concat(file.pages);
  expect(buf.length).toBe(file.size);
  expect(file.size % PAGE_SIZE).toBe(0);
  const db = readBbolt(buf);
  const sortedNames = buckets.map((b) => Buffer.from(b.name)).sort((a, b) => Buffer.compare(a, b));
  expect(db.buckets.map((b) => b.name)).toEqual(sortedNames);
  for (const b of buckets) {
    const got = db.buckets.find((r) => r.name.equals(b.name))!;
    // Hex lines: one string comparison instead of a slow deep equality of buffers.
    const hex = (es: readonly { key: Uint8Array; value: Uint8Array }[]): string =>
      es
        .map((e) => `${Buffer.from(e.key).toString('hex')}=${Buffer.from(e.value).toString('hex')}`)
        .join('\n');
    const want = [...b.entries].sort((p, q) => Buffer.compare(p.key, q.key));
    expect(got.entries.length).toBe(want.length);
    expect(hex(got.entries) === hex(want)).toBe(true);
  }
  return db;
}

describe('bbolt writer', () => {
  it('writes two valid meta pages, an empty freelist and inline small buckets', () => {
    const db = roundTrip([
      { name: enc('meta'), entries: [{ key: enc('consistent_index'), value: bytes(1, 8) }] },
      {
        name: enc('key'),
        entries: [
          { key: encodeRevision(3, 0), value: enc('c') },
          { key: encodeRevision(2, 0), value: enc('b') },
        ],
      },
    ]);
    expect(db.pageSize).toBe(PAGE_SIZE);
    expect(db.buckets.every((b) => b.inline)).toBe(true);
    // meta, meta, freelist, root leaf
    expect(db.pages).toBe(4);
    expect(db.txid).toBe(2n);
  });

  it('keeps empty buckets (inline, no entries)', () => {
    const db = roundTrip(BUCKETS.map((name) => ({ name: enc(name), entries: [] })));
    expect(db.buckets).toHaveLength(BUCKETS.length);
    expect(db.buckets.every((b) => b.inline && b.entries.length === 0)).toBe(true);
  });

  it('writes a database with no buckets at all', () => {
    const db = roundTrip([]);
    expect(db.buckets).toEqual([]);
  });

  it('gives a bucket its own pages when it outgrows a quarter page', () => {
    const entries = Array.from({ length: 40 }, (_, i) => ({
      key: enc(`k${String(i).padStart(3, '0')}`),
      value: bytes(i + 7, 40),
    }));
    const db = roundTrip([{ name: enc('lease'), entries }]);
    expect(db.buckets[0]!.inline).toBe(false);
  });

  it('spills large values into overflow pages', () => {
    const big = bytes(42, 3 * PAGE_SIZE + 123);
    const db = roundTrip([
      {
        name: enc('key'),
        entries: [
          { key: encodeRevision(1, 0), value: enc('small') },
          { key: encodeRevision(2, 0), value: big },
          { key: encodeRevision(3, 0), value: bytes(43, 100_000) },
          { key: encodeRevision(4, 0), value: enc('after') },
        ],
      },
    ]);
    expect(db.pageKinds.overflow).toBeGreaterThanOrEqual(3 + 24);
    expect(db.buckets[0]!.entries[1]!.value.equals(big)).toBe(true);
  });

  it('builds branch levels for many keys', () => {
    const entries = Array.from({ length: 30_000 }, (_, i) => ({
      key: encodeRevision(i + 1, 0),
      value: bytes(i + 1, 20 + (i % 50)),
    }));
    const db = roundTrip([
      { name: enc('key'), entries },
      { name: enc('meta'), entries: [] },
    ]);
    // 30k leaves' worth of first keys need more than one branch page: two levels.
    expect(db.pageKinds.branch).toBeGreaterThan(1);
    expect(db.pageKinds.leaf).toBeGreaterThan(300);
  });

  it('rejects duplicate keys and duplicate bucket names', () => {
    expect(() =>
      writeBbolt([
        {
          name: enc('key'),
          entries: [
            { key: enc('a'), value: enc('1') },
            { key: enc('a'), value: enc('2') },
          ],
        },
      ]),
    ).toThrow(/duplicate key/);
    expect(() =>
      writeBbolt([
        { name: enc('key'), entries: [] },
        { name: enc('key'), entries: [] },
      ]),
    ).toThrow(/duplicate bucket/);
  });

  it('falls back to the other meta page when one is damaged, and fails when both are', () => {
    const buf = concat(writeBbolt([{ name: enc('key'), entries: [] }]).pages);
    buf[PAGE_SIZE + 16 + 20]! ^= 0xff; // meta 1's root field: checksum no longer matches
    expect(readBbolt(buf).txid).toBe(1n);
    buf[16 + 20]! ^= 0xff;
    expect(() => readBbolt(buf)).toThrow(/no valid meta/);
  });

  it('the strict reader notices an unreachable page', () => {
    const file = writeBbolt([{ name: enc('key'), entries: [] }]);
    const buf = concat([...file.pages, Buffer.alloc(PAGE_SIZE)]);
    // Raise both metas' high-water mark by one page and re-checksum them.
    for (const at of [16, PAGE_SIZE + 16]) {
      buf.writeBigUInt64LE(buf.readBigUInt64LE(at + 40) + 1n, at + 40);
      buf.writeBigUInt64LE(fnv1a64(buf.subarray(at, at + META_CHECKSUMMED)), at + 56);
    }
    expect(() => readBbolt(buf)).toThrow(/page 4: unreachable/);
  });
});

describe('backend snapshot to etcd snapshot stream', () => {
  async function fill(): Promise<MemoryBackend> {
    const be = new MemoryBackend({ snapshotChunkBytes: 1000 });
    for (let i = 1; i <= 500; i++)
      be.put('key', encodeRevision(i, 0), bytes(i, i % 7 === 0 ? 9000 : 30));
    be.put('meta', enc('finishedCompactRev'), encodeUint64(321));
    be.put('lease', enc('lease-1'), enc('lease'));
    await be.commit();
    return be;
  }

  it('decodes the shared KVSNAP01 format and lays every bucket out, empty ones included', async () => {
    const be = await fill();
    const snap = await be.snapshot();
    const file = await bboltFromBackendSnapshot(snap.chunks(), BUCKETS);
    const db = readBbolt(concat(file.pages));
    expect(db.buckets.map((b) => b.name.toString()).sort()).toEqual([...BUCKETS].sort());
    // etcd keeps compaction revisions in meta as 17-byte revision keys.
    const meta = db.buckets.find((b) => b.name.toString() === 'meta')!.entries;
    expect(meta).toHaveLength(1);
    expect(meta[0]!.value.equals(encodeRevision(321, 0))).toBe(true);
    for (const name of BUCKETS) {
      if (name === 'meta') continue;
      const want = await be.range(name, new Uint8Array(0), undefined);
      const got = db.buckets.find((b) => b.name.toString() === name)!.entries;
      expect(got.map((e) => [e.key.toString('hex'), e.value.toString('hex')])).toEqual(
        want.map((e) => [Buffer.from(e.key).toString('hex'), Buffer.from(e.value).toString('hex')]),
      );
    }
  });

  it('rejects a stream whose checksum does not match', async () => {
    const be = await fill();
    const parts: Buffer[] = [];
    for await (const c of (await be.snapshot()).chunks()) parts.push(Buffer.from(c));
    const all = Buffer.concat(parts);
    expect(decodeKvSnapshot(all).length).toBe(3);
    all[20]! ^= 1;
    expect(() => decodeKvSnapshot(all)).toThrow(/checksum|truncated|tag/);
    expect(() => decodeKvSnapshot(all.subarray(0, all.length - 5))).toThrow(/no trailer/);
  });

  it('sends 32 KiB pieces with the remaining count, then the SHA-256 of the file', async () => {
    const be = await fill();
    const file = await bboltFromBackendSnapshot((await be.snapshot()).chunks(), BUCKETS);
    const pieces = [...snapshotPieces(file)];
    const body = pieces.slice(0, -1);
    const last = pieces.at(-1)!;
    expect(body.slice(0, -1).every((p) => p.blob.length === 32 * 1024)).toBe(true);
    const whole = Buffer.concat(body.map((p) => p.blob));
    expect(whole.equals(concat(file.pages))).toBe(true);
    let remaining = file.size;
    for (const p of body) {
      remaining -= p.blob.length;
      expect(p.remainingBytes).toBe(BigInt(remaining));
    }
    expect(last.remainingBytes).toBe(0n);
    expect(last.blob.equals(createHash('sha256').update(whole).digest())).toBe(true);
  });
});
