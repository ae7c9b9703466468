// Hand-written codec for RangeResponse, the message on every read's hot path.
// It produces exactly the bytes of the generated encoder (same field order,
// defaults omitted) but sizes the whole message first and writes into one
// preallocated Buffer (see fast-wire.ts), and decodes 64-bit varints through
// plain numbers while they fit in 49 bits.
import { makeGenericClientConstructor } from '@grpc/grpc-js';
import { DeleteRangeResponse, KVService } from './gen/etcdserverpb/rpc';
import type {
  KVClient,
  PutResponse,
  RangeResponse,
  ResponseHeader,
  TxnResponse,
} from './gen/etcdserverpb/rpc';
import type { KeyValue } from './gen/mvccpb/kv';
import {
  checkInt64,
  headerSize,
  keyValueSize,
  sizeOf64,
  sizeOfNumber,
  write64,
  writeHeader,
  writeKeyValue,
  writeNumber,
} from './fast-wire';
import { decodePutRequest, decodeRangeRequest } from './request-codec';

/**
 * A KeyValue held as its mvccpb.KeyValue protobuf encoding, as the MVCC store
 * keeps each revision: {@link encodeRangeResponse} copies those bytes as they
 * are instead of decoding and re-encoding them (a large range is mostly
 * these bytes). To any other reader it is an ordinary KeyValue: the fields
 * are decoded on first access; after a field is assigned, the encoder
 * encodes the fields again.
 *
 * The bytes must be a valid KeyValue encoding; the caller vouches for that
 * (they are not checked here, which is the point).
 */
export class EncodedKeyValue implements KeyValue {
  #encoded: Buffer | undefined;
  #kv: KeyValue | undefined;

  constructor(encoded: Uint8Array) {
    this.#encoded = Buffer.isBuffer(encoded)
      ? encoded
      : Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  }

  /** The encoding the encoder copies, or undefined once a field was assigned. */
  get encoded(): Buffer | undefined {
    return this.#encoded;
  }

  #fields(): KeyValue {
    if (this.#kv === undefined) {
      const raw = this.#encoded!;
      this.#kv = decodeKeyValue(new Cursor(raw, 0), raw.length, false);
    }
    return this.#kv;
  }

  #writable(): KeyValue {
    const kv = this.#fields();
    this.#encoded = undefined;
    return kv;
  }

  get key(): Buffer {
    return this.#fields().key;
  }
  set key(v: Buffer) {
    this.#writable().key = v;
  }
  get createRevision(): bigint {
    return this.#fields().createRevision;
  }
  set createRevision(v: bigint) {
    this.#writable().createRevision = v;
  }
  get modRevision(): bigint {
    return this.#fields().modRevision;
  }
  set modRevision(v: bigint) {
    this.#writable().modRevision = v;
  }
  get version(): bigint {
    return this.#fields().version;
  }
  set version(v: bigint) {
    this.#writable().version = v;
  }
  get value(): Buffer {
    return this.#fields().value;
  }
  set value(v: Buffer) {
    this.#writable().value = v;
  }
  get lease(): bigint {
    return this.#fields().lease;
  }
  set lease(v: bigint) {
    this.#writable().lease = v;
  }

  /** The plain fields, so JSON and structural comparisons see a KeyValue. */
  toJSON(): KeyValue {
    return { ...this.#fields() };
  }
}

/**
 * Encodes a RangeResponse to protobuf bytes identical to the generated
 * `RangeResponse.encode(msg).finish()`, in one allocation. Key-values that
 * are {@link EncodedKeyValue}s are copied as they are.
 */
export function encodeRangeResponse(msg: RangeResponse): Buffer {
  const kvs = msg.kvs;
  const kvSizes = new Array<number>(kvs.length);
  let total = 0;
  let hSize = -1;
  if (msg.header !== undefined) {
    hSize = headerSize(msg.header);
    total += 1 + sizeOfNumber(hSize) + hSize;
  }
  for (let i = 0; i < kvs.length; i++) {
    const kv = kvs[i]!;
    const s =
      kv instanceof EncodedKeyValue && kv.encoded !== undefined
        ? kv.encoded.length
        : keyValueSize(kv);
    kvSizes[i] = s;
    total += 1 + sizeOfNumber(s) + s;
  }
  if (msg.more) total += 2;
  if (msg.count !== 0n) {
    checkInt64(msg.count, 'count');
    total += 1 + sizeOf64(msg.count);
  }

  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  if (msg.header !== undefined) {
    buf[pos++] = 0x0a;
    pos = writeNumber(buf, pos, hSize);
    pos = writeHeader(buf, pos, msg.header);
  }
  for (let i = 0; i < kvs.length; i++) {
    const kv = kvs[i]!;
    buf[pos++] = 0x12;
    pos = writeNumber(buf, pos, kvSizes[i]!);
    const encoded = kv instanceof EncodedKeyValue ? kv.encoded : undefined;
    if (encoded !== undefined) {
      encoded.copy(buf, pos);
      pos += encoded.length;
    } else {
      pos = writeKeyValue(buf, pos, kv);
    }
  }
  if (msg.more) {
    buf[pos++] = 0x18;
    buf[pos++] = 0x01;
  }
  if (msg.count !== 0n) {
    buf[pos++] = 0x20;
    pos = write64(buf, pos, msg.count);
  }
  if (pos !== total) throw new Error(`encodeRangeResponse: wrote ${pos} of ${total} bytes`);
  return buf;
}

/** Body size of a PutResponse; throws RangeError on out-of-range values. */
function putResponseSize(msg: PutResponse): number {
  let total = 0;
  if (msg.header !== undefined) {
    const h = headerSize(msg.header);
    total += 1 + sizeOfNumber(h) + h;
  }
  const prev = msg.prevKv;
  if (prev !== undefined) {
    const p =
      prev instanceof EncodedKeyValue && prev.encoded !== undefined
        ? prev.encoded.length
        : keyValueSize(prev);
    total += 1 + sizeOfNumber(p) + p;
  }
  return total;
}

/** Writes a PutResponse body at pos; returns the new position. */
function writePutResponse(buf: Buffer, pos: number, msg: PutResponse): number {
  if (msg.header !== undefined) {
    buf[pos++] = 0x0a;
    pos = writeNumber(buf, pos, headerSize(msg.header));
    pos = writeHeader(buf, pos, msg.header);
  }
  const prev = msg.prevKv;
  if (prev !== undefined) {
    buf[pos++] = 0x12;
    const encoded = prev instanceof EncodedKeyValue ? prev.encoded : undefined;
    if (encoded !== undefined) {
      pos = writeNumber(buf, pos, encoded.length);
      encoded.copy(buf, pos);
      pos += encoded.length;
    } else {
      pos = writeNumber(buf, pos, keyValueSize(prev));
      pos = writeKeyValue(buf, pos, prev);
    }
  }
  return pos;
}

/**
 * Encodes a PutResponse to the bytes of the generated
 * `PutResponse.encode(msg).finish()`, in one allocation: the generic writer
 * allocated a fork per sub-message and varint-encoded the header's 64-bit IDs
 * with bigint arithmetic, on every write's answer.
 */
export function encodePutResponse(msg: PutResponse): Buffer {
  const total = putResponseSize(msg);
  const buf = Buffer.allocUnsafe(total);
  const pos = writePutResponse(buf, 0, msg);
  if (pos !== total) throw new Error(`encodePutResponse: wrote ${pos} of ${total} bytes`);
  return buf;
}

/**
 * Encodes a TxnResponse to the bytes of the generated
 * `TxnResponse.encode(msg).finish()`. Put sub-responses (the common txn) are
 * written in place; range, delete and nested txn sub-responses are encoded
 * on their own (range and txn by the hand-written encoders) and copied.
 */
export function encodeTxnResponse(msg: TxnResponse): Buffer {
  const ops = msg.responses;
  // Per op: the ResponseOp body size, and the inner message size.
  const bodySizes = new Array<number>(ops.length);
  const innerSizes = new Array<number>(ops.length);
  let encodedInner: Map<number, Uint8Array> | undefined;
  let total = 0;
  let hSize = -1;
  if (msg.header !== undefined) {
    hSize = headerSize(msg.header);
    total += 1 + sizeOfNumber(hSize) + hSize;
  }
  if (msg.succeeded) total += 2;
  for (let i = 0; i < ops.length; i++) {
    const r = ops[i]!.response;
    let body = 0;
    if (r !== undefined) {
      let inner: number;
      if (r.$case === 'responsePut') inner = putResponseSize(r.value);
      else {
        const bytes =
          r.$case === 'responseRange'
            ? encodeRangeResponse(r.value)
            : r.$case === 'responseTxn'
              ? encodeTxnResponse(r.value)
              : DeleteRangeResponse.encode(r.value).finish();
        (encodedInner ??= new Map()).set(i, bytes);
        inner = bytes.length;
      }
      innerSizes[i] = inner;
      body = 1 + sizeOfNumber(inner) + inner;
    }
    bodySizes[i] = body;
    total += 1 + sizeOfNumber(body) + body;
  }
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  if (msg.header !== undefined) {
    buf[pos++] = 0x0a;
    pos = writeNumber(buf, pos, hSize);
    pos = writeHeader(buf, pos, msg.header);
  }
  if (msg.succeeded) {
    buf[pos++] = 0x10;
    buf[pos++] = 0x01;
  }
  for (let i = 0; i < ops.length; i++) {
    buf[pos++] = 0x1a;
    pos = writeNumber(buf, pos, bodySizes[i]!);
    const r = ops[i]!.response;
    if (r === undefined) continue;
    buf[pos++] = RESPONSE_OP_TAG[r.$case];
    pos = writeNumber(buf, pos, innerSizes[i]!);
    if (r.$case === 'responsePut') pos = writePutResponse(buf, pos, r.value);
    else {
      const bytes = encodedInner!.get(i)!;
      buf.set(bytes, pos);
      pos += bytes.length;
    }
  }
  if (pos !== total) throw new Error(`encodeTxnResponse: wrote ${pos} of ${total} bytes`);
  return buf;
}

/** Field tags (LEN wire type) of ResponseOp's oneof members. */
const RESPONSE_OP_TAG = {
  responseRange: 0x0a,
  responsePut: 0x12,
  responseDeleteRange: 0x1a,
  responseTxn: 0x22,
} as const;

// ---- decoding ----

class Cursor {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }

  varint32(): number {
    const buf = this.buf;
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= buf.length) throw new RangeError('truncated varint');
      const byte = buf[this.pos++]!;
      if (shift < 28) result |= (byte & 0x7f) << shift;
      else result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new RangeError('varint too long');
    }
  }

  /** Reads a varint as a two's-complement int64 (signed) or uint64. */
  varint64(signed: boolean): bigint {
    const buf = this.buf;
    let pos = this.pos;
    if (pos >= buf.length) throw new RangeError('truncated varint');
    let byte = buf[pos++]!;
    if (byte < 0x80) {
      this.pos = pos;
      return BigInt(byte);
    }
    // Up to 7 bytes (49 bits) stay exact in a double.
    let lo = byte & 0x7f;
    let scale = 0x80;
    for (let i = 1; i < 7; i++) {
      if (pos >= buf.length) throw new RangeError('truncated varint');
      byte = buf[pos++]!;
      lo += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        this.pos = pos;
        return BigInt(lo);
      }
      scale *= 0x80;
    }
    let big = BigInt(lo);
    for (let shift = 49n; shift < 70n; shift += 7n) {
      if (pos >= buf.length) throw new RangeError('truncated varint');
      byte = buf[pos++]!;
      big |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.pos = pos;
        big = BigInt.asUintN(64, big);
        return signed ? BigInt.asIntN(64, big) : big;
      }
    }
    throw new RangeError('varint too long');
  }

  bytes(copy: boolean): Buffer {
    const len = this.varint32();
    const end = this.pos + len;
    if (end > this.buf.length) throw new RangeError('truncated bytes field');
    const out = copy
      ? Buffer.from(this.buf.subarray(this.pos, end))
      : this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  /** Skips the payload of an unknown field with the given tag. */
  skip(tag: number): void {
    if (tag >>> 3 === 0) throw new RangeError('invalid field number 0');
    const wireType = tag & 7;
    switch (wireType) {
      case 0:
        this.varint64(false);
        return;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        // Read the length first: `this.pos += this.varint32()` would add it to
        // the position from before the length prefix.
        const len = this.varint32();
        this.pos += len;
        break;
      }
      case 5:
        this.pos += 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.buf.length) throw new RangeError('truncated field');
  }
}

function decodeHeader(c: Cursor, end: number): ResponseHeader {
  const h: ResponseHeader = { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };
  while (c.pos < end) {
    const tag = c.varint32();
    switch (tag) {
      case 0x08:
        h.clusterId = c.varint64(false);
        break;
      case 0x10:
        h.memberId = c.varint64(false);
        break;
      case 0x18:
        h.revision = c.varint64(true);
        break;
      case 0x20:
        h.raftTerm = c.varint64(false);
        break;
      default:
        c.skip(tag);
    }
  }
  return h;
}

function decodeKeyValue(c: Cursor, end: number, copy: boolean): KeyValue {
  const kv: KeyValue = {
    key: EMPTY,
    createRevision: 0n,
    modRevision: 0n,
    version: 0n,
    value: EMPTY,
    lease: 0n,
  };
  while (c.pos < end) {
    const tag = c.varint32();
    switch (tag) {
      case 0x0a:
        kv.key = c.bytes(copy);
        break;
      case 0x10:
        kv.createRevision = c.varint64(true);
        break;
      case 0x18:
        kv.modRevision = c.varint64(true);
        break;
      case 0x20:
        kv.version = c.varint64(true);
        break;
      case 0x2a:
        kv.value = c.bytes(copy);
        break;
      case 0x30:
        kv.lease = c.varint64(true);
        break;
      default:
        c.skip(tag);
    }
  }
  return kv;
}

const EMPTY = Buffer.alloc(0);

/** Options for {@link decodeRangeResponse}. */
export interface DecodeRangeResponseOptions {
  /**
   * Copy key and value bytes out of the input (default true, like the
   * generated decoder). With false they are views into the input buffer:
   * faster, but they change if the caller reuses that buffer.
   */
  readonly copy?: boolean;
}

/**
 * Decodes RangeResponse bytes to the same object the generated
 * `RangeResponse.decode` returns; unknown fields are skipped.
 */
export function decodeRangeResponse(
  input: Uint8Array,
  options: DecodeRangeResponseOptions = {},
): RangeResponse {
  const copy = options.copy ?? true;
  const buf = Buffer.isBuffer(input)
    ? input
    : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const c = new Cursor(buf, 0);
  const msg: RangeResponse = { header: undefined, kvs: [], more: false, count: 0n };
  while (c.pos < buf.length) {
    const tag = c.varint32();
    switch (tag) {
      case 0x0a: {
        const len = c.varint32();
        const end = c.pos + len;
        if (end > buf.length) throw new RangeError('truncated header');
        // A repeated occurrence of a singular message merges, as the spec says.
        const h = decodeHeader(c, end);
        msg.header = msg.header === undefined ? h : mergeHeader(msg.header, h);
        c.pos = end;
        break;
      }
      case 0x12: {
        const len = c.varint32();
        const end = c.pos + len;
        if (end > buf.length) throw new RangeError('truncated key-value');
        msg.kvs.push(decodeKeyValue(c, end, copy));
        c.pos = end;
        break;
      }
      case 0x18:
        msg.more = c.varint64(false) !== 0n;
        break;
      case 0x20:
        msg.count = c.varint64(true);
        break;
      default:
        c.skip(tag);
    }
  }
  return msg;
}

function mergeHeader(a: ResponseHeader, b: ResponseHeader): ResponseHeader {
  return {
    clusterId: b.clusterId !== 0n ? b.clusterId : a.clusterId,
    memberId: b.memberId !== 0n ? b.memberId : a.memberId,
    revision: b.revision !== 0n ? b.revision : a.revision,
    raftTerm: b.raftTerm !== 0n ? b.raftTerm : a.raftTerm,
  };
}

/**
 * `KVService` with the hand-written codecs on Range requests and responses,
 * on the decoding of Put requests and on the encoding of Put and Txn responses; every other
 * method, and every path, is unchanged. Wire bytes are identical, so either
 * side may use it alone.
 */
export const FastKVService: typeof KVService = {
  ...KVService,
  range: {
    ...KVService.range,
    responseSerialize: encodeRangeResponse,
    requestDeserialize: decodeRangeRequest,
    responseDeserialize: (bytes: Buffer) => decodeRangeResponse(bytes),
  },
  put: {
    ...KVService.put,
    responseSerialize: encodePutResponse,
    requestDeserialize: decodePutRequest,
  },
  txn: { ...KVService.txn, responseSerialize: encodeTxnResponse },
};

/** Client constructor for {@link FastKVService}; same API as `KVClient`. */
export const FastKVClient = makeGenericClientConstructor(
  FastKVService,
  'etcdserverpb.KV',
) as unknown as typeof KVClient;
