/**
 * A minimal, strict bbolt reader used by the tests to check what
 * bbolt-writer produces: it validates the meta pages, walks every bucket's
 * B+tree and, like bbolt's own consistency check, insists that every page
 * below the high-water mark is used exactly once or free, that keys are
 * sorted and that each branch key is its child's first key.
 */
import {
  BBOLT_MAGIC,
  BBOLT_VERSION,
  BUCKET_LEAF_FLAG,
  META_CHECKSUMMED,
  PageFlag,
} from './bbolt-writer';
import { fnv1a64 } from './bbolt-writer';

export interface ReadBucket {
  readonly name: Buffer;
  readonly entries: { key: Buffer; value: Buffer }[];
  /** Whether the bucket's leaf was stored inline in its parent. */
  readonly inline: boolean;
}

export interface ReadDatabase {
  readonly pageSize: number;
  readonly txid: bigint;
  /** High-water mark: number of pages in the file. */
  readonly pages: number;
  readonly buckets: ReadBucket[];
  /** Pages per flag seen while walking, for tests of the layout. */
  readonly pageKinds: { branch: number; leaf: number; overflow: number };
}

interface Meta {
  pageSize: number;
  root: number;
  freelist: number;
  hwm: number;
  txid: bigint;
}

function readMeta(file: Buffer, at: number): Meta | undefined {
  const m = at + 16;
  if (file.length < m + 64) return undefined;
  if (file.readUInt32LE(m) !== BBOLT_MAGIC || file.readUInt32LE(m + 4) !== BBOLT_VERSION) {
    return undefined;
  }
  if (fnv1a64(file.subarray(m, m + META_CHECKSUMMED)) !== file.readBigUInt64LE(m + 56)) {
    return undefined;
  }
  return {
    pageSize: file.readUInt32LE(m + 8),
    root: Number(file.readBigUInt64LE(m + 16)),
    freelist: Number(file.readBigUInt64LE(m + 32)),
    hwm: Number(file.readBigUInt64LE(m + 40)),
    txid: file.readBigUInt64LE(m + 48),
  };
}

/** Parse and check a whole bbolt file held in memory. Throws on any inconsistency. */
export function readBbolt(file: Buffer): ReadDatabase {
  const m0 = readMeta(file, 0);
  const pageSize = m0?.pageSize ?? 4096;
  const m1 = readMeta(file, pageSize);
  const meta = m0 === undefined ? m1 : m1 === undefined ? m0 : m1.txid > m0.txid ? m1 : m0;
  if (meta === undefined) throw new Error('no valid meta page');
  if (file.length < meta.hwm * pageSize) throw new Error('file shorter than high-water mark');

  const used = new Map<number, string>();
  const kinds = { branch: 0, leaf: 0, overflow: 0 };
  const claim = (id: number, what: string): void => {
    if (id >= meta.hwm) throw new Error(`page ${id}: beyond high-water mark (${what})`);
    const prev = used.get(id);
    if (prev !== undefined) throw new Error(`page ${id}: used twice (${prev}, ${what})`);
    used.set(id, what);
  };
  const header = (
    buf: Buffer,
    at: number,
  ): { id: number; flags: number; count: number; overflow: number } => ({
    id: Number(buf.readBigUInt64LE(at)),
    flags: buf.readUInt16LE(at + 8),
    count: buf.readUInt16LE(at + 10),
    overflow: buf.readUInt32LE(at + 12),
  });

  claim(0, 'meta');
  claim(1, 'meta');
  const fl = header(file, meta.freelist * pageSize);
  if (fl.flags !== PageFlag.freelist) throw new Error('freelist page has wrong flags');
  for (let i = 0; i <= fl.overflow; i++) claim(meta.freelist + i, 'freelist');
  let freeCount = fl.count;
  let freeAt = meta.freelist * pageSize + 16;
  if (freeCount === 0xffff) {
    freeCount = Number(file.readBigUInt64LE(freeAt));
    freeAt += 8;
  }
  for (let i = 0; i < freeCount; i++) claim(Number(file.readBigUInt64LE(freeAt + i * 8)), 'free');

  // Leaf elements of one page as [flags, key, value].
  const leafElements = (buf: Buffer, at: number, count: number): [number, Buffer, Buffer][] => {
    const out: [number, Buffer, Buffer][] = [];
    for (let i = 0; i < count; i++) {
      const el = at + 16 + i * 16;
      const pos = el + buf.readUInt32LE(el + 4);
      const ksize = buf.readUInt32LE(el + 8);
      const vsize = buf.readUInt32LE(el + 12);
      out.push([
        buf.readUInt32LE(el),
        buf.subarray(pos, pos + ksize),
        buf.subarray(pos + ksize, pos + ksize + vsize),
      ]);
    }
    return out;
  };

  // Walk a tree from page `id`; returns its elements in order.
  const walk = (id: number, what: string): [number, Buffer, Buffer][] => {
    const at = id * pageSize;
    const h = header(file, at);
    if (h.id !== id) throw new Error(`page ${id}: header says ${h.id}`);
    for (let i = 0; i <= h.overflow; i++) claim(id + i, what);
    kinds.overflow += h.overflow;
    if (h.flags === PageFlag.leaf) {
      kinds.leaf++;
      return leafElements(file, at, h.count);
    }
    if (h.flags !== PageFlag.branch) throw new Error(`page ${id}: invalid type ${h.flags}`);
    kinds.branch++;
    const out: [number, Buffer, Buffer][] = [];
    for (let i = 0; i < h.count; i++) {
      const el = at + 16 + i * 16;
      const pos = el + file.readUInt32LE(el);
      const key = file.subarray(pos, pos + file.readUInt32LE(el + 4));
      const child = walk(Number(file.readBigUInt64LE(el + 8)), what);
      if (child.length === 0 || !child[0]![1].equals(key)) {
        throw new Error(`page ${id}: branch key differs from its child's first key`);
      }
      out.push(...child);
    }
    return out;
  };

  const sortedCheck = (els: [number, Buffer, Buffer][], what: string): void => {
    for (let i = 1; i < els.length; i++) {
      if (Buffer.compare(els[i - 1]![1], els[i]![1]) >= 0) {
        throw new Error(`${what}: keys out of order at ${i}`);
      }
    }
  };

  const rootEls = walk(meta.root, 'root bucket');
  sortedCheck(rootEls, 'root bucket');
  const buckets: ReadBucket[] = rootEls.map(([flags, name, value]) => {
    if ((flags & BUCKET_LEAF_FLAG) === 0) throw new Error('top-level key is not a bucket');
    const root = Number(value.readBigUInt64LE(0));
    const label = `bucket ${name.toString()}`;
    let els: [number, Buffer, Buffer][];
    if (root === 0) {
      const h = header(value, 16);
      if (h.flags !== PageFlag.leaf) throw new Error(`${label}: inline page is not a leaf`);
      els = leafElements(value, 16, h.count);
    } else {
      els = walk(root, label);
    }
    sortedCheck(els, label);
    return {
      name,
      inline: root === 0,
      entries: els.map(([, key, v]) => ({ key, value: v })),
    };
  });

  for (let i = 0; i < meta.hwm; i++) {
    if (!used.has(i)) throw new Error(`page ${i}: unreachable and not free`);
  }
  return { pageSize, txid: meta.txid, pages: meta.hwm, buckets, pageKinds: kinds };
}
