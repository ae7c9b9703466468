import { afterEach, describe, expect, it, vi } from 'vitest';
import { etcdserverpb } from '@kv/api';
import { TestCluster } from './testing/test-cluster';

const b = (s: string): Buffer => Buffer.from(s);

function putReq(
  key: string,
  value: string,
  extra: Partial<etcdserverpb.PutRequest> = {},
): etcdserverpb.PutRequest {
  return { ...etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b(value) }), ...extra };
}

let cluster: TestCluster | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await cluster?.close();
  cluster = undefined;
});

describe('EtcdServer apply of its own proposals', () => {
  it('applies its own puts and txns without decoding them; the others decode', async () => {
    cluster = await TestCluster.start({ size: 3 });
    const leader = await cluster.waitForLeader();
    const followers = cluster.members.filter((m) => m !== leader);
    // A lease ID above 2^49 sends the puts through ts-proto's decoder on the
    // followers (the hand-written one leaves eight-byte varints to it), so
    // every decode is counted here.
    const lease = (await leader.server.leaseGrant({ TTL: 600n, ID: 2n ** 50n + 1n })).ID;
    const putDecode = vi.spyOn(etcdserverpb.PutRequest, 'decode');
    const txnDecode = vi.spyOn(etcdserverpb.TxnRequest, 'decode');
    const n = 10;
    for (let i = 0; i < n; i++) {
      await leader.server.put(putReq(`k${i}`, 'v', { lease }));
      await leader.server.txn(
        etcdserverpb.TxnRequest.fromPartial({
          success: [{ request: { $case: 'requestPut', value: putReq(`t${i}`, 'v', { lease }) } }],
        }),
      );
    }
    for (const f of followers) await f.server.linearizableReadBarrier();
    // Each entry is decoded by the two followers only (a txn's puts are
    // decoded with it).
    expect(putDecode).toHaveBeenCalledTimes(2 * n + 2 * n);
    expect(txnDecode).toHaveBeenCalledTimes(2 * n);
  });

  it('leaves every member with the same contents (HashKV) after a mixed workload', async () => {
    cluster = await TestCluster.start({ size: 3 });
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((m) => m !== leader)!;
    const lease = await leader.server.leaseGrant({ TTL: 600n, ID: 0n });
    // Proposed by the leader and by a follower (each applies its own entries
    // from the request object, the others from the entry's bytes).
    for (const s of [leader.server, follower.server]) {
      const tag = s === leader.server ? 'l' : 'f';
      await s.put(putReq(`${tag}/a`, 'one'));
      await s.put(putReq(`${tag}/a`, 'two', { prevKv: true }));
      await s.put(putReq(`${tag}/b`, 'leased', { lease: lease.ID }));
      await s.put(putReq(`${tag}/b`, '', { ignoreValue: true, lease: 0n }));
      await s.put(putReq(`${tag}/c`, 'x'));
      await s.put(putReq(`${tag}/c`, 'y', { ignoreLease: true }));
      // A txn of plain puts (the hand-written txn codec's shape).
      await s.txn(
        etcdserverpb.TxnRequest.fromPartial({
          success: [
            { request: { $case: 'requestPut', value: putReq(`${tag}/p1`, 'x') } },
            {
              request: {
                $case: 'requestPut',
                value: putReq(`${tag}/p2`, 'y', { lease: lease.ID }),
              },
            },
          ],
        }),
      );
      const txn = await s.txn(
        etcdserverpb.TxnRequest.fromPartial({
          compare: [
            {
              key: b(`${tag}/a`),
              target: etcdserverpb.Compare_CompareTarget.VALUE,
              result: etcdserverpb.Compare_CompareResult.EQUAL,
              targetUnion: { $case: 'value', value: b('two') },
            },
          ],
          success: [
            { request: { $case: 'requestPut', value: putReq(`${tag}/d`, 'won') } },
            {
              request: {
                $case: 'requestRange',
                value: etcdserverpb.RangeRequest.fromPartial({ key: b(`${tag}/d`) }),
              },
            },
            { request: { $case: 'requestPut', value: putReq(`${tag}/e`, 'also') } },
          ],
          failure: [{ request: { $case: 'requestPut', value: putReq(`${tag}/d`, 'lost') } }],
        }),
      );
      expect(txn.succeeded).toBe(true);
      expect(txn.responses.map((r) => r.response?.$case)).toEqual([
        'responsePut',
        'responseRange',
        'responsePut',
      ]);
      const range = txn.responses[1]!.response;
      expect(range?.$case === 'responseRange' && range.value.kvs[0]?.value.toString()).toBe('won');
      // Every nested response carries the txn's revision.
      for (const r of txn.responses)
        expect(r.response?.value.header?.revision).toBe(txn.header!.revision);
      // A refused put changes nothing anywhere.
      await expect(s.put(putReq(`${tag}/z`, 'v', { lease: 12345n }))).rejects.toThrow(
        /lease not found/,
      );
      await expect(s.put(putReq(`${tag}/none`, '', { ignoreValue: true }))).rejects.toThrow(
        /key not found/,
      );
    }
    await leader.server.deleteRange(etcdserverpb.DeleteRangeRequest.fromPartial({ key: b('l/c') }));
    for (const m of cluster.members) await m.server.linearizableReadBarrier();
    const revision = leader.server.mvcc.currentRevision();
    const hashes = await Promise.all(cluster.members.map((m) => m.server.mvcc.hashKV(revision)));
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1);
    const keys = await Promise.all(
      cluster.members.map(async (m) =>
        (
          await m.server.range(
            etcdserverpb.RangeRequest.fromPartial({ key: b('\0'), rangeEnd: b('\0') }),
          )
        ).kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}@${kv.lease}`),
      ),
    );
    expect(keys[1]).toEqual(keys[0]);
    expect(keys[2]).toEqual(keys[0]);
    expect(keys[0]).toContain(`l/b=leased@0`);
  });
});
