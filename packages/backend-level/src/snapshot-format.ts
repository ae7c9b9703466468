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
    // Fast path: fits in the current chunk (no subarray allocation).
    if (bytes.length <= this.#chunkSize - this.#pos) {
      this.#buf.set(bytes, this.#pos);
      this.#pos += bytes.length;
      return;
    }
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

/**
 * One decoded record of a snapshot stream. `key` and `value` are views into
 * the stream's memory, valid until the next array of records is requested.
 */
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
 * Decode a stream, verifying structure and checksum. Yields the records of
 * each arriving chunk as one array (records split across chunks come with the
 * next one). Records are yielded before the checksum can be known: the caller
 * must treat them as provisional until the generator returns normally.
 * Producers must not reuse a chunk's memory until the next chunk is requested.
 */
export async function* decodeSnapshot(
  chunks: AsyncIterable<Uint8Array>,
): AsyncGenerator<SnapshotRecord[]> {
  const source = chunks[Symbol.asyncIterator]();
  let ended = false;
  let buf: Buffer = Buffer.alloc(0);
  let pos = 0;
  // Bytes buf[0..checked) are already in crc.
  let checked = 0;
  let crc = 0;

  // Append the next chunk, keeping the unparsed tail; false at end of stream.
  const more = async (): Promise<boolean> => {
    const next = await source.next();
    if (next.done === true) {
      ended = true;
      return false;
    }
    crc = crc32cUpdate(crc, buf.subarray(checked, pos));
    const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    buf = pos === buf.length ? chunk : Buffer.concat([buf.subarray(pos), chunk]);
    pos = 0;
    checked = 0;
    return true;
  };

  // Synchronous parsing of what is buffered: a varint, or -1 if incomplete.
  const varint = (at: number, what: string): [value: number, next: number] | undefined => {
    let n = 0;
    let scale = 1;
    for (let i = at; i < buf.length; i++) {
      const byte = buf[i]!;
      n += (byte & 0x7f) * scale;
      if (n > MAX_FIELD || i - at > 5) throw corrupt(`${what} length exceeds ${MAX_FIELD}`);
      if (byte < 0x80) return [n, i + 1];
      scale *= 0x80;
    }
    return undefined;
  };
  // A length-prefixed field at `at`: [start, end) of its bytes, or undefined if incomplete.
  const field = (at: number, what: string): [start: number, end: number] | undefined => {
    const length = varint(at, what);
    if (length === undefined || length[1] + length[0] > buf.length) return undefined;
    return [length[1], length[1] + length[0]];
  };

  try {
    while (buf.length < MAGIC.length) {
      if (!(await more())) throw corrupt('truncated in header');
    }
    if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw corrupt('bad magic (not a KVSNAP01 snapshot)');
    }
    pos = MAGIC.length;
    let bucket: { bytes: Buffer; name: string } | undefined;
    for (;;) {
      const records: SnapshotRecord[] = [];
      for (;;) {
        if (pos >= buf.length) break;
        const tag = buf[pos];
        if (tag === TAG_TRAILER) {
          if (buf.length - pos < 5) break;
          crc = crc32cUpdate(crc, buf.subarray(checked, pos));
          const expected = buf.readUInt32BE(pos + 1);
          if (expected !== crc)
            throw corrupt(`checksum mismatch (stream ${expected}, computed ${crc})`);
          if (buf.length > pos + 5) throw corrupt('data after the trailer');
          pos += 5;
          checked = pos;
          if (records.length > 0) yield records;
          while (await more()) if (buf.length > 0) throw corrupt('data after the trailer');
          return;
        }
        if (tag !== TAG_RECORD) throw corrupt(`unknown record tag ${tag}`);
        const name = field(pos + 1, 'bucket');
        const key = name && field(name[1], 'key');
        const value = key && field(key[1], 'value');
        if (name === undefined || key === undefined || value === undefined) break;
        const nameBytes = buf.subarray(name[0], name[1]);
        // Consecutive records of one bucket share the decoded name.
        if (bucket === undefined || !bucket.bytes.equals(nameBytes)) {
          bucket = { bytes: Buffer.from(nameBytes), name: nameBytes.toString('utf8') };
        }
        // Views, not copies: valid until the consumer asks for the next array.
        records.push({
          bucket: bucket.name,
          key: buf.subarray(key[0], key[1]),
          value: buf.subarray(value[0], value[1]),
        });
        pos = value[1];
      }
      if (records.length > 0) yield records;
      if (!(await more())) {
        throw corrupt(
          pos === buf.length ? 'truncated before the trailer' : 'truncated in a record',
        );
      }
    }
  } finally {
    if (!ended) await source.return?.();
  }
}
