import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, CompactedError, FutureRevisionError, compare, op } from '../src/index';
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

describe('kv', () => {
  it('puts, gets and deletes with string and byte keys', async () => {
    const put = await client.kv.put('a/1', 'one');
    expect(put.header!.revision).toBeGreaterThan(1n);
    await client.kv.put(Buffer.from('a/2'), new Uint8Array([0, 255]));
    const one = await client.kv.get('a/1');
    expect(one.kvs.map((kv) => kv.value.toString())).toEqual(['one']);
    const all = await client.kv.get('a/', { prefix: true });
    expect(all.count).toBe(2n);
    expect([...all.kvs[1]!.value]).toEqual([0, 255]);
    const prev = await client.kv.put('a/1', 'uno', { prevKv: true });
    expect(prev.prevKv!.value.toString()).toBe('one');
    const del = await client.kv.delete('a/', { prefix: true, prevKv: true });
    expect(del.deleted).toBe(2n);
    expect(del.prevKvs.map((kv) => kv.key.toString())).toEqual(['a/1', 'a/2']);
    expect((await client.kv.get('a/', { prefix: true })).count).toBe(0n);
  });

  it('honours every range option', async () => {
    for (const k of ['r/a', 'r/b', 'r/c', 'r/d']) await client.kv.put(k, `v-${k}`);
    const limited = await client.kv.get('r/', { prefix: true, limit: 2 });
    expect(limited.kvs.map((k) => k.key.toString())).toEqual(['r/a', 'r/b']);
    expect(limited.more).toBe(true);
    const desc = await client.kv.get('r/', {
      prefix: true,
      sortOrder: 'descend',
      sortTarget: 'key',
    });
    expect(desc.kvs.map((k) => k.key.toString())).toEqual(['r/d', 'r/c', 'r/b', 'r/a']);
    const keysOnly = await client.kv.get('r/', { prefix: true, keysOnly: true });
    expect(keysOnly.kvs.every((k) => k.value.length === 0)).toBe(true);
    const countOnly = await client.kv.get('r/', { prefix: true, countOnly: true });
    expect(countOnly.kvs).toEqual([]);
    expect(countOnly.count).toBe(4n);
    const fromC = await client.kv.get('r/c', { fromKey: true });
    expect(fromC.kvs.map((k) => k.key.toString())).toEqual(['r/c', 'r/d']);
    const between = await client.kv.get('r/b', { rangeEnd: 'r/d' });
    expect(between.kvs.map((k) => k.key.toString())).toEqual(['r/b', 'r/c']);
    const rev = desc.kvs[0]!.modRevision;
    const old = await client.kv.get('r/', { prefix: true, revision: rev - 1n });
    expect(old.kvs.map((k) => k.key.toString())).toEqual(['r/a', 'r/b', 'r/c']);
    const minMod = await client.kv.get('r/', { prefix: true, minModRevision: rev });
    expect(minMod.kvs.map((k) => k.key.toString())).toEqual(['r/d']);
    const ser = await client.kv.get('r/a', { serializable: true });
    expect(ser.kvs[0]!.value.toString()).toBe('v-r/a');
  });

  it('commits transactions built with compare and op', async () => {
    await client.kv.put('t/k', 'v');
    const ok = await client.kv
      .txn()
      .if(compare.value('t/k', '=', 'v'), compare.version('t/k', '>', 0))
      .then(op.put('t/k', 'v2'), op.get('t/k'))
      .else(op.get('t/k'))
      .commit();
    expect(ok.succeeded).toBe(true);
    const got = ok.responses[1]!.response;
    expect(got?.$case).toBe('responseRange');
    if (got?.$case === 'responseRange') expect(got.value.kvs[0]!.value.toString()).toBe('v2');
    const fail = await client.kv
      .txn()
      .if(compare.value('t/k', '=', 'v'))
      .then(op.delete('t/k'))
      .else(op.get('t/k'))
      .commit();
    expect(fail.succeeded).toBe(false);
    expect((await client.kv.get('t/k')).kvs[0]!.value.toString()).toBe('v2');
  });

  it('maps compaction and future-revision errors to typed errors', async () => {
    const r1 = await client.kv.put('c/k', '1');
    await client.kv.put('c/k', '2');
    const r3 = await client.kv.put('c/k', '3');
    await client.kv.compact(r3.header!.revision, { physical: true });
    const err = await client.kv
      .get('c/k', { revision: r1.header!.revision })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompactedError);
    expect((err as CompactedError).details).toBe(
      'etcdserver: mvcc: required revision has been compacted',
    );
    const fut = await client.kv
      .get('c/k', { revision: r3.header!.revision + 100n })
      .catch((e: unknown) => e);
    expect(fut).toBeInstanceOf(FutureRevisionError);
  });
});
