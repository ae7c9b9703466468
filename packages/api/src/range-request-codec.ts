// Hand-written decoder for RangeRequest, the message every read starts
// with. The generated decoder builds a BinaryReader (with a DataView) per
// message and two empty Buffers before it reads a byte; this one reads the
// common shape directly. Anything it does not expect — an unknown field, a
// wire type that does not match, a varint wider than it reads, truncated
// input — is handed to the generated decoder, which then defines the result
// or the error exactly as before.
import { RangeRequest } from './gen/etcdserverpb/rpc';

// Shared by every decoded request without that field; zero length, so there
// is nothing in it anyone could change.
const EMPTY = Buffer.alloc(0);

/** Fallback marker: the input is not in the shape read here. */
const UNUSUAL = -1;

/**
 * Decodes a RangeRequest to an object equal to `RangeRequest.decode(bytes)`
 * (key and range end are copies, as there).
 */
export function decodeRangeRequest(bytes: Uint8Array): RangeRequest {
  const end = bytes.length;
  const msg: RangeRequest = {
    key: EMPTY,
    rangeEnd: EMPTY,
    limit: 0n,
    revision: 0n,
    sortOrder: 0,
    sortTarget: 0,
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0n,
    maxModRevision: 0n,
    minCreateRevision: 0n,
    maxCreateRevision: 0n,
  };
  let pos = 0;
  while (pos < end) {
    const tag = bytes[pos++]!;
    if (tag === 10 || tag === 18) {
      // Length-delimited: key (1) or range_end (2); lengths below 2^28.
      let len = 0;
      let shift = 0;
      let b: number;
      do {
        if (pos >= end || shift > 21) return RangeRequest.decode(bytes);
        b = bytes[pos++]!;
        len |= (b & 0x7f) << shift;
        shift += 7;
      } while (b & 0x80);
      if (len > end - pos) return RangeRequest.decode(bytes);
      const copy = Buffer.allocUnsafe(len);
      copy.set(bytes.subarray(pos, pos + len));
      pos += len;
      if (tag === 10) msg.key = copy;
      else msg.rangeEnd = copy;
      continue;
    }
    if ((tag & 7) !== 0 || tag < 24 || tag > 104) return RangeRequest.decode(bytes);
    // Varint fields 3..13: values of at most 7 bytes (49 bits) are read here.
    let v = 0;
    let mul = 1;
    let n = 0;
    let b: number;
    do {
      if (pos >= end || n === 7) return RangeRequest.decode(bytes);
      b = bytes[pos++]!;
      v += (b & 0x7f) * mul;
      mul *= 128;
      n++;
    } while (b & 0x80);
    if (setVarintField(msg, tag >>> 3, v) === UNUSUAL) return RangeRequest.decode(bytes);
  }
  return msg;
}

/** Sets varint field `field` to the non-negative value `v` (< 2^49); UNUSUAL if it is not one. */
function setVarintField(msg: RangeRequest, field: number, v: number): number {
  switch (field) {
    case 3:
      msg.limit = BigInt(v);
      return 0;
    case 4:
      msg.revision = BigInt(v);
      return 0;
    case 5:
      // int32: values beyond 31 bits wrap in the generated decoder.
      if (v > 0x7fffffff) return UNUSUAL;
      msg.sortOrder = v as RangeRequest['sortOrder'];
      return 0;
    case 6:
      if (v > 0x7fffffff) return UNUSUAL;
      msg.sortTarget = v as RangeRequest['sortTarget'];
      return 0;
    case 7:
      msg.serializable = v !== 0;
      return 0;
    case 8:
      msg.keysOnly = v !== 0;
      return 0;
    case 9:
      msg.countOnly = v !== 0;
      return 0;
    case 10:
      msg.minModRevision = BigInt(v);
      return 0;
    case 11:
      msg.maxModRevision = BigInt(v);
      return 0;
    case 12:
      msg.minCreateRevision = BigInt(v);
      return 0;
    case 13:
      msg.maxCreateRevision = BigInt(v);
      return 0;
    default:
      return UNUSUAL;
  }
}
