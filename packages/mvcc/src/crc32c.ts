/** CRC-32C (Castagnoli), table driven; the checksum etcd uses for hashes. */

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * Continue a CRC-32C over `data`. Start with `crc32cUpdate(0, first)` and
 * feed the previous result back in for further chunks.
 */
export function crc32cUpdate(crc: number, data: Uint8Array): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) {
    c = (TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  }
  return ~c >>> 0;
}

/** CRC-32C of one buffer. */
export function crc32c(data: Uint8Array): number {
  return crc32cUpdate(0, data);
}
