// Hand-written encoder for WatchResponse, which a server writes once per
// watcher for every batch of events: same bytes as the generated encoder,
// built the same way as the RangeResponse encoder (see fast-wire.ts).
import { WatchService } from './gen/etcdserverpb/rpc';
import type { ResponseHeader, WatchResponse } from './gen/etcdserverpb/rpc';
import type { Event } from './gen/mvccpb/kv';
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

/** Varint size of an int32 enum value; negatives are sign-extended to 10 bytes. */
function enumSize(v: number): number {
  return v < 0 ? 10 : sizeOfNumber(v);
}

function writeEnum(buf: Buffer, pos: number, v: number): number {
  return v < 0 ? write64(buf, pos, BigInt(v)) : writeNumber(buf, pos, v);
}

function checkEnum(v: number): void {
  if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) {
    throw new RangeError(`event.type: ${v} does not fit int32`);
  }
}

/**
 * Encodes a WatchResponse to protobuf bytes identical to the generated
 * `WatchResponse.encode(msg).finish()`, in one allocation.
 */
export function encodeWatchResponse(msg: WatchResponse): Buffer {
  const events = msg.events;
  // Per event: [event size, kv size, prev_kv size]; -1 marks an absent kv.
  const sizes = new Array<number>(events.length * 3);
  let total = 0;
  let hSize = -1;
  if (msg.header !== undefined) {
    hSize = headerSize(msg.header);
    total += 1 + sizeOfNumber(hSize) + hSize;
  }
  if (msg.watchId !== 0n) {
    checkInt64(msg.watchId, 'watch_id');
    total += 1 + sizeOf64(msg.watchId);
  }
  if (msg.created) total += 2;
  if (msg.canceled) total += 2;
  if (msg.compactRevision !== 0n) {
    checkInt64(msg.compactRevision, 'compact_revision');
    total += 1 + sizeOf64(msg.compactRevision);
  }
  const reasonLength = msg.cancelReason === '' ? 0 : Buffer.byteLength(msg.cancelReason);
  if (reasonLength !== 0) total += 1 + sizeOfNumber(reasonLength) + reasonLength;
  if (msg.fragment) total += 2;
  for (let i = 0; i < events.length; i++) {
    const ev: Event = events[i]!;
    let size = 0;
    if (ev.type !== 0) {
      checkEnum(ev.type);
      size += 1 + enumSize(ev.type);
    }
    let kv = -1;
    if (ev.kv !== undefined) {
      kv = keyValueSize(ev.kv);
      size += 1 + sizeOfNumber(kv) + kv;
    }
    let prev = -1;
    if (ev.prevKv !== undefined) {
      prev = keyValueSize(ev.prevKv);
      size += 1 + sizeOfNumber(prev) + prev;
    }
    sizes[i * 3] = size;
    sizes[i * 3 + 1] = kv;
    sizes[i * 3 + 2] = prev;
    total += 1 + sizeOfNumber(size) + size;
  }

  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  if (msg.header !== undefined) {
    buf[pos++] = 0x0a;
    pos = writeNumber(buf, pos, hSize);
    pos = writeHeader(buf, pos, msg.header);
  }
  if (msg.watchId !== 0n) {
    buf[pos++] = 0x10;
    pos = write64(buf, pos, msg.watchId);
  }
  if (msg.created) {
    buf[pos++] = 0x18;
    buf[pos++] = 0x01;
  }
  if (msg.canceled) {
    buf[pos++] = 0x20;
    buf[pos++] = 0x01;
  }
  if (msg.compactRevision !== 0n) {
    buf[pos++] = 0x28;
    pos = write64(buf, pos, msg.compactRevision);
  }
  if (reasonLength !== 0) {
    buf[pos++] = 0x32;
    pos = writeNumber(buf, pos, reasonLength);
    pos += buf.write(msg.cancelReason, pos, 'utf8');
  }
  if (msg.fragment) {
    buf[pos++] = 0x38;
    buf[pos++] = 0x01;
  }
  for (let i = 0; i < events.length; i++) {
    const ev = events[i]!;
    buf[pos++] = 0x5a;
    pos = writeNumber(buf, pos, sizes[i * 3]!);
    if (ev.type !== 0) {
      buf[pos++] = 0x08;
      pos = writeEnum(buf, pos, ev.type);
    }
    if (ev.kv !== undefined) {
      buf[pos++] = 0x12;
      pos = writeNumber(buf, pos, sizes[i * 3 + 1]!);
      pos = writeKeyValue(buf, pos, ev.kv);
    }
    if (ev.prevKv !== undefined) {
      buf[pos++] = 0x1a;
      pos = writeNumber(buf, pos, sizes[i * 3 + 2]!);
      pos = writeKeyValue(buf, pos, ev.prevKv);
    }
  }
  if (pos !== total) throw new Error(`encodeWatchResponse: wrote ${pos} of ${total} bytes`);
  return buf;
}

/**
 * The protobuf encoding of one mvccpb.Event (no tag, no length): a watch
 * server encodes an event once and copies the bytes into the response of
 * every watcher that receives it ({@link encodeWatchResponseFrames}).
 */
export function encodeEvent(ev: Event): Buffer {
  let size = 0;
  if (ev.type !== 0) {
    checkEnum(ev.type);
    size += 1 + enumSize(ev.type);
  }
  let kv = -1;
  if (ev.kv !== undefined) {
    kv = keyValueSize(ev.kv);
    size += 1 + sizeOfNumber(kv) + kv;
  }
  let prev = -1;
  if (ev.prevKv !== undefined) {
    prev = keyValueSize(ev.prevKv);
    size += 1 + sizeOfNumber(prev) + prev;
  }
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  if (ev.type !== 0) {
    buf[pos++] = 0x08;
    pos = writeEnum(buf, pos, ev.type);
  }
  if (ev.kv !== undefined) {
    buf[pos++] = 0x12;
    pos = writeNumber(buf, pos, kv);
    pos = writeKeyValue(buf, pos, ev.kv);
  }
  if (ev.prevKv !== undefined) {
    buf[pos++] = 0x1a;
    pos = writeNumber(buf, pos, prev);
    pos = writeKeyValue(buf, pos, ev.prevKv);
  }
  if (pos !== size) throw new Error(`encodeEvent: wrote ${pos} of ${size} bytes`);
  return buf;
}

/**
 * The protobuf encoding of a ResponseHeader (no tag, no length), shared by
 * the responses of one revision ({@link encodeWatchResponseFrames}).
 */
export function encodeResponseHeader(h: ResponseHeader): Buffer {
  const size = headerSize(h);
  const buf = Buffer.allocUnsafe(size);
  const pos = writeHeader(buf, 0, h);
  if (pos !== size) throw new Error(`encodeResponseHeader: wrote ${pos} of ${size} bytes`);
  return buf;
}

/**
 * A WatchResponse whose header and events are already encoded (by
 * {@link encodeResponseHeader} and {@link encodeEvent}); the other fields as
 * in WatchResponse.
 */
export interface PreEncodedWatchResponse {
  /** The encoded ResponseHeader, or undefined for no header. */
  readonly header: Uint8Array | undefined;
  readonly watchId: bigint;
  readonly created: boolean;
  readonly canceled: boolean;
  readonly compactRevision: bigint;
  readonly cancelReason: string;
  readonly fragment: boolean;
  /** Each event's encoded mvccpb.Event, in order. */
  readonly events: readonly Uint8Array[];
}

/** Size of a pre-encoded response's protobuf encoding. */
function preEncodedSize(msg: PreEncodedWatchResponse): number {
  let total = 0;
  if (msg.header !== undefined) {
    total += 1 + sizeOfNumber(msg.header.length) + msg.header.length;
  }
  if (msg.watchId !== 0n) {
    checkInt64(msg.watchId, 'watch_id');
    total += 1 + sizeOf64(msg.watchId);
  }
  if (msg.created) total += 2;
  if (msg.canceled) total += 2;
  if (msg.compactRevision !== 0n) {
    checkInt64(msg.compactRevision, 'compact_revision');
    total += 1 + sizeOf64(msg.compactRevision);
  }
  if (msg.cancelReason !== '') {
    const n = Buffer.byteLength(msg.cancelReason);
    total += 1 + sizeOfNumber(n) + n;
  }
  if (msg.fragment) total += 2;
  const events = msg.events;
  for (let i = 0; i < events.length; i++) {
    const n = events[i]!.length;
    total += 1 + sizeOfNumber(n) + n;
  }
  return total;
}

/** gRPC's length prefix: a compression flag byte (0: none) and the length, big-endian. */
const FRAME_PREFIX = 5;

/**
 * Encodes responses as consecutive gRPC messages (each a 5-byte length
 * prefix and the WatchResponse's protobuf bytes, the same bytes as the
 * generated encoder) into one Buffer: a server streaming several responses
 * at once writes them to the HTTP/2 stream in one write. Throws RangeError
 * on out-of-range values (nothing is returned then).
 */
export function encodeWatchResponseFrames(msgs: readonly PreEncodedWatchResponse[]): Buffer {
  const sizes = new Array<number>(msgs.length);
  let total = 0;
  for (let i = 0; i < msgs.length; i++) {
    const size = preEncodedSize(msgs[i]!);
    if (size > 0xffffffff) throw new RangeError(`watch response of ${size} bytes is too large`);
    sizes[i] = size;
    total += FRAME_PREFIX + size;
  }
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < msgs.length; i++) {
    const msg = msgs[i]!;
    const start = pos + FRAME_PREFIX;
    buf[pos] = 0;
    buf.writeUInt32BE(sizes[i]!, pos + 1);
    pos = start;
    if (msg.header !== undefined) {
      buf[pos++] = 0x0a;
      pos = writeNumber(buf, pos, msg.header.length);
      buf.set(msg.header, pos);
      pos += msg.header.length;
    }
    if (msg.watchId !== 0n) {
      buf[pos++] = 0x10;
      pos = write64(buf, pos, msg.watchId);
    }
    if (msg.created) {
      buf[pos++] = 0x18;
      buf[pos++] = 0x01;
    }
    if (msg.canceled) {
      buf[pos++] = 0x20;
      buf[pos++] = 0x01;
    }
    if (msg.compactRevision !== 0n) {
      buf[pos++] = 0x28;
      pos = write64(buf, pos, msg.compactRevision);
    }
    if (msg.cancelReason !== '') {
      buf[pos++] = 0x32;
      pos = writeNumber(buf, pos, Buffer.byteLength(msg.cancelReason));
      pos += buf.write(msg.cancelReason, pos, 'utf8');
    }
    if (msg.fragment) {
      buf[pos++] = 0x38;
      buf[pos++] = 0x01;
    }
    const events = msg.events;
    for (let j = 0; j < events.length; j++) {
      const ev = events[j]!;
      buf[pos++] = 0x5a;
      pos = writeNumber(buf, pos, ev.length);
      buf.set(ev, pos);
      pos += ev.length;
    }
    if (pos !== start + sizes[i]!) {
      throw new Error(`encodeWatchResponseFrames: wrote ${pos - start} of ${sizes[i]} bytes`);
    }
  }
  return buf;
}

/**
 * `WatchService` with the hand-written encoder on the server's responses;
 * paths and everything else unchanged, wire bytes identical.
 */
export const FastWatchService: typeof WatchService = {
  ...WatchService,
  watch: { ...WatchService.watch, responseSerialize: encodeWatchResponse },
};
