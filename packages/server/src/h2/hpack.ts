/**
 * HPACK (RFC 7541) for the client port's own HTTP/2 server: a full decoder
 * for the clients' header blocks (static and dynamic table, Huffman), the
 * per-connection encoder of our responses (`HpackEncoder`: fields every
 * call repeats are indexed in the client's table), and a stateless encoder
 * (`encodeHeaders`, literals only) for tests and one-off blocks.
 */
import { huffmanDecodeLatin1 } from '../h2-authority';
import { STATIC_NAMES } from '../hpack-tables';

export class HpackError extends Error {}

/** RFC 7541 Appendix A: the static table's values (empty where it has none). */
const STATIC_VALUES: Readonly<Record<number, string>> = {
  2: 'GET',
  3: 'POST',
  4: '/',
  5: '/index.html',
  6: 'http',
  7: 'https',
  8: '200',
  9: '204',
  10: '206',
  11: '304',
  12: '400',
  13: '404',
  14: '500',
  16: 'gzip, deflate',
};
const STATIC_COUNT = STATIC_NAMES.length;
const STATIC_VALUE_LIST: readonly string[] = STATIC_NAMES.map((_, i) => STATIC_VALUES[i + 1] ?? '');

const COLON = 0x3a;
const UPPERCASE = /[A-Z]/;

/** Decoded headers: a name sent more than once keeps every value, in order. */
export type HeaderMap = Record<string, string | string[]>;

export const DEFAULT_TABLE_SIZE = 4096;

/** The decoder state of one connection (the client's requests). */
export class HpackDecoder {
  // The dynamic table as a ring would save the shifts; it rarely holds more
  // than a dozen entries, so newest-first arrays are simpler and as fast.
  #names: string[] = [];
  #values: string[] = [];
  #sizes: number[] = [];
  #used = 0;
  #max = DEFAULT_TABLE_SIZE;
  /** The limit our SETTINGS_HEADER_TABLE_SIZE allows the client to set. */
  readonly #limit: number;
  #block: Buffer = Buffer.alloc(0);
  #pos = 0;

  constructor(limit = DEFAULT_TABLE_SIZE) {
    this.#limit = limit;
    this.#max = limit;
  }

  /**
   * Decodes one complete header block into `out`. Throws HpackError on a
   * malformed block (a connection error: the table may be out of step).
   * Returns false if the fields break HTTP/2's rules for field blocks
   * (uppercase names, a pseudo-header field repeated or after a regular
   * one): a malformed message, a stream error for the caller.
   * `maxBytes` bounds the decoded size (names + values + 32 per field).
   */
  decode(block: Buffer, out: HeaderMap, maxBytes: number): boolean {
    this.#block = block;
    this.#pos = 0;
    let size = 0;
    let fields = 0;
    // RFC 9113 8.2-8.3: lowercase names, pseudo-header fields once each and
    // before every regular field. The whole block is still decoded (the
    // table must stay in step); the caller decides what a violation costs.
    let wellFormed = true;
    let regularSeen = false;
    while (this.#pos < block.length) {
      const b = block[this.#pos]!;
      let name: string;
      let value: string;
      if (b & 0x80) {
        const index = this.#int(7);
        if (index === 0) throw new HpackError('index 0');
        if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index - 1]!;
          value = STATIC_VALUE_LIST[index - 1]!;
        } else {
          const i = index - STATIC_COUNT - 1;
          if (i >= this.#names.length) throw new HpackError('index out of range');
          name = this.#names[i]!;
          value = this.#values[i]!;
        }
      } else if ((b & 0xe0) === 0x20) {
        // A table size update is only allowed at the start of a block.
        if (fields > 0) throw new HpackError('table size update after a field');
        const max = this.#int(5);
        if (max > this.#limit) throw new HpackError('table size above the limit');
        this.#max = max;
        this.#evict(0);
        continue;
      } else {
        const indexing = (b & 0xc0) === 0x40;
        const index = this.#int(indexing ? 6 : 4);
        if (index === 0) {
          name = this.#str();
          // Names from the tables are lowercase already; a literal one may not be.
          if (UPPERCASE.test(name)) wellFormed = false;
        } else if (index <= STATIC_COUNT) name = STATIC_NAMES[index - 1]!;
        else {
          const i = index - STATIC_COUNT - 1;
          if (i >= this.#names.length) throw new HpackError('index out of range');
          name = this.#names[i]!;
        }
        value = this.#str();
        if (indexing) this.#add(name, value);
      }
      fields++;
      size += name.length + value.length + 32;
      if (size > maxBytes) throw new HeaderListTooLarge();
      const existing = out[name];
      if (name.charCodeAt(0) === COLON) {
        if (regularSeen || existing !== undefined) wellFormed = false;
      } else regularSeen = true;
      if (existing === undefined) out[name] = value;
      else if (typeof existing === 'string') out[name] = [existing, value];
      else existing.push(value);
    }
    return wellFormed;
  }

  #int(prefixBits: number): number {
    const block = this.#block;
    const mask = (1 << prefixBits) - 1;
    let v = block[this.#pos++]! & mask;
    if (v < mask) return v;
    let m = 0;
    for (;;) {
      if (this.#pos >= block.length) throw new HpackError('truncated integer');
      const b = block[this.#pos++]!;
      v += (b & 0x7f) * 2 ** m;
      m += 7;
      if ((b & 0x80) === 0) return v;
      if (m > 28) throw new HpackError('integer overflow');
    }
  }

  #str(): string {
    const block = this.#block;
    if (this.#pos >= block.length) throw new HpackError('truncated string');
    const coded = (block[this.#pos]! & 0x80) !== 0;
    const len = this.#int(7);
    const end = this.#pos + len;
    if (end > block.length) throw new HpackError('truncated string');
    const raw = block.subarray(this.#pos, end);
    this.#pos = end;
    return coded ? huffmanDecodeLatin1(raw) : raw.toString('latin1');
  }

  #add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.#evict(size);
    if (size > this.#max) return;
    this.#names.unshift(name);
    this.#values.unshift(value);
    this.#sizes.unshift(size);
    this.#used += size;
  }

  #evict(room: number): void {
    while (this.#sizes.length > 0 && this.#used + room > this.#max) {
      this.#used -= this.#sizes.pop()!;
      this.#names.pop();
      this.#values.pop();
    }
  }
}

/** The decoded header list exceeds the limit (the block itself was fine). */
export class HeaderListTooLarge extends HpackError {}

function pushInt(out: number[], value: number, prefixBits: number, first: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(first | value);
    return;
  }
  out.push(first | mask);
  let v = value - mask;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

const STATIC_NAME_INDEX = new Map<string, number>();
for (let i = STATIC_NAMES.length - 1; i >= 0; i--) STATIC_NAME_INDEX.set(STATIC_NAMES[i]!, i + 1);

/**
 * Encodes header fields as literals without indexing (the name by its
 * static index where it has one), `:status: 200` as its static entry.
 * Names must be lower case; values are sent as latin1 octets.
 */
export function encodeHeaders(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    if (name === ':status' && value === '200') {
      out.push(0x88);
      continue;
    }
    const index = STATIC_NAME_INDEX.get(name);
    if (index !== undefined) pushInt(out, index, 4, 0x00);
    else {
      out.push(0x00);
      pushInt(out, name.length, 7, 0x00);
      for (let i = 0; i < name.length; i++) out.push(name.charCodeAt(i) & 0xff);
    }
    pushInt(out, value.length, 7, 0x00);
    for (let i = 0; i < value.length; i++) out.push(value.charCodeAt(i) & 0xff);
  }
  return Buffer.from(out);
}

/** Header fields in wire order (pseudo-headers first), names in lower case. */
export type HeaderFields = ReadonlyArray<readonly [string, string]>;

/** A block {@link HpackEncoder} may hand out again for the same field list. */
interface EncodedBlock {
  fields: HeaderFields | undefined;
  version: number;
  bytes: Buffer;
}

/**
 * The encoder state of one connection (our responses): fields worth
 * remembering (`indexable`) go into the client's dynamic table the first
 * time and are sent as one-byte indexes afterwards, as nghttp2 and grpc-go
 * do; every other field is a literal that leaves the table alone. Blocks
 * must be encoded in the order they go on the wire.
 */
export class HpackEncoder {
  /** Our table size: at most the client's SETTINGS_HEADER_TABLE_SIZE. */
  #max = DEFAULT_TABLE_SIZE;
  /** A size change to announce at the start of the next block. */
  #pendingUpdate: number | undefined;
  /** name → value → sequence number of the entry (the newest has #inserted - 1). */
  readonly #index = new Map<string, Map<string, number>>();
  /** Entries oldest first, for eviction. */
  #entries: { name: string; value: string; size: number }[] = [];
  #inserted = 0;
  #used = 0;
  readonly #indexable: (name: string, value: string) => boolean;
  /** Bumped whenever the table changes (an entry added or evicted). */
  #version = 0;
  /**
   * The two most recent blocks that left the table alone: the same field
   * list encodes to the same bytes until the table changes, and every unary
   * response repeats two such lists (its headers and its trailers).
   */
  readonly #memo: [EncodedBlock, EncodedBlock] = [
    { fields: undefined, version: -1, bytes: Buffer.alloc(0) },
    { fields: undefined, version: -1, bytes: Buffer.alloc(0) },
  ];
  #memoNext = 0;

  constructor(indexable: (name: string, value: string) => boolean) {
    this.#indexable = indexable;
  }

  /** The client's SETTINGS_HEADER_TABLE_SIZE. */
  setLimit(limit: number): void {
    const max = Math.min(limit, DEFAULT_TABLE_SIZE);
    if (max === this.#max) return;
    this.#max = max;
    this.#pendingUpdate = max;
    this.#evict(0);
  }

  /** The block for `fields`. It may be shared with later calls: callers must not modify it. */
  encode(fields: HeaderFields): Buffer {
    const [a, b] = this.#memo;
    const version = this.#version;
    const plain = this.#pendingUpdate === undefined;
    if (plain && a.fields === fields && a.version === version) return a.bytes;
    if (plain && b.fields === fields && b.version === version) return b.bytes;
    const bytes = this.#encode(fields);
    if (plain && this.#version === version) {
      let slot: EncodedBlock;
      if (a.fields === fields) slot = a;
      else if (b.fields === fields) slot = b;
      else {
        slot = this.#memo[this.#memoNext]!;
        this.#memoNext ^= 1;
      }
      slot.fields = fields;
      slot.version = version;
      slot.bytes = bytes;
    }
    return bytes;
  }

  #encode(fields: HeaderFields): Buffer {
    const out: number[] = [];
    if (this.#pendingUpdate !== undefined) {
      pushInt(out, this.#pendingUpdate, 5, 0x20);
      this.#pendingUpdate = undefined;
    }
    for (const [name, value] of fields) {
      if (name === ':status' && value === '200') {
        out.push(0x88);
        continue;
      }
      const seq = this.#index.get(name)?.get(value);
      if (seq !== undefined) {
        pushInt(out, STATIC_COUNT + this.#inserted - seq, 7, 0x80);
        continue;
      }
      const size = name.length + value.length + 32;
      const indexing = size <= this.#max && this.#indexable(name, value);
      const nameIndex = STATIC_NAME_INDEX.get(name);
      if (nameIndex !== undefined) pushInt(out, nameIndex, indexing ? 6 : 4, indexing ? 0x40 : 0);
      else {
        out.push(indexing ? 0x40 : 0x00);
        pushInt(out, name.length, 7, 0x00);
        for (let i = 0; i < name.length; i++) out.push(name.charCodeAt(i) & 0xff);
      }
      pushInt(out, value.length, 7, 0x00);
      for (let i = 0; i < value.length; i++) out.push(value.charCodeAt(i) & 0xff);
      if (indexing) this.#add(name, value, size);
    }
    return Buffer.from(out);
  }

  #add(name: string, value: string, size: number): void {
    this.#evict(size);
    let byValue = this.#index.get(name);
    if (byValue === undefined) {
      byValue = new Map();
      this.#index.set(name, byValue);
    }
    byValue.set(value, this.#inserted++);
    this.#version++;
    this.#entries.push({ name, value, size });
    this.#used += size;
  }

  #evict(room: number): void {
    while (this.#entries.length > 0 && this.#used + room > this.#max) {
      const old = this.#entries.shift()!;
      this.#used -= old.size;
      this.#version++;
      const byValue = this.#index.get(old.name)!;
      // Only if no newer entry with the same field replaced it (it cannot:
      // an indexed field is never inserted twice).
      byValue.delete(old.value);
      if (byValue.size === 0) this.#index.delete(old.name);
    }
  }
}
