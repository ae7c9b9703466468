/**
 * Model-based randomized test: random puts, deletes, multi-op transactions,
 * ranges at old revisions (issued concurrently with writes and compactions,
 * over a backend whose reads take a random number of event-loop turns),
 * compactions and reopen, all checked against a plain reference model.
 * Replay one seed with `SEED=<n> npx vitest run test/model.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { MemoryBackend, MvccStore } from '../src/index';
import type { KeyValue, RangeResult, MvccError } from '../src/index';
import { dec, enc, int, pick, rng, show } from './helpers';

type State = Map<string, KeyValue>;

/** etcd's numbering: the empty key space is revision 1, the first write creates 2. */
const FIRST_REVISION = 1;

/** The reference: a full copy of the key space after every revision. */
class Model {
  /** states[i] is the key space at revision FIRST_REVISION + i. */
  states: State[] = [new Map()];
  compacted = 0;

  get current(): number {
    return FIRST_REVISION + this.states.length - 1;
  }

  state(at: number): State {
    return this.states[at - FIRST_REVISION] as State;
  }

  range(
    key: string,
    end: string | undefined,
    at: number,
    limit: number,
  ): { kvs: string[]; count: number } {
    const st = this.state(at);
    const keys = [...st.keys()].filter((k) => inRange(k, key, end)).sort(byteOrder);
    const kvs = keys.map((k) => show(st.get(k) as KeyValue));
    return { kvs: limit > 0 ? kvs.slice(0, limit) : kvs, count: keys.length };
  }

  leaseKeys(lease: bigint): string[] {
    const st = this.state(this.current);
    return [...st.values()]
      .filter((kv) => kv.lease === lease)
      .map((kv) => dec(kv.key))
      .sort(byteOrder);
  }
}

// Keys are ASCII, so UTF-16 order is byte order.
const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** end: undefined = single key, '\0' = to the end, else [key, end). */
function inRange(k: string, key: string, end: string | undefined): boolean {
  if (end === undefined) return k === key;
  if (end === '\0') return k >= key;
  return k >= key && k < end;
}

const KEYS = ['a', 'aa', 'ab', 'b', 'ba', 'c', 'd', 'dd', 'e', 'f'];
const ENDS: (string | undefined)[] = [undefined, undefined, 'b', 'c', 'e', '\0', 'z', 'a'];

const endBytes = (e: string | undefined): Uint8Array | undefined =>
  e === undefined ? undefined : e === '\0' ? new Uint8Array([0]) : enc(e);

async function runSeed(seed: number, steps: number): Promise<void> {
  const r = rng(seed);
  // Reads take 0-3 turns of the event loop, so they overlap writes and compactions.
  const backend = new MemoryBackend({
    beforeRead: async () => {
      for (let i = int(r, 0, 3); i > 0; i--) await new Promise<void>((res) => setImmediate(res));
    },
  });
  const opts = { compactionBatchLimit: int(r, 1, 8), restoreBatchLimit: int(r, 1, 50) };
  let store = await MvccStore.open(backend, opts);
  const model = new Model();
  expect(store.currentRevision()).toBe(model.current);
  const pending: Promise<void>[] = [];
  let compactions: Promise<void>[] = [];

  const checkRange = (key: string, end: string | undefined, at: number, limit: number): void => {
    const want = model.range(key, end, at, limit);
    const current = model.current;
    pending.push(
      store
        .range(enc(key), endBytes(end), { revision: at === current ? 0 : at, limit })
        .then((got: RangeResult) => {
          expect(
            { kvs: got.kvs.map(show), count: got.count },
            `range ${key}..${end} @${at}`,
          ).toEqual(want);
          expect(got.revision).toBe(current);
        }),
    );
  };

  for (let step = 0; step < steps; step++) {
    const p = r();
    if (p < 0.4) {
      // A transaction of 1-3 operations.
      const txn = store.write();
      const st = new Map(model.state(model.current));
      const rev = model.current + 1;
      expect(txn.revision).toBe(rev);
      let changed = false;
      for (let n = int(r, 1, 3); n > 0; n--) {
        if (r() < 0.7) {
          const k = pick(r, KEYS);
          const v = `v${step}_${n}`;
          const lease = pick(r, [0n, 0n, 1n, 2n]);
          txn.put(enc(k), enc(v), lease);
          const prev = st.get(k);
          st.set(k, {
            key: enc(k),
            value: enc(v),
            createRevision: prev?.createRevision ?? rev,
            modRevision: rev,
            version: (prev?.version ?? 0) + 1,
            lease,
          });
          changed = true;
        } else {
          const k = pick(r, KEYS);
          const e = pick(r, ENDS);
          const victims = [...st.keys()].filter((x) => inRange(x, k, e));
          for (const x of victims) st.delete(x);
          expect(txn.deleteRange(enc(k), endBytes(e))).toBe(victims.length);
          if (victims.length > 0) changed = true;
        }
      }
      if (r() < 0.3) {
        // The transaction reads its own writes.
        const got = await txn.range(enc('a'), new Uint8Array([0]));
        const keys = [...st.keys()].sort(byteOrder);
        expect(got.kvs.map(show)).toEqual(keys.map((k) => show(st.get(k) as KeyValue)));
      }
      const events = txn.end();
      if (changed) model.states.push(st);
      expect(store.currentRevision()).toBe(model.current);
      expect(events.length > 0).toBe(changed);
      const lease = pick(r, [1n, 2n]);
      expect(store.keysWithLease(lease).map(dec)).toEqual(model.leaseKeys(lease));
    } else if (p < 0.85) {
      const key = pick(r, KEYS);
      const end = pick(r, ENDS);
      const at = int(r, 1, model.current + 1);
      const limit = r() < 0.3 ? int(r, 1, 3) : 0;
      if (at > model.current) {
        pending.push(
          store
            .range(enc(key), endBytes(end), { revision: at })
            .then(() => expect.fail('future revision accepted'))
            .catch((e: unknown) => expect((e as MvccError).code).toBe('MVCC_FUTURE_REV')),
        );
      } else if (at < model.compacted) {
        pending.push(
          store
            .range(enc(key), endBytes(end), { revision: at })
            .then(() => expect.fail('compacted revision accepted'))
            .catch((e: unknown) => expect((e as MvccError).code).toBe('MVCC_COMPACTED')),
        );
      } else {
        checkRange(key, end, at, limit);
      }
    } else if (p < 0.95) {
      if (model.current > model.compacted) {
        const at = int(r, model.compacted + 1, model.current);
        // Reads that start before the compaction and still need what it removes.
        for (let n = int(r, 0, 3); n > 0; n--) {
          const old = int(r, Math.max(model.compacted, 1), at);
          checkRange(pick(r, KEYS), pick(r, ENDS), old, 0);
        }
        model.compacted = at;
        const c = store.compact(at);
        if (r() < 0.5) await c;
        else compactions.push(c);
      }
    } else {
      // Reopen: let in-flight work finish, then rebuild everything from the backend.
      await Promise.all(pending);
      await Promise.all(compactions);
      compactions = [];
      await store.close();
      store = await MvccStore.open(backend, opts);
      expect(store.currentRevision()).toBe(model.current);
      expect(store.compactedRevision()).toBe(model.compacted);
      for (const lease of [1n, 2n]) {
        expect(store.keysWithLease(lease).map(dec)).toEqual(model.leaseKeys(lease));
      }
    }
  }
  await Promise.all(pending);
  await Promise.all(compactions);
  // Every surviving revision reads back exactly.
  for (let at = Math.max(model.compacted, 1); at <= model.current; at++) {
    const got = await store.range(new Uint8Array([0]), new Uint8Array([0]), { revision: at });
    expect(got.kvs.map(show), `full state @${at}`).toEqual(model.range('\0', '\0', at, 0).kvs);
  }
}

describe('model-based random operations', () => {
  const fixed = process.env['SEED'];
  const seeds = fixed !== undefined ? [Number(fixed)] : Array.from({ length: 40 }, (_, i) => i + 1);
  for (const seed of seeds) {
    it(`seed ${seed}`, async () => {
      await runSeed(seed, 300);
    });
  }
});
