// Reads what the watch modes need from an encoded etcdserverpb.WatchResponse
// without decoding it: whether it confirms a created watcher, how many events
// it carries, and each event's value (the writer put its send time in the
// first 8 bytes). A full decode copies every key and value into new objects;
// at 100 watchers that made the generator, not the server, the bottleneck.
//
// Field numbers (etcd's rpc.proto and kv.proto): WatchResponse.created = 3,
// .events = 11; Event.kv = 2; KeyValue.value = 5.

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

export interface ScannedWatchResponse {
  readonly created: boolean;
  readonly events: number;
}

/** A varint at `pos`: [value, next position]. Values above 2^53 lose precision (never needed here). */
function varint(b: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (pos >= b.length) throw new RangeError('truncated varint');
    const byte = b[pos++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, pos];
    scale *= 0x80;
  }
}

/** Position after the field whose value starts at `pos`. */
function skip(b: Uint8Array, wire: number, pos: number): number {
  switch (wire) {
    case WIRE_VARINT:
      return varint(b, pos)[1];
    case WIRE_FIXED64:
      return pos + 8;
    case WIRE_BYTES: {
      const [n, start] = varint(b, pos);
      return start + n;
    }
    case WIRE_FIXED32:
      return pos + 4;
    default:
      throw new RangeError(`unsupported wire type ${wire}`);
  }
}

/**
 * The length-delimited field `field` of the message in b[start, end), as
 * [start, end), or undefined. The last occurrence wins, as in a decode.
 */
function bytesField(
  b: Uint8Array,
  start: number,
  end: number,
  field: number,
): [number, number] | undefined {
  let found: [number, number] | undefined;
  let pos = start;
  while (pos < end) {
    const [tag, p] = varint(b, pos);
    const wire = tag & 7;
    if (tag >>> 3 === field && wire === WIRE_BYTES) {
      const [n, s] = varint(b, p);
      found = [s, s + n];
      pos = s + n;
    } else pos = skip(b, wire, p);
  }
  return found;
}

/** Scans one response; calls `onValue` with each event's value (a view into `b`). */
export function scanWatchResponse(
  b: Buffer,
  onValue: (value: Buffer) => void,
): ScannedWatchResponse {
  let created = false;
  let events = 0;
  let pos = 0;
  while (pos < b.length) {
    const [tag, p] = varint(b, pos);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 3 && wire === WIRE_VARINT) {
      const [v, next] = varint(b, p);
      created = v !== 0;
      pos = next;
    } else if (field === 11 && wire === WIRE_BYTES) {
      const [n, s] = varint(b, p);
      const kv = bytesField(b, s, s + n, 2);
      const value = kv === undefined ? undefined : bytesField(b, kv[0], kv[1], 5);
      onValue(value === undefined ? EMPTY : b.subarray(value[0], value[1]));
      events++;
      pos = s + n;
    } else pos = skip(b, wire, p);
  }
  if (pos !== b.length) throw new RangeError('truncated field');
  return { created, events };
}

const EMPTY = Buffer.alloc(0);
