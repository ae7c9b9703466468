import { createHash } from 'node:crypto';
import http from 'node:http';
import type http2 from 'node:http2';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Metadata,
  Server as GrpcServer,
  credentials,
  makeGenericClientConstructor,
  status,
} from '@grpc/grpc-js';
import type {
  ServerDuplexStream,
  ServerWritableStream,
  ServiceError,
  ServiceDefinition,
} from '@grpc/grpc-js';
import { echoHandler, pattern } from '../../test/echo-handler';
import { grpcFrame as frame, rawGrpcCall } from '../../test/raw-grpc';
import type { RawAnswer as Answer } from '../../test/raw-grpc';
import { listenClient } from '../client-listener';
import type { ClientListener } from '../client-listener';
import { GrpcH2Server } from './grpc-server';

// The own HTTP/2 gRPC server must answer exactly as grpc-js on node:http2
// does: every scenario runs against both, and the answers are compared.

const UNARY = '/test.Echo/Call';
const LIST = '/test.Echo/List';
const CHAT = '/test.Echo/Chat';
const MAX_RECEIVE = 4096;
const identity = (b: Buffer): Buffer => b;
const serialize = (v: Buffer): Buffer => {
  if (!Buffer.isBuffer(v)) throw new Error('not a buffer');
  return v;
};

const definition: ServiceDefinition = {
  call: {
    path: UNARY,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: serialize,
    responseDeserialize: identity,
  },
  list: {
    path: LIST,
    requestStream: false,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: serialize,
    responseDeserialize: identity,
  },
  chat: {
    path: CHAT,
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: serialize,
    responseDeserialize: identity,
  },
};

/** Handlers left hanging (deadline tests); answered after each test. */
const hanging: (() => void)[] = [];
/** What the streaming handlers saw, per server kind. */
const seen: string[] = [];

const unary = echoHandler({ hanging, onCancelled: () => seen.push('unary cancelled') });

/**
 * Server streaming: "n:K" sends K messages of 1 KiB then OK, "n:K:S" K
 * patterned messages of S, S+1, ... bytes; "fail" errors after one.
 */
function list(call: ServerWritableStream<Buffer, Buffer>): void {
  const cmd = call.request.toString();
  call.on('cancelled', () => seen.push('list cancelled'));
  if (cmd === 'fail') {
    call.write(Buffer.from('first'));
    call.emit('error', { code: status.NOT_FOUND, details: 'etcdserver: gone' });
    return;
  }
  if (cmd === 'hang') {
    call.write(Buffer.from('first'));
    return;
  }
  const n = Number(cmd.split(':')[1] ?? '0');
  const size = Number(cmd.split(':')[2] ?? '0');
  let i = 0;
  const pump = (): void => {
    while (i < n) {
      const ok = call.write(size > 0 ? pattern(size + i) : Buffer.alloc(1024, 0x30 + (i % 10)));
      i++;
      if (!ok) {
        call.once('drain', pump);
        return;
      }
    }
    const t = new Metadata();
    t.set('x-count', String(n));
    call.end(t);
  };
  pump();
}

/** Bidirectional: echoes each message upper-cased; "end" ends OK; "err" fails. */
function chat(call: ServerDuplexStream<Buffer, Buffer>): void {
  call.on('cancelled', () => seen.push('chat cancelled'));
  call.on('data', (m: Buffer) => {
    const s = m.toString();
    if (s === 'err') {
      call.emit('error', { code: status.ABORTED, details: 'etcdserver: aborted' });
      return;
    }
    if (s === 'end') {
      call.end();
      return;
    }
    call.write(Buffer.from(s.toUpperCase()));
  });
  call.on('end', () => seen.push('chat half-closed'));
}

const implementation = { call: unary, list, chat };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const h of hanging.splice(0)) h();
  seen.length = 0;
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** grpc-js on node:http2 and our own server, same services, each behind a client listener. */
async function start(): Promise<{ own: ClientListener; node: ClientListener }> {
  const httpServer = http.createServer();
  const grpc = new GrpcServer({ 'grpc.max_receive_message_length': MAX_RECEIVE });
  grpc.addService(definition, implementation);
  const ownServer = new GrpcH2Server({
    maxReceiveMessageLength: MAX_RECEIVE,
    maxSendMessageLength: -1,
  });
  ownServer.addService(definition, implementation);
  const own = await listenClient({
    url: 'http://127.0.0.1:0',
    grpc: { own: ownServer },
    http: httpServer,
  });
  const node = await listenClient({
    url: 'http://127.0.0.1:0',
    grpc: { node: grpc },
    http: httpServer,
  });
  cleanups.push(async () => {
    await ownServer.shutdown(100);
    await own.close();
    await node.close();
    grpc.forceShutdown();
  });
  return { own, node };
}

/** Sends the same request to both servers; the answers must be identical. */
async function same(
  headers: http2.OutgoingHttpHeaders,
  pieces: readonly Buffer[],
  settings: http2.Settings = {},
): Promise<Answer> {
  const { own, node } = await start();
  const a = await rawGrpcCall(own.port, UNARY, headers, pieces, settings);
  const b = await rawGrpcCall(node.port, UNARY, headers, pieces, settings);
  expect(a).toEqual(b);
  return a;
}

describe('own HTTP/2 gRPC server: unary calls answer exactly as grpc-js', () => {
  it('an answered call: headers, one message, trailers; metadata as grpc-js passes it', async () => {
    const a = await same(
      {
        token: 'abc',
        hasleader: 'true',
        'x-bin': Buffer.from([1, 2, 255]).toString('base64'),
        'grpc-accept-encoding': 'identity,gzip',
        'user-agent': 'grpc-go/1.26.0',
      },
      [frame(Buffer.from('ok'))],
    );
    expect(a.headers[':status']).toBe(200);
    expect(a.headers['content-type']).toBe('application/grpc+proto');
    expect(a.trailers).toEqual({ 'grpc-status': '0', 'grpc-message': 'OK' });
    const echo = JSON.parse(Buffer.from(a.body, 'hex').subarray(5).toString()) as {
      metadata: Record<string, string>;
      peer: boolean;
      host: boolean;
    };
    expect(echo.metadata).toMatchObject({ token: 'abc', hasleader: 'true', 'x-bin': 'bin:0102ff' });
    expect(echo.metadata['grpc-accept-encoding']).toBeUndefined();
    expect(echo.peer).toBe(true);
    expect(echo.host).toBe(true);
  });

  it('a message split over several DATA frames, prefix included; an empty message', async () => {
    const f = frame(Buffer.from(`ok${'x'.repeat(3000)}`));
    await same({}, [f.subarray(0, 2), f.subarray(2, 7), f.subarray(7, 1000), f.subarray(1000)]);
    await same({}, [frame(Buffer.alloc(0))]);
  });

  it('a large response (its body sent apart from its prefix) arrives byte for byte, also through a small window', async () => {
    for (const size of [16 * 1024, 16 * 1024 + 1, 300_000]) {
      const a = await same({}, [frame(Buffer.from(`big:${size}`))]);
      const body = Buffer.from(a.body, 'hex');
      expect(body.readUInt32BE(1)).toBe(size);
      expect(body.subarray(5).equals(pattern(size))).toBe(true);
      expect(a.trailers['grpc-status']).toBe('0');
    }
    const slow = await same({}, [frame(Buffer.from('big:70000'))], { initialWindowSize: 1000 });
    expect(Buffer.from(slow.body, 'hex').subarray(5).equals(pattern(70_000))).toBe(true);
  });

  it('response metadata sent early, and trailing metadata', async () => {
    const early = await same({}, [frame(Buffer.from('headers'))]);
    expect(early.headers['x-early']).toBe('yes');
    const late = await same({}, [frame(Buffer.from('trailer'))]);
    expect(late.trailers['x-trailer']).toBe('yes');
  });

  it('errors: handler error with metadata, a throw, a bad response, missing or extra messages', async () => {
    const err = await same({}, [frame(Buffer.from('err'))]);
    expect(err.headers['grpc-status']).toBe(String(status.FAILED_PRECONDITION));
    expect(err.headers['x-err']).toBe('detail');
    expect((await same({}, [frame(Buffer.from('throw'))])).headers['grpc-status']).toBe(
      String(status.UNKNOWN),
    );
    expect((await same({}, [frame(Buffer.from('bad'))])).headers['grpc-status']).toBe(
      String(status.INTERNAL),
    );
    expect((await same({}, [])).headers['grpc-status']).toBe(String(status.UNIMPLEMENTED));
    const two = await same({}, [frame(Buffer.from('ok')), frame(Buffer.from('ok'))]);
    expect(two.headers['grpc-status']).toBe(String(status.UNIMPLEMENTED));
  });

  it('a message larger than the receive limit: ResourceExhausted with grpc-js wording', async () => {
    const a = await same({}, [frame(Buffer.alloc(MAX_RECEIVE + 1, 0x61))]);
    expect(a.headers['grpc-status']).toBe(String(status.RESOURCE_EXHAUSTED));
    expect(a.headers['grpc-message']).toBe(
      encodeURI(`Received message larger than max (${MAX_RECEIVE + 1} vs ${MAX_RECEIVE})`),
    );
  });

  it('deadlines: the handler sees one; an unanswered call ends DeadlineExceeded and is cancelled', async () => {
    const ok = await same({ 'grpc-timeout': '20S' }, [frame(Buffer.from('ok'))]);
    expect(JSON.parse(Buffer.from(ok.body, 'hex').subarray(5).toString())).toMatchObject({
      finiteDeadline: true,
    });
    const late = await same({ 'grpc-timeout': '50m' }, [frame(Buffer.from('hang'))]);
    expect(late.headers['grpc-status']).toBe(String(status.DEADLINE_EXCEEDED));
    expect(late.headers['grpc-message']).toBe('Deadline%20exceeded');
    expect(seen).toEqual(['unary cancelled', 'unary cancelled']);
  });

  it('compression, bad timeouts, other content types, unknown methods', async () => {
    const gz = await same({ 'grpc-encoding': 'gzip' }, [
      frame(zlib.gzipSync(Buffer.from('ok')), true),
    ]);
    expect(gz.trailers['grpc-status']).toBe('0');
    const deflate = await same({ 'grpc-encoding': 'deflate' }, [
      frame(zlib.deflateSync(Buffer.from('ok')), true),
    ]);
    expect(deflate.trailers['grpc-status']).toBe('0');
    const broken = await same({ 'grpc-encoding': 'gzip' }, [frame(Buffer.from('not gzip'), true)]);
    expect(broken.headers['grpc-status']).toBe(String(status.INTERNAL));
    const unsupported = await same({ 'grpc-encoding': 'snappy' }, [frame(Buffer.from('ok'), true)]);
    expect(unsupported.headers['grpc-status']).toBe(String(status.UNIMPLEMENTED));
    const badTimeout = await same({ 'grpc-timeout': 'soon' }, [frame(Buffer.from('ok'))]);
    expect(badTimeout.headers['grpc-status']).toBe(String(status.INTERNAL));
    const json = await same({ 'content-type': 'application/json' }, [Buffer.from('{}')]);
    expect(json.headers[':status']).toBe(415);
    const unknown = await same({ ':path': '/test.Echo/Nope' }, [frame(Buffer.from('ok'))]);
    expect(unknown.headers['grpc-status']).toBe(String(status.UNIMPLEMENTED));
  });

  it('a response larger than the client window arrives whole through flow control', async () => {
    // The echo of a 3,000-byte request is small; ask for a window of 100 bytes.
    const a = await same({}, [frame(Buffer.from(`ok${'y'.repeat(3000)}`))], {
      initialWindowSize: 100,
    });
    expect(a.trailers['grpc-status']).toBe('0');
  });
});

type Client = Record<string, (...args: unknown[]) => unknown> & { close(): void };

function clientFor(listener: ClientListener): Client {
  const Ctor = makeGenericClientConstructor(definition, 'Echo');
  const client = new Ctor(
    `127.0.0.1:${listener.port}`,
    credentials.createInsecure(),
  ) as unknown as Client;
  cleanups.push(() => client.close());
  return client;
}

interface StreamResult {
  messages: string[];
  code: number;
  details: string;
  trailer: Record<string, unknown>;
}

function collect(stream: NodeJS.EventEmitter): Promise<StreamResult> {
  return new Promise((resolve) => {
    const messages: string[] = [];
    let trailer: Record<string, unknown> = {};
    stream.on('data', (m: Buffer) =>
      messages.push(
        m.length > 16 ? `${m.length}B ${createHash('sha1').update(m).digest('hex')}` : m.toString(),
      ),
    );
    stream.on('status', (s: { metadata: Metadata }) => (trailer = s.metadata.getMap()));
    stream.on('error', (e: ServiceError) =>
      resolve({ messages, code: e.code, details: e.details, trailer }),
    );
    stream.on('end', () =>
      setImmediate(() => resolve({ messages, code: 0, details: '', trailer })),
    );
  });
}

function invoke(
  client: Client,
  req: string,
): Promise<{ value?: string; code?: number; details?: string; trailer?: unknown }> {
  return new Promise((resolve) => {
    let trailer: unknown;
    const call = client['call']!(
      Buffer.from(req),
      new Metadata(),
      (err: ServiceError | null, res?: Buffer) =>
        resolve(
          err
            ? { code: err.code, details: err.details }
            : { value: JSON.parse(res!.toString()).request as string, trailer },
        ),
    ) as NodeJS.EventEmitter;
    call.on('status', (s: { metadata: Metadata }) => (trailer = s.metadata.getMap()));
  });
}

describe('own HTTP/2 gRPC server with a grpc-js client', () => {
  it('many calls on one connection (response headers indexed after the first) answer as grpc-js', async () => {
    const { own, node } = await start();
    const answers: unknown[][] = [];
    for (const l of [own, node]) {
      const c = clientFor(l);
      const got: unknown[] = [];
      for (let i = 0; i < 60; i++) {
        const req = ['ok', 'err', 'trailer', 'headers', 'throw'][i % 5]!;
        got.push(await invoke(c, req));
      }
      // And concurrently.
      got.push(
        ...(await Promise.all(
          Array.from({ length: 40 }, (_, i) => invoke(c, i % 2 ? 'ok' : 'err')),
        )),
      );
      answers.push(got);
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]![1]).toMatchObject({
      code: status.FAILED_PRECONDITION,
      details: 'etcdserver: boom, 100% (ü)',
    });
  });
});

describe('own HTTP/2 gRPC server: streaming calls behave as with grpc-js', () => {
  it('server streaming: many messages through backpressure, then trailers; an error after a message', async () => {
    const { own, node } = await start();
    const results: StreamResult[][] = [];
    for (const l of [own, node]) {
      const c = clientFor(l);
      results.push([
        await collect(c['list']!(Buffer.from('n:300')) as NodeJS.EventEmitter),
        await collect(c['list']!(Buffer.from('fail')) as NodeJS.EventEmitter),
      ]);
    }
    expect(results[0]).toEqual(results[1]);
    const [many, fail] = results[0]!;
    expect(many!.messages).toHaveLength(300);
    expect(many!.trailer['x-count']).toBe('300');
    // Large messages (each body sent apart from its prefix) keep their bytes and order.
    const large: StreamResult[] = [];
    for (const l of [own, node])
      large.push(
        await collect(clientFor(l)['list']!(Buffer.from('n:4:40000')) as NodeJS.EventEmitter),
      );
    expect(large[0]).toEqual(large[1]);
    expect(large[0]!.messages).toEqual(
      [0, 1, 2, 3].map(
        (i) =>
          `${40_000 + i}B ${createHash('sha1')
            .update(pattern(40_000 + i))
            .digest('hex')}`,
      ),
    );
    expect(fail).toMatchObject({
      messages: ['first'],
      code: status.NOT_FOUND,
      details: 'etcdserver: gone',
    });
  });

  it('bidirectional: replies in order, half-close seen, end and error statuses', async () => {
    const { own, node } = await start();
    const runs: { result: StreamResult; seen: string[] }[] = [];
    for (const l of [own, node]) {
      const c = clientFor(l);
      const a = c['chat']!() as NodeJS.EventEmitter & { write(b: Buffer): void; end(): void };
      const done = collect(a);
      a.write(Buffer.from('one'));
      a.write(Buffer.from('two'));
      a.end();
      // The handler never ends this one after the half-close: end it with "end" on a new call.
      const b = c['chat']!() as NodeJS.EventEmitter & { write(b: Buffer): void; end(): void };
      const bDone = collect(b);
      b.write(Buffer.from('x'));
      b.write(Buffer.from('end'));
      const bResult = await bDone;
      const e = c['chat']!() as NodeJS.EventEmitter & { write(b: Buffer): void };
      const eDone = collect(e);
      e.write(Buffer.from('err'));
      const eResult = await eDone;
      expect(bResult).toMatchObject({ messages: ['X'], code: 0 });
      expect(eResult).toMatchObject({ code: status.ABORTED, details: 'etcdserver: aborted' });
      (a as unknown as { cancel(): void }).cancel();
      const aResult = await done;
      // The client reports CANCELLED at once; the server hears the reset a little later.
      await expect.poll(() => seen.filter((x) => x === 'chat cancelled').length).toBe(3);
      runs.push({ result: aResult, seen: [...seen].sort() });
      seen.length = 0;
    }
    expect(runs[0]).toEqual(runs[1]);
    expect(runs[0]!.result.messages).toEqual(['ONE', 'TWO']);
    expect(runs[0]!.result.code).toBe(status.CANCELLED);
    expect(runs[0]!.seen).toContain('chat half-closed');
    expect(runs[0]!.seen).toContain('chat cancelled');
  });

  it('a client that cancels a server stream: the handler hears cancelled', async () => {
    const { own } = await start();
    const c = clientFor(own);
    const s = c['list']!(Buffer.from('hang')) as NodeJS.EventEmitter & { cancel(): void };
    await new Promise<void>((resolve) => s.once('data', () => resolve()));
    const ended = collect(s);
    s.cancel();
    expect((await ended).code).toBe(status.CANCELLED);
    await expect.poll(() => seen).toEqual(['list cancelled']);
  });
});
