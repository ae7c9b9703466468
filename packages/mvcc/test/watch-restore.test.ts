/**
 * MvccStore.restore keeps the watch streams: a member that replaces its
 * contents with a leader's snapshot goes on serving its watchers from where
 * each left off (or cancels them with the compaction revision).
 */
import { describe, expect, it } from 'vitest';
import { MemoryBackend, MvccStore } from '../src/index';
import type { MvccError, MvccStoreOptions, WatchStream } from '../src/index';
import { ReadGate } from '../src/testing/index';
import { Collector, dec, enc, int, pick, rng } from './helpers';

const ALL = new Uint8Array([0]);

interface Member {
  readonly backend: MemoryBackend;
  readonly store: MvccStore;
}

async function member(
  options: MvccStoreOptions = {},
  backend = new MemoryBackend(),
): Promise<Member> {
  return { backend, store: await MvccStore.open(backend, options) };
}

/** One write transaction putting `keys` (value "v<rev>"); returns its revision. */
function put(s: MvccStore, ...keys: string[]): number {
  const t = s.write();
  for (const k of keys) t.put(enc(k), enc(`v${t.revision}`), 0n);
  t.end();
  return s.currentRevision();
}

function del(s: MvccStore, key: string): void {
  const t = s.write();
  t.deleteRange(enc(key), undefined);
  t.end();
}

/** The backend's snapshot stream, as a follower receives it from the leader. */
async function snapshotOf(b: MemoryBackend): Promise<AsyncIterable<Uint8Array>> {
  const snap = await b.snapshot();
  const chunks: Uint8Array[] = [];
  for await (const c of snap.chunks()) chunks.push(c);
  await snap.close();
  return (async function* () {
    yield* chunks;
  })();
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as MvccError).code;
  }
  return undefined;
}

/** Ask for a progress notification and wait for it: every event up to `rev` has arrived by then. */
async function settled(ws: WatchStream, c: Collector, rev: number): Promise<void> {
  const before = c.got.length;
  ws.requestProgress();
  await c.until((g) => g.slice(before).some((r) => r.watchId === -1 && r.revision >= rev));
}

describe('MvccStore.restore keeps watchers', () => {
  it('resumes every watcher at its next revision: no gap, no duplicate, in order', async () => {
    const leader = await member();
    const f = await member();
    for (const s of [leader.store, f.store]) {
      put(s, 'a'); // 2
      put(s, 'b'); // 3
    }
    const ws = f.store.watchStream();
    const c = new Collector(ws);
    const onA = ws.watch({ key: enc('a') });
    const range = ws.watch({ key: enc('a'), end: enc('c') });
    const onB = ws.watch({ key: enc('b'), prevKv: true });
    const all = ws.watch({ key: enc(''), end: ALL, startRevision: 2 });
    await settled(ws, c, 3);
    expect(f.store.watcherCounts()).toEqual({ synced: 4, unsynced: 0, victims: 0 });

    // The follower lags; the leader goes on.
    put(leader.store, 'a'); // 4
    del(leader.store, 'b'); // 5
    put(leader.store, 'a', 'b'); // 6
    put(leader.store, 'c'); // 7
    await f.store.restore(await snapshotOf(leader.backend));
    expect(f.store.currentRevision()).toBe(7);
    // The apply loop continues at once, while the watchers still catch up.
    for (const s of [leader.store, f.store]) put(s, 'a'); // 8
    await settled(ws, c, 8);

    expect(c.events(onA)).toEqual(['P a@4', 'P a@6', 'P a@8']);
    expect(c.events(range)).toEqual(['P a@4', 'D b@5', 'P a@6', 'P b@6', 'P a@8']);
    expect(c.events(onB)).toEqual(['D b@5', 'P b@6']);
    expect(c.events(all)).toEqual([
      'P a@2',
      'P b@3',
      'P a@4',
      'D b@5',
      'P a@6',
      'P b@6',
      'P c@7',
      'P a@8',
    ]);
    // prevKv is looked up in the restored contents.
    const bEvents = c.got.filter((r) => r.watchId === onB).flatMap((r) => r.events);
    expect(bEvents.map((e) => (e.prevKv ? dec(e.prevKv.value) : null))).toEqual(['v3', null]);
    // One revision's events stay in one response.
    const r6 = c.got.filter(
      (r) => r.watchId === range && r.events.some((e) => e.kv.modRevision === 6),
    );
    expect(r6.length).toBe(1);
    expect(c.got.some((r) => r.canceled === true)).toBe(false);
    expect(f.store.watcherCounts()).toEqual({ synced: 4, unsynced: 0, victims: 0 });
    ws.close();
    await c.done;
  });

  it("cancels a watcher whose next revision the snapshot's contents compacted, as etcd", async () => {
    const leader = await member();
    const f = await member();
    for (const s of [leader.store, f.store]) {
      put(s, 'a'); // 2
      put(s, 'b'); // 3
    }
    const ws = f.store.watchStream();
    const c = new Collector(ws);
    const behind = ws.watch({ key: enc('a') }); // next: 4
    const behindB = ws.watch({ key: enc('b') }); // next: 4
    const atCompaction = ws.watch({ key: enc('b'), startRevision: 6 }); // future start
    const later = ws.watch({ key: enc('a'), startRevision: 6 });
    await settled(ws, c, 3);

    put(leader.store, 'a'); // 4
    put(leader.store, 'a'); // 5
    put(leader.store, 'b'); // 6
    put(leader.store, 'a'); // 7
    await leader.store.compact(6);
    await f.store.restore(await snapshotOf(leader.backend));
    expect(f.store.compactedRevision()).toBe(6);
    for (const s of [leader.store, f.store]) put(s, 'a', 'b'); // 8
    await settled(ws, c, 8);

    for (const id of [behind, behindB]) {
      const resp = c.got.filter((r) => r.watchId === id);
      expect(resp.map(({ revision: _, ...rest }) => rest)).toEqual([
        { watchId: id, events: [], compactRevision: 6, canceled: true },
      ]);
    }
    // A watcher may start exactly at the compaction revision: nothing of it is lost.
    expect(c.events(atCompaction)).toEqual(['P b@6', 'P b@8']);
    expect(c.events(later)).toEqual(['P a@7', 'P a@8']);
    expect(f.store.watcherCounts()).toEqual({ synced: 2, unsynced: 0, victims: 0 });
    ws.close();
  });

  it('waits for a catch-up read in flight; reads wait for the restore, writes are refused', async () => {
    const leader = await member();
    const gate = new ReadGate();
    const f = await member({}, new MemoryBackend({ beforeRead: gate.beforeRead }));
    for (const s of [leader.store, f.store]) {
      put(s, 'a'); // 2
      put(s, 'b'); // 3
    }
    put(leader.store, 'a'); // 4
    await leader.store.compact(4); // a@2 is gone from the leader's contents
    const ws = f.store.watchStream();
    const c = new Collector(ws);
    gate.close();
    const arrived = gate.arrived();
    const w = ws.watch({ key: enc('a'), startRevision: 2 });
    await arrived; // its catch-up read of the old contents is in flight
    let pulled = false;
    const snapshot = await snapshotOf(leader.backend);
    const restoring = f.store.restore(
      (async function* () {
        pulled = true;
        yield* snapshot;
      })(),
    );
    const read = f.store.range(enc('a'), undefined);
    const hash = f.store.hashKV(0);
    expect(code(() => f.store.write())).toBe('MVCC_CLOSED');
    expect(code(() => void f.store.compact(2))).toBe('MVCC_CLOSED');
    // Give the restore every chance to go ahead: it must not touch the
    // backend while the read is in flight.
    for (let i = 0; i < 10; i++) await new Promise<void>((res) => setImmediate(res));
    expect(pulled).toBe(false);
    gate.open();
    await restoring;
    const r = await read;
    expect(r.revision).toBe(4);
    expect(r.kvs.map((kv) => `${dec(kv.value)}@${kv.modRevision}`)).toEqual(['v4@4']);
    expect(await hash).toEqual(await leader.store.hashKV(0));
    await settled(ws, c, 4);
    // a@2 came from the old contents, read before they were replaced.
    expect(c.events(w)).toEqual(['P a@2', 'P a@4']);
    expect(c.got.some((x) => x.canceled === true)).toBe(false);
    ws.close();
  });

  it('catches up a watcher created during the restore from the new contents only', async () => {
    const leader = await member();
    const gate = new ReadGate();
    const f = await member({}, new MemoryBackend({ beforeRead: gate.beforeRead }));
    for (const s of [leader.store, f.store]) {
      put(s, 'a'); // 2
      put(s, 'b'); // 3
    }
    put(leader.store, 'a'); // 4
    await leader.store.compact(4);
    const snapshot = await snapshotOf(leader.backend);
    gate.close();
    const arrived = gate.arrived();
    const restoring = f.store.restore(snapshot);
    await arrived; // the backend holds the new contents; the index is being rebuilt
    const ws = f.store.watchStream();
    const c = new Collector(ws);
    const fromOld = ws.watch({ key: enc('a'), startRevision: 2 });
    const fromNow = ws.watch({ key: enc('a') });
    gate.open();
    await restoring;
    put(f.store, 'a'); // 5
    await settled(ws, c, 5);
    // Revision 2 is compacted in the new contents: canceled, as etcd, not silently skipped.
    expect(c.events(fromOld)).toEqual([]);
    expect(c.got.find((x) => x.watchId === fromOld)).toMatchObject({
      canceled: true,
      compactRevision: 4,
    });
    // Created at revision 3 (the old current one): everything after it.
    expect(c.events(fromNow)).toEqual(['P a@4', 'P a@5']);
    ws.close();
  });

  it('lets a watcher set aside by a full buffer resume after the restore without loss', async () => {
    const leader = await member();
    const f = await member();
    const ws = f.store.watchStream({ bufferSize: 1 });
    const w = ws.watch({ key: enc('a') });
    for (const s of [leader.store, f.store]) {
      put(s, 'a'); // 2: queued
      put(s, 'a'); // 3: does not fit, the watcher is set aside
    }
    expect(f.store.watcherCounts().victims).toBe(1);
    put(leader.store, 'a'); // 4
    await f.store.restore(await snapshotOf(leader.backend));
    put(leader.store, 'a'); // 5 (only on the leader: arrives with the next restore)
    await f.store.restore(await snapshotOf(leader.backend));
    // Only now does the consumer start reading.
    const c = new Collector(ws);
    await settled(ws, c, 5);
    expect(c.events(w)).toEqual(['P a@2', 'P a@3', 'P a@4', 'P a@5']);
    ws.close();
  });

  it('keeps the old contents and watchers when the snapshot stream is corrupt', async () => {
    const leader = await member();
    const f = await member();
    put(f.store, 'a'); // 2
    put(leader.store, 'x');
    put(leader.store, 'x');
    const ws = f.store.watchStream();
    const c = new Collector(ws);
    const w = ws.watch({ key: enc('a') });
    const chunks: Uint8Array[] = [];
    for await (const ch of await snapshotOf(leader.backend)) chunks.push(ch.slice());
    const last = chunks[chunks.length - 1] as Uint8Array;
    last[last.length - 1] = (last[last.length - 1] as number) ^ 0xff;
    await expect(
      f.store.restore(
        (async function* () {
          yield* chunks;
        })(),
      ),
    ).rejects.toThrow();
    expect(f.store.currentRevision()).toBe(2);
    put(f.store, 'a'); // 3
    await settled(ws, c, 3);
    expect(c.events(w)).toEqual(['P a@3']);
    expect((await f.store.range(enc('x'), undefined)).count).toBe(0);
    ws.close();
  });

  it('keeps the lease map of the restored contents', async () => {
    const leader = await member();
    const f = await member();
    const t = f.store.write();
    t.put(enc('old'), enc('v'), 5n);
    t.end();
    const l = leader.store.write();
    l.put(enc('new'), enc('v'), 7n);
    l.end();
    put(leader.store, 'z');
    await f.store.restore(await snapshotOf(leader.backend));
    expect(f.store.keysWithLease(5n)).toEqual([]);
    expect(f.store.keysWithLease(7n).map(dec)).toEqual(['new']);
  });
});

describe('watch across restores, randomized against a model', () => {
  const seen = { restores: 0, canceled: 0, watchers: 0 };

  /**
   * A leader and a follower: the follower applies the leader's writes and
   * compactions while connected; disconnected, it misses them and later
   * restores the leader's snapshot. Watchers on the follower must see exactly
   * the leader's history from their start (or a gap-free prefix, then a
   * compaction cancel).
   */
  async function runSeed(seed: number): Promise<void> {
    const r = rng(seed);
    const options = {
      watchBatchRevisions: int(r, 1, 5),
      compactionBatchLimit: int(r, 1, 5),
    };
    const leader = await member(options);
    const f = await member(options);
    let connected = true;
    const keys = ['a', 'b', 'c', 'd'];
    const log: { rev: number; key: string; type: 'P' | 'D' }[] = [];
    const streams: {
      ws: WatchStream;
      c: Collector;
      ids: Map<number, { key: string; end?: string; start: number }>;
    }[] = [];
    const restore = async (): Promise<void> => {
      await f.store.restore(await snapshotOf(leader.backend));
      connected = true;
      seen.restores++;
    };
    for (let step = 0; step < 150; step++) {
      const p = r();
      if (p < 0.55) {
        const ops: { key: string; put: boolean }[] = [];
        for (let n = int(r, 1, 2); n > 0; n--) ops.push({ key: pick(r, keys), put: r() < 0.7 });
        for (const s of connected ? [leader.store, f.store] : [leader.store]) {
          const t = s.write();
          const rev = t.revision;
          for (const op of ops) {
            if (op.put) {
              t.put(enc(op.key), enc('x'), 0n);
              if (s === leader.store) log.push({ rev, key: op.key, type: 'P' });
            } else if (t.deleteRange(enc(op.key), undefined) === 1 && s === leader.store) {
              log.push({ rev, key: op.key, type: 'D' });
            }
          }
          t.end();
        }
      } else if (p < 0.72) {
        if (streams.length === 0 || r() < 0.3) {
          const ws = f.store.watchStream({ bufferSize: int(r, 1, 4) });
          streams.push({ ws, c: new Collector(ws), ids: new Map() });
        }
        const st = pick(r, streams);
        const key = pick(r, keys);
        const end = r() < 0.5 ? undefined : pick(r, ['c', 'z']);
        const current = f.store.currentRevision();
        const start = int(r, 0, current + 2);
        const id = st.ws.watch({
          key: enc(key),
          ...(end ? { end: enc(end) } : {}),
          startRevision: start,
        });
        st.ids.set(id, { key, ...(end ? { end } : {}), start: start === 0 ? current + 1 : start });
      } else if (p < 0.77) {
        const s = leader.store;
        if (s.currentRevision() > s.compactedRevision()) {
          const at = int(r, s.compactedRevision() + 1, s.currentRevision());
          void s.compact(at);
          if (connected) void f.store.compact(at);
        }
      } else if (p < 0.85) {
        if (connected && r() < 0.7) connected = false;
        else await restore();
      } else {
        // Let the consumers and catch-up run for a moment.
        await new Promise<void>((res) => setImmediate(res));
      }
    }
    if (!connected) await restore();
    const final = leader.store.currentRevision();
    expect(f.store.currentRevision()).toBe(final);
    expect(await f.store.hashKV(final)).toEqual(await leader.store.hashKV(final));
    for (const st of streams) {
      await settled(st.ws, st.c, final);
      for (const [id, w] of st.ids) {
        const cancel = st.c.got.find((x) => x.watchId === id && x.canceled === true);
        const got = st.c.events(id);
        const want = log
          .filter(
            (e) =>
              e.rev >= w.start &&
              (w.end === undefined ? e.key === w.key : e.key >= w.key && e.key < w.end),
          )
          .map((e) => `${e.type} ${e.key}@${e.rev}`);
        seen.watchers++;
        if (cancel !== undefined) {
          seen.canceled++;
          expect(cancel.compactRevision).toBeGreaterThan(0);
          expect(want.slice(0, got.length), `seed ${seed} watcher ${id}`).toEqual(got);
        } else {
          expect(got.join(' '), `seed ${seed} watcher ${id} ${JSON.stringify(w)}`).toEqual(
            want.join(' '),
          );
        }
      }
      st.ws.close();
    }
    await f.store.close();
    await leader.store.close();
  }

  const fixed = process.env['SEED'];
  const seeds = fixed !== undefined ? [Number(fixed)] : Array.from({ length: 30 }, (_, i) => i + 1);
  for (const seed of seeds) {
    it(`seed ${seed}`, async () => {
      await runSeed(seed);
    });
  }
  if (fixed === undefined) {
    it('exercised restores and compaction cancels', () => {
      expect(seen.restores).toBeGreaterThan(30);
      expect(seen.canceled).toBeGreaterThan(0);
      expect(seen.watchers).toBeGreaterThan(100);
    });
  }
});
