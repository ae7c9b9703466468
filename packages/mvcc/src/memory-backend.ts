import { BTree } from './btree';
import type {
  Backend,
  BackendEntry,
  BackendRangeOptions,
  BackendSize,
  BackendSnapshot,
  BucketName,
} from './backend';
import { BUCKETS } from './backend';
import { binaryToBytes, bytesToBinary } from './bytes';
import { crc32c, crc32cUpdate } from './crc32c';

/** Options of {@link MemoryBackend}. */
export interface MemoryBackendOptions {
  /**
   * Awaited at the start of every read before the data is looked at: tests
   * use it to hold reads in flight while writes and compactions go on.
   */
  readonly beforeRead?: () => Promise<void>;
  /** Size of the chunks a snapshot stream yields (default 64 KiB). */
  readonly snapshotChunkBytes?: number;
}

/*
 * Snapshot stream format (shared by any backend that wants to restore it):
 *   "KVSNAP01"                                             8-byte magic
 *   repeated: 0x01, varint(len) bucket, varint(len) key, varint(len) value
 *   0xff, CRC-32C (4 bytes big-endian) of every byte before the 0xff
 */
const MAGIC = new TextEncoder().encode('KVSNAP01');
const RECORD = 0x01;
const TRAILER = 0xff;

type Tree = BTree<string, Uint8Array>;

function newBuckets(): Map<BucketName, Tree> {
  return new Map(BUCKETS.map((b) => [b, new BTree<string, Uint8Array>()]));
}

/**
 * An in-memory {@link Backend}: sorted buckets (B+ trees), writes visible at
 * once, `commit` a no-op that counts calls. Meant for tests and benchmarks.
 * Values handed out by reads are shared: callers must not mutate them.
 */
export class MemoryBackend implements Backend {
  private buckets = newBuckets();
  private garbage = 0;
  private closed = false;
  /** Number of {@link commit} calls (tests). */
  commits = 0;
  /** Commits asked to be durable on disk (a no-op here; counted for tests). */
  syncedCommits = 0;

  constructor(private readonly options: MemoryBackendOptions = {}) {}

  private tree(bucket: BucketName): Tree {
    if (this.closed) throw new Error('MemoryBackend: closed');
    const t = this.buckets.get(bucket);
    if (t === undefined) throw new Error(`MemoryBackend: unknown bucket ${String(bucket)}`);
    return t;
  }

  private async pause(): Promise<void> {
    if (this.options.beforeRead !== undefined) await this.options.beforeRead();
  }

  async get(bucket: BucketName, key: Uint8Array): Promise<Uint8Array | undefined> {
    await this.pause();
    return this.tree(bucket).get(bytesToBinary(key));
  }

  async getMany(
    bucket: BucketName,
    keys: readonly Uint8Array[],
  ): Promise<(Uint8Array | undefined)[]> {
    await this.pause();
    const t = this.tree(bucket);
    return keys.map((k) => t.get(bytesToBinary(k)));
  }

  async range(
    bucket: BucketName,
    start: Uint8Array,
    end: Uint8Array | undefined,
    options: BackendRangeOptions = {},
  ): Promise<BackendEntry[]> {
    await this.pause();
    const t = this.tree(bucket);
    const lo = bytesToBinary(start);
    const hi = end === undefined ? undefined : bytesToBinary(end);
    const limit = options.limit !== undefined && options.limit > 0 ? options.limit : Infinity;
    const out: BackendEntry[] = [];
    if (hi !== undefined && hi <= lo) return out;
    if (options.reverse === true) {
      const from = hi === undefined ? t.maxKey() : t.nextLowerKey(hi);
      if (from === undefined) return out;
      for (const [k, v] of t.entriesReversed(from)) {
        if (k < lo || out.length >= limit) break;
        out.push({ key: binaryToBytes(k), value: v });
      }
      return out;
    }
    for (const [k, v] of t.entries(lo)) {
      if ((hi !== undefined && k >= hi) || out.length >= limit) break;
      out.push({ key: binaryToBytes(k), value: v });
    }
    return out;
  }

  put(bucket: BucketName, key: Uint8Array, value: Uint8Array): void {
    const t = this.tree(bucket);
    const k = bytesToBinary(key);
    const old = t.get(k);
    if (old !== undefined) this.garbage += k.length + old.length;
    t.set(k, value.slice());
  }

  delete(bucket: BucketName, key: Uint8Array): void {
    const t = this.tree(bucket);
    const k = bytesToBinary(key);
    const old = t.get(k);
    if (old === undefined) return;
    this.garbage += k.length + old.length;
    t.delete(k);
  }

  async commit(options?: { readonly sync?: boolean }): Promise<void> {
    this.tree('meta');
    this.commits++;
    if (options?.sync === true) this.syncedCommits++;
  }

  async snapshot(): Promise<BackendSnapshot> {
    // Copy-on-write clones: O(1) now, later writes do not leak in.
    const frozen = [...this.buckets].map(([name, t]) => [name, t.clone()] as const);
    const chunkBytes = this.options.snapshotChunkBytes ?? 65536;
    return {
      async *chunks(): AsyncGenerator<Uint8Array> {
        const enc = new ChunkEncoder(chunkBytes);
        enc.write(MAGIC);
        const nameBytes = new TextEncoder();
        for (const [name, t] of frozen) {
          const nb = nameBytes.encode(name);
          for (const [k, v] of t.entries()) {
            enc.byte(RECORD);
            enc.bytes(nb);
            enc.bytes(binaryToBytes(k));
            enc.bytes(v);
            yield* enc.drain(false);
          }
        }
        const crc = enc.crc;
        enc.byte(TRAILER);
        enc.write(
          new Uint8Array([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff]),
        );
        yield* enc.drain(true);
      },
      async close(): Promise<void> {},
    };
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const c of chunks) {
      parts.push(c);
      total += c.length;
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    // Parse into fresh trees first: a bad stream leaves the old contents.
    this.buckets = parseSnapshot(all);
    this.garbage = 0;
  }

  async hash(bucket: BucketName): Promise<number> {
    let crc = 0;
    for (const [k, v] of this.tree(bucket).entries()) {
      crc = crc32cUpdate(crc, binaryToBytes(k));
      crc = crc32cUpdate(crc, v);
    }
    return crc;
  }

  async size(): Promise<BackendSize> {
    let inUse = 0;
    for (const t of this.buckets.values())
      for (const [k, v] of t.entries()) inUse += k.length + v.length;
    return { total: inUse + this.garbage, inUse };
  }

  async defragment(): Promise<{ readonly before: BackendSize; readonly after: BackendSize }> {
    const before = await this.size();
    this.garbage = 0;
    return { before, after: await this.size() };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Accumulates bytes, tracking the running CRC, and hands out fixed-size chunks. */
class ChunkEncoder {
  private buf: Uint8Array;
  private len = 0;
  crc = 0;

  constructor(private readonly chunkBytes: number) {
    this.buf = new Uint8Array(chunkBytes);
  }

  byte(b: number): void {
    this.write(new Uint8Array([b]));
  }

  varint(v: number): void {
    const tmp: number[] = [];
    while (v >= 128) {
      tmp.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    tmp.push(v);
    this.write(new Uint8Array(tmp));
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.write(b);
  }

  write(b: Uint8Array): void {
    if (this.len + b.length > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + b.length));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(b, this.len);
    this.len += b.length;
    // The trailer's own bytes are not covered; callers read `crc` before writing it.
    this.crc = crc32cUpdate(this.crc, b);
  }

  *drain(final: boolean): Generator<Uint8Array> {
    let start = 0;
    while (this.len - start >= this.chunkBytes) {
      yield this.buf.slice(start, start + this.chunkBytes);
      start += this.chunkBytes;
    }
    if (final && this.len > start) {
      yield this.buf.slice(start, this.len);
      start = this.len;
    }
    this.buf.copyWithin(0, start, this.len);
    this.len -= start;
  }
}

function parseSnapshot(all: Uint8Array): Map<BucketName, Tree> {
  const bad = (why: string): never => {
    throw new Error(`MemoryBackend: invalid snapshot (${why})`);
  };
  if (all.length < MAGIC.length + 5) bad('too short');
  for (let i = 0; i < MAGIC.length; i++) if (all[i] !== MAGIC[i]) bad('bad magic');
  const body = all.length - 5;
  if (all[body] !== TRAILER) bad('missing trailer');
  const want =
    (((all[body + 1] as number) << 24) |
      ((all[body + 2] as number) << 16) |
      ((all[body + 3] as number) << 8) |
      (all[body + 4] as number)) >>>
    0;
  if (crc32c(all.subarray(0, body)) !== want) bad('checksum mismatch');
  const buckets = newBuckets();
  const names = new TextDecoder();
  let pos = MAGIC.length;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (pos >= body) bad('truncated');
      const c = all[pos++] as number;
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
  };
  const bytes = (): Uint8Array => {
    const n = varint();
    if (pos + n > body) bad('truncated');
    const out = all.slice(pos, pos + n);
    pos += n;
    return out;
  };
  while (pos < body) {
    if (all[pos++] !== RECORD) bad('unknown record');
    const name = names.decode(bytes());
    const t = buckets.get(name as BucketName) ?? bad(`unknown bucket ${name}`);
    const k = bytes();
    t.set(bytesToBinary(k), bytes());
  }
  return buckets;
}
