// CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, table driven with
// slicing-by-8: eight lookups fold eight input bytes per step, which is what
// keeps checksumming off the critical path of a save.

const POLY = 0x82f63b78;

/** Eight 256-entry tables laid out back to back: table k starts at k * 256. */
const TABLE = buildTables();

function buildTables(): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = (c >>> 8) ^ t[c & 0xff]!;
      t[k * 256 + n] = c >>> 0;
    }
  }
  return t;
}

/**
 * Continues a CRC-32C over `buf[start, end)`. `crc` is the checksum of the
 * bytes before (0 for none), so `crc32c(crc32c(0, a), b) === crc32c(0, a ++ b)`.
 */
export function crc32c(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  const t = TABLE;
  let c = ~crc >>> 0;
  let i = start;
  const stop8 = end - 8;
  while (i <= stop8) {
    const lo =
      (c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0;
    const hi = buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24);
    c =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + (hi & 0xff)]! ^
      t[512 + ((hi >>> 8) & 0xff)]! ^
      t[256 + ((hi >>> 16) & 0xff)]! ^
      t[(hi >>> 24) & 0xff]!;
    i += 8;
  }
  while (i < end) {
    c = t[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
    i++;
  }
  return ~c >>> 0;
}

/** Bit-at-a-time reference, used only by tests to check the tables. */
export function crc32cReference(crc: number, buf: Uint8Array): number {
  let c = ~crc >>> 0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  }
  return ~c >>> 0;
}
