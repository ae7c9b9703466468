// Hand-written encoder for WatchResponse, which a server writes once per
// watcher for every batch of events: same bytes as the generated encoder,
// built the same way as the RangeResponse encoder (see fast-wire.ts).
import { WatchService } from './gen/etcdserverpb/rpc';
import type { WatchResponse } from './gen/etcdserverpb/rpc';
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
 * `WatchService` with the hand-written encoder on the server's responses;
 * paths and everything else unchanged, wire bytes identical.
 */
export const FastWatchService: typeof WatchService = {
  ...WatchService,
  watch: { ...WatchService.watch, responseSerialize: encodeWatchResponse },
};
