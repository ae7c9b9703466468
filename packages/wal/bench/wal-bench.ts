// WAL benchmark: saves/s and MB/s for entry sizes x entries per save x
// concurrent savers, next to the disk's own limits measured in the same run
// (fdatasync calls/s of a plain append, sequential write MB/s). Every figure
// is the median of REPS runs. Run: pnpm nx run wal:bench (or pnpm bench here).
// Env: WAL_BENCH_SECONDS (per run, default 1), WAL_BENCH_REPS (default 3),
// WAL_BENCH_DIR (default the OS temp dir; put it on the disk you care about).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { Wal, type WalEntry, type WalOptions } from '../src/index';

const SECONDS = Number(process.env['WAL_BENCH_SECONDS'] ?? 1);
const REPS = Number(process.env['WAL_BENCH_REPS'] ?? 3);
const BASE = process.env['WAL_BENCH_DIR'] ?? os.tmpdir();
const META = new TextEncoder().encode('bench');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const now = () => Number(process.hrtime.bigint()) / 1e9;
const cb = (f: (done: (err: Error | null) => void) => void) =>
  new Promise<void>((resolve, reject) => f((err) => (err ? reject(err) : resolve())));

async function scratch(): Promise<string> {
  return fsp.mkdtemp(join(BASE, 'wal-bench-'));
}

/** fdatasync calls/s of a plain file: append 128 bytes, fdatasync, repeat. */
async function rawSyncRate(seconds = SECONDS): Promise<number> {
  const dir = await scratch();
  const fd = fs.openSync(join(dir, 'append'), 'w');
  const buf = Buffer.alloc(128, 7);
  let n = 0;
  let pos = 0;
  const t0 = now();
  while (now() - t0 < seconds) {
    await cb((done) => fs.write(fd, buf, 0, buf.length, pos, (err) => done(err)));
    pos += buf.length;
    await cb((done) => fs.fdatasync(fd, done));
    n++;
  }
  const rate = n / (now() - t0);
  fs.closeSync(fd);
  await fsp.rm(dir, { recursive: true });
  return rate;
}

/** Sequential write MB/s: `mib` MiB in 1 MiB writes to a new file, then one fdatasync. */
async function rawSequential(mib = 256): Promise<number> {
  const dir = await scratch();
  const fd = fs.openSync(join(dir, 'seq'), 'w');
  const chunk = Buffer.alloc(1 << 20, 7);
  const t0 = now();
  for (let i = 0; i < mib; i++) {
    await cb((done) => fs.write(fd, chunk, 0, chunk.length, i * chunk.length, (err) => done(err)));
  }
  await cb((done) => fs.fdatasync(fd, done));
  const mbs = (mib * chunk.length) / 1e6 / (now() - t0);
  fs.closeSync(fd);
  await fsp.rm(dir, { recursive: true });
  return mbs;
}

interface Result {
  savesPerSec: number;
  mbPerSec: number;
  syncsPerSec: number;
  /** CPU time (user + system, all threads) per save: the WAL's own cost, robust to disk noise. */
  cpuUsPerSave: number;
}

async function walRun(
  size: number,
  perSave: number,
  savers: number,
  opts: WalOptions,
): Promise<Result> {
  const dir = await scratch();
  const wal = await Wal.create(dir, META, opts);
  const data = new Uint8Array(size).fill(42);
  let next = 1;
  let saves = 0;
  let stop = false;
  const batch = (): WalEntry[] => {
    const out: WalEntry[] = [];
    for (let k = 0; k < perSave; k++) out.push({ index: next++, term: 1, data });
    return out;
  };
  const t0 = now();
  const cpu0 = process.cpuUsage();
  const saver = async () => {
    while (!stop) {
      const ents = batch();
      await wal.save({ term: 1, vote: 1n, commit: next - 1 }, ents);
      saves++;
      if (now() - t0 >= SECONDS) stop = true;
    }
  };
  await Promise.all(Array.from({ length: savers }, saver));
  const secs = now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const syncs = wal.stats.syncs;
  await wal.close();
  await fsp.rm(dir, { recursive: true });
  return {
    savesPerSec: saves / secs,
    mbPerSec: (saves * perSave * size) / 1e6 / secs,
    syncsPerSec: syncs / secs,
    cpuUsPerSave: (cpu.user + cpu.system) / saves,
  };
}

async function medianOf<T extends object>(
  run: () => Promise<T>,
): Promise<{ [K in keyof T]: number }> {
  const runs: T[] = [];
  for (let i = 0; i < REPS; i++) runs.push(await run());
  const out = {} as Record<string, number>;
  for (const key of Object.keys(runs[0]!)) {
    out[key] = median(runs.map((r) => (r as Record<string, number>)[key]!));
  }
  return out as { [K in keyof T]: number };
}

const fmt = (n: number, d = 0) => n.toFixed(d).padStart(9);

async function main(): Promise<void> {
  console.log(
    `@kv/wal bench: node ${process.version}, ${os.cpus().length} cpus, ${os.platform()}, dir ${BASE}, ` +
      `${SECONDS}s per run, median of ${REPS}, load average ${os.loadavg()[0]!.toFixed(1)}`,
  );
  const raw = await medianOf(async () => ({ rate: await rawSyncRate() }));
  const seq = await medianOf(async () => ({ mbs: await rawSequential() }));
  console.log(`raw append+fdatasync: ${fmt(raw.rate)} syncs/s (128 B appends)`);
  console.log(
    `raw sequential write: ${fmt(seq.mbs, 1)} MB/s (256 MiB in 1 MiB writes, one fdatasync)`,
  );
  console.log('');
  // The disk is shared with other work, so every WAL run is paired with the
  // raw measurements taken right before it; the ratios are medians of the
  // per-run ratios.
  console.log(
    'entry B | ents/save | savers |   saves/s |      MB/s |   syncs/s | cpu us/save | raw sync/s | raw MB/s | saves/raw sync | MB/s / raw MB/s',
  );
  for (const size of [100, 4096]) {
    for (const per of [1, 16, 256]) {
      for (const savers of [1, 64]) {
        const r = await medianOf(async () => {
          const rawNow = await rawSyncRate(Math.min(SECONDS, 0.5));
          const seqNow = await rawSequential(64);
          const w = await walRun(size, per, savers, {});
          return {
            ...w,
            rawNow,
            seqNow,
            syncRatio: w.savesPerSec / rawNow,
            bwRatio: w.mbPerSec / seqNow,
          };
        });
        console.log(
          `${String(size).padStart(7)} | ${String(per).padStart(9)} | ${String(savers).padStart(6)} |` +
            `${fmt(r.savesPerSec)} |${fmt(r.mbPerSec, 1)} |${fmt(r.syncsPerSec)} |  ${fmt(r.cpuUsPerSave)} | ${fmt(r.rawNow)} |` +
            `${fmt(r.seqNow, 0)} |      ${fmt(100 * r.syncRatio, 0)}% |       ${fmt(100 * r.bwRatio, 0)}%`,
        );
      }
    }
  }
  if (process.env['WAL_BENCH_PREALLOC'] === '1') {
    console.log('');
    console.log('preallocation mode (1 saver):');
    for (const mode of ['sparse', 'zeros'] as const) {
      for (const [size, per] of [
        [100, 1],
        [4096, 256],
      ] as const) {
        const r = await medianOf(() => walRun(size, per, 1, { preallocate: mode }));
        console.log(
          `  ${mode.padEnd(6)} ${size} B x ${per}: ${fmt(r.savesPerSec)} saves/s ${fmt(r.mbPerSec, 1)} MB/s`,
        );
      }
    }
  }
}

await main();
