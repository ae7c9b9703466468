// Hand-written decoders for RangeRequest and PutRequest, the messages every
// read and every write start with. The generated decoder builds a
// BinaryReader (with a DataView) per message and two empty Buffers before it
// reads a byte; these read the common shape directly. Anything it does not expect — an unknown field, a
// wire type that does not match, a varint wider than it reads, truncated
// input — is handed to the generated decoder, which then defines the result
// or the error exactly as before.
import { PutRequest, RangeRequest } from './gen/etcdserverpb/rpc';

// Shared by every decoded request without that field; zero length, so there
// is nothing in it anyone could change.
const EMPTY = Buffer.alloc(0);

/** Fallback marker: the input is not in the shape read here. */
const UNUSUAL = -1;

/**
 * Reads a message made of length-delimited fields 1 and 2 and varint fields
 * from 3 up, in any order, into `msg` through the two setters; false when the
 * input is not in that shape (the caller then falls back to the generated
 * decoder). Module-level setters, not closures: nothing is allocated per call
 * but the copies of the byte fields.
 */
function scanFields<M>(
  bytes: Uint8Array,
  msg: M,
  setBytes: (msg: M, field: number, copy: Buffer) => void,
  setVarint: (msg: M, field: number, v: number) => number,
  lastVarintTag: number,
): boolean {
  const end = bytes.length;
  let pos = 0;
  while (pos < end) {
    const tag = bytes[pos++]!;
    if (tag === 10 || tag === 18) {
      // Length-delimited: field 1 or 2; lengths below 2^28.
      let len = 0;
      let shift = 0;
      let b: number;
      do {
        if (pos >= end || shift > 21) return false;
        b = bytes[pos++]!;
        len |= (b & 0x7f) << shift;
        shift += 7;
      } while (b & 0x80);
      if (len > end - pos) return false;
      const copy = Buffer.allocUnsafe(len);
      copy.set(bytes.subarray(pos, pos + len));
      pos += len;
      setBytes(msg, tag >>> 3, copy);
      continue;
    }
    if ((tag & 7) !== 0 || tag < 24 || tag > lastVarintTag) return false;
    // Varint fields: values of at most 7 bytes (49 bits) are read here.
    let v = 0;
    let mul = 1;
    let n = 0;
    let b: number;
    do {
      if (pos >= end || n === 7) return false;
      b = bytes[pos++]!;
      v += (b & 0x7f) * mul;
      mul *= 128;
      n++;
    } while (b & 0x80);
    if (setVarint(msg, tag >>> 3, v) === UNUSUAL) return false;
  }
  return true;
}

/**
 * Decodes a RangeRequest to an object equal to `RangeRequest.decode(bytes)`
 * (key and range end are copies, as there).
 */
export function decodeRangeRequest(bytes: Uint8Array): RangeRequest {
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
  // Varint fields 3..13 (tags up to 104).
  return scanFields(bytes, msg, setRangeBytes, setRangeVarint, 104)
    ? msg
    : RangeRequest.decode(bytes);
}

/**
 * Decodes a PutRequest to an object equal to `PutRequest.decode(bytes)` (key
 * and value are copies, as there): every write starts with one.
 */
export function decodePutRequest(bytes: Uint8Array): PutRequest {
  const msg: PutRequest = {
    key: EMPTY,
    value: EMPTY,
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  };
  // Varint fields 3..6 (tags up to 48).
  return scanFields(bytes, msg, setPutBytes, setPutVarint, 48) ? msg : PutRequest.decode(bytes);
}

function setRangeBytes(msg: RangeRequest, field: number, copy: Buffer): void {
  if (field === 1) msg.key = copy;
  else msg.rangeEnd = copy;
}

function setPutBytes(msg: PutRequest, field: number, copy: Buffer): void {
  if (field === 1) msg.key = copy;
  else msg.value = copy;
}

/** Sets PutRequest varint field `field` to the non-negative value `v` (< 2^49); UNUSUAL if it is not one. */
function setPutVarint(msg: PutRequest, field: number, v: number): number {
  switch (field) {
    case 3:
      msg.lease = BigInt(v);
      return 0;
    case 4:
      msg.prevKv = v !== 0;
      return 0;
    case 5:
      msg.ignoreValue = v !== 0;
      return 0;
    case 6:
      msg.ignoreLease = v !== 0;
      return 0;
    default:
      return UNUSUAL;
  }
}

/** Sets RangeRequest varint field `field` to the non-negative value `v` (< 2^49); UNUSUAL if it is not one. */
function setRangeVarint(msg: RangeRequest, field: number, v: number): number {
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
