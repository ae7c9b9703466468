// Randomised model test: long runs of saves (with Raft-style truncations above
// the commit index), snapshot markers, releases and reopens on small segments,
// checked after every reopen against a plain in-memory model of the log.
// Seeds are fixed; WAL_MODEL_SEEDS=1-200 runs more, WAL_MODEL_SEEDS=17 replays one.
import { describe, expect, it } from 'vitest';
import { Wal, type WalEntry, type WalHardState } from '../src/index';
import { META, tempDir } from './helpers';

function seeds(): number[] {
  const spec = process.env['WAL_MODEL_SEEDS'] ?? '1-4';
  const [a, b] = spec.split('-').map(Number) as [number, number | undefined];
  return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
}

/** mulberry32: small, seedable, good enough to drive a test. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function runSeed(seed: number, steps: number): Promise<void> {
  const rand = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const dir = await tempDir('wal-model-');
  const opts = { segmentSize: 4096, sync: false } as const;
  let wal = await Wal.create(dir, META, opts);

  const log: WalEntry[] = []; // log[i - 1] is entry i
  let term = 1;
  let hs: WalHardState | undefined;
  let commit = 0;
  let snap = { index: 0, term: 0 };

  for (let step = 0; step < steps; step++) {
    const what = rand();
    if (what < 0.7) {
      let start = log.length + 1;
      if (rand() < 0.2 && log.length > commit) {
        start = int(commit + 1, log.length);
        term++; // a new leader overwrites the uncommitted suffix
      }
      const ents: WalEntry[] = [];
      for (let k = 0, n = int(0, 6); k < n; k++) {
        const data = new Uint8Array(int(0, 700)).fill((start + k) & 0xff);
        ents.push({ index: start + k, term, data });
      }
      log.length = start - 1 + (ents.length > 0 ? 0 : log.length - (start - 1));
      log.push(...ents);
      let next: WalHardState | undefined;
      if (rand() < 0.7) {
        commit = int(commit, log.length);
        next = { term, vote: BigInt(int(0, 5)) << 60n, commit };
        hs = next;
      }
      await wal.save(next, ents);
    } else if (what < 0.85) {
      if (commit > snap.index) {
        const index = int(snap.index + 1, commit);
        snap = { index, term: log[index - 1]!.term };
        await wal.saveSnapshot(snap);
        if (rand() < 0.6) await wal.releaseTo(index);
      }
    } else {
      await wal.close();
      wal = await Wal.open(dir, snap, opts);
      const got = await wal.readAll();
      expect(got.hardState, `seed ${seed} step ${step}`).toEqual(hs);
      expect(got.entries, `seed ${seed} step ${step}`).toEqual(log.slice(snap.index));
    }
  }
  await wal.close();
  const markers = await Wal.readSnapshotMarkers(dir);
  expect(
    markers.every(
      (m) => m.index <= commit && m.term === (m.index === 0 ? 0 : log[m.index - 1]!.term),
    ),
  ).toBe(true);
  expect(markers[markers.length - 1]).toEqual(snap);
}

describe('Wal against a model', () => {
  for (const seed of seeds()) {
    it(`seed ${seed}`, async () => {
      await runSeed(seed, 300);
    });
  }
});
