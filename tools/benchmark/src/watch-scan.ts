// Reads what the watch modes need from an encoded etcdserverpb.WatchResponse
// without decoding it: whether it confirms a created watcher, how many events
// it carries, and each event's value (the writer put its send time in the
// first 8 bytes). A full decode copies every key and value into new objects;
// at 100 watchers that made the generator, not the server, the bottleneck.
//
// Field numbers (etcd's rpc.proto and kv.proto): WatchResponse.created = 3,
// .events = 11; Event.kv = 2; KeyValue.value = 5. Read with the wire reader
// the generated decoders use.

import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

export interface ScannedWatchResponse {
  readonly created: boolean;
  readonly events: number;
}

const EMPTY = Buffer.alloc(0);

/** The last length-delimited field `field` of an encoded message (as a decode keeps), or undefined. */
function lastBytesField(message: Uint8Array, field: number): Uint8Array | undefined {
  const r = new BinaryReader(message);
  let found: Uint8Array | undefined;
  while (r.pos < r.len) {
    const tag = r.uint32();
    const wire = (tag & 7) as WireType;
    if (tag >>> 3 === field && wire === WireType.LengthDelimited) found = r.bytes();
    else r.skip(wire, tag >>> 3);
  }
  return found;
}

/** Scans one response; calls `onValue` with each event's value (a view into `b`). */
export function scanWatchResponse(
  b: Buffer,
  onValue: (value: Buffer) => void,
): ScannedWatchResponse {
  const r = new BinaryReader(b);
  let created = false;
  let events = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = (tag & 7) as WireType;
    if (field === 3 && wire === WireType.Varint) created = r.bool();
    else if (field === 11 && wire === WireType.LengthDelimited) {
      const kv = lastBytesField(r.bytes(), 2);
      const value = kv === undefined ? undefined : lastBytesField(kv, 5);
      onValue(
        value === undefined ? EMPTY : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
      );
      events++;
    } else r.skip(wire, field);
  }
  return { created, events };
}
