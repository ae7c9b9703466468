/**
 * Writes a bbolt (etcd's backend) database file from sorted buckets, so that
 * the real `etcdctl snapshot save/status/restore` can read what our Snapshot
 * RPC streams even though our backend is LevelDB.
 *
 * Layout (learned from bbolt's on-disk design, little-endian throughout):
 *   page 0, 1   meta pages (both valid; the higher txid wins)
 *   page 2      freelist (empty: every other page is in use)
 *   page 3..    each non-inline etcd bucket's B+tree (leaves, then branch
 *               levels), then the root bucket's tree, whose leaf values are
 *               bucket headers (inline buckets carry their leaf page inside).
 * Every page below the high-water mark is reachable exactly once, which is
 * what bbolt's consistency check (run by `snapshot status`) demands.
 */

export const PAGE_SIZE = 4096;

const PAGE_HEADER = 16;
const ELEMENT = 16; // leaf and branch element headers are both 16 bytes
const BUCKET_HEADER = 16;

export const PageFlag = {
  branch: 0x01,
  leaf: 0x02,
  meta: 0x04,
  freelist: 0x10,
} as const;

/** Leaf element flag marking a value that is a nested bucket. */
export const BUCKET_LEAF_FLAG = 0x01;

export const BBOLT_MAGIC = 0xed0cdaed;
export const BBOLT_VERSION = 2;
/** Bytes of the meta structure covered by its checksum. */
export const META_CHECKSUMMED = 56;

const FREELIST_PGID = 2;
const FIRST_DATA_PGID = 3;

/** One key/value of a bucket. */
export interface BboltEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** A top-level bucket and its entries (any order; the writer sorts them). */
export interface BboltBucket {
  readonly name: Uint8Array;
  readonly entries: readonly BboltEntry[];
}

/** The written file as consecutive page runs, and its total size. */
export interface BboltFile {
  readonly pages: readonly Buffer[];
  readonly size: number;
}

interface Item {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly flags: number;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** FNV-1a 64 of `bytes`, as bbolt checksums its meta pages. */
export function fnv1a64(bytes: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

class PageAllocator {
  readonly pages: Buffer[] = [];
  next = FIRST_DATA_PGID;

  /** A zeroed run of pages of at least `bytes`, with its header filled in. */
  alloc(bytes: number, flags: number, count: number): { buf: Buffer; pgid: number } {
    const n = Math.max(1, Math.ceil(bytes / PAGE_SIZE));
    const buf = Buffer.alloc(n * PAGE_SIZE);
    const pgid = this.next;
    this.next += n;
    writePageHeader(buf, pgid, flags, count, n - 1);
    this.pages.push(buf);
    return { buf, pgid };
  }
}

function writePageHeader(
  buf: Buffer,
  pgid: number,
  flags: number,
  count: number,
  overflow: number,
): void {
  buf.writeBigUInt64LE(BigInt(pgid), 0);
  buf.writeUInt16LE(flags, 8);
  buf.writeUInt16LE(count, 10);
  buf.writeUInt32LE(overflow, 12);
}

const leafSize = (it: Item): number => ELEMENT + it.key.length + it.value.length;

/** Serialise leaf elements into `buf` starting at `at` (a page header's start). */
function fillLeaf(buf: Buffer, at: number, items: readonly Item[]): void {
  let data = at + PAGE_HEADER + items.length * ELEMENT;
  items.forEach((it, i) => {
    const el = at + PAGE_HEADER + i * ELEMENT;
    // pos is relative to the element itself, as bbolt reads it.
    buf.writeUInt32LE(it.flags, el);
    buf.writeUInt32LE(data - el, el + 4);
    buf.writeUInt32LE(it.key.length, el + 8);
    buf.writeUInt32LE(it.value.length, el + 12);
    buf.set(it.key, data);
    buf.set(it.value, data + it.key.length);
    data += it.key.length + it.value.length;
  });
}

/** Greedy packing: a page holds elements while they fit; one oversized element overflows. */
function pack<T>(items: readonly T[], size: (t: T) => number): T[][] {
  const groups: T[][] = [];
  let cur: T[] = [];
  let used = PAGE_HEADER;
  for (const it of items) {
    const s = size(it);
    if (cur.length > 0 && used + s > PAGE_SIZE) {
      groups.push(cur);
      cur = [];
      used = PAGE_HEADER;
    }
    cur.push(it);
    used += s;
  }
  if (cur.length > 0 || groups.length === 0) groups.push(cur);
  return groups;
}

/** Write a B+tree of sorted items; returns its root page id. */
function writeTree(alloc: PageAllocator, items: readonly Item[]): number {
  let level: { key: Uint8Array; pgid: number }[] = pack(items, leafSize).map((group) => {
    const bytes = PAGE_HEADER + group.reduce((n, it) => n + leafSize(it), 0);
    const { buf, pgid } = alloc.alloc(bytes, PageFlag.leaf, group.length);
    fillLeaf(buf, 0, group);
    return { key: group[0]?.key ?? new Uint8Array(0), pgid };
  });
  const branchSize = (c: { key: Uint8Array }): number => ELEMENT + c.key.length;
  while (level.length > 1) {
    level = pack(level, branchSize).map((group) => {
      const bytes = PAGE_HEADER + group.reduce((n, c) => n + branchSize(c), 0);
      const { buf, pgid } = alloc.alloc(bytes, PageFlag.branch, group.length);
      let data = PAGE_HEADER + group.length * ELEMENT;
      group.forEach((c, i) => {
        const el = PAGE_HEADER + i * ELEMENT;
        buf.writeUInt32LE(data - el, el);
        buf.writeUInt32LE(c.key.length, el + 4);
        buf.writeBigUInt64LE(BigInt(c.pgid), el + 8);
        buf.set(c.key, data);
        data += c.key.length;
      });
      // A branch key is its child's first key (bbolt's check compares them).
      return { key: group[0]!.key, pgid };
    });
  }
  return level[0]!.pgid;
}

/** The value stored under a bucket's name in its parent: header, plus the page if inline. */
function bucketValue(alloc: PageAllocator, entries: readonly BboltEntry[]): Uint8Array {
  const items: Item[] = entries.map((e) => ({ key: e.key, value: e.value, flags: 0 }));
  // Backend snapshots arrive sorted: one linear check usually spares the sort.
  let sorted = true;
  for (let i = 1; i < items.length && sorted; i++) {
    sorted = compare(items[i - 1]!.key, items[i]!.key) < 0;
  }
  if (!sorted) items.sort((a, b) => compare(a.key, b.key));
  for (let i = 1; i < items.length && !sorted; i++) {
    if (compare(items[i - 1]!.key, items[i]!.key) === 0) throw new Error('bbolt: duplicate key');
  }
  const inlineSize = PAGE_HEADER + items.reduce((n, it) => n + leafSize(it), 0);
  // bbolt inlines a bucket whose single leaf fits in a quarter page.
  if (inlineSize <= PAGE_SIZE / 4) {
    const v = Buffer.alloc(BUCKET_HEADER + inlineSize);
    // root 0 marks the bucket inline; the inline page's own id stays 0.
    writePageHeader(v.subarray(BUCKET_HEADER), 0, PageFlag.leaf, items.length, 0);
    fillLeaf(v, BUCKET_HEADER, items);
    return v;
  }
  const root = writeTree(alloc, items);
  const v = Buffer.alloc(BUCKET_HEADER);
  v.writeBigUInt64LE(BigInt(root), 0);
  return v;
}

function metaPage(pgid: number, root: number, hwm: number, txid: number): Buffer {
  const buf = Buffer.alloc(PAGE_SIZE);
  writePageHeader(buf, pgid, PageFlag.meta, 0, 0);
  const m = PAGE_HEADER;
  buf.writeUInt32LE(BBOLT_MAGIC, m);
  buf.writeUInt32LE(BBOLT_VERSION, m + 4);
  buf.writeUInt32LE(PAGE_SIZE, m + 8);
  buf.writeUInt32LE(0, m + 12); // flags
  buf.writeBigUInt64LE(BigInt(root), m + 16); // root bucket: root page
  buf.writeBigUInt64LE(0n, m + 24); // root bucket: sequence
  buf.writeBigUInt64LE(BigInt(FREELIST_PGID), m + 32);
  buf.writeBigUInt64LE(BigInt(hwm), m + 40);
  buf.writeBigUInt64LE(BigInt(txid), m + 48);
  buf.writeBigUInt64LE(fnv1a64(buf.subarray(m, m + META_CHECKSUMMED)), m + 56);
  return buf;
}

/**
 * Lay out `buckets` as a bbolt database file. Bucket names must be distinct
 * and keys distinct within a bucket. `txid` is the transaction id recorded
 * in the newer meta page (the other carries txid - 1).
 */
export function writeBbolt(buckets: readonly BboltBucket[], txid = 2): BboltFile {
  const alloc = new PageAllocator();
  const sorted = [...buckets].sort((a, b) => compare(a.name, b.name));
  const rootItems: Item[] = sorted.map((b) => ({
    key: b.name,
    value: bucketValue(alloc, b.entries),
    flags: BUCKET_LEAF_FLAG,
  }));
  for (let i = 1; i < rootItems.length; i++) {
    if (compare(rootItems[i - 1]!.key, rootItems[i]!.key) === 0) {
      throw new Error('bbolt: duplicate bucket name');
    }
  }
  const root = writeTree(alloc, rootItems);
  const hwm = alloc.next;
  const freelist = Buffer.alloc(PAGE_SIZE);
  writePageHeader(freelist, FREELIST_PGID, PageFlag.freelist, 0, 0);
  const pages = [
    metaPage(0, root, hwm, Math.max(0, txid - 1)),
    metaPage(1, root, hwm, txid),
    freelist,
    ...alloc.pages,
  ];
  return { pages, size: hwm * PAGE_SIZE };
}
