// The compare runner against real etcd, with the "kv" side pointed at etcd
// too so that the pluggable path and the ratio row run without our server.
import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_WARMUP_MAX_MS,
  DEFAULT_WARMUP_OPS,
  formatTable,
  measureRow,
  median,
  parseCompareArgs,
  runCompare,
  STANDARD_ROWS,
} from '../src/compare';
import type { CompareRow, Measurement } from '../src/compare';
import { ETCD_BINARY, processUsage, startServer } from '../src/servers';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const putRow = STANDARD_ROWS.find((r) => r.name === 'put-1')!;

describe('servers', () => {
  it('reads CPU seconds and peak RSS from /proc', () => {
    const u = processUsage(process.pid);
    expect(u.cpuSeconds).toBeGreaterThan(0);
    expect(u.peakRssBytes).toBeGreaterThan(10 * 2 ** 20);
  });

  it('starts a 3-member etcd cluster and stops every member by PID', async () => {
    const c = await startServer('etcd', 3);
    try {
      expect(c.endpoints).toHaveLength(3);
      expect(new Set(c.pids).size).toBe(3);
      for (const pid of c.pids) expect(alive(pid)).toBe(true);
    } finally {
      await c.stop();
    }
    for (const pid of c.pids) expect(alive(pid)).toBe(false);
    expect(existsSync(c.dir)).toBe(false);
  });

  it('reports a member that cannot start', async () => {
    await expect(
      startServer('etcd', 1, { 'no-such-flag': '1' }, { startTimeoutMs: 10_000 }),
    ).rejects.toThrow(/exited during start/);
  });
});

describe('compare', () => {
  it('measures a row on 3 members with server CPU and RSS', async () => {
    const row = STANDARD_ROWS.find((r) => r.name === 'put-100')!;
    const m = await measureRow(row, 'etcd', 3, { durationMs: 500, flags: {} });
    expect(m.failure).toBeUndefined();
    expect(m.result!.ops).toBeGreaterThan(0);
    expect(m.result!.errorCount).toBe(0);
    expect(m.result!.endpoints).toHaveLength(3);
    expect(m.serverCpuSeconds).toBeGreaterThan(0);
    expect(m.serverPeakRssBytes).toBeGreaterThan(2 ** 20);
  });

  it('warms up with the row before measuring, and does not preload twice', async () => {
    const row = STANDARD_ROWS.find((r) => r.name === 'range-s-100')!;
    const m = await measureRow(row, 'etcd', 1, { durationMs: 400, warmupMs: 400, flags: {} });
    expect(m.failure).toBeUndefined();
    expect(m.warmupOps).toBeGreaterThan(0);
    expect(m.result!.ops).toBeGreaterThan(0);
    expect(m.result!.errorCount).toBe(0);
    const cold = await measureRow(putRow, 'etcd', 1, { durationMs: 200, warmupMs: 0, flags: {} });
    expect(cold.warmupOps).toBe(0);
    expect(cold.warmupMs).toBe(0);
  });

  it('warms up in further slices until enough operations were served, within its bound', async () => {
    const row = STANDARD_ROWS.find((r) => r.name === 'put-1')!;
    const o = { durationMs: 200, warmupMs: 300, flags: {} };
    // More operations than 1 client can serve in 0.9 s: three slices, then the bound.
    const bounded = await measureRow(row, 'etcd', 1, { ...o, warmupOps: 1e9, warmupMaxMs: 900 });
    expect(bounded.failure).toBeUndefined();
    expect(bounded.warmupMs).toBe(900);
    expect(bounded.warmupOps).toBeGreaterThan(0);
    // Enough after the first slice: it stops there.
    const one = await measureRow(row, 'etcd', 1, { ...o, warmupOps: 1, warmupMaxMs: 900 });
    expect(one.warmupMs).toBe(300);
    expect(one.result!.errorCount).toBe(0);
  });

  it('stops the members even when the row itself is broken', async () => {
    const tmpRoot = mkdtempSync(join(tmpdir(), 'compare-broken-'));
    try {
      // A programming error (no args at all) throws inside measureRow.
      const broken = {
        name: 'broken',
        description: 'test',
        args: undefined,
      } as unknown as CompareRow;
      await expect(
        measureRow(broken, 'etcd', 1, {
          durationMs: 200,
          warmupMs: 200,
          flags: {},
          start: { etcd: { tmpRoot } },
        }),
      ).rejects.toThrow(TypeError);
      // The member's data dir is gone (stop() removes it) and no etcd runs from it.
      expect(readdirSync(tmpRoot)).toEqual([]);
      const running = readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(tmpRoot);
          } catch {
            return false;
          }
        });
      expect(running).toEqual([]);
    } finally {
      rmSync(tmpRoot, { recursive: true, force: true });
    }
  });

  it('parses --warmup, defaults it to 3 s, and --quick turns it off', () => {
    expect(parseCompareArgs([]).warmupMs).toBe(3000);
    expect(parseCompareArgs(['--warmup', '500ms']).warmupMs).toBe(500);
    expect(parseCompareArgs(['--warmup=0']).warmupMs).toBe(0);
    expect(parseCompareArgs(['--quick']).warmupMs).toBe(0);
  });

  it('parses --warmup-ops and --warmup-max; unset, the runner uses 10,000 and 15 s', () => {
    expect(DEFAULT_WARMUP_OPS).toBe(10_000);
    expect(DEFAULT_WARMUP_MAX_MS).toBe(15_000);
    expect(parseCompareArgs([]).warmupOps).toBeUndefined();
    expect(parseCompareArgs(['--warmup-ops', '500']).warmupOps).toBe(500);
    expect(parseCompareArgs(['--warmup-ops=0']).warmupOps).toBe(0);
    expect(parseCompareArgs(['--warmup-max', '20s']).warmupMaxMs).toBe(20_000);
    expect(() => parseCompareArgs(['--warmup-ops', '-1'])).toThrow(/--warmup-ops takes/);
    expect(() => parseCompareArgs(['--warmup-ops', 'many'])).toThrow(/--warmup-ops takes/);
  });

  it('alternates servers per round and prints medians and the ratio of each round', async () => {
    const seen: Measurement[] = [];
    const results = await runCompare({
      servers: ['etcd', 'kv'],
      members: [1],
      durationMs: 400,
      rows: [putRow],
      rounds: 2,
      flags: {},
      start: { kv: { command: [ETCD_BINARY] } },
      onMeasurement: (m) => seen.push(m),
    });
    expect(results.map((m) => [m.server, m.round])).toEqual([
      ['etcd', 1],
      ['kv', 1],
      ['kv', 2],
      ['etcd', 2],
    ]);
    expect(seen).toEqual(results);
    for (const m of results) expect(m.result?.ops).toBeGreaterThan(0);
    const table = formatTable(results);
    expect(table).toContain('| 1 | put-1 | etcd (median of 2) |');
    expect(table).toMatch(/\| 1 \| put-1 \| ours\/etcd \| ×\d+\.\d\d \|/);
    expect(table).toMatch(/\| 1 \| put-1 \| ours\/etcd by round \| ×\d+\.\d\d ×\d+\.\d\d \|/);
  });

  it('folds rounds into medians and pairs each round of ours with the same round of etcd', () => {
    const m = (server: 'etcd' | 'kv', round: number, tput: number, p99: number): Measurement => ({
      row: 'put-1',
      members: 3,
      server,
      round,
      result: {
        mode: 'put',
        endpoints: [],
        clients: 1,
        conns: 1,
        workers: 1,
        unit: 'requests',
        ops: tput,
        writes: 0,
        errors: {},
        errorCount: round === 2 ? 1 : 0,
        elapsedSec: 1,
        throughput: tput,
        latencyMs: { count: tput, min: 0, mean: 1, p50: 1, p90: 1, p99, p999: p99, max: p99 },
        subLatencyMs: {},
      },
      failure: undefined,
      warmupOps: 0,
      warmupMs: 0,
      serverCpuSeconds: round,
      serverPeakRssBytes: 2 ** 20 * round,
      rssBytesPerKey: undefined,
      generatorCpuSeconds: 0,
    });
    const failed: Measurement = { ...m('kv', 4, 1, 1), result: undefined, failure: 'boom' };
    const table = formatTable([
      m('etcd', 1, 100, 4),
      m('kv', 1, 150, 2),
      m('kv', 2, 300, 8),
      m('etcd', 2, 300, 4),
      m('etcd', 3, 200, 10),
      m('kv', 3, 100, 30),
      failed,
    ]).split('\n');
    // Medians: etcd 200/s p99 4, ours 150/s p99 8; a failed round is listed, not folded in.
    expect(table).toContain(
      '| 3 | put-1 | etcd (median of 3) | 200 | 1.00 | 4.00 | 4.00 | 1 | 2.00 | 2.0 |  | 0.00 |',
    );
    expect(table).toContain('| 3 | put-1 | kv #4 | failed: boom | | | | | | | | |');
    expect(table).toContain(
      '| 3 | put-1 | kv (median of 3) | 150 | 1.00 | 8.00 | 8.00 | 1 | 2.00 | 2.0 |  | 0.00 |',
    );
    expect(table).toContain(
      '| 3 | put-1 | ours/etcd | ×0.75 | ×1.00 | ×2.00 | ×2.00 | | ×1.00 | ×1.00 |  | |',
    );
    expect(table).toContain(
      '| 3 | put-1 | ours/etcd by round | ×1.50 ×1.00 ×0.50 | ×1.00 ×1.00 ×1.00 | ×0.50 ×2.00 ×3.00 | ×0.50 ×2.00 ×3.00 | | | | | |',
    );
    // Per-round CPU ratios 1, 1, 1 and RSS ratios 1, 1, 1; throughput's median
    // of ratios (×1.00) differs from the ratio of medians (×0.75).
    expect(table).toContain(
      '| 3 | put-1 | ours/etcd, median of the round ratios | ×1.00 | ×1.00 | ×2.00 | ×2.00 | | ×1.00 | ×1.00 |  | |',
    );
  });

  it('takes the median of odd and even counts', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([1, 5, 2, 4])).toBe(3);
    expect(median([])).toBeNaN();
  });

  it('parses --rounds', () => {
    expect(parseCompareArgs([]).rounds).toBeUndefined();
    expect(parseCompareArgs(['--rounds', '3']).rounds).toBe(3);
    expect(() => parseCompareArgs(['--rounds=0'])).toThrow(/--rounds takes a whole number/);
    expect(() => parseCompareArgs(['--rounds', '1.5'])).toThrow(/--rounds takes a whole number/);
  });

  it('reports RSS growth per key for rows that leave keys behind', async () => {
    const row = {
      name: 'mem',
      description: 'test',
      args: [
        'put',
        '--sequential-keys',
        '--key-space',
        '2000',
        '--total',
        '2000',
        '--clients',
        '20',
        '--val-size',
        '1024',
      ],
      keys: 2000,
    };
    const m = await measureRow(row, 'etcd', 1, { durationMs: 60_000, flags: {} });
    expect(m.result!.ops).toBe(2000);
    expect(m.rssBytesPerKey).toBeGreaterThan(0);
    expect(formatTable([m])).toMatch(/\| 1 \| mem \| etcd \| .* \| [\d,]+ \| [\d.]+ \|$/);
  });

  it('prints failed rows without numbers', () => {
    const table = formatTable([
      {
        row: 'put-1',
        members: 1,
        server: 'kv',
        round: 1,
        result: undefined,
        failure: 'start failed: boom\nmore',
        warmupOps: 0,
        warmupMs: 0,
        serverCpuSeconds: 0,
        serverPeakRssBytes: 0,
        rssBytesPerKey: undefined,
        generatorCpuSeconds: 0,
      },
    ]);
    expect(table).toContain('| 1 | put-1 | kv | failed: start failed: boom |');
    expect(table).not.toContain('ours/etcd');
  });
});
