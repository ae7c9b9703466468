/** Keys and values: strings are UTF-8 encoded; bytes are used as they are. */
export type Bytes = string | Uint8Array;

const EMPTY = Buffer.alloc(0);

/** To a Buffer without copying when the input already holds bytes. */
export function toBuffer(b: Bytes | undefined): Buffer {
  if (b === undefined) return EMPTY;
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  if (Buffer.isBuffer(b)) return b;
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * The range end selecting every key with this prefix: the prefix with its last
 * byte below 0xff incremented and the rest dropped; "\0" (all keys) when every
 * byte is 0xff or the prefix is empty.
 */
export function prefixEnd(prefix: Buffer): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i]!;
    if (byte < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

/** The range end meaning "every key >= key". */
export const FROM_KEY_END: Buffer = Buffer.from([0]);
