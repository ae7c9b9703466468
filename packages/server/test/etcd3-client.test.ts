/**
 * The npm `etcd3` client (microsoft/etcd3) against a 3-member cluster of our
 * server: KV, transactions, watch, leases, and its lock and election recipes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { ProcessCluster } from './harness';

let cluster: ProcessCluster;
let client: Etcd3;

beforeAll(async () => {
  cluster = await ProcessCluster.start({ kind: 'kv', size: 3 });
  client = new Etcd3({ hosts: cluster.members.map((m) => `http://${m.endpoint}`) });
}, 60_000);

afterAll(async () => {
  client.close();
  await cluster.close();
});

describe('npm etcd3 client against our cluster', () => {
  it('puts, gets, lists prefixes and deletes', async () => {
    await client.put('etcd3/a').value('1');
    await client.put('etcd3/b').value('2');
    expect(await client.get('etcd3/a').string()).toBe('1');
    expect(await client.getAll().prefix('etcd3/').strings()).toEqual({
      'etcd3/a': '1',
      'etcd3/b': '2',
    });
    expect(await client.getAll().prefix('etcd3/').count()).toBe(2);
    await client.delete().key('etcd3/a');
    expect(await client.get('etcd3/a').string()).toBeNull();
  });

  it('runs transactions with compares', async () => {
    await client.put('etcd3/cas').value('old');
    const ok = await client
      .if('etcd3/cas', 'Value', '==', 'old')
      .then(client.put('etcd3/cas').value('new'))
      .commit();
    expect(ok.succeeded).toBe(true);
    const again = await client
      .if('etcd3/cas', 'Value', '==', 'old')
      .then(client.put('etcd3/cas').value('x'))
      .commit();
    expect(again.succeeded).toBe(false);
    expect(await client.get('etcd3/cas').string()).toBe('new');
  });

  it('watches puts and deletes', async () => {
    const watcher = await client.watch().key('etcd3/w').create();
    const seen: string[] = [];
    const done = new Promise<void>((resolve) => {
      watcher.on('put', (kv) => {
        seen.push(`put ${kv.value.toString()}`);
      });
      watcher.on('delete', () => {
        seen.push('delete');
        resolve();
      });
    });
    await client.put('etcd3/w').value('1');
    await client.put('etcd3/w').value('2');
    await client.delete().key('etcd3/w');
    await done;
    await watcher.cancel();
    expect(seen).toEqual(['put 1', 'put 2', 'delete']);
  });

  it('grants leases, attaches keys, and revokes them with the keys', async () => {
    const lease = client.lease(10, { autoKeepAlive: false });
    await lease.put('etcd3/leased').value('v');
    const renewed = await lease.keepaliveOnce();
    expect(Number(renewed.TTL)).toBe(10);
    expect(await client.get('etcd3/leased').string()).toBe('v');
    await lease.revoke();
    expect(await client.get('etcd3/leased').string()).toBeNull();
  });

  it('excludes a second holder with its lock recipe until the first releases', async () => {
    const first = client.lock('etcd3/lock');
    await first.acquire();
    // etcd3's lock is a try-lock: a second acquire fails while the first holds it.
    await expect(client.lock('etcd3/lock').acquire()).rejects.toThrow(/Failed to acquire a lock/);
    await first.release();
    const second = client.lock('etcd3/lock');
    await second.acquire();
    await second.release();
  });

  it('elects a leader with its election recipe', async () => {
    const election = client.election('etcd3/election');
    const campaign = election.campaign('candidate-1');
    await new Promise<void>((resolve, reject) => {
      campaign.on('elected', () => resolve());
      campaign.on('error', reject);
    });
    expect(await election.leader()).toBe('candidate-1');
    await campaign.resign();
  });
});
