import { afterEach, describe, expect, it } from 'vitest';
import { Server, ServerCredentials, credentials, status } from '@grpc/grpc-js';
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { ElectionClient, ElectionService, v3electionpb } from '@kv/api';
import { EventType } from '@kv/mvcc';
import type { EtcdServer } from '../etcd-server';
import { silentLogger } from '../logger';
import { MetricsRegistry } from '../metrics';
import { TestCluster } from '../testing/test-cluster';
import { electionService } from './election-service';
import { Interceptors } from './interceptors';
import { queueKey, watchUntil } from './lock-service';

const b = (s: string): Buffer => Buffer.from(s);

interface Fixture {
  readonly servers: EtcdServer[];
  readonly clients: ElectionClient[];
  close(): Promise<void>;
}

let fixture: Fixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

/** A cluster whose every member serves v3electionpb.Election on its own gRPC port. */
async function start(size: number): Promise<Fixture> {
  const cluster = await TestCluster.start({ size });
  await cluster.waitForLeader();
  const grpcServers: Server[] = [];
  const clients: ElectionClient[] = [];
  for (const m of cluster.members) {
    const g = new Server();
    const ic = new Interceptors({
      member: m.server,
      logger: silentLogger,
      metrics: new MetricsRegistry(),
    });
    g.addService(ElectionService, electionService(m.server, ic));
    const port = await new Promise<number>((resolve, reject) =>
      g.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    grpcServers.push(g);
    clients.push(new ElectionClient(`127.0.0.1:${port}`, credentials.createInsecure()));
  }
  fixture = {
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

function campaign(
  client: ElectionClient,
  name: string,
  lease: bigint,
  value: string,
): { result: Promise<v3electionpb.CampaignResponse>; cancel(): void } {
  let cancel = (): void => undefined;
  const result = new Promise<v3electionpb.CampaignResponse>((resolve, reject) => {
    const call = client.campaign(
      v3electionpb.CampaignRequest.fromPartial({ name: b(name), lease, value: b(value) }),
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    cancel = () => call.cancel();
  });
  return { result, cancel };
}

function proclaim(
  client: ElectionClient,
  leader: v3electionpb.LeaderKey | undefined,
  value: string,
): Promise<v3electionpb.ProclaimResponse> {
  return new Promise((resolve, reject) =>
    client.proclaim(
      v3electionpb.ProclaimRequest.fromPartial({ leader, value: b(value) }),
      (e, r) => (e ? reject(e) : resolve(r)),
    ),
  );
}

function leaderOf(client: ElectionClient, name: string): Promise<v3electionpb.LeaderResponse> {
  return new Promise((resolve, reject) =>
    client.leader(v3electionpb.LeaderRequest.fromPartial({ name: b(name) }), (e, r) =>
      e ? reject(e) : resolve(r),
    ),
  );
}

function resign(
  client: ElectionClient,
  leader: v3electionpb.LeaderKey | undefined,
): Promise<v3electionpb.ResignResponse> {
  return new Promise((resolve, reject) =>
    client.resign(v3electionpb.ResignRequest.fromPartial({ leader }), (e, r) =>
      e ? reject(e) : resolve(r),
    ),
  );
}

async function grant(server: EtcdServer, ttl = 30): Promise<bigint> {
  return (await server.leaseGrant({ TTL: BigInt(ttl), ID: 0n })).ID;
}

async function failure(p: Promise<unknown>): Promise<ServiceError> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e as ServiceError,
  );
}

/** Resolves at the first `type` event on `key` after revision `from`. */
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

/** Collects an Observe stream; `take(n)` resolves once n responses have arrived. */
class Observer {
  readonly items: v3electionpb.LeaderResponse[] = [];
  #waiters: { n: number; resolve: () => void }[] = [];
  readonly stream: ClientReadableStream<v3electionpb.LeaderResponse>;

  constructor(client: ElectionClient, name: string) {
    this.stream = client.observe(v3electionpb.LeaderRequest.fromPartial({ name: b(name) }));
    this.stream.on('data', (r: v3electionpb.LeaderResponse) => {
      this.items.push(r);
      this.#waiters = this.#waiters.filter((w) => {
        if (this.items.length < w.n) return true;
        w.resolve();
        return false;
      });
    });
    this.stream.on('error', () => undefined);
  }

  async take(n: number): Promise<string[]> {
    if (this.items.length < n) {
      await new Promise<void>((resolve) => this.#waiters.push({ n, resolve }));
    }
    return this.values();
  }

  values(): string[] {
    return this.items.map((r) => `${r.kv!.key.toString()}=${r.kv!.value.toString()}`);
  }

  close(): void {
    this.stream.cancel();
  }
}

describe('v3electionpb.Election', () => {
  it('elects candidates in campaign order and hands over on resign', async () => {
    const f = await start(3);
    const s = f.servers[0]!;
    const [l1, l2, l3] = await Promise.all([grant(s), grant(s), grant(s)]);
    expect((await failure(leaderOf(f.clients[0]!, 'e'))).details).toBe('election: no leader');
    const c1 = await campaign(f.clients[0]!, 'e', l1, 'one').result;
    expect(c1.leader!.key.toString()).toBe(`e/${l1.toString(16)}`);
    expect(c1.leader!.name.toString()).toBe('e');
    expect(c1.leader!.lease).toBe(l1);
    expect(c1.leader!.rev).toBe(c1.header!.revision);
    let from = s.mvcc.currentRevision();
    const c2 = campaign(f.clients[1]!, 'e', l2, 'two');
    await nextEvent(s, queueKey(b('e'), l2), EventType.Put, from);
    from = s.mvcc.currentRevision();
    const c3 = campaign(f.clients[2]!, 'e', l3, 'three');
    await nextEvent(s, queueKey(b('e'), l3), EventType.Put, from);
    const led = await leaderOf(f.clients[2]!, 'e');
    expect(led.kv!.value.toString()).toBe('one');
    expect(led.kv!.createRevision).toBe(c1.leader!.rev);

    await resign(f.clients[0]!, c1.leader);
    const second = await c2.result;
    expect(second.leader!.key.toString()).toBe(`e/${l2.toString(16)}`);
    expect((await leaderOf(f.clients[0]!, 'e')).kv!.value.toString()).toBe('two');
    await resign(f.clients[1]!, second.leader);
    const third = await c3.result;
    expect(third.leader!.rev).toBeGreaterThan(second.leader!.rev);
    expect((await leaderOf(f.clients[1]!, 'e')).kv!.value.toString()).toBe('three');
  });

  it('proclaims only while the leader key is the same generation', async () => {
    const f = await start(1);
    const s = f.servers[0]!;
    const lease = await grant(s);
    const c = await campaign(f.clients[0]!, 'p', lease, 'v1').result;
    const p = await proclaim(f.clients[0]!, c.leader, 'v2');
    expect(p.header!.revision).toBe(c.header!.revision + 1n);
    const led = await leaderOf(f.clients[0]!, 'p');
    expect(led.kv!.value.toString()).toBe('v2');
    expect(led.kv!.version).toBe(2n);
    expect(led.kv!.lease).toBe(lease);

    const stale = { ...c.leader!, rev: c.leader!.rev - 1n };
    const e1 = await failure(proclaim(f.clients[0]!, stale, 'x'));
    expect([e1.code, e1.details]).toEqual([status.UNKNOWN, 'election: not leader']);
    const e2 = await failure(proclaim(f.clients[0]!, undefined, 'x'));
    expect([e2.code, e2.details]).toEqual([status.UNKNOWN, '"leader" field must be provided']);

    // A resign with a stale key is a no-op; with the right one the key goes.
    const noop = await resign(f.clients[0]!, stale);
    expect(noop.header!.revision).toBe(p.header!.revision);
    const r = await resign(f.clients[0]!, c.leader);
    expect(r.header!.revision).toBe(p.header!.revision + 1n);
    const e3 = await failure(proclaim(f.clients[0]!, c.leader, 'late'));
    expect(e3.details).toBe('election: not leader');
    expect((await failure(resign(f.clients[0]!, undefined))).details).toBe(
      '"leader" field must be provided',
    );
    // A key re-created by a new campaign with the same lease is a new
    // generation: the old LeaderKey cannot touch it.
    const again = await campaign(f.clients[0]!, 'p', lease, 'v3').result;
    expect(again.leader!.rev).toBeGreaterThan(c.leader!.rev);
    expect((await failure(proclaim(f.clients[0]!, c.leader, 'x'))).details).toBe(
      'election: not leader',
    );
  });

  it('re-campaigning with the same lease keeps the place and proclaims the new value', async () => {
    const f = await start(1);
    const s = f.servers[0]!;
    const lease = await grant(s);
    const c1 = await campaign(f.clients[0]!, 'r', lease, 'a').result;
    const c2 = await campaign(f.clients[0]!, 'r', lease, 'b').result;
    expect(c2.leader).toEqual(c1.leader);
    expect((await leaderOf(f.clients[0]!, 'r')).kv!.value.toString()).toBe('b');
  });

  it('observes the leader, each proclaim and each new leader, in order', async () => {
    const f = await start(3);
    const s = f.servers[0]!;
    const [l1, l2] = await Promise.all([grant(s), grant(s)]);
    const k1 = `o/${l1.toString(16)}`;
    const k2 = `o/${l2.toString(16)}`;
    // Started before any candidate, on a follower or the leader alike.
    const early = new Observer(f.clients[2]!, 'o');
    const c1 = await campaign(f.clients[0]!, 'o', l1, 'a').result;
    expect(await early.take(1)).toEqual([`${k1}=a`]);
    const from = s.mvcc.currentRevision();
    const c2 = campaign(f.clients[1]!, 'o', l2, 'x');
    await nextEvent(s, b(k2), EventType.Put, from);
    await proclaim(f.clients[0]!, c1.leader, 'b');
    await proclaim(f.clients[0]!, c1.leader, 'b');
    // A late observer gets the current leader first.
    const late = new Observer(f.clients[1]!, 'o');
    expect(await late.take(1)).toEqual([`${k1}=b`]);
    await proclaim(f.clients[1]!, c1.leader, 'c');
    await resign(f.clients[2]!, c1.leader);
    const second = await c2.result;
    await proclaim(f.clients[1]!, second.leader, 'y');
    const expected = [`${k1}=a`, `${k1}=b`, `${k1}=b`, `${k1}=c`, `${k2}=x`, `${k2}=y`];
    expect(await early.take(6)).toEqual(expected);
    expect(await late.take(4)).toEqual(expected.slice(2));
    // Headers move forward with the changes they report.
    const revs = early.items.map((r) => r.header!.revision);
    expect(revs).toEqual([...revs].sort((x, y) => Number(x - y)));
    expect(early.items[4]!.kv!.createRevision).toBe(second.leader!.rev);
    // The leader's lease is revoked: the election is empty, then a new candidate leads.
    await s.leaseRevoke({ ID: l2 });
    const l3 = await grant(s);
    await campaign(f.clients[2]!, 'o', l3, 'z').result;
    expect((await early.take(7))[6]).toBe(`o/${l3.toString(16)}=z`);
    early.close();
    late.close();
  });

  it('removes a cancelled candidate key, and a leader whose lease expires loses leadership', async () => {
    const f = await start(3);
    const leaderMember = f.servers.find((x) => x.isLeader)!;
    const s = f.servers[0]!;
    const short = await grant(leaderMember, 1);
    const [lb, lc] = await Promise.all([grant(s), grant(s)]);
    await campaign(f.clients[0]!, 'x', short, 'first').result;
    let from = s.mvcc.currentRevision();
    const bCall = campaign(f.clients[1]!, 'x', lb, 'second');
    const bKey = queueKey(b('x'), lb);
    await nextEvent(s, bKey, EventType.Put, from);
    from = s.mvcc.currentRevision();
    const cCall = campaign(f.clients[2]!, 'x', lc, 'third');
    await nextEvent(s, queueKey(b('x'), lc), EventType.Put, from);
    from = s.mvcc.currentRevision();
    bCall.cancel();
    expect((await failure(bCall.result)).code).toBe(status.CANCELLED);
    await nextEvent(s, bKey, EventType.Delete, from);
    // Nobody renews the first leader's lease: it expires and C leads.
    const c = await cCall.result;
    expect(c.leader!.key.toString()).toBe(`x/${lc.toString(16)}`);
    expect((await leaderOf(f.clients[1]!, 'x')).kv!.value.toString()).toBe('third');
  });
});
