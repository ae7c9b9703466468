/**
 * v3electionpb.Election: leader election over the same queue as the lock
 * (see lock-service.ts). The leader is the oldest key under `name/`; its
 * value is what the leader proclaims. A LeaderKey (name, key, create
 * revision, lease) is the proof of leadership: Proclaim and Resign act only
 * while that exact generation of the key exists, so a leader whose lease
 * expired cannot overwrite or delete its successor's key.
 */
import { status } from '@grpc/grpc-js';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { etcdserverpb, v3electionpb } from '@kv/api';
import type { ElectionServer, mvccpb } from '@kv/api';
import { EventType } from '@kv/mvcc';
import { toPbKeyValue } from '../apply/kv';
import type { EtcdServer } from '../etcd-server';
import { EtcdError } from '../errors';
import type { Interceptors } from './interceptors';
import { toServiceError } from './interceptors';
import {
  acquire,
  asServiceError,
  authorizeKey,
  authorizeQueue,
  callSignal,
  etcdErrors,
  firstCreated,
  prefixEnd,
  queueKey,
  queuePrefix,
  sessionLease,
  watchUntil,
} from './lock-service';

const SERVICE = 'v3electionpb.Election';

/** concurrency.ErrElectionNotLeader. */
export function notLeader(): EtcdError {
  return new EtcdError(status.UNKNOWN, 'election: not leader');
}

/** concurrency.ErrElectionNoLeader. */
export function noLeader(): EtcdError {
  return new EtcdError(status.UNKNOWN, 'election: no leader');
}

/** v3election.ErrMissingLeaderKey. */
export function missingLeaderKey(): EtcdError {
  return new EtcdError(status.UNKNOWN, '"leader" field must be provided');
}

function createRevisionIs(key: Buffer, rev: bigint): etcdserverpb.Compare {
  return etcdserverpb.Compare.fromPartial({
    key,
    target: etcdserverpb.Compare_CompareTarget.CREATE,
    result: etcdserverpb.Compare_CompareResult.EQUAL,
    targetUnion: { $case: 'createRevision', value: rev },
  });
}

/** Puts a new value on the leader key if it is still the generation `leader.rev`. */
async function putIfLeader(
  server: EtcdServer,
  leader: v3electionpb.LeaderKey,
  value: Buffer,
): Promise<etcdserverpb.TxnResponse> {
  return server.txn(
    etcdserverpb.TxnRequest.fromPartial({
      compare: [createRevisionIs(leader.key, leader.rev)],
      success: [
        {
          request: {
            $case: 'requestPut',
            value: etcdserverpb.PutRequest.fromPartial({
              key: leader.key,
              value,
              lease: leader.lease,
            }),
          },
        },
      ],
    }),
  );
}

/**
 * Campaign: joins the election's queue with `value` and waits to lead. A
 * caller whose lease already queued keeps its place and proclaims the new
 * value. The response header is the joining txn's, as in etcd.
 */
export async function campaign(
  server: EtcdServer,
  req: v3electionpb.CampaignRequest,
  signal: AbortSignal,
): Promise<v3electionpb.CampaignResponse> {
  const lease = await sessionLease(server, req.lease);
  const { entry } = await acquire(server, req.name, lease, req.value, signal, async (e) => {
    if (e.existing === undefined || e.existing.value.equals(req.value)) return;
    const leader = v3electionpb.LeaderKey.fromPartial({ key: e.key, rev: e.rev, lease });
    const resp = await putIfLeader(server, leader, req.value);
    if (!resp.succeeded) throw notLeader();
  });
  return v3electionpb.CampaignResponse.fromPartial({
    header: entry.header,
    leader: { name: req.name, key: entry.key, rev: entry.rev, lease },
  });
}

/** Proclaim: a new value from the leader; "election: not leader" once the key is gone or replaced. */
export async function proclaim(
  server: EtcdServer,
  req: v3electionpb.ProclaimRequest,
): Promise<v3electionpb.ProclaimResponse> {
  if (req.leader === undefined) throw missingLeaderKey();
  const resp = await putIfLeader(server, req.leader, req.value);
  if (!resp.succeeded) throw notLeader();
  return v3electionpb.ProclaimResponse.fromPartial({ header: resp.header });
}

/** Leader: the oldest key of the election. */
export async function leader(
  server: EtcdServer,
  req: v3electionpb.LeaderRequest,
): Promise<v3electionpb.LeaderResponse> {
  const resp = await server.range(firstCreated(queuePrefix(req.name)));
  const kv = resp.kvs[0];
  if (kv === undefined) throw noLeader();
  return v3electionpb.LeaderResponse.fromPartial({ header: resp.header, kv });
}

/** Resign: deletes the leader key if it is still this generation; otherwise does nothing. */
export async function resign(
  server: EtcdServer,
  req: v3electionpb.ResignRequest,
): Promise<v3electionpb.ResignResponse> {
  const l = req.leader;
  if (l === undefined) throw missingLeaderKey();
  const resp = await server.txn(
    etcdserverpb.TxnRequest.fromPartial({
      compare: [createRevisionIs(l.key, l.rev)],
      success: [
        {
          request: {
            $case: 'requestDeleteRange',
            value: etcdserverpb.DeleteRangeRequest.fromPartial({ key: l.key }),
          },
        },
      ],
    }),
  );
  return v3electionpb.ResignResponse.fromPartial({ header: resp.header });
}

/**
 * Observe: sends the current leader, then every put to the leader key, and
 * when the key is deleted the next leader — until the signal fires. With no
 * leader it waits for the first key put under the prefix. A watch that
 * breaks (compaction, snapshot restore) is replaced by a fresh read; an
 * unchanged leader is not sent twice.
 */
export async function observe(
  server: EtcdServer,
  name: Uint8Array,
  signal: AbortSignal,
  send: (resp: v3electionpb.LeaderResponse) => Promise<void>,
): Promise<void> {
  const prefix = queuePrefix(name);
  let last: mvccpb.KeyValue | undefined;
  const emit = async (header: etcdserverpb.ResponseHeader, kv: mvccpb.KeyValue): Promise<void> => {
    if (last !== undefined && last.key.equals(kv.key) && last.modRevision === kv.modRevision) {
      return;
    }
    last = kv;
    await send({ header, kv });
  };
  // After the leader key is deleted, the next leader is read at the revision
  // of that delete, so no value it held afterwards is skipped.
  let at: number | undefined;
  while (!signal.aborted) {
    const request = firstCreated(prefix);
    if (at !== undefined) request.revision = BigInt(at);
    let resp: etcdserverpb.RangeResponse;
    try {
      resp = await server.range(request);
    } catch (err) {
      // The delete's revision was compacted away: read the present instead.
      if (at === undefined) throw err;
      at = undefined;
      continue;
    }
    // The revision the answer describes: watches continue right after it.
    const readAt = at ?? Number(resp.header!.revision);
    at = undefined;
    if (signal.aborted) return;
    let kv = resp.kvs[0];
    let header = server.header(readAt);
    if (kv === undefined) {
      let found: mvccpb.KeyValue | undefined;
      await watchUntil(
        server,
        { key: prefix, end: prefixEnd(prefix), startRevision: Number(header.revision) + 1 },
        signal,
        (events) => {
          // Only a put names a leader; deletes under an empty prefix are noise.
          const put = events.find((e) => e.type === EventType.Put);
          if (put === undefined) return false;
          found = toPbKeyValue(put.kv);
          return true;
        },
      );
      if (found === undefined) continue;
      kv = found;
      header = server.header(Number(found.modRevision));
    }
    await emit(header, kv);
    await watchUntil(
      server,
      { key: kv.key, startRevision: Number(header.revision) + 1 },
      signal,
      async (events, revision) => {
        for (const e of events) {
          if (e.type === EventType.Delete) {
            at = revision;
            return true;
          }
          await emit(server.header(revision), toPbKeyValue(e.kv));
        }
        return false;
      },
    );
  }
}

type ObserveCall = ServerWritableStream<v3electionpb.LeaderRequest, v3electionpb.LeaderResponse>;

/** Writes with backpressure: resolves when the stream can take more, or has closed. */
function writeTo(call: ObserveCall, resp: v3electionpb.LeaderResponse): Promise<void> {
  if (call.cancelled || call.destroyed) return Promise.resolve();
  if (call.write(resp)) return Promise.resolve();
  return new Promise((resolve) => {
    const release = (): void => {
      call.off('drain', release);
      call.off('close', release);
      resolve();
    };
    call.on('drain', release);
    call.on('close', release);
  });
}

/** v3electionpb.Election over an EtcdServer. */
export function electionService(server: EtcdServer, ic: Interceptors): ElectionServer {
  return {
    campaign: ic.unary(SERVICE, 'Campaign', 'forbidden', (r: v3electionpb.CampaignRequest, call) =>
      etcdErrors(async () => {
        const signal = callSignal(call);
        authorizeQueue(ic, call, r.name);
        const lease = await sessionLease(server, r.lease);
        authorizeQueue(ic, call, r.name, queueKey(r.name, lease));
        return campaign(server, { ...r, lease }, signal);
      }),
    ),
    proclaim: ic.unary(SERVICE, 'Proclaim', 'forbidden', (r: v3electionpb.ProclaimRequest, call) =>
      etcdErrors(async () => {
        if (r.leader !== undefined) authorizeKey(ic, call, r.leader.key);
        return proclaim(server, r);
      }),
    ),
    leader: ic.unary(SERVICE, 'Leader', 'forbidden', (r: v3electionpb.LeaderRequest, call) =>
      etcdErrors(async () => {
        authorizeQueue(ic, call, r.name);
        return leader(server, r);
      }),
    ),
    resign: ic.unary(SERVICE, 'Resign', 'forbidden', (r: v3electionpb.ResignRequest, call) =>
      etcdErrors(async () => {
        if (r.leader !== undefined) authorizeKey(ic, call, r.leader.key);
        return resign(server, r);
      }),
    ),
    observe(call: ObserveCall): void {
      const done = ic.streamStarted(SERVICE, 'Observe');
      try {
        ic.check(call.metadata, 'forbidden', call.request);
      } catch (err) {
        const se = toServiceError(err);
        call.emit('error', se);
        done(se.code);
        return;
      }
      try {
        authorizeQueue(ic, call, call.request.name);
      } catch (err) {
        const se = toServiceError(asServiceError(err));
        call.emit('error', se);
        done(se.code);
        return;
      }
      const signal = callSignal(call);
      observe(server, call.request.name, signal, (resp) => writeTo(call, resp)).then(
        () => done(status.CANCELLED),
        (err: unknown) => {
          const se = toServiceError(asServiceError(err));
          if (!call.cancelled) call.emit('error', se);
          done(se.code);
        },
      );
    },
  };
}
