/**
 * Framing of the peer protocol: every frame is a 4-byte big-endian length
 * (of type + payload), a 1-byte type and the payload. One TCP (or TLS)
 * connection carries many frames; a reader may receive them split or merged
 * arbitrarily, so {@link FrameReader} reassembles them.
 */

export const FrameType = {
  /** First frame of every connection: JSON {clusterId, from, to, kind}; kind is stream, snapshot or request. */
  Hello: 1,
  /** One Raft message (the @kv/raft codec). */
  RaftMessage: 2,
  /** A MsgSnap Raft message that is followed by the backend snapshot's chunks. */
  SnapshotMessage: 3,
  SnapshotChunk: 4,
  SnapshotEnd: 5,
  /** The receiver's verdict on a snapshot: payload [1] = applied, [0] = failed. */
  SnapshotAck: 6,
  /** The receiver refuses the connection; payload is a UTF-8 reason. */
  Reject: 7,
  /** A request to the peer's server (for example a lease renewal forwarded to the leader). */
  Request: 8,
  /** The answer to a Request. */
  Response: 9,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export interface Frame {
  readonly type: FrameType;
  readonly payload: Uint8Array;
}

/** Largest frame accepted; bigger ones mean a broken or hostile peer. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export function encodeFrame(type: FrameType, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out.writeUInt32BE(payload.length + 1, 0);
  out[4] = type;
  out.set(payload, 5);
  return out;
}

export class FrameReader {
  #chunks: Buffer[] = [];
  #buffered = 0;

  /** Feeds received bytes; returns the complete frames now available. */
  push(data: Buffer): Frame[] {
    this.#chunks.push(data);
    this.#buffered += data.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.#buffered < 4) break;
      const head = this.#peek(4);
      const length = head.readUInt32BE(0);
      if (length < 1 || length > MAX_FRAME_BYTES) {
        throw new Error(`peer frame of invalid length ${length}`);
      }
      if (this.#buffered < 4 + length) break;
      const whole = this.#take(4 + length);
      frames.push({ type: whole[4] as FrameType, payload: whole.subarray(5) });
    }
    return frames;
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) return first;
    const merged = Buffer.concat(this.#chunks);
    this.#chunks = [merged];
    return merged;
  }

  #take(n: number): Buffer {
    const head = this.#peek(n);
    const out = head.subarray(0, n);
    const rest = head.subarray(n);
    this.#chunks[0] = rest;
    if (rest.length === 0) this.#chunks.shift();
    this.#buffered -= n;
    return out;
  }
}
