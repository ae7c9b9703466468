// Benchmark of the backend layer next to raw classic-level on the same machine,
// so the cost of buffering, merging and prefixing is visible. Prints medians.
//   pnpm nx run backend-level:bench   (or: pnpm --filter @kv/backend-level bench)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { LevelBackend } from '../src/index';

const ENTRIES = Number(process.env['BENCH_ENTRIES'] ?? 100_000);
const VALUE_BYTES = 100;
const ROUNDS = 5;
const root = mkdtempSync(join(tmpdir(), 'backend-level-bench-'));

const key = (i: number): Buffer => Buffer.from(`k${String(i).padStart(8, '0')}`);
const value = Buffer.alloc(VALUE_BYTES, 0x5a);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(
  label: string,
  unit: string,
  ops: number,
  run: () => Promise<void> | void,
): Promise<void> {
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    await run();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(ops / seconds);
  }
  const m = median(rates);
  const shown = m >= 100 ? Math.round(m).toLocaleString('en-US') : m.toFixed(1);
  console.log(`${label.padEnd(58)} ${shown.padStart(12)} ${unit}`);
}

// Deterministic pseudo-random key order for point reads.
const order = Array.from({ length: 20_000 }, (_, i) => (i * 7919) % ENTRIES);

console.log(
  `node ${process.version}, ${ENTRIES.toLocaleString('en-US')} entries of ${VALUE_BYTES} B values\n`,
);

// ---- writes ----
let run = 0;
await measure(
  'LevelBackend put (batched, default 10k/10ms) + commit',
  'puts/s',
  ENTRIES,
  async () => {
    const be = await LevelBackend.open(join(root, `w${run++}`));
    for (let i = 0; i < ENTRIES; i++) be.put('key', key(i), value);
    await be.commit();
    await be.close();
  },
);
await measure('classic-level batch() of 10,000 puts (raw)', 'puts/s', ENTRIES, async () => {
  const db = new ClassicLevel<Buffer, Buffer>(join(root, `r${run++}`), {
    keyEncoding: 'buffer',
    valueEncoding: 'buffer',
  });
  await db.open();
  for (let i = 0; i < ENTRIES; i += 10_000) {
    const ops: { type: 'put'; key: Buffer; value: Buffer }[] = [];
    for (let j = i; j < Math.min(ENTRIES, i + 10_000); j++)
      ops.push({ type: 'put', key: key(j), value });
    await db.batch(ops);
  }
  await db.close();
});

// ---- reads: one backend with committed data, one raw db with the same data ----
const be = await LevelBackend.open(join(root, 'read'));
for (let i = 0; i < ENTRIES; i++) be.put('key', key(i), value);
await be.commit();
const raw = new ClassicLevel<Buffer, Buffer>(join(root, 'raw'), {
  keyEncoding: 'buffer',
  valueEncoding: 'buffer',
});
await raw.open();
for (let i = 0; i < ENTRIES; i += 10_000) {
  const ops: { type: 'put'; key: Buffer; value: Buffer }[] = [];
  for (let j = i; j < Math.min(ENTRIES, i + 10_000); j++)
    ops.push({ type: 'put', key: key(j), value });
  await raw.batch(ops);
}
// Warm both caches.
for (const i of order) {
  await be.get('key', key(i));
  raw.getSync(key(i));
}

const N = order.length;
await measure('LevelBackend get, committed (no buffer hit)', 'gets/s', N, async () => {
  for (const i of order) await be.get('key', key(i));
});
await measure('classic-level get (raw, awaited one by one)', 'gets/s', N, async () => {
  for (const i of order) await raw.get(key(i));
});
await measure('classic-level get (raw, 100 concurrent)', 'gets/s', N, async () => {
  for (let s = 0; s < order.length; s += 100)
    await Promise.all(order.slice(s, s + 100).map((i) => raw.get(key(i))));
});
await measure('classic-level getSync (raw)', 'gets/s', N, () => {
  for (const i of order) raw.getSync(key(i));
});
await measure('LevelBackend getMany of 100 keys, committed', 'keys/s', N, async () => {
  for (let s = 0; s < order.length; s += 100)
    await be.getMany('key', order.slice(s, s + 100).map(key));
});
await measure('classic-level getMany of 100 keys (raw)', 'keys/s', N, async () => {
  for (let s = 0; s < order.length; s += 100) await raw.getMany(order.slice(s, s + 100).map(key));
});

// Buffer hits: 10,000 keys overwritten and not yet committed.
const bufferedBe = await LevelBackend.open(join(root, 'buffered'), {
  batchInterval: 3_600_000,
  batchLimit: 1_000_000,
});
for (let i = 0; i < ENTRIES; i++) bufferedBe.put('key', key(i), value);
await bufferedBe.commit();
for (let i = 0; i < ENTRIES; i += ENTRIES / 10_000) bufferedBe.put('key', key(i), value);
await measure('LevelBackend get, buffer hit', 'gets/s', 10_000, async () => {
  for (let i = 0; i < ENTRIES; i += ENTRIES / 10_000) await bufferedBe.get('key', key(i));
});

// ---- ranges of 1,000 keys ----
const RANGES = 200;
const starts = Array.from({ length: RANGES }, (_, r) => (r * 104_729) % (ENTRIES - 1000));
await measure('LevelBackend range of 1,000 keys, committed', 'ranges/s', RANGES, async () => {
  for (const s of starts) await be.range('key', key(s), key(s + 1000));
});
await measure(
  'LevelBackend range of 1,000 keys, 1% buffered writes in it',
  'ranges/s',
  RANGES,
  async () => {
    for (const s of starts) await bufferedBe.range('key', key(s), key(s + 1000));
  },
);
await measure('LevelBackend range limit 1,000, reverse', 'ranges/s', RANGES, async () => {
  for (const s of starts) await be.range('key', key(s), undefined, { limit: 1000, reverse: true });
});
await measure(
  'classic-level iterator().all() of 1,000 keys (raw)',
  'ranges/s',
  RANGES,
  async () => {
    for (const s of starts) await raw.iterator({ gte: key(s), lt: key(s + 1000) }).all();
  },
);

// ---- snapshot, restore, hash ----
let snapshotBytes = 0;
{
  const snap = await be.snapshot();
  for await (const c of snap.chunks()) snapshotBytes += c.length;
  await snap.close();
}
const MB = snapshotBytes / 1e6;
await measure(`LevelBackend snapshot stream (${MB.toFixed(1)} MB)`, 'MB/s', MB, async () => {
  const snap = await be.snapshot();
  for await (const c of snap.chunks()) void c;
  await snap.close();
});
const target = await LevelBackend.open(join(root, 'target'));
await measure('LevelBackend restore from snapshot stream', 'MB/s', MB, async () => {
  const snap = await be.snapshot();
  await target.restore(snap.chunks());
  await snap.close();
});
await measure('LevelBackend hash(key bucket)', 'MB/s', MB, async () => {
  await be.hash('key');
});

await Promise.all([be.close(), bufferedBe.close(), raw.close(), target.close()]);
rmSync(root, { recursive: true, force: true });
