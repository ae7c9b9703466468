/**
 * The snapshot stream format "KVSNAP01", shared with @kv/mvcc's
 * MemoryBackend so a snapshot of either restores into the other:
 *
 *   stream  = magic record* trailer
 *   magic   = "KVSNAP01"                                         (8 bytes)
 *   record  = 0x01 varint(len) bucket varint(len) key varint(len) value
 *   trailer = 0xFF crc                                           (crc: u32 big-endian)
 *
 * `bucket` is the bucket name in UTF-8; `varint` is unsigned LEB128 (7 bits
 * per byte, least significant group first, high bit set on all but the last
 * byte). `crc` is the CRC-32C of every byte before the 0xFF. Nothing may
 * follow the trailer. Writers emit buckets in a fixed order and keys in
 * ascending order within a bucket; readers accept any order.
 */

import { BackendError, BackendErrorCode } from './errors';
import { crc32cUpdate } from './crc32c';

const MAGIC = Buffer.from('KVSNAP01', 'latin1');
const TAG_RECORD = 0x01;
const TAG_TRAILER = 0xff;
/** Upper bound on one key or value; a larger length can only be damage. */
const MAX_FIELD = 256 * 1024 * 1024;

/** Builds the stream in chunks of `chunkSize` bytes (the last one shorter). */
export class SnapshotEncoder {
  readonly #chunkSize: number;
  #buf: Buffer;
  #pos = 0;
  #crc = 0;
  readonly #ready: Buffer[] = [];

  constructor(chunkSize: number) {
    this.#chunkSize = chunkSize;
    this.#buf = Buffer.allocUnsafe(chunkSize);
    this.#write(MAGIC);
  }

  /** Add one record; `bucket` is the UTF-8 bucket name (encode it once per bucket). */
  record(bucket: Uint8Array, key: Uint8Array, value: Uint8Array): void {
    this.#byte(TAG_RECORD);
    this.#varint(bucket.length);
    this.#write(bucket);
    this.#varint(key.length);
    this.#write(key);
    this.#varint(value.length);
    this.#write(value);
  }

  /** Chunks completed so far (the caller yields them). */
  take(): Buffer[] {
    return this.#ready.splice(0);
  }

  /** Append the trailer and return the remaining chunks. */
  finish(): Buffer[] {
    const crc = this.#crc32cOfAllSoFar();
    this.#byte(TAG_TRAILER);
    const tail = Buffer.allocUnsafe(4);
    tail.writeUInt32BE(crc, 0);
    this.#write(tail);
    this.#flush();
    return this.take();
  }

  #crc32cOfAllSoFar(): number {
    return crc32cUpdate(this.#crc, this.#buf.subarray(0, this.#pos));
  }

  #byte(b: number): void {
    if (this.#pos === this.#chunkSize) this.#flush();
    this.#buf[this.#pos++] = b;
  }

  #varint(n: number): void {
    while (n >= 0x80) {
      this.#byte((n & 0x7f) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.#byte(n);
  }

  #write(bytes: Uint8Array): void {
    let from = 0;
    while (from < bytes.length) {
      if (this.#pos === this.#chunkSize) this.#flush();
      const n = Math.min(bytes.length - from, this.#chunkSize - this.#pos);
      this.#buf.set(bytes.subarray(from, from + n), this.#pos);
      this.#pos += n;
      from += n;
    }
  }

  #flush(): void {
    if (this.#pos === 0) return;
    const chunk = this.#buf.subarray(0, this.#pos);
    this.#crc = crc32cUpdate(this.#crc, chunk);
    this.#ready.push(chunk);
    this.#buf = Buffer.allocUnsafe(this.#chunkSize);
    this.#pos = 0;
  }
}

/** One decoded record of a snapshot stream. */
export interface SnapshotRecord {
  readonly bucket: string;
  readonly key: Buffer;
  readonly value: Buffer;
}

function corrupt(message: string): BackendError {
  return new BackendError(
    BackendErrorCode.SNAPSHOT_CORRUPT,
    `snapshot stream rejected: ${message}`,
  );
}

/**
 * Decode a stream, verifying structure and checksum. Records are yielded
 * before the checksum can be known: the caller must treat them as
 * provisional until the generator returns normally. Producers must not
 * reuse a chunk's memory after yielding it.
 */
export async function* decodeSnapshot(
  chunks: AsyncIterable<Uint8Array>,
): AsyncGenerator<SnapshotRecord> {
  const source = chunks[Symbol.asyncIterator]();
  let buf: Buffer = Buffer.alloc(0);
  let pos = 0;
  let crc = 0;
  let ended = false;

  // Make n bytes available at buf[pos..]; false if the stream ends first.
  const fill = async (n: number): Promise<boolean> => {
    while (buf.length - pos < n) {
      if (ended) return false;
      const next = await source.next();
      if (next.done === true) {
        ended = true;
        return false;
      }
      const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      buf = pos === buf.length ? chunk : Buffer.concat([buf.subarray(pos), chunk]);
      pos = 0;
    }
    return true;
  };
  // Consume n bytes into the checksum.
  const take = async (n: number, what: string): Promise<Buffer> => {
    if (!(await fill(n))) throw corrupt(`truncated in ${what}`);
    const out = buf.subarray(pos, pos + n);
    pos += n;
    crc = crc32cUpdate(crc, out);
    return out;
  };
  const length = async (what: string): Promise<number> => {
    let n = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      const byte = (await take(1, `${what} length`))[0]!;
      n += (byte & 0x7f) * scale;
      if (n > MAX_FIELD || i > 5) throw corrupt(`${what} length exceeds ${MAX_FIELD}`);
      if (byte < 0x80) return n;
      scale *= 0x80;
    }
  };
  // Copies: the chunk memory is shared with the producer and with concat.
  const field = async (what: string): Promise<Buffer> =>
    Buffer.from(await take(await length(what), what));

  try {
    if (!(await take(MAGIC.length, 'header')).equals(MAGIC)) {
      throw corrupt('bad magic (not a KVSNAP01 snapshot)');
    }
    let bucket: { bytes: Buffer; name: string } | undefined;
    for (;;) {
      if (!(await fill(1))) throw corrupt('truncated before the trailer');
      const tag = buf[pos];
      if (tag === TAG_TRAILER) {
        pos++;
        if (!(await fill(4))) throw corrupt('truncated in checksum');
        const expected = buf.readUInt32BE(pos);
        pos += 4;
        if (expected !== crc)
          throw corrupt(`checksum mismatch (stream ${expected}, computed ${crc})`);
        if (await fill(1)) throw corrupt('data after the trailer');
        return;
      }
      await take(1, 'record tag');
      if (tag !== TAG_RECORD) throw corrupt(`unknown record tag ${tag}`);
      const name = await field('bucket');
      // Consecutive records of one bucket share the decoded name.
      if (bucket === undefined || !bucket.bytes.equals(name))
        bucket = { bytes: name, name: name.toString('utf8') };
      const key = await field('key');
      const value = await field('value');
      yield { bucket: bucket.name, key, value };
    }
  } finally {
    if (!ended) await source.return?.();
  }
}
