/**
 * Benchmarks of @kv/mvcc on MemoryBackend (so the numbers are the store's own
 * cost, not a storage engine's). Prints medians of several runs.
 *
 *   pnpm nx run mvcc:bench            (or: pnpm --filter @kv/mvcc bench)
 *   BENCH_KEYS=200000 pnpm --filter @kv/mvcc bench   (smaller, faster)
 */
import { MemoryBackend, MvccStore } from '../src/index';

const N = Number(process.env['BENCH_KEYS'] ?? 1_000_000);
const RUNS = 5;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const key = (i: number): Uint8Array => enc(`key/${String(i).padStart(8, '0')}`);
const VALUE = new Uint8Array(100).fill(120);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

async function timeOps(ops: number, fn: (i: number) => Promise<void> | void): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < ops; i++) {
    const p = fn(i);
    if (p !== undefined) await p;
  }
  return ops / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  console.log(
    `@kv/mvcc benchmark: ${N.toLocaleString('en-US')} keys, Node ${process.version}, median of ${RUNS}`,
  );
  if (gc === undefined) console.log('(run with --expose-gc for the memory figure)');

  // Puts: one put per transaction, new keys then overwrites.
  const putRates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const s = await MvccStore.open(new MemoryBackend());
    putRates.push(
      await timeOps(100_000, (i) => {
        const t = s.write();
        t.put(key(i % 50_000), VALUE, 0n);
        t.end();
      }),
    );
  }
  console.log(`puts/s (1 put per txn):              ${fmt(median(putRates))}`);

  // The big store: N keys, one revision each.
  const backend = new MemoryBackend();
  const big = await MvccStore.open(backend);
  for (let i = 0; i < N; i++) {
    const t = big.write();
    t.put(key(i), VALUE, 0n);
    t.end();
  }

  const readRates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    readRates.push(
      await timeOps(100_000, (i) =>
        big.range(key((i * 7919) % N), undefined).then(() => undefined),
      ),
    );
  }
  console.log(`point reads/s:                       ${fmt(median(readRates))}`);

  const rangeRates: number[] = [];
  const end = (i: number): Uint8Array => key(i + 1000);
  for (let r = 0; r < RUNS; r++) {
    rangeRates.push(
      await timeOps(200, async (i) => {
        const from = (i * 4999) % (N - 1000);
        const res = await big.range(key(from), end(from));
        if (res.kvs.length !== 1000) throw new Error('range size');
      }),
    );
  }
  console.log(`1,000-key ranges/s:                  ${fmt(median(rangeRates))}`);

  // Index memory: heap growth of opening a store on the prepared backend.
  if (gc !== undefined) {
    const before = heapUsed();
    const restored = await MvccStore.open(backend);
    const after = heapUsed();
    console.log(
      `index memory, bytes per key:         ${fmt((after - before) / N)}  (keys like "key/00000001", 1 revision each)`,
    );
    await restored.close();
  }

  // Compaction of N revisions: overwrite every key once (N more revisions), then
  // compact all of the first N away while a reader keeps reading. The reader
  // yields once per read, as a read through real I/O would.
  for (let i = 0; i < N; i++) {
    const t = big.write();
    t.put(key(i), VALUE, 0n);
    t.end();
  }
  let reading = true;
  let maxGap = 0;
  let maxGapCpu = 0;
  let reads = 0;
  const reader = (async () => {
    let last = performance.now();
    let lastCpu = process.cpuUsage();
    while (reading) {
      await new Promise<void>((res) => setImmediate(res));
      await big.range(key((reads * 7919) % N), undefined);
      reads++;
      const now = performance.now();
      // Process CPU time within the gap: on a shared, loaded machine the wall
      // gap also contains time spent waiting for a core.
      const cpu = process.cpuUsage(lastCpu);
      lastCpu = process.cpuUsage();
      maxGap = Math.max(maxGap, now - last);
      maxGapCpu = Math.max(maxGapCpu, (cpu.user + cpu.system) / 1000);
      last = now;
    }
  })();
  const t0 = performance.now();
  // Every key has a newer version at 2N + 1 (revisions start at 1, as etcd's): all N first-round revisions go.
  await big.compact(big.currentRevision());
  const compactMs = performance.now() - t0;
  reading = false;
  await reader;
  console.log(
    `compact ${fmt(N)} revisions:           ${fmt(compactMs)} ms; longest pause seen by a concurrent reader ${maxGap.toFixed(1)} ms wall, ${maxGapCpu.toFixed(1)} ms process CPU (${fmt(reads)} reads meanwhile)`,
  );
  await big.close();

  // Watch fan-out: one writer, 10,000 watchers on one key, all consumed.
  const fanRates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const s = await MvccStore.open(new MemoryBackend());
    const ws = s.watchStream({ bufferSize: 20_000 });
    for (let i = 0; i < 10_000; i++) ws.watch({ key: enc('hot') });
    const writes = 50;
    const total = writes * 10_000;
    let seen = 0;
    const t0f = performance.now();
    const consumer = (async () => {
      for await (const resp of ws) {
        seen += resp.events.length;
        if (seen >= total) break;
      }
    })();
    for (let i = 0; i < writes; i++) {
      const t = s.write();
      t.put(enc('hot'), VALUE, 0n);
      t.end();
      // Let the consumer drain between writes, as a live server would.
      await new Promise<void>((res) => setImmediate(res));
    }
    await consumer;
    fanRates.push(total / ((performance.now() - t0f) / 1000));
    await s.close();
  }
  console.log(`watch fan-out events/s (10,000 watchers, 1 writer): ${fmt(median(fanRates))}`);
}

await main();
