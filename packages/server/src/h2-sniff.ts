/**
 * Chooses, per plain-text HTTP/2 connection, between handing the socket to
 * Node's HTTP/2 server directly (native I/O) and through the
 * AuthorityRepairStream (every byte through JavaScript, both ways: it costs
 * a large share of the CPU of a busy stream such as a watch).
 *
 * Only clients that send an `:authority` nghttp2 rejects need the repair, and
 * a client keeps one authority per connection, so the first request decides.
 * Go's gRPC sends no request before the server's SETTINGS frame, so this
 * sends an empty SETTINGS frame first (a server may send several; the
 * client acknowledges each), reads until the client has sent its first
 * header block and acknowledged that SETTINGS frame, and removes that
 * acknowledgement: Node's server never sent the frame, and an unexpected ACK
 * is a protocol error to it. The bytes read are put back for the server.
 */
import type net from 'node:net';
import { HpackMirror } from './h2-authority';

export type H2Path = 'native' | 'repair';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const PREFACE_LENGTH = H2_PREFACE.length;
const FRAME_HEADER = 9;
const TYPE_HEADERS = 0x1;
const TYPE_SETTINGS = 0x4;
const TYPE_CONTINUATION = 0x9;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** An empty SETTINGS frame: length 0, type 4, no flags, stream 0. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, TYPE_SETTINGS, 0, 0, 0, 0, 0]);
/** Bytes read before giving up on sniffing (a first request is far smaller). */
const MAX_SNIFF_BYTES = 1024 * 1024;

export interface SniffOptions {
  /** After the ACK, how long to wait for a first request before choosing 'repair'. */
  readonly idleMs?: number;
}

/**
 * Reads the start of an HTTP/2 connection (preface included) and resolves
 * with the path it needs, once the socket's unread data has been put back.
 * Rejects if the connection closes or misbehaves first (the caller destroys it).
 */
export function sniffH2(socket: net.Socket, options: SniffOptions = {}): Promise<H2Path> {
  const idleMs = options.idleMs ?? 1000;
  return new Promise<H2Path>((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    /** Parse position in buf (frames before it are complete and kept). */
    let pos = PREFACE_LENGTH;
    let ackRemoved = false;
    let block: Buffer[] | undefined;
    let verdict: H2Path | undefined;
    let idle: NodeJS.Timeout | undefined;

    const finish = (path: H2Path): void => {
      cleanup();
      socket.pause();
      if (buf.length > 0) socket.unshift(buf);
      resolve(path);
    };
    const fail = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (buf.length >= PREFACE_LENGTH && !buf.subarray(0, PREFACE_LENGTH).equals(H2_PREFACE)) {
        // Not HTTP/2 after all: let the server answer it as it would.
        finish('repair');
        return;
      }
      try {
        scan();
      } catch (err) {
        fail(err as Error);
        return;
      }
      if (ackRemoved && verdict !== undefined) finish(verdict);
      else if (ackRemoved && idle === undefined) idle = setTimeout(() => finish('repair'), idleMs);
      else if (buf.length > MAX_SNIFF_BYTES) {
        if (ackRemoved) finish('repair');
        else fail(new Error('HTTP/2 client did not acknowledge SETTINGS'));
      }
    };
    const onClose = (): void => fail(new Error('connection closed'));
    const cleanup = (): void => {
      if (idle !== undefined) clearTimeout(idle);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
    };

    /** Walks the complete frames read so far. */
    const scan = (): void => {
      while (buf.length >= pos + FRAME_HEADER) {
        const length = buf.readUIntBE(pos, 3);
        const type = buf[pos + 3]!;
        const flags = buf[pos + 4]!;
        const end = pos + FRAME_HEADER + length;
        if (end > buf.length) return;
        if (type === TYPE_SETTINGS && (flags & FLAG_ACK) !== 0 && !ackRemoved) {
          buf = Buffer.concat([buf.subarray(0, pos), buf.subarray(end)]);
          ackRemoved = true;
          continue;
        }
        if (verdict === undefined && (type === TYPE_HEADERS || type === TYPE_CONTINUATION)) {
          let start = pos + FRAME_HEADER;
          let stop = end;
          if (type === TYPE_HEADERS) {
            block = [];
            if ((flags & FLAG_PADDED) !== 0) {
              stop -= buf[start]!;
              start += 1;
            }
            if ((flags & FLAG_PRIORITY) !== 0) start += 5;
          }
          if (block !== undefined && start <= stop) block.push(buf.subarray(start, stop));
          if ((flags & FLAG_END_HEADERS) !== 0 && block !== undefined) {
            verdict = needsRepair(Buffer.concat(block)) ? 'repair' : 'native';
          }
        }
        pos = end;
      }
    };

    // The caller has seen the first bytes of the preface; they are unread.
    socket.write(EMPTY_SETTINGS);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onClose);
    socket.resume();
  });
}

/** Whether a connection's first header block carries an authority nghttp2 rejects. */
function needsRepair(block: Buffer): boolean {
  try {
    return new HpackMirror().scan(block).length > 0;
  } catch {
    // Malformed: the filter passes it through and nghttp2 reports the error.
    return true;
  }
}
