import { afterEach, describe, expect, it } from 'vitest';
import { Metadata, Server, ServerCredentials, credentials, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { LockClient, LockService, authpb, etcdserverpb, v3lockpb } from '@kv/api';
import { EventType } from '@kv/mvcc';
import type { EtcdServer } from '../etcd-server';
import { silentLogger } from '../logger';
import { MetricsRegistry } from '../metrics';
import { TestCluster } from '../testing/test-cluster';
import { Interceptors } from './interceptors';
import { lockService, prefixEnd, queueKey, watchUntil } from './lock-service';

const b = (s: string): Buffer => Buffer.from(s);

/** A cluster whose every member serves v3lockpb.Lock on its own gRPC port. */
interface Fixture {
  readonly cluster: TestCluster;
  readonly servers: EtcdServer[];
  readonly clients: LockClient[];
  close(): Promise<void>;
}

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

async function start(size: number): Promise<Fixture> {
  const cluster = await TestCluster.start({ size });
  await cluster.waitForLeader();
  const grpcServers: Server[] = [];
  const clients: LockClient[] = [];
  for (const m of cluster.members) {
    const g = new Server();
    const ic = new Interceptors({
      member: m.server,
      logger: silentLogger,
      metrics: new MetricsRegistry(),
    });
    g.addService(LockService, lockService(m.server, ic));
    const port = await new Promise<number>((resolve, reject) =>
      g.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    grpcServers.push(g);
    clients.push(new LockClient(`127.0.0.1:${port}`, credentials.createInsecure()));
  }
  fixture = {
    cluster,
    servers: cluster.members.map((m) => m.server),
    clients,
    async close() {
      for (const c of clients) c.close();
      for (const g of grpcServers) g.forceShutdown();
      await cluster.close();
    },
  };
  return fixture;
}

type Callback<T> = (err: ServiceError | null, res: T) => void;

/** Calls a unary method; `cancel` aborts it from the client side. */
function callLock(
  client: LockClient,
  req: Partial<v3lockpb.LockRequest>,
  metadata = new Metadata(),
  deadline = Infinity,
): { result: Promise<v3lockpb.LockResponse>; cancel(): void } {
  let cancel = (): void => undefined;
  const result = new Promise<v3lockpb.LockResponse>((resolve, reject) => {
    const req2 = v3lockpb.LockRequest.fromPartial(req);
    const call = client.lock(req2, metadata, { deadline }, ((err, res) =>
      err ? reject(err) : resolve(res)) as Callback<v3lockpb.LockResponse>);
    cancel = () => call.cancel();
  });
  return { result, cancel };
}

function unlock(client: LockClient, key: Buffer): Promise<v3lockpb.UnlockResponse> {
  return new Promise((resolve, reject) =>
    client.unlock(v3lockpb.UnlockRequest.fromPartial({ key }), (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

async function grant(server: EtcdServer, ttl = 30): Promise<bigint> {
  return (await server.leaseGrant({ TTL: BigInt(ttl), ID: 0n })).ID;
}

async function keysUnder(server: EtcdServer, prefix: string): Promise<etcdserverpb.RangeResponse> {
  return server.range(
    etcdserverpb.RangeRequest.fromPartial({ key: b(prefix), rangeEnd: prefixEnd(b(prefix)) }),
  );
}

/**
 * Resolves at the first event of `type` on `key` after revision `from`
 * (read the revision before starting the action, so nothing is missed).
 */
async function nextEvent(
  server: EtcdServer,
  key: Buffer,
  type: EventType,
  from: number,
): Promise<void> {
  const ok = await watchUntil(
    server,
    { key, startRevision: from + 1 },
    new AbortController().signal,
    (events) => events.some((e) => e.type === type),
  );
  if (!ok) throw new Error('watch ended before the event');
}

function expectServiceError(err: unknown, code: number, details: string): void {
  const e = err as ServiceError;
  expect(e.code).toBe(code);
  expect(e.details).toBe(details);
}

describe('lock-service helpers', () => {
  it('names the key name/<lease in lowercase hex> and computes prefix range ends', () => {
    expect(queueKey(b('mylock'), 0x694d7d1f2c3a0b1en).toString()).toBe('mylock/694d7d1f2c3a0b1e');
    expect(queueKey(b(''), 255n).toString()).toBe('/ff');
    expect(prefixEnd(b('a/')).toString()).toBe('a0');
    expect([...prefixEnd(Buffer.from([0x61, 0xff]))]).toEqual([0x62]);
    expect([...prefixEnd(Buffer.from([0xff, 0xff]))]).toEqual([0]);
  });
});

describe('v3lockpb.Lock', () => {
  it('grants a free lock at once and reuses the key for the same lease', async () => {
    const f = await start(1);
    const s = f.servers[0]!;
    const lease = await grant(s);
    const first = await callLock(f.clients[0]!, { name: b('L'), lease }).result;
    expect(first.key.toString()).toBe(`L/${lease.toString(16)}`);
    expect(first.header!.revision).toBe(BigInt(s.mvcc.currentRevision()));
    const kv = (await keysUnder(s, 'L/')).kvs;
    expect(kv.map((k) => k.lease)).toEqual([lease]);
    // Locking again with the same lease neither writes nor waits.
    const again = await callLock(f.clients[0]!, { name: b('L'), lease }).result;
    expect(again.key).toEqual(first.key);
    expect(again.header!.revision).toBe(first.header!.revision);
    const un = await unlock(f.clients[0]!, first.key);
    expect(un.header!.revision).toBe(first.header!.revision + 1n);
    expect((await keysUnder(s, 'L/')).count).toBe(0n);
  });

  it('attaches a fresh 60 s lease when the request has none, as an etcd session does', async () => {
    const f = await start(1);
    const s = f.servers[0]!;
    const r = await callLock(f.clients[0]!, { name: b('auto'), lease: 0n }).result;
    const kv = (await keysUnder(s, 'auto/')).kvs[0]!;
    expect(kv.lease).not.toBe(0n);
    expect(r.key.toString()).toBe(`auto/${kv.lease.toString(16)}`);
    expect(s.lessor.get(kv.lease)?.ttl).toBe(60);
  });

  it('keeps mutual exclusion and first-come order under contention across members', async () => {
    const f = await start(3);
    const lockers = 5;
    const rounds = 3;
    let inside = 0;
    let maxInside = 0;
    let counter = 0;
    const grantedRevs: bigint[] = [];
    const leases = await Promise.all(
      Array.from({ length: lockers }, (_, i) => grant(f.servers[i % 3]!)),
    );
    const run = async (i: number): Promise<void> => {
      const client = f.clients[i % 3]!;
      const server = f.servers[i % 3]!;
      for (let r = 0; r < rounds; r++) {
        const { key } = await callLock(client, { name: b('contended'), lease: leases[i]! }).result;
        inside++;
        maxInside = Math.max(maxInside, inside);
        // A read-modify-write through Raft: it would lose updates if two
        // holders overlapped, and gives the others time to misbehave.
        const own = await server.range(etcdserverpb.RangeRequest.fromPartial({ key }));
        grantedRevs.push(own.kvs[0]!.createRevision);
        const cur = await server.range(etcdserverpb.RangeRequest.fromPartial({ key: b('n') }));
        const n = Number(cur.kvs[0]?.value.toString() ?? '0');
        await server.put(
          etcdserverpb.PutRequest.fromPartial({ key: b('n'), value: b(`${n + 1}`) }),
        );
        counter++;
        inside--;
        await unlock(client, key);
      }
    };
    await Promise.all(Array.from({ length: lockers }, (_, i) => run(i)));
    expect(maxInside).toBe(1);
    expect(counter).toBe(lockers * rounds);
    const n = await f.servers[0]!.range(etcdserverpb.RangeRequest.fromPartial({ key: b('n') }));
    expect(n.kvs[0]!.value.toString()).toBe(`${lockers * rounds}`);
    // Each holder was the oldest waiter: grants follow create revisions.
    for (let i = 1; i < grantedRevs.length; i++) {
      expect(grantedRevs[i]!).toBeGreaterThan(grantedRevs[i - 1]!);
    }
  });

  it('hands the lock to the next waiter when the holder lease expires', async () => {
    const f = await start(3);
    const leader = f.servers.find((s) => s.isLeader)!;
    const short = await grant(leader, 1);
    const long = await grant(leader, 30);
    const held = await callLock(f.clients[0]!, { name: b('exp'), lease: short }).result;
    const waiter = callLock(f.clients[1]!, { name: b('exp'), lease: long });
    // Nobody keeps the short lease alive: the leader revokes it, deleting the key.
    const got = await waiter.result;
    expect(got.key.toString()).toBe(`exp/${long.toString(16)}`);
    const left = await keysUnder(f.servers[2]!, 'exp/');
    expect(left.kvs.map((k) => k.key.toString())).toEqual([got.key.toString()]);
    expect(leader.lessor.get(short)).toBeUndefined();
    expect(held.key.toString()).toBe(`exp/${short.toString(16)}`);
  });

  it('fails a waiter whose lease ended while it waited, instead of granting it (Jepsen)', async () => {
    const f = await start(1);
    const s = f.servers[0]!;
    const holder = await grant(s);
    const doomed = await grant(s);
    const held = await callLock(f.clients[0]!, { name: b('j'), lease: holder }).result;
    const from = s.mvcc.currentRevision();
    const waiter = callLock(f.clients[0]!, { name: b('j'), lease: doomed });
    const doomedKey = queueKey(b('j'), doomed);
    await nextEvent(s, doomedKey, EventType.Put, from);
    const beforeRevoke = s.mvcc.currentRevision();
    await s.leaseRevoke({ ID: doomed });
    await nextEvent(s, doomedKey, EventType.Delete, beforeRevoke);
    await unlock(f.clients[0]!, held.key);
    const err = await waiter.result.then(
      () => undefined,
      (e: unknown) => e,
    );
    expectServiceError(err, status.UNKNOWN, 'mutex: session is expired');
    expect((await keysUnder(s, 'j/')).count).toBe(0n);
  });

  it('removes a cancelled waiter key so it does not block the waiters behind it', async () => {
    const f = await start(3);
    const s = f.servers[0]!;
    const [la, lb, lc] = await Promise.all([grant(s), grant(s), grant(s)]);
    const a = await callLock(f.clients[0]!, { name: b('c'), lease: la }).result;
    let from = s.mvcc.currentRevision();
    const bCall = callLock(f.clients[1]!, { name: b('c'), lease: lb });
    const bKey = queueKey(b('c'), lb);
    await nextEvent(s, bKey, EventType.Put, from);
    from = s.mvcc.currentRevision();
    const cCall = callLock(f.clients[2]!, { name: b('c'), lease: lc });
    await nextEvent(s, queueKey(b('c'), lc), EventType.Put, from);
    from = s.mvcc.currentRevision();
    bCall.cancel();
    const bErr = await bCall.result.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((bErr as ServiceError).code).toBe(status.CANCELLED);
    // The server notices the cancellation and deletes B's key.
    await nextEvent(s, bKey, EventType.Delete, from);
    await unlock(f.clients[0]!, a.key);
    const c = await cCall.result;
    expect(c.key.toString()).toBe(`c/${lc.toString(16)}`);
    const left = await keysUnder(s, 'c/');
    expect(left.kvs.map((k) => k.key.toString())).toEqual([c.key.toString()]);
  });

  it('removes the key of a waiter whose deadline passes', async () => {
    const f = await start(1);
    const s = f.servers[0]!;
    const [la, lb] = await Promise.all([grant(s), grant(s)]);
    await callLock(f.clients[0]!, { name: b('d'), lease: la }).result;
    const from = s.mvcc.currentRevision();
    const bKey = queueKey(b('d'), lb);
    const deleted = nextEvent(s, bKey, EventType.Delete, from);
    const waiter = callLock(
      f.clients[0]!,
      { name: b('d'), lease: lb },
      new Metadata(),
      Date.now() + 300,
    );
    const err = await waiter.result.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as ServiceError).code).toBe(status.DEADLINE_EXCEEDED);
    await deleted;
    expect((await keysUnder(s, 'd/')).count).toBe(1n);
  });

  it('with auth on, needs read on the queue prefix and write on the own key', async () => {
    const f = await start(1);
    const s = f.servers[0]!;
    const add = (name: string, role: string) =>
      s
        .userAdd(etcdserverpb.AuthUserAddRequest.fromPartial({ name, password: 'pw' }))
        .then(() => s.userGrantRole({ user: name, role }));
    await s.roleAdd({ name: 'root' });
    await add('root', 'root');
    await s.roleAdd({ name: 'locker' });
    await s.roleGrantPermission({
      name: 'locker',
      perm: authpb.Permission.fromPartial({
        permType: authpb.Permission_Type.READWRITE,
        key: b('ok/'),
        rangeEnd: prefixEnd(b('ok/')),
      }),
    });
    await add('alice', 'locker');
    await s.authEnable();
    const md = new Metadata();
    md.set('token', (await s.authenticate('alice', 'pw')).token);
    const lease = await grant(s);
    const ok = await callLock(f.clients[0]!, { name: b('ok'), lease }, md).result;
    expect(ok.key.toString()).toBe(`ok/${lease.toString(16)}`);
    const denied = await callLock(f.clients[0]!, { name: b('no'), lease }, md).result.then(
      () => undefined,
      (e: unknown) => e,
    );
    expectServiceError(denied, status.UNKNOWN, 'etcdserver: permission denied');
    expect((await keysUnder(s, 'no/')).count).toBe(0n);
  });

  it('answers with etcd 3.4 errors: code Unknown and etcd text', async () => {
    const f = await start(1);
    const missing = await callLock(f.clients[0]!, { name: b('x'), lease: 12345n }).result.then(
      () => undefined,
      (e: unknown) => e,
    );
    expectServiceError(missing, status.UNKNOWN, 'etcdserver: requested lease not found');
    const empty = await unlock(f.clients[0]!, Buffer.alloc(0)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expectServiceError(empty, status.UNKNOWN, 'etcdserver: key is not provided');
    // Unlocking a key that is not there is fine.
    const ok = await unlock(f.clients[0]!, b('x/nothing'));
    expect(ok.header!.revision).toBe(BigInt(f.servers[0]!.mvcc.currentRevision()));
  });
});
