import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WatchBatch } from '../src/index';
import {
  AbortedError,
  AuthenticationError,
  Client,
  CompactedError,
  DeadlineExceededError,
  LeaseNotFoundError,
  PermissionDeniedError,
} from '../src/index';
import type { TestCluster } from './cluster';
import { startCluster } from './cluster';

let cluster: TestCluster;
let client: Client;

beforeAll(async () => {
  cluster = await startCluster(1);
  client = new Client({ endpoints: cluster.endpoints });
});
afterAll(async () => {
  client?.close();
  await cluster?.stop();
});

async function take(it: AsyncIterator<WatchBatch>, n: number): Promise<WatchBatch[]> {
  const out: WatchBatch[] = [];
  let events = 0;
  while (events < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
    events += r.value.events.length;
  }
  return out;
}

describe('watch', () => {
  it('delivers puts and deletes with prevKv from the creation point on', async () => {
    await client.kv.put('w1/before', 'x');
    const w = client.watch('w1/', { prefix: true, prevKv: true });
    await w.created;
    const it = w[Symbol.asyncIterator]();
    await client.kv.put('w1/a', '1');
    await client.kv.put('w1/a', '2');
    await client.kv.delete('w1/a');
    const batches = await take(it, 3);
    const events = batches.flatMap((b) => b.events);
    expect(events.map((e) => [e.type, e.kv!.key.toString(), e.kv!.value.toString()])).toEqual([
      [0, 'w1/a', '1'],
      [0, 'w1/a', '2'],
      [1, 'w1/a', ''],
    ]);
    expect(events[1]!.prevKv!.value.toString()).toBe('1');
    w.cancel();
    expect((await it.next()).done).toBe(true);
  });

  it('replays history from startRevision and applies filters', async () => {
    const r = await client.kv.put('w2/k', 'a');
    await client.kv.delete('w2/k');
    await client.kv.put('w2/k', 'b');
    const w = client.watch('w2/k', { startRevision: r.header!.revision, filters: ['nodelete'] });
    const batches = await take(w[Symbol.asyncIterator](), 2);
    expect(batches.flatMap((b) => b.events.map((e) => e.kv!.value.toString()))).toEqual(['a', 'b']);
    w.cancel();
  });

  it('surfaces a compacted start revision as CompactedError with the compaction revision', async () => {
    await client.kv.put('w3/k', '1');
    const r2 = await client.kv.put('w3/k', '2');
    await client.kv.compact(r2.header!.revision);
    const w = client.watch('w3/k', { startRevision: 1 });
    const err = await w[Symbol.asyncIterator]()
      .next()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompactedError);
    expect((err as CompactedError).compactRevision).toBe(r2.header!.revision);
  });

  it('answers progress requests with a progress notification', async () => {
    const w = client.watch('w4/', { prefix: true });
    await w.created;
    const it = w[Symbol.asyncIterator]();
    const rev = (await client.kv.put('other', 'x')).header!.revision;
    w.requestProgress();
    const b = await it.next();
    expect(b.value!.progressNotify).toBe(true);
    expect(b.value!.revision).toBeGreaterThanOrEqual(rev);
    w.cancel();
  });

  it('ends with AbortedError when its signal fires', async () => {
    const ac = new AbortController();
    const w = client.watch('w5', { signal: ac.signal });
    await w.created;
    const p = w[Symbol.asyncIterator]().next();
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortedError);
  });
});

describe('lease', () => {
  it('grants, attaches keys, reports TTL, lists and revokes', async () => {
    const g = await client.lease.grant(30);
    expect(g.TTL).toBe(30n);
    await client.kv.put('l/k', 'v', { lease: g.ID });
    const ttl = await client.lease.timeToLive(g.ID, { keys: true });
    expect(ttl.grantedTTL).toBe(30n);
    expect(ttl.keys.map((k) => k.toString())).toEqual(['l/k']);
    expect((await client.lease.leases()).leases.map((l) => l.ID)).toContain(g.ID);
    const once = await client.lease.keepAliveOnce(g.ID);
    expect(once.TTL).toBe(30n);
    await client.lease.revoke(g.ID);
    expect((await client.kv.get('l/k')).count).toBe(0n);
    await expect(client.lease.revoke(g.ID)).rejects.toBeInstanceOf(LeaseNotFoundError);
    await expect(client.lease.keepAliveOnce(g.ID)).rejects.toBeInstanceOf(LeaseNotFoundError);
  });

  it('keeps a lease alive past its TTL and emits lost when it is revoked', async () => {
    const g = await client.lease.grant(2);
    await client.kv.put('l2/k', 'v', { lease: g.ID });
    const ka = client.lease.keepAlive(g.ID);
    // Wait for renewals spanning more than the TTL.
    while (ka.renewals < 5) await new Promise<void>((r) => ka.once('keepalive', () => r()));
    expect((await client.kv.get('l2/k')).count).toBe(1n);
    await client.lease.revoke(g.ID);
    const err = await ka.lost;
    expect(err).toBeInstanceOf(LeaseNotFoundError);
  });
});

describe('maintenance and cluster', () => {
  it('reports status, member list, hashKV, alarms, defragments and streams a snapshot', async () => {
    const st = await client.maintenance.status();
    expect(st.version).toMatch(/^3\./);
    expect(st.leader).toBe(st.header!.memberId);
    const ml = await client.cluster.memberList();
    expect(ml.members).toHaveLength(1);
    expect(ml.members[0]!.clientURLs).toEqual([cluster.endpoints[0]]);
    const h1 = await client.maintenance.hashKV(0, { endpoint: cluster.endpoints[0]! });
    const h2 = await client.maintenance.hashKV(0);
    expect(h1.hash).toBe(h2.hash);
    expect((await client.maintenance.alarmList()).alarms).toEqual([]);
    await client.maintenance.defragment();
    let bytes = 0;
    for await (const chunk of client.maintenance.snapshot()) bytes += chunk.length;
    expect(bytes).toBeGreaterThan(1024);
  });
});

describe('lock and election', () => {
  it('serialises lock holders and times out a waiting locker', async () => {
    const a = await client.lock('mylock', { ttl: 10 });
    expect(a.key.toString()).toMatch(/^mylock\//);
    const t0 = Date.now();
    await expect(client.lock('mylock', { ttl: 10, deadlineMs: 300 })).rejects.toBeInstanceOf(
      DeadlineExceededError,
    );
    expect(Date.now() - t0).toBeLessThan(2_000);
    const bP = client.lock('mylock', { ttl: 10 });
    let bHeld = false;
    void bP.then(() => (bHeld = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(bHeld).toBe(false);
    await a.unlock();
    const b = await bP;
    expect(b.key.equals(a.key)).toBe(false);
    await b.unlock();
  });

  it('elects, proclaims, observes and resigns', async () => {
    const e1 = client.election('elect', { ttl: 10 });
    const e2 = client.election('elect', { ttl: 10 });
    await e1.campaign('one');
    expect((await e1.leader()).kv!.value.toString()).toBe('one');
    const second = e2.campaign('two');
    const obs = e1.observe();
    const nextValue = async (): Promise<string> => {
      const r = await obs.next();
      if (r.done) throw new Error('observe ended');
      return r.value.kv!.value.toString();
    };
    expect(await nextValue()).toBe('one');
    await e1.proclaim('one-b');
    expect(await nextValue()).toBe('one-b');
    await e1.resign();
    await second;
    expect(await nextValue()).toBe('two');
    await obs.return(undefined);
    await e2.resign();
  });
});

describe('auth', () => {
  it('manages users and roles, refreshes the token, and maps permission errors', async () => {
    await client.auth.userAdd('root', 'rootpw');
    await client.auth.roleAdd('root');
    await client.auth.userGrantRole('root', 'root');
    await client.auth.userAdd('alice', 'pw');
    await client.auth.roleAdd('reader');
    await client.auth.roleGrantPermission('reader', 'read', 'pub/', { prefix: true });
    await client.auth.userGrantRole('alice', 'reader');
    expect((await client.auth.userList()).users.sort()).toEqual(['alice', 'root']);
    expect((await client.auth.roleGet('reader')).perm[0]!.key.toString()).toBe('pub/');
    await client.kv.put('pub/x', 'hello');
    await client.auth.enable();
    const root = new Client({
      endpoints: cluster.endpoints,
      auth: { username: 'root', password: 'rootpw' },
    });
    const alice = new Client({
      endpoints: cluster.endpoints,
      auth: { username: 'alice', password: 'pw' },
    });
    const wrong = new Client({
      endpoints: cluster.endpoints,
      auth: { username: 'alice', password: 'nope' },
    });
    try {
      expect((await alice.kv.get('pub/x')).kvs[0]!.value.toString()).toBe('hello');
      await expect(alice.kv.put('pub/x', 'no')).rejects.toBeInstanceOf(PermissionDeniedError);
      await expect(wrong.kv.get('pub/x')).rejects.toBeInstanceOf(AuthenticationError);
      // A permission change takes effect for an existing token.
      await root.auth.roleGrantPermission('reader', 'readwrite', 'pub/', { prefix: true });
      await alice.kv.put('pub/x', 'yes');
      expect((await alice.kv.get('pub/x')).kvs[0]!.value.toString()).toBe('yes');
      await root.auth.disable();
    } finally {
      root.close();
      alice.close();
      wrong.close();
    }
  });
});
