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
import type { ServerUnaryCall, ServiceError, ServiceDefinition } from '@grpc/grpc-js';
import { echoHandler } from '../test/echo-handler';
import { grpcFrame as frame, rawGrpcCall } from '../test/raw-grpc';
import type { RawAnswer as Answer } from '../test/raw-grpc';
import { listenClient } from './client-listener';
import type { ClientListener } from './client-listener';
import type { UnaryRoute } from './grpc-lean-unary';

const PATH = '/test.Echo/Call';
const MAX_RECEIVE = 4096;
const identity = (b: Buffer): Buffer => b;

const definition: ServiceDefinition = {
  call: {
    path: PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** Handlers left hanging (deadline tests); answered after each test. */
const hanging: (() => void)[] = [];

const handler = echoHandler({ hanging });

/** Which call class served the last request (the lean path's or grpc-js's). */
let lastCallClass = '';

const route: UnaryRoute = {
  path: PATH,
  deserialize: (b) => b,
  serialize: (v) => {
    if (!Buffer.isBuffer(v)) throw new Error('not a buffer');
    return v;
  },
  handler: (call, callback) => {
    lastCallClass = call.constructor.name;
    handler(call as ServerUnaryCall<Buffer, Buffer>, callback);
  },
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const h of hanging.splice(0)) h();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** One grpc-js server behind two client listeners: lean path on one, grpc-js only on the other. */
async function start(): Promise<{ lean: ClientListener; plain: ClientListener }> {
  const grpc = new GrpcServer({ 'grpc.max_receive_message_length': MAX_RECEIVE });
  grpc.addService(definition, { call: handler });
  const httpServer = http.createServer();
  const lean = await listenClient({
    url: 'http://127.0.0.1:0',
    grpc: { node: grpc },
    http: httpServer,
    leanUnary: { routes: [route], maxReceiveMessageLength: MAX_RECEIVE, maxSendMessageLength: -1 },
  });
  const plain = await listenClient({
    url: 'http://127.0.0.1:0',
    grpc: { node: grpc },
    http: httpServer,
  });
  expect(lean.leanUnary).toBe(true);
  expect(plain.leanUnary).toBe(false);
  cleanups.push(async () => {
    await lean.close();
    await plain.close();
    grpc.forceShutdown();
  });
  return { lean, plain };
}

/** Sends the same request to both listeners; the answers must be identical. */
async function same(
  headers: http2.OutgoingHttpHeaders,
  pieces: readonly Buffer[],
  /** Which path must have run the handler (null: the handler never runs). */
  expectLean: boolean | null = true,
): Promise<Answer> {
  const { lean, plain } = await start();
  const a = await rawGrpcCall(lean.port, PATH, headers, pieces);
  const leanClass = lastCallClass;
  lastCallClass = '';
  const b = await rawGrpcCall(plain.port, PATH, headers, pieces);
  expect(a).toEqual(b);
  if (expectLean === true) expect(leanClass).toBe('LeanUnaryCall');
  else if (expectLean === false) expect(leanClass).not.toBe('LeanUnaryCall');
  else expect(leanClass).toBe('');
  return a;
}

describe('lean unary path answers exactly as grpc-js', () => {
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
      finiteDeadline: boolean;
    };
    expect(echo.metadata).toMatchObject({ token: 'abc', hasleader: 'true', 'x-bin': 'bin:0102ff' });
    expect(echo.metadata['grpc-accept-encoding']).toBeUndefined();
    expect(echo.peer).toBe(true);
    expect(echo.finiteDeadline).toBe(false);
  });

  it('a message split over several DATA frames, prefix included', async () => {
    const f = frame(Buffer.from(`ok${'x'.repeat(3000)}`));
    await same({}, [f.subarray(0, 2), f.subarray(2, 7), f.subarray(7, 1000), f.subarray(1000)]);
  });

  it('an empty message', async () => {
    await same({}, [frame(Buffer.alloc(0))]);
  });

  it('trailing metadata', async () => {
    const a = await same({}, [frame(Buffer.from('trailer'))]);
    expect(a.trailers['x-trailer']).toBe('yes');
  });

  it('a handler error: trailers-only with code, encoded message and metadata', async () => {
    const a = await same({}, [frame(Buffer.from('err'))]);
    expect(a.headers['grpc-status']).toBe(String(status.FAILED_PRECONDITION));
    expect(a.headers['x-err']).toBe('detail');
  });

  it('a handler that throws', async () => {
    const a = await same({}, [frame(Buffer.from('throw'))]);
    expect(a.headers['grpc-status']).toBe(String(status.UNKNOWN));
  });

  it('a response the serializer rejects', async () => {
    const a = await same({}, [frame(Buffer.from('bad'))]);
    expect(a.headers['grpc-status']).toBe(String(status.INTERNAL));
  });

  it('no request message', async () => {
    const a = await same({}, [], null);
    expect(a.headers['grpc-status']).toBe(String(status.UNIMPLEMENTED));
  });

  it('two request messages', async () => {
    const a = await same({}, [frame(Buffer.from('ok')), frame(Buffer.from('ok'))], null);
    expect(a.headers['grpc-status']).toBe(String(status.UNIMPLEMENTED));
  });

  it('a message larger than the receive limit: ResourceExhausted with grpc-js wording', async () => {
    const a = await same({}, [frame(Buffer.alloc(MAX_RECEIVE + 1, 0x61))], null);
    expect(a.headers['grpc-status']).toBe(String(status.RESOURCE_EXHAUSTED));
    expect(a.headers['grpc-message']).toBe(
      encodeURI(`Received message larger than max (${MAX_RECEIVE + 1} vs ${MAX_RECEIVE})`),
    );
  });

  it('a deadline: the handler sees it, and an unanswered call ends DeadlineExceeded', async () => {
    const ok = await same({ 'grpc-timeout': '20S' }, [frame(Buffer.from('ok'))]);
    expect(JSON.parse(Buffer.from(ok.body, 'hex').subarray(5).toString())).toMatchObject({
      finiteDeadline: true,
    });
    const late = await same({ 'grpc-timeout': '50m' }, [frame(Buffer.from('hang'))]);
    expect(late.headers['grpc-status']).toBe(String(status.DEADLINE_EXCEEDED));
    expect(late.headers['grpc-message']).toBe('Deadline%20exceeded');
  });

  it('grpc-js keeps what the lean path does not take: compression, bad timeouts, other content types', async () => {
    const gz = await same(
      { 'grpc-encoding': 'gzip' },
      [frame(zlib.gzipSync(Buffer.from('ok')), true)],
      false,
    );
    expect(gz.trailers['grpc-status']).toBe('0');
    const unsupported = await same(
      { 'grpc-encoding': 'snappy' },
      [frame(Buffer.from('ok'), true)],
      false,
    );
    expect(unsupported.headers['grpc-status']).toBe(String(status.UNIMPLEMENTED));
    const badTimeout = await same({ 'grpc-timeout': 'soon' }, [frame(Buffer.from('ok'))], false);
    expect(badTimeout.headers['grpc-status']).toBe(String(status.INTERNAL));
    const json = await same({ 'content-type': 'application/json' }, [Buffer.from('{}')], false);
    expect(json.headers[':status']).toBe(415);
  });
});

describe('lean unary path with a grpc-js client', () => {
  it('round trip with metadata and a deadline; errors arrive with code and message', async () => {
    const { lean } = await start();
    const Client = makeGenericClientConstructor(definition, 'Echo');
    const client = new Client(`127.0.0.1:${lean.port}`, credentials.createInsecure());
    cleanups.push(() => client.close());
    const invoke = (req: string, md: Metadata): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        const fn = (client as unknown as Record<string, (...args: unknown[]) => void>)['call']!;
        fn.call(
          client,
          Buffer.from(req),
          md,
          { deadline: Date.now() + 10_000 },
          (err: ServiceError | null, res?: Buffer) => (err ? reject(err) : resolve(res!)),
        );
      });
    const md = new Metadata();
    md.set('token', 't1');
    const res = JSON.parse((await invoke('ok', md)).toString()) as {
      metadata: Record<string, string>;
      finiteDeadline: boolean;
    };
    expect(lastCallClass).toBe('LeanUnaryCall');
    expect(res.metadata['token']).toBe('t1');
    expect(res.finiteDeadline).toBe(true);
    await expect(invoke('err', new Metadata())).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
      details: 'etcdserver: boom, 100% (ü)',
    });
  });
});
