/**
 * The Watch service over a real grpc-js server and client: responses written
 * in batches straight to the HTTP/2 stream (and, with grpc-js interceptors in
 * the way, through grpc-js one by one) reach every watcher complete, in
 * order, exactly once, with etcd's fragment, cancel and progress messages.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Server, ServerCredentials, ServerInterceptingCall, credentials } from '@grpc/grpc-js';
import type { ClientDuplexStream, ServerDuplexStream, ServerInterceptor } from '@grpc/grpc-js';
import { WatchClient, WatchService, etcdserverpb } from '@kv/api';
import type { WatchServer } from '@kv/api';
import { MemoryBackend, MvccStore } from '@kv/mvcc';
import type { AuthStore } from '../auth/auth-store';
import { ManualClock } from '../clock';
import type { EtcdServer } from '../etcd-server';
import { silentLogger } from '../logger';
import { MetricsRegistry } from '../metrics';
import { WatchCall } from '../testing/watch-call';
import { Interceptors } from './interceptors';
import { rawHttp2Stream, watchService } from './watch-service';

const b = (s: string): Buffer => Buffer.from(s);

type ClientCall = ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;
type ServerCall = ServerDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

interface Fixture {
  readonly store: MvccStore;
  /** The fake member: its term may be changed. */
  readonly server: { term: number };
  readonly clock: ManualClock;
  /** For each call the service served: whether it found the HTTP/2 stream under it. */
  readonly raw: boolean[];
  watch(): WatchCall;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/**
 * A Watch service on a bare MVCC store (no Raft: the events are the same),
 * with a tiny stream buffer so that watchers are set aside and catch up.
 */
async function start(
  o: { interceptors?: ServerInterceptor[]; maxRequestBytes?: number; bufferSize?: number } = {},
): Promise<Fixture> {
  const store = await MvccStore.open(new MemoryBackend(), {
    watchBufferSize: o.bufferSize ?? 2,
    watchBatchRevisions: 3,
  });
  const auth = { enabled: false } as AuthStore;
  // The part of EtcdServer the service uses.
  const server = {
    mvcc: store,
    term: 4,
    clusterId: 0xabcn,
    memberId: 0x123n,
    maxRequestBytes: o.maxRequestBytes ?? 1.5 * 1024 * 1024,
    auth,
    header(this: { term: number }, rev?: number): etcdserverpb.ResponseHeader {
      return {
        clusterId: 0xabcn,
        memberId: 0x123n,
        revision: BigInt(rev ?? store.currentRevision()),
        raftTerm: BigInt(this.term),
      };
    },
  } as unknown as EtcdServer;
  const clock = new ManualClock();
  const ic = new Interceptors({
    member: { leader: 0x123n, isLearner: false, stopped: false, auth },
    logger: silentLogger,
    metrics: new MetricsRegistry(),
  });
  const svc = watchService(server, ic, { clock, progressNotifyMs: 1000 });
  const raw: boolean[] = [];
  const observed: WatchServer = {
    watch(call: ServerCall) {
      raw.push(rawHttp2Stream(call) !== undefined);
      svc.watch(call);
    },
  };
  const g = new Server(o.interceptors !== undefined ? { interceptors: o.interceptors } : {});
  g.addService(WatchService, observed);
  const port = await new Promise<number>((resolve, reject) =>
    g.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const client = new WatchClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const calls: ClientCall[] = [];
  closers.push(async () => {
    for (const c of calls) c.cancel();
    client.close();
    g.forceShutdown();
    await store.close();
  });
  return {
    store,
    server: server as unknown as { term: number },
    clock,
    raw,
    watch() {
      const call = client.watch();
      calls.push(call);
      return new WatchCall(call);
    },
  };
}

/** A grpc-js server interceptor that passes everything through. */
const passThrough: ServerInterceptor = (_method, call) => new ServerInterceptingCall(call, {});

describe.each([
  ['written straight to the HTTP/2 stream', undefined, true],
  ['written through grpc-js (server interceptors)', [passThrough], false],
])('Watch service, %s', (_name, interceptors, wantRaw) => {
  it.each([
    ['a two-response buffer (watchers set aside, catching up)', 2],
    ['a large buffer (many responses per write)', 128],
  ])(
    'delivers every event to every watcher of several streams, in order, exactly once: %s',
    async (_b, bufferSize) => {
      const f = await start({
        ...(interceptors !== undefined ? { interceptors } : {}),
        bufferSize,
      });
      const streams = [f.watch(), f.watch(), f.watch()];
      const kinds = [
        { key: b('k/'), rangeEnd: b('k0') },
        { key: b('k/3') },
        {
          key: b('k/'),
          rangeEnd: b('k0'),
          filters: [etcdserverpb.WatchCreateRequest_FilterType.NODELETE],
        },
        { key: b('k/'), rangeEnd: b('k0'), prevKv: true },
      ];
      const ids: bigint[][] = [];
      for (const s of streams) {
        const mine: bigint[] = [];
        for (const k of kinds) mine.push(await s.watch(k));
        ids.push(mine);
      }
      expect(f.raw).toEqual([wantRaw, wantRaw, wantRaw]);

      // Writes land in bursts (several revisions per event-loop turn): many
      // responses per stream at once, or, with the small buffer, watchers set
      // aside that catch up from the store.
      const want: string[][] = kinds.map(() => []);
      const last = new Map<string, string>();
      for (let burst = 0; burst < 40; burst++) {
        for (let i = 0; i < 5; i++) {
          const key = `k/${(burst * 5 + i) % 7}`;
          const t = f.store.write();
          const rev = f.store.currentRevision() + 1;
          const prev = last.get(key);
          if ((burst + i) % 6 === 5 && prev !== undefined) {
            t.deleteRange(b(key), undefined);
            last.delete(key);
            const ev = `D ${key}@${rev}`;
            want[0]!.push(ev);
            if (key === 'k/3') want[1]!.push(ev);
            want[3]!.push(`${ev} <${prev}`);
          } else {
            const value = `v${rev}`;
            t.put(b(key), b(value), 0n);
            last.set(key, value);
            const ev = `P ${key}=${value}@${rev}`;
            want[0]!.push(ev);
            if (key === 'k/3') want[1]!.push(ev);
            want[2]!.push(ev);
            want[3]!.push(prev !== undefined ? `${ev} <${prev}` : ev);
          }
          t.end();
        }
        await new Promise<void>((r) => setImmediate(r));
      }
      for (let s = 0; s < streams.length; s++) {
        const st = streams[s]!;
        for (let k = 0; k < kinds.length; k++) {
          await st.until(() => st.events(ids[s]![k]!).length >= want[k]!.length);
          expect(st.events(ids[s]![k]!), `stream ${s} watcher ${k}`).toEqual(want[k]);
        }
        // A response's header revision is at least that of its last event
        // (a catch-up batch reports the end of the revisions it covered).
        for (const r of st.got.filter((x) => x.events.length > 0)) {
          expect(r.header!.revision >= r.events.at(-1)!.kv!.modRevision).toBe(true);
          expect(r.header!.clusterId).toBe(0xabcn);
        }
      }
    },
  );

  it('gives each response the header of its revision under the current term', async () => {
    const f = await start({ ...(interceptors !== undefined ? { interceptors } : {}) });
    const s = f.watch();
    const id = await s.watch({ key: b('t') });
    const t = f.store.write();
    t.put(b('t'), b('v'), 0n);
    t.end();
    await s.until(() => s.events(id).length === 1);
    // A new term: the same revision's header changes.
    f.server.term = 5;
    s.call.write(
      etcdserverpb.WatchRequest.fromPartial({
        requestUnion: { $case: 'cancelRequest', value: { watchId: id } },
      }),
    );
    await s.until(() => s.got.some((r) => r.canceled));
    const got = s.got.filter((r) => !r.created);
    expect(got.map((r) => [r.canceled, r.header!.revision, r.header!.raftTerm])).toEqual([
      [false, 2n, 4n],
      [true, 2n, 5n],
    ]);
  });

  it('sets a watcher aside while its client does not read, then delivers everything in order', async () => {
    const f = await start({
      ...(interceptors !== undefined ? { interceptors } : {}),
      bufferSize: 8,
    });
    const s = f.watch();
    const id = await s.watch({ key: b('s') });
    s.call.pause();
    // Far more than HTTP/2 flow control lets through to a client that does not read.
    const value = Buffer.alloc(16 * 1024, 120);
    const revs: bigint[] = [];
    for (let i = 0; i < 200; i++) {
      const t = f.store.write();
      t.put(b('s'), value, 0n);
      t.end();
      revs.push(BigInt(f.store.currentRevision()));
      // One write per turn: the pump may take each as it comes.
      await new Promise<void>((r) => setImmediate(r));
    }
    // The pump stops at the transport's limit and the stream buffer fills.
    for (let i = 0; i < 500 && f.store.watcherCounts().synced === 1; i++) {
      await new Promise<void>((r) => setTimeout(r, 10));
    }
    expect(f.store.watcherCounts().synced).toBe(0);
    s.call.resume();
    await s.until(() => s.events(id).length >= revs.length);
    const got = s.got.filter((r) => r.watchId === id && !r.created).flatMap((r) => r.events);
    expect(got.map((e) => e.kv!.modRevision)).toEqual(revs);
    // Caught up, it is fed by writes again.
    for (let i = 0; i < 500 && f.store.watcherCounts().synced === 0; i++) {
      await new Promise<void>((r) => setTimeout(r, 10));
    }
    expect(f.store.watcherCounts()).toEqual({ synced: 1, unsynced: 0, victims: 0 });
  });

  it('splits a large revision into fragments for a watcher that asked, and only for it', async () => {
    const f = await start({
      ...(interceptors !== undefined ? { interceptors } : {}),
      maxRequestBytes: 2000,
      bufferSize: 128,
    });
    const s = f.watch();
    const frag = await s.watch({ key: b('f/'), rangeEnd: b('f0'), fragment: true });
    const whole = await s.watch({ key: b('f/'), rangeEnd: b('f0') });
    const t = f.store.write();
    for (let i = 0; i < 10; i++) t.put(b(`f/${i}`), Buffer.alloc(500, 97 + i), 0n);
    t.end();
    await s.until(() => s.events(frag).length === 10 && s.events(whole).length === 10);
    const parts = s.got.filter((r) => r.watchId === frag && !r.created);
    expect(parts.length).toBeGreaterThan(2);
    expect(parts.map((r) => r.fragment)).toEqual([...parts.slice(1).map(() => true), false]);
    for (const p of parts)
      expect(etcdserverpb.WatchResponse.encode(p).finish().length).toBeLessThan(2100);
    const all = s.got.filter((r) => r.watchId === whole && !r.created);
    expect(all.map((r) => [r.fragment, r.events.length])).toEqual([[false, 10]]);
    expect(s.events(frag)).toEqual(s.events(whole));
  });

  it('cancels a watcher whose start is compacted, answers cancel requests and sends progress', async () => {
    const f = await start({ ...(interceptors !== undefined ? { interceptors } : {}) });
    for (let i = 0; i < 5; i++) {
      const t = f.store.write();
      t.put(b('c'), b(`v${i}`), 0n);
      t.end();
    }
    await f.store.compact(4);
    const s = f.watch();
    s.create({ key: b('c'), startRevision: 2n });
    await s.until(() => s.got.some((r) => r.canceled));
    const canceled = s.got.find((r) => r.canceled)!;
    expect(canceled.compactRevision).toBe(4n);
    expect(canceled.header!.revision).toBe(0n);

    const p = await s.watch({ key: b('p'), progressNotify: true });
    const q = await s.watch({ key: b('q'), progressNotify: true });
    const t = f.store.write();
    t.put(b('q'), b('x'), 0n);
    t.end();
    await s.until(() => s.events(q).length === 1);
    // Only the watcher that got nothing since the last tick is told the revision.
    f.clock.advance(1000);
    await s.until(() => s.got.some((r) => r.watchId === p && !r.created));
    const progress = s.got.filter((r) => !r.created && r.events.length === 0 && !r.canceled);
    expect(progress.map((r) => [r.watchId, r.header!.revision])).toEqual([[p, 7n]]);

    s.call.write(
      etcdserverpb.WatchRequest.fromPartial({
        requestUnion: { $case: 'cancelRequest', value: { watchId: q } },
      }),
    );
    await s.until(() => s.got.some((r) => r.watchId === q && r.canceled));
    expect(f.store.watcherCounts().synced).toBe(1);
  });
});
