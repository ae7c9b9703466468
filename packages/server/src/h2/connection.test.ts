import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { H2Connection, PREFACE } from './connection';
import type { H2Stream } from './connection';
import { encodeHeaders } from './hpack';

// The HTTP/2 connection driven frame by frame from a raw socket, for what a
// well-behaved client library never sends.

interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;

function frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(id, 5);
  payload.copy(b, 9);
  return b;
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

const REQUEST = encodeHeaders([
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/t/Echo'],
  [':authority', 'localhost'],
  ['content-type', 'application/grpc'],
]);

/** A raw client: sends bytes, collects the server's frames. */
class RawClient {
  readonly frames: Frame[] = [];
  closed = false;
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + len) break;
        this.frames.push({
          type: this.#buf[3]!,
          flags: this.#buf[4]!,
          id: this.#buf.readUInt32BE(5) & 0x7fffffff,
          payload: Buffer.from(this.#buf.subarray(9, 9 + len)),
        });
        this.#buf = this.#buf.subarray(9 + len);
      }
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs));
  }

  /** Resolves with the first frame (from the start) matching, or rejects once closed without it. */
  async waitFor(match: (f: Frame) => boolean): Promise<Frame> {
    for (;;) {
      const f = this.frames.find(match);
      if (f !== undefined) return f;
      if (this.closed) throw new Error('connection closed without the frame');
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  async waitClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A server whose streams the test handles; a connected raw client past the preface. */
async function setup(
  onStream: (s: H2Stream) => void,
  keepalive?: { intervalMs: number; timeoutMs: number },
): Promise<{
  client: RawClient;
  connection: () => H2Connection;
  errors: Error[];
}> {
  let connection: H2Connection | undefined;
  const errors: Error[] = [];
  const server = net.createServer((socket) => {
    connection = new H2Connection(socket, {
      onStream,
      onError: (e) => errors.push(e),
      ...(keepalive !== undefined ? { keepalive } : {}),
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  cleanups.push(() => {
    socket.destroy();
    connection?.destroy();
    server.close();
  });
  const client = new RawClient(socket);
  return {
    client,
    connection: () => {
      if (connection === undefined) throw new Error('not connected yet');
      return connection;
    },
    errors,
  };
}

/** Echoes each request's body back in one DATA frame, with trailers. */
function echo(s: H2Stream): void {
  const parts: Buffer[] = [];
  s.onData = (c) => parts.push(Buffer.from(c));
  s.onEnd = () =>
    s.respondUnary([[':status', '200']], Buffer.concat(parts), [['grpc-status', '0']]);
}

describe('H2Connection', () => {
  it("sends its SETTINGS first, acknowledges the client's, and answers PING with the same payload", async () => {
    const { client } = await setup(echo);
    client.send(PREFACE, frame(SETTINGS, 0, 0), frame(PING, 0, 0, Buffer.from('12345678')));
    const settings = await client.waitFor((f) => f.type === SETTINGS && f.flags === 0);
    expect(client.frames[0]).toBe(settings);
    await client.waitFor((f) => f.type === SETTINGS && f.flags === 1);
    const pong = await client.waitFor((f) => f.type === PING);
    expect(pong.flags).toBe(1);
    expect(pong.payload.toString()).toBe('12345678');
  });

  it('a request whose headers span CONTINUATION frames, with padded HEADERS and DATA', async () => {
    const { client } = await setup(echo);
    const padded = Buffer.concat([Buffer.from([3]), REQUEST.subarray(0, 4), Buffer.alloc(3)]);
    const body = Buffer.from('hello');
    const paddedData = Buffer.concat([Buffer.from([2]), body, Buffer.alloc(2)]);
    client.send(
      PREFACE,
      frame(SETTINGS, 0, 0),
      frame(HEADERS, 0x8, 1, padded),
      frame(CONTINUATION, 0, 1, REQUEST.subarray(4, 10)),
      frame(CONTINUATION, 0x4, 1, REQUEST.subarray(10)),
      frame(DATA, 0x8 | 0x1, 1, paddedData),
    );
    const data = await client.waitFor((f) => f.type === DATA && f.id === 1);
    expect(data.payload.toString()).toBe('hello');
    const trailers = await client.waitFor((f) => f.type === HEADERS && (f.flags & 0x1) === 1);
    expect(trailers.id).toBe(1);
  });

  it("sends no more DATA than the client's windows allow, and resumes on WINDOW_UPDATE", async () => {
    let stream: H2Stream | undefined;
    const { client } = await setup((s) => {
      stream = s;
      s.onEnd = () =>
        s.respondUnary([[':status', '200']], Buffer.alloc(100, 0x61), [['grpc-status', '0']]);
    });
    // INITIAL_WINDOW_SIZE = 30.
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(0x4, 0);
    settings.writeUInt32BE(30, 2);
    client.send(PREFACE, frame(SETTINGS, 0, 0, settings), frame(HEADERS, 0x4 | 0x1, 1, REQUEST));
    await client.waitFor((f) => f.type === DATA);
    await expect.poll(() => stream?.queued).toBe(70);
    const sent = (): number =>
      client.frames.filter((f) => f.type === DATA).reduce((n, f) => n + f.payload.length, 0);
    expect(sent()).toBe(30);
    expect(client.frames.some((f) => f.type === HEADERS && (f.flags & 0x1) === 1)).toBe(false);
    client.send(frame(WINDOW_UPDATE, 0, 1, u32(50)));
    await expect.poll(sent).toBe(80);
    client.send(frame(WINDOW_UPDATE, 0, 1, u32(50)));
    const trailers = await client.waitFor((f) => f.type === HEADERS && (f.flags & 0x1) === 1);
    expect(sent()).toBe(100);
    expect(client.frames.indexOf(trailers)).toBe(client.frames.length - 1);
  });

  it('resets malformed requests with PROTOCOL_ERROR and goes on serving the connection', async () => {
    const base: Array<[string, string]> = [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/t/Echo'],
      [':authority', 'localhost'],
      ['content-type', 'application/grpc'],
    ];
    const malformed: Array<Array<[string, string]>> = [
      // A pseudo-header field after a regular one.
      [...base.slice(0, 2), ['content-type', 'application/grpc'], [':path', '/t/Echo']],
      // Repeated, unknown, or missing pseudo-header fields.
      [...base, [':path', '/t/Other']],
      [...base, [':status', '200']],
      base.filter(([n]) => n !== ':path'),
      base.filter(([n]) => n !== ':method'),
      // An uppercase name; connection-specific fields; te other than trailers.
      [...base, ['X-Upper', 'v']],
      [...base, ['connection', 'keep-alive']],
      [...base, ['te', 'gzip']],
    ];
    let streams = 0;
    const { client, errors } = await setup((s) => {
      streams++;
      echo(s);
    });
    client.send(PREFACE, frame(SETTINGS, 0, 0));
    let id = 1;
    for (const fields of malformed) {
      client.send(frame(HEADERS, 0x5, id, encodeHeaders(fields)));
      const rst = await client.waitFor((f) => f.type === RST_STREAM && f.id === id);
      expect(rst.payload.readUInt32BE(0)).toBe(0x1); // PROTOCOL_ERROR
      id += 2;
    }
    expect(streams).toBe(0);
    // The same connection still serves a well-formed request (te: trailers is fine).
    client.send(
      frame(HEADERS, 0x4, id, encodeHeaders([...base, ['te', 'trailers']])),
      frame(DATA, 0x1, id, Buffer.from('ok')),
    );
    const data = await client.waitFor((f) => f.type === DATA && f.id === id);
    expect(data.payload.toString()).toBe('ok');
    expect(streams).toBe(1);
    expect(errors).toHaveLength(0);
  });

  it('tells the handler when the client resets a stream', async () => {
    let aborted = 0;
    const { client } = await setup((s) => {
      s.onAbort = () => aborted++;
    });
    client.send(PREFACE, frame(SETTINGS, 0, 0), frame(HEADERS, 0x4, 1, REQUEST));
    client.send(frame(RST_STREAM, 0, 1, u32(0x8)));
    await expect.poll(() => aborted).toBe(1);
  });

  it('closes with GOAWAY on a bad preface, an oversized frame, or DATA on an idle stream', async () => {
    for (const bytes of [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.concat([PREFACE, frame(SETTINGS, 0, 0), frame(DATA, 0, 1, Buffer.alloc(16_385))]),
      Buffer.concat([PREFACE, frame(DATA, 0, 5, Buffer.from('x'))]),
    ]) {
      const { client, errors } = await setup(echo);
      client.send(bytes);
      const goaway = await client.waitFor((f) => f.type === GOAWAY);
      expect(goaway.payload.readUInt32BE(4)).not.toBe(0);
      await client.waitClosed();
      expect(errors).toHaveLength(1);
    }
  });

  it('after goAway, refuses new streams and finishes the open ones', async () => {
    const streams: H2Stream[] = [];
    const { client, connection } = await setup((s) => streams.push(s));
    client.send(PREFACE, frame(SETTINGS, 0, 0), frame(HEADERS, 0x4, 1, REQUEST));
    await expect.poll(() => streams.length).toBe(1);
    connection().goAway(false);
    const goaway = await client.waitFor((f) => f.type === GOAWAY);
    expect(goaway.payload.readUInt32BE(0)).toBe(1);
    client.send(frame(HEADERS, 0x4 | 0x1, 3, REQUEST));
    const refused = await client.waitFor((f) => f.type === RST_STREAM && f.id === 3);
    expect(refused.payload.readUInt32BE(0)).toBe(0x7);
    expect(client.closed).toBe(false);
    streams[0]!.respond([[':status', '200']], true);
    await client.waitClosed();
  });

  it('keepalive: PINGs the client, and closes a connection whose client stops answering', async () => {
    const { client } = await setup(echo, { intervalMs: 30, timeoutMs: 60 });
    client.send(PREFACE, frame(SETTINGS, 0, 0));
    const ping = await client.waitFor((f) => f.type === PING && f.flags === 0);
    client.send(frame(PING, 1, 0, ping.payload));
    // Answered: a second PING comes, and the connection stays.
    await expect
      .poll(() => client.frames.filter((f) => f.type === PING && f.flags === 0).length)
      .toBeGreaterThanOrEqual(2);
    expect(client.closed).toBe(false);
    // Not answered: closed.
    await client.waitClosed();
  });

  it('streams whose IDs share a table slot (512 apart) are kept apart', async () => {
    const { client } = await setup(echo);
    client.send(PREFACE, frame(SETTINGS, 0, 0));
    // Streams 1 and 513 (and 1025) are open at once, answered in reverse order.
    for (const id of [1, 513, 1025]) client.send(frame(HEADERS, 0x4, id, REQUEST));
    for (const id of [1025, 513, 1]) {
      client.send(frame(DATA, 0x1, id, Buffer.from(`body-${id}`)));
      const data = await client.waitFor((f) => f.type === DATA && f.id === id);
      expect(data.payload.toString()).toBe(`body-${id}`);
    }
    // All closed: a WINDOW_UPDATE for one is ignored, not an error.
    client.send(frame(WINDOW_UPDATE, 0, 513, u32(10)), frame(PING, 0, 0, Buffer.alloc(8)));
    await client.waitFor((f) => f.type === PING);
    expect(client.frames.some((f) => f.type === GOAWAY)).toBe(false);
  });
});
