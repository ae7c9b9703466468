import { connect, createServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { AuthService, KVService } from '@kv/api';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AbortedError,
  Client,
  DeadlineExceededError,
  NoLeaderError,
  UnavailableError,
} from '../src/index';
import { freePort } from './cluster';
import type { FakeMember } from './fake-server';
import { startFakeMember } from './fake-server';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function members(n: number): Promise<FakeMember[]> {
  const ms: FakeMember[] = [];
  for (let i = 0; i < n; i++) {
    const m = await startFakeMember();
    cleanup.push(() => m.stop());
    ms.push(m);
  }
  return ms;
}

function client(
  endpoints: string[],
  extra: Partial<ConstructorParameters<typeof Client>[0]> = {},
): Client {
  const c = new Client({ endpoints, ...extra });
  cleanup.push(() => c.close());
  return c;
}

describe('balancing', () => {
  it('spreads calls round-robin over every endpoint', async () => {
    const ms = await members(3);
    const c = client(ms.map((m) => `http://${m.address}`));
    for (let i = 0; i < 30; i++) await c.kv.get('k');
    expect(ms.map((m) => m.ranges)).toEqual([10, 10, 10]);
  });

  it('retries a read on UNAVAILABLE against another endpoint and sidelines the failed one', async () => {
    const ms = await members(2);
    const c = client(ms.map((m) => m.address));
    ms[0]!.down = true;
    for (let i = 0; i < 10; i++) await c.kv.get('k');
    // The first call failed once on member 0 and was retried on member 1;
    // afterwards member 0 is out of rotation until a health check passes.
    expect(ms[0]!.ranges).toBe(1);
    expect(ms[1]!.ranges).toBe(10);
    expect(c.healthyEndpoints()).toEqual([ms[1]!.address]);
  });

  it('brings an endpoint back after a backoff and a passing health check', async () => {
    const ms = await members(2);
    const c = client(ms.map((m) => m.address));
    ms[0]!.down = true;
    await c.kv.get('k');
    expect(c.healthyEndpoints()).toEqual([ms[1]!.address]);
    ms[0]!.down = false;
    const until = Date.now() + 5_000;
    while (c.healthyEndpoints().length < 2 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    expect(c.healthyEndpoints().length).toBe(2);
    expect(ms[0]!.statuses).toBeGreaterThan(0);
  });
});

describe('retries', () => {
  it('never retries a write that reached a server', async () => {
    const ms = await members(2);
    const c = client(ms.map((m) => m.address));
    ms[0]!.failNext = { code: status.UNAVAILABLE, details: 'etcdserver: request timed out' };
    ms[1]!.failNext = { code: status.UNAVAILABLE, details: 'etcdserver: request timed out' };
    await expect(c.kv.put('k', 'v')).rejects.toThrow('etcdserver: request timed out');
    expect(ms[0]!.puts + ms[1]!.puts).toBe(1);
  });

  it('does not retry a write when the connection failed after sending', async () => {
    const ms = await members(2);
    const c = client(ms.map((m) => m.address));
    ms[0]!.failNext = { code: status.UNAVAILABLE, details: 'Connection dropped' };
    ms[1]!.failNext = { code: status.UNAVAILABLE, details: 'Connection dropped' };
    await expect(c.kv.put('k', 'v')).rejects.toBeInstanceOf(UnavailableError);
    expect(ms[0]!.puts + ms[1]!.puts).toBe(1);
  });

  it('retries a write whose endpoint refused the connection', async () => {
    const ms = await members(1);
    const dead = `127.0.0.1:${await freePort()}`;
    const c = client([dead, ms[0]!.address]);
    for (let i = 0; i < 5; i++) await c.kv.put('k', `v${i}`);
    expect(ms[0]!.puts).toBe(5);
  });

  it('maps server errors to typed errors without retrying them', async () => {
    const ms = await members(1);
    const c = client([ms[0]!.address]);
    ms[0]!.failNext = { code: status.UNAVAILABLE, details: 'etcdserver: no leader' };
    await expect(c.kv.put('k', 'v')).rejects.toBeInstanceOf(NoLeaderError);
    expect(ms[0]!.puts).toBe(1);
  });

  it('sends hasleader metadata when requireLeader is set', async () => {
    let seen: string[] = [];
    const srv = new Server();
    srv.addService(KVService, {
      range: (
        call: { metadata: { get(k: string): unknown[] } },
        cb: (e: null, r: unknown) => void,
      ) => {
        seen = call.metadata.get('hasleader').map(String);
        cb(null, { header: undefined, kvs: [], more: false, count: 0n });
      },
    });
    const port = await new Promise<number>((res, rej) =>
      srv.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
        e ? rej(e) : res(p),
      ),
    );
    cleanup.push(() => srv.forceShutdown());
    const c = client([`127.0.0.1:${port}`], { requireLeader: true });
    await c.kv.get('k');
    expect(seen).toEqual(['true']);
    await c.kv.get('k', { requireLeader: false });
    expect(seen).toEqual([]);
  });
});

describe('keep-alive pings', () => {
  it('detect a connection that went silent and fail the read over to another member', async () => {
    const ms = await members(2);
    ms[0]!.hang = true;
    // A TCP proxy in front of member 0 that can stop forwarding both ways,
    // like a peer behind a dead network path.
    let silent = false;
    const sockets: Socket[] = [];
    const proxy = createServer((inbound) => {
      const [host, port] = ms[0]!.address.split(':');
      const outbound = connect(Number(port), host);
      sockets.push(inbound, outbound);
      inbound.on('data', (d) => void (silent || outbound.write(d)));
      outbound.on('data', (d) => void (silent || inbound.write(d)));
      inbound.on('error', () => undefined);
      outbound.on('error', () => undefined);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    cleanup.push(
      () =>
        new Promise((r) => {
          for (const s of sockets) s.destroy();
          proxy.close(r);
        }),
    );
    const addr = proxy.address();
    const proxied = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const c = client([proxied, ms[1]!.address], { keepAliveTimeMs: 200, keepAliveTimeoutMs: 300 });
    // Connect member 0's channel first (its Range hangs; Status answers).
    await c.maintenance.status({ endpoint: proxied });
    const t0 = Date.now();
    const pending = c.kv.get('k', { deadlineMs: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    expect(ms[0]!.ranges).toBe(1);
    silent = true;
    const res = await pending;
    expect(res.count).toBe(0n);
    expect(ms[1]!.ranges).toBe(1);
    // Detected by a missed ping ack, well before the 10 s deadline.
    expect(Date.now() - t0).toBeLessThan(3_000);
  });
});

describe('auth token', () => {
  it('authenticates once, then re-authenticates when the server rejects the token', async () => {
    let issued = 0;
    const seen: string[] = [];
    const srv = new Server();
    srv.addService(AuthService, {
      authenticate: (
        call: { request: { name: string; password: string } },
        cb: (e: null, r: unknown) => void,
      ) => {
        issued++;
        cb(null, {
          header: undefined,
          token: `${call.request.name}-${call.request.password}-${issued}`,
        });
      },
    });
    srv.addService(KVService, {
      range: (
        call: { metadata: { get(k: string): unknown[] } },
        cb: (e: unknown, r: unknown) => void,
      ) => {
        const token = String(call.metadata.get('token')[0]);
        seen.push(token);
        // Tokens of the first issue expire after two calls.
        if (token.endsWith('-1') && seen.length > 2) {
          cb({ code: status.UNAUTHENTICATED, details: 'etcdserver: invalid auth token' }, null);
          return;
        }
        cb(null, { header: undefined, kvs: [], more: false, count: 0n });
      },
    } as never);
    const port = await new Promise<number>((res, rej) =>
      srv.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
        e ? rej(e) : res(p),
      ),
    );
    cleanup.push(() => srv.forceShutdown());
    const c = client([`127.0.0.1:${port}`], { auth: { username: 'u', password: 'p' } });
    await Promise.all([c.kv.get('a'), c.kv.get('b')]);
    expect(issued).toBe(1);
    await c.kv.get('c');
    await c.kv.get('d');
    expect(issued).toBe(2);
    expect(seen).toEqual(['u-p-1', 'u-p-1', 'u-p-1', 'u-p-2', 'u-p-2']);
  });
});

describe('deadlines and aborts', () => {
  async function silentServer(): Promise<string> {
    // Accepts TCP connections and never speaks HTTP/2: calls hang forever.
    const sockets: Socket[] = [];
    const srv: NetServer = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(
      () =>
        new Promise((r) => {
          for (const s of sockets) s.destroy();
          srv.close(r);
        }),
    );
    const addr = srv.address();
    return `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }

  it('ends a call at its deadline even when the server never answers', async () => {
    const ms = await members(1);
    ms[0]!.hang = true;
    const c = client([ms[0]!.address]);
    const t0 = Date.now();
    await expect(c.kv.get('k', { deadlineMs: 200 })).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('ends a call on a silent connection at its deadline', async () => {
    const c = client([await silentServer()]);
    const t0 = Date.now();
    await expect(c.kv.get('k', { deadlineMs: 300 })).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  it('ends a call promptly when its signal aborts', async () => {
    const ms = await members(1);
    ms[0]!.hang = true;
    const c = client([ms[0]!.address]);
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 100);
    await expect(c.kv.get('k', { signal: ac.signal })).rejects.toBeInstanceOf(AbortedError);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('rejects at once with an already-aborted signal and on close', async () => {
    const ms = await members(1);
    ms[0]!.hang = true;
    const c = client([ms[0]!.address]);
    await expect(c.kv.get('k', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortedError,
    );
    const pending = c.kv.get('k');
    setTimeout(() => c.close(), 50);
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
  });
});
