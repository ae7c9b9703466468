// Failover against a 3-member cluster: one member is SIGKILLed mid-stream.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client, compare, op } from '../src/index';
import type { TestCluster } from './cluster';
import { startCluster } from './cluster';

let cluster: TestCluster;
const clients: Client[] = [];

function newClient(endpoints = cluster.endpoints): Client {
  const c = new Client({ endpoints });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  cluster = await startCluster(3);
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});
// Bring every killed member back so each test starts with three.
afterEach(async () => {
  for (let i = 0; i < cluster.members.length; i++) {
    if (cluster.members[i]!.proc === undefined) await cluster.restart(i);
  }
}, 60_000);

async function leaderIndex(c: Client): Promise<number> {
  for (let i = 0; i < cluster.endpoints.length; i++) {
    if (cluster.members[i]!.proc === undefined) continue;
    const st = await c.maintenance.status({ endpoint: cluster.endpoints[i]!, deadlineMs: 2_000 });
    if (st.leader !== 0n && st.leader === st.header!.memberId) return i;
  }
  throw new Error('no leader');
}

const address = (url: string): string => url.replace(/^http:\/\//, '');

/** A put that is safe to repeat: after an unknown outcome it writes only if the key is absent. */
async function putOnce(c: Client, key: string, value: string): Promise<void> {
  try {
    await c.kv.put(key, value, { deadlineMs: 10_000 });
    return;
  } catch {
    // Outcome unknown: fall through to the guarded write.
  }
  for (;;) {
    try {
      await c.kv
        .txn()
        .if(compare.version(key, '=', 0))
        .then(op.put(key, value))
        .commit({ deadlineMs: 10_000 });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('failover with one of three members killed', () => {
  it('keeps reads succeeding while the leader is killed', async () => {
    const c = newClient();
    await c.kv.put('f/read', 'v');
    const victim = await leaderIndex(c);
    let reads = 0;
    let readsAfterKill = 0;
    let killed = false;
    const killAt = Date.now() + 300;
    const until = Date.now() + 3_000;
    let kill: Promise<void> | undefined;
    while (Date.now() < until) {
      if (!kill && Date.now() >= killAt)
        kill = cluster.kill(victim).then(() => void (killed = true));
      const r = await c.kv.get('f/read', { deadlineMs: 15_000 });
      expect(r.kvs[0]!.value.toString()).toBe('v');
      reads++;
      if (killed) readsAfterKill++;
    }
    await kill;
    expect(reads).toBeGreaterThan(10);
    expect(readsAfterKill).toBeGreaterThan(5);
    expect(c.healthyEndpoints()).not.toContain(address(cluster.endpoints[victim]!));
  });

  it('resumes a watch on another member without a gap or a duplicate', async () => {
    const wc = newClient();
    const w = wc.watch('fw/', { prefix: true });
    await w.created;
    const victim = cluster.endpoints.findIndex((u) => address(u) === w.endpoint);
    expect(victim).toBeGreaterThanOrEqual(0);
    const writer = newClient(cluster.endpoints.filter((_, i) => i !== victim));
    const N = 60;
    const received: { key: string; rev: bigint }[] = [];
    const collect = (async () => {
      for await (const batch of w) {
        for (const e of batch.events)
          received.push({ key: e.kv!.key.toString(), rev: e.kv!.modRevision });
        if (received.length >= N) break;
      }
    })();
    for (let i = 0; i < N; i++) {
      if (i === N / 3) await cluster.kill(victim);
      await putOnce(writer, `fw/${String(i).padStart(3, '0')}`, String(i));
    }
    await collect;
    expect(received.map((r) => r.key)).toEqual(
      Array.from({ length: N }, (_, i) => `fw/${String(i).padStart(3, '0')}`),
    );
    for (let i = 1; i < received.length; i++)
      expect(received[i]!.rev).toBeGreaterThan(received[i - 1]!.rev);
    expect(w.reconnects).toBeGreaterThanOrEqual(1);
    expect(w.endpoint).not.toBe(address(cluster.endpoints[victim]!));
  });

  it('never applies a write twice while retrying through a leader kill', async () => {
    const c = newClient();
    const start = (await c.kv.put('fd/k', 'start')).header!.revision;
    const victim = await leaderIndex(c);
    const N = 80;
    const acked: string[] = [];
    for (let i = 0; i < N; i++) {
      if (i === 20) await cluster.kill(victim);
      try {
        await c.kv.put('fd/k', `v${i}`, { deadlineMs: 10_000 });
        acked.push(`v${i}`);
      } catch {
        // Unknown outcome: the client refused to resend; the history decides.
      }
    }
    const end = (await c.kv.get('fd/k')).header!.revision;
    const history: string[] = [];
    const w = c.watch('fd/k', { startRevision: start + 1n });
    for await (const b of w) {
      for (const e of b.events) history.push(e.kv!.value.toString());
      if (b.events.at(-1)!.kv!.modRevision >= end) break;
    }
    expect(new Set(history).size).toBe(history.length);
    for (const v of acked) expect(history).toContain(v);
    expect(acked.length).toBeGreaterThan(N / 2);
  });

  it('keeps a lease alive across a leader change', async () => {
    const c = newClient();
    const g = await c.lease.grant(2);
    await c.kv.put('fl/k', 'v', { lease: g.ID });
    const ka = c.lease.keepAlive(g.ID);
    let lost = false;
    ka.on('lost', () => (lost = true));
    await new Promise<void>((r) => ka.once('keepalive', () => r()));
    const victim = await leaderIndex(c);
    await cluster.kill(victim);
    const renewedBefore = ka.renewals;
    // Several TTLs pass; the lease would have expired without renewals.
    while (ka.renewals < renewedBefore + 6 && !lost)
      await new Promise<void>((r) => setTimeout(r, 100));
    expect(lost).toBe(false);
    const survivor = newClient(cluster.endpoints.filter((_, i) => i !== victim));
    const ttl = await survivor.lease.timeToLive(g.ID, { deadlineMs: 10_000 });
    expect(ttl.TTL).toBeGreaterThan(0n);
    expect((await survivor.kv.get('fl/k', { deadlineMs: 10_000 })).count).toBe(1n);
    ka.close();
  });
});
