/**
 * What the client port's two gRPC paths (the lean unary path in front of
 * grpc-js, and our own HTTP/2 server in h2/) share to answer exactly as
 * grpc-js 1.14 does: its deadline parsing, the headers it keeps out of a
 * handler's metadata, how a handler's error becomes a status, and the
 * reassembly of length-prefixed messages from DATA chunks.
 */
import { Metadata, status } from '@grpc/grpc-js';

/** grpc-js's own grpc-timeout pattern and units (server-interceptors.js). */
export const DEADLINE_REGEX = /(\d{1,8})\s*([HMSmun])/;
export const DEADLINE_UNIT_MS: Readonly<Record<string, number>> = {
  H: 3600000,
  M: 60000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/** Milliseconds of a well-formed grpc-timeout value, as grpc-js computes them; undefined otherwise. */
export function timeoutMs(header: string): number | undefined {
  const match = DEADLINE_REGEX.exec(header);
  if (match === null) return undefined;
  return (Number(match[1]) * DEADLINE_UNIT_MS[match[2]!]!) | 0;
}

/** Headers grpc-js does not pass to handlers as metadata. */
export const NOT_METADATA: ReadonlySet<string> = new Set([
  'grpc-timeout',
  'grpc-encoding',
  'grpc-accept-encoding',
  'accept-encoding',
  'te',
  'content-type',
]);

/** grpc-js's GRPC_NODE_DEBUG_SEND_ERROR_DETAILS: error texts in the status. */
export const SEND_ERROR_DETAILS = process.env['GRPC_NODE_DEBUG_SEND_ERROR_DETAILS'] === 'true';

export interface Status {
  readonly code: number;
  readonly details: string;
  readonly metadata?: Metadata | null | undefined;
}

/** grpc-js's serverErrorToStatus: what a handler's error becomes on the wire. */
export function errorToStatus(err: object, trailer?: Metadata): Status {
  const e = err as { message?: unknown; code?: unknown; details?: unknown; metadata?: unknown };
  let code: number = status.UNKNOWN;
  let details = 'message' in e ? String(e.message) : 'Unknown Error';
  if (typeof e.code === 'number' && Number.isInteger(e.code)) {
    code = e.code;
    if (typeof e.details === 'string') details = e.details;
  }
  const md = trailer ?? (e.metadata instanceof Metadata ? e.metadata : undefined);
  return { code, details, metadata: md };
}

/**
 * Reassembles gRPC's length-prefixed messages (1-byte compressed flag,
 * 4-byte big-endian length) from DATA chunks of any size. Chunks may be
 * views of a connection's reads: each message is copied out.
 */
export class MessageReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #messageLength = -1;
  #compressed = false;

  /** `maxReceive`: the largest message accepted, or -1 for no limit. */
  constructor(private readonly maxReceive: number) {}

  /**
   * Feeds one chunk. `onMessage` gets each complete message and returns
   * false to stop reading (the call is over). Returns the status to send for
   * a message over the limit (grpc-js's wording), else undefined.
   */
  push(
    chunk: Buffer,
    onMessage: (message: Buffer, compressed: boolean) => boolean,
  ): Status | undefined {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#messageLength < 0) {
        const take = Math.min(5 - this.#buffered, chunk.length - offset);
        this.#chunks.push(chunk.subarray(offset, offset + take));
        this.#buffered += take;
        offset += take;
        if (this.#buffered < 5) return undefined;
        const prefix =
          this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, 5);
        const length = prefix.readUInt32BE(1);
        if (this.maxReceive !== -1 && length > this.maxReceive) {
          return {
            code: status.RESOURCE_EXHAUSTED,
            details: `Received message larger than max (${length} vs ${this.maxReceive})`,
          };
        }
        this.#compressed = prefix[0] === 1;
        this.#messageLength = length;
        this.#chunks = [];
        this.#buffered = 0;
      }
      const take = Math.min(this.#messageLength - this.#buffered, chunk.length - offset);
      if (take > 0) {
        this.#chunks.push(chunk.subarray(offset, offset + take));
        this.#buffered += take;
        offset += take;
      }
      if (this.#buffered < this.#messageLength) return undefined;
      const message = Buffer.concat(this.#chunks, this.#messageLength);
      this.#chunks = [];
      this.#buffered = 0;
      this.#messageLength = -1;
      if (!onMessage(message, this.#compressed)) return undefined;
    }
    return undefined;
  }
}
