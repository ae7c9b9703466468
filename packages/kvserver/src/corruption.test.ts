import { describe, expect, it } from 'vitest';
import { etcdserverpb } from '@kv/api';
import { MemoryBackend, MvccStore } from '@kv/mvcc';
import { ManualClock } from './clock';
import { Errors } from './errors';
import { silentLogger } from './logger';
import { TestCluster } from './testing/test-cluster';
import {
  CorruptionChecker,
  CorruptionError,
  PeerHashKVError,
  answerHashKVRequest,
  decodeHashKVAnswer,
  decodeHashKVRequest,
  encodeHashKVRequest,
} from './corruption';
import type { CorruptionCheckerDeps, HashKV, PeerHashKV } from './corruption';

const SELF = 0x1n;
const A = 0xan;
const B = 0xbn;

interface Fake {
  deps: CorruptionCheckerDeps;
  alarms: bigint[];
  asked: number[];
}

/**
 * A leader (or restarting member) whose own hashes come from `own` (one per
 * call, the last repeating) and whose peers answer from `peers`.
 */
function fake(
  own: HashKV[],
  peers: Record<string, PeerHashKV | Error>,
  opts: { leader?: boolean; clock?: ManualClock } = {},
): Fake {
  const alarms: bigint[] = [];
  const asked: number[] = [];
  let call = 0;
  return {
    alarms,
    asked,
    deps: {
      memberId: SELF,
      hashKV: () => Promise.resolve(own[Math.min(call++, own.length - 1)]!),
      peers: () => Object.keys(peers).map((k) => BigInt(k)),
      peerHashKV: (peer, rev) => {
        asked.push(rev);
        const r = peers[peer.toString()]!;
        return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
      },
      isLeader: () => opts.leader ?? true,
      readBarrier: () => Promise.resolve(),
      raiseCorruptAlarm: (id) => {
        alarms.push(id);
        return Promise.resolve();
      },
      clock: opts.clock ?? new ManualClock(),
      logger: silentLogger,
    },
  };
}

const h = (hash: number, revision: number, compactRevision = 0): HashKV => ({
  hash,
  revision,
  compactRevision,
});
const p = (id: bigint, hash: number, revision: number, compactRevision = 0): PeerHashKV => ({
  memberId: id,
  ...h(hash, revision, compactRevision),
});

describe('CorruptionChecker.check (leader)', () => {
  it('raises nothing when every member agrees, asking peers at its own revision', async () => {
    const f = fake([h(7, 10)], { [A.toString()]: p(A, 7, 10), [B.toString()]: p(B, 7, 9) });
    expect(await new CorruptionChecker(f.deps).check()).toBeUndefined();
    expect(f.alarms).toEqual([]);
    expect(f.asked).toEqual([10, 10]);
  });

  it('raises CORRUPT for the follower whose hash differs at the same compact revision', async () => {
    const f = fake([h(7, 10, 3)], {
      [A.toString()]: p(A, 7, 10, 3),
      [B.toString()]: p(B, 8, 10, 3),
    });
    expect(await new CorruptionChecker(f.deps).check()).toBe(B);
    expect(f.alarms).toEqual([B]);
  });

  it('does not compare hashes across different compact revisions', async () => {
    const f = fake([h(7, 10, 5)], { [A.toString()]: p(A, 8, 10, 3) });
    expect(await new CorruptionChecker(f.deps).check()).toBeUndefined();
  });

  it('raises CORRUPT for a follower ahead of the leader in revision or compact revision', async () => {
    const ahead = fake([h(7, 10)], { [A.toString()]: p(A, 7, 11) });
    expect(await new CorruptionChecker(ahead.deps).check()).toBe(A);
    const compactedAhead = fake([h(7, 10, 2)], { [B.toString()]: p(B, 9, 10, 4) });
    expect(await new CorruptionChecker(compactedAhead.deps).check()).toBe(B);
  });

  it('raises CORRUPT for itself when its own hash of one revision changes', async () => {
    const f = fake([h(7, 10), h(8, 10)], {});
    expect(await new CorruptionChecker(f.deps).check()).toBe(SELF);
  });

  it('raises one alarm per pass, for the first member found', async () => {
    const f = fake([h(7, 10)], { [A.toString()]: p(A, 1, 10), [B.toString()]: p(B, 2, 10) });
    expect(await new CorruptionChecker(f.deps).check()).toBe(A);
    expect(f.alarms).toEqual([A]);
  });

  it('skips peers that cannot answer, and does nothing on a follower', async () => {
    const f = fake([h(7, 10)], {
      [A.toString()]: new PeerHashKVError(
        'future-revision',
        'mvcc: required revision is a future revision',
      ),
      [B.toString()]: new Error('peer request timed out'),
    });
    expect(await new CorruptionChecker(f.deps).check()).toBeUndefined();
    const follower = fake([h(7, 10)], { [A.toString()]: p(A, 1, 10) }, { leader: false });
    expect(await new CorruptionChecker(follower.deps).check()).toBeUndefined();
    expect(follower.asked).toEqual([]);
  });

  it('runs every interval once started, and not after stop', async () => {
    const clock = new ManualClock();
    const f = fake([h(7, 10)], { [A.toString()]: p(A, 1, 10) }, { clock });
    const checker = new CorruptionChecker(f.deps);
    checker.start(1000);
    clock.advance(999);
    await new Promise((r) => setImmediate(r));
    expect(f.alarms).toEqual([]);
    clock.advance(1);
    for (let i = 0; i < 10 && f.alarms.length === 0; i++) await new Promise((r) => setImmediate(r));
    expect(f.alarms).toEqual([A]);
    clock.advance(1000);
    for (let i = 0; i < 10 && f.alarms.length === 1; i++) await new Promise((r) => setImmediate(r));
    expect(f.alarms).toEqual([A, A]);
    await checker.stop();
    clock.advance(5000);
    await new Promise((r) => setImmediate(r));
    expect(f.alarms).toEqual([A, A]);
  });
});

describe('CorruptionChecker.initialCheck', () => {
  it('passes when peers agree or cannot answer', async () => {
    const f = fake([h(7, 10, 2)], {
      [A.toString()]: p(A, 7, 12, 2),
      [B.toString()]: new PeerHashKVError(
        'compacted',
        'mvcc: required revision has been compacted',
      ),
    });
    await expect(new CorruptionChecker(f.deps).initialCheck()).resolves.toBeUndefined();
    expect(f.asked).toEqual([10, 10]);
  });

  it('refuses to start on a different hash at the same compact revision', async () => {
    const f = fake([h(7, 10, 2)], {
      [A.toString()]: p(A, 7, 10, 2),
      [B.toString()]: p(B, 9, 10, 2),
    });
    const err = await new CorruptionChecker(f.deps).initialCheck().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as Error).message).toBe('1 found data inconsistency with peers');
    expect(f.alarms).toEqual([]);
  });

  it('only warns when the compact revisions differ', async () => {
    const f = fake([h(7, 10, 2)], { [A.toString()]: p(A, 9, 10, 4) });
    await expect(new CorruptionChecker(f.deps).initialCheck()).resolves.toBeUndefined();
  });
});

describe('hashkv peer request', () => {
  const enc = (s: string): Uint8Array => Buffer.from(s);

  it('answers with the local store hash at the asked revision, or the reason it cannot', async () => {
    const mvcc = await MvccStore.open(new MemoryBackend());
    for (let i = 0; i < 5; i++) {
      const t = mvcc.write();
      t.put(enc(`k${i % 2}`), enc(`v${i}`), 0n);
      t.end();
    }
    expect(decodeHashKVRequest(encodeHashKVRequest(4))).toBe(4);
    const at4 = decodeHashKVAnswer(
      await answerHashKVRequest(0x2an, encodeHashKVRequest(4), (r) => mvcc.hashKV(r)),
    );
    expect(at4).toEqual({ memberId: 0x2an, ...(await mvcc.hashKV(4)) });
    expect(at4.revision).toBe(mvcc.currentRevision());
    expect(at4.hash).not.toBe((await mvcc.hashKV(0)).hash);

    const reasonOf = async (revision: number): Promise<string | undefined> => {
      const raw = await answerHashKVRequest(0x2an, encodeHashKVRequest(revision), (r) =>
        mvcc.hashKV(r),
      );
      try {
        decodeHashKVAnswer(raw);
        return undefined;
      } catch (err) {
        expect(err).toBeInstanceOf(PeerHashKVError);
        return (err as PeerHashKVError).reason;
      }
    };
    expect(await reasonOf(99)).toBe('future-revision');
    await mvcc.compact(4);
    expect(await reasonOf(2)).toBe('compacted');
    expect(await reasonOf(4)).toBeUndefined();
    await mvcc.close();
  });
});

describe('EtcdServer under a CORRUPT alarm (etcd 3.4 applierV3Corrupt)', () => {
  it('refuses writes, compaction and leases with DataLoss, serves reads, and recovers on disarm', async () => {
    const cluster = await TestCluster.start({ size: 1 });
    try {
      let s = (await cluster.waitForLeader()).server;
      const key = Buffer.from('k');
      const put = (v: string) =>
        s.put(etcdserverpb.PutRequest.fromPartial({ key, value: Buffer.from(v) }));
      await put('1');
      const Action = etcdserverpb.AlarmRequest_AlarmAction;
      const CORRUPT = etcdserverpb.AlarmType.CORRUPT;
      await s.alarm({ action: Action.ACTIVATE, memberID: s.memberId, alarm: CORRUPT });
      const corrupt = Errors.corrupt();
      const refused = async (p: Promise<unknown>): Promise<void> => {
        const err = await p.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toMatchObject({ grpcCode: corrupt.grpcCode, message: corrupt.message });
      };
      expect(corrupt.grpcCode).toBe(15); // DATA_LOSS
      await refused(put('2'));
      await refused(s.deleteRange(etcdserverpb.DeleteRangeRequest.fromPartial({ key })));
      await refused(
        s.txn(
          etcdserverpb.TxnRequest.fromPartial({
            success: [
              { request: { $case: 'requestPut', value: { key, value: Buffer.from('3') } } },
            ],
          }),
        ),
      );
      await refused(s.compact({ revision: 1n, physical: false }));
      await refused(s.leaseGrant({ TTL: 10n, ID: 0n }));
      // Reads, including read-only txns, are still served.
      const r = await s.range(etcdserverpb.RangeRequest.fromPartial({ key }));
      expect(r.kvs.map((kv) => Buffer.from(kv.value).toString())).toEqual(['1']);
      const t = await s.txn(
        etcdserverpb.TxnRequest.fromPartial({
          success: [{ request: { $case: 'requestRange', value: { key } } }],
        }),
      );
      expect(t.succeeded).toBe(true);
      // The alarm is stored: a restarted member still refuses.
      await cluster.stopMember(0);
      await cluster.restartMember(0);
      s = (await cluster.waitForLeader()).server;
      await refused(put('2'));
      await s.alarm({ action: Action.DEACTIVATE, memberID: s.memberId, alarm: CORRUPT });
      expect((await put('4')).header?.revision).toBe(3n);
    } finally {
      await cluster.close();
    }
  });
});
