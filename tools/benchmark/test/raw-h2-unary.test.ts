// The raw HTTP/2 client against @kv/server's own HTTP/2 connection, driven
// by the test: what a load run against a healthy server never shows.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { H2Connection } from '@kv/server';
import type { H2Stream } from '@kv/server';
import { etcdserverpb } from '@kv/api';
import { RawH2UnaryKV } from '../src/raw-h2-unary';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A server that hands each request stream (once its body is in) to the test. */
async function heldServer(): Promise<{
  endpoint: string;
  connections: H2Connection[];
  next: () => Promise<H2Stream>;
}> {
  const connections: H2Connection[] = [];
  const ready: H2Stream[] = [];
  const waiters: ((s: H2Stream) => void)[] = [];
  const server = net.createServer((socket) => {
    connections.push(
      new H2Connection(socket, {
        onStream: (s) => {
          s.onData = () => undefined;
          s.onEnd = () => {
            const w = waiters.shift();
            if (w !== undefined) w(s);
            else ready.push(s);
          };
        },
        onError: () => undefined,
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const c of connections) c.destroy();
    server.close();
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `127.0.0.1:${port}`,
    connections,
    next: () => {
      const s = ready.shift();
      return s !== undefined ? Promise.resolve(s) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

/** Answers a held call with an empty message and grpc-status 0. */
function answerOk(s: H2Stream): void {
  s.respondUnary(
    [
      [':status', '200'],
      ['content-type', 'application/grpc'],
    ],
    Buffer.from([0, 0, 0, 0, 0]),
    [['grpc-status', '0']],
  );
}

const put = etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v') });

/** A held-call server and a raw client connected to it; `putCall` starts a put and resolves with its outcome. */
async function connected(): Promise<{
  srv: Awaited<ReturnType<typeof heldServer>>;
  putCall: () => Promise<unknown>;
}> {
  const srv = await heldServer();
  const kv = new RawH2UnaryKV(srv.endpoint);
  cleanups.push(() => kv.close());
  await kv.ready();
  return { srv, putCall: () => new Promise<unknown>((resolve) => kv.put(put, resolve)) };
}

describe('raw HTTP/2 client', () => {
  it('after GOAWAY, finishes the calls the server took and opens a new connection for the next', async () => {
    const { srv, putCall } = await connected();
    const first = putCall();
    const held = await srv.next();
    srv.connections[0]!.goAway(false);
    answerOk(held);
    expect(await first).toBeNull();
    const second = putCall();
    answerOk(await srv.next());
    expect(await second).toBeNull();
    expect(srv.connections).toHaveLength(2);
  });

  it('fails the calls in flight with UNAVAILABLE when the connection breaks', async () => {
    const { srv, putCall } = await connected();
    const call = putCall();
    await srv.next();
    srv.connections[0]!.destroy();
    expect(await call).toMatchObject({ code: 14 });
  });
});
