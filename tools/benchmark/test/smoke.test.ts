// Short runs of every mode against a real etcd started by the test.
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { parseArgs } from '../src/options';
import { runBenchmark } from '../src/run';
import type { BenchResult } from '../src/run';
import { startServer } from '../src/servers';
import type { RunningCluster } from '../src/servers';
import { formatJson, formatText } from '../src/report';
import { RawH2UnaryKV } from '../src/raw-h2-unary';
import { etcdserverpb } from '@kv/api';

let etcd: RunningCluster;

beforeAll(async () => {
  etcd = await startServer('etcd', 1);
});

afterAll(async () => {
  await etcd?.stop();
});

async function run(argv: string[]): Promise<BenchResult> {
  const o = parseArgs([...argv, '--endpoints', etcd.endpoints.join(',')]);
  return runBenchmark(o);
}

/** Request modes: every request succeeded and was timed. */
function expectClean(r: BenchResult, ops: number): void {
  expect(r.errors).toEqual({});
  expect(r.ops).toBe(ops);
  expect(r.latencyMs.count).toBe(ops);
  expect(r.throughput).toBeGreaterThan(0);
  expect(r.latencyMs.p50).toBeGreaterThan(0);
  expect(r.latencyMs.p50).toBeLessThanOrEqual(r.latencyMs.p99);
  expect(r.latencyMs.p99).toBeLessThanOrEqual(r.latencyMs.max);
}

/**
 * Sequential calls of every method on one raw connection, each path first
 * used after calls of the others have finished: each first use adds a field
 * to the server's HPACK table and shifts the indexes of the older ones.
 */
async function sequentialRawCalls(endpoint: string): Promise<unknown[]> {
  const kv = new RawH2UnaryKV(endpoint);
  await kv.ready();
  const key = Buffer.from('raw-seq');
  const calls: Array<(cb: (err: unknown) => void) => unknown> = [
    (cb) => kv.put(etcdserverpb.PutRequest.fromPartial({ key, value: Buffer.from('1') }), cb),
    (cb) => kv.put(etcdserverpb.PutRequest.fromPartial({ key, value: Buffer.from('2') }), cb),
    (cb) => kv.range(etcdserverpb.RangeRequest.fromPartial({ key }), cb),
    (cb) => kv.put(etcdserverpb.PutRequest.fromPartial({ key, value: Buffer.from('3') }), cb),
    (cb) => kv.txn(etcdserverpb.TxnRequest.fromPartial({}), cb),
    (cb) => kv.range(etcdserverpb.RangeRequest.fromPartial({ key }), cb),
    (cb) => kv.put(etcdserverpb.PutRequest.fromPartial({ key, value: Buffer.from('4') }), cb),
  ];
  const outcomes: unknown[] = [];
  for (const call of calls) outcomes.push(await new Promise<unknown>((resolve) => call(resolve)));
  kv.close();
  return outcomes;
}

describe('load generator against etcd', () => {
  it('put: sends exactly --total requests', async () => {
    const r = await run([
      'put',
      '--clients',
      '4',
      '--conns',
      '2',
      '--total',
      '200',
      '--key-space',
      '50',
    ]);
    expectClean(r, 200);
    expect(JSON.parse(formatJson(r))).toMatchObject({ mode: 'put', ops: 200 });
    expect(formatText(r)).toContain('errors: none');
  });

  it('put: stops after --duration', async () => {
    const started = performance.now();
    const r = await run(['put', '--clients', '4', '--duration', '1s']);
    const took = performance.now() - started;
    expect(r.errorCount).toBe(0);
    expect(r.ops).toBeGreaterThan(0);
    expect(r.elapsedSec).toBeGreaterThan(0.9);
    expect(took).toBeLessThan(10_000);
  });

  it('range: linearizable point reads of preloaded keys', async () => {
    expectClean(
      await run(['range', '--clients', '4', '--total', '200', '--preload', '--key-space', '20']),
      200,
    );
  });

  it('range: serializable prefix reads with a limit', async () => {
    const r = await run([
      'range',
      '--consistency',
      's',
      '--prefix',
      '--key-prefix',
      'r/',
      '--key-space',
      '100',
      '--limit',
      '50',
      '--preload',
      '--total',
      '50',
      '--clients',
      '2',
    ]);
    expectClean(r, 50);
  });

  it('range: the same with decoded responses', async () => {
    const r = await run([
      'range',
      '--prefix',
      '--key-prefix',
      'rd/',
      '--key-space',
      '100',
      '--limit',
      '50',
      '--preload',
      '--total',
      '20',
      '--decode-responses',
    ]);
    expectClean(r, 20);
  });

  it('txn-put: transactions of several puts', async () => {
    expectClean(
      await run([
        'txn-put',
        '--txn-ops',
        '3',
        '--key-space',
        '100',
        '--total',
        '100',
        '--clients',
        '4',
      ]),
      100,
    );
  });

  it('txn-mixed and mixed: reads and writes are timed separately', async () => {
    for (const mode of ['txn-mixed', 'mixed']) {
      const r = await run([mode, '--key-space', '10', '--total', '300', '--clients', '4']);
      expectClean(r, 300);
      const read = r.subLatencyMs['read']!.count;
      const write = r.subLatencyMs['write']!.count;
      expect(read + write).toBe(300);
      expect(read).toBeGreaterThan(0);
      expect(write).toBeGreaterThan(0);
    }
  });

  it('watch: every watcher receives every put', async () => {
    const r = await run([
      'watch',
      '--watchers',
      '6',
      '--streams',
      '2',
      '--clients',
      '3',
      '--total',
      '100',
      '--key-prefix',
      'w/',
      '--key-space',
      '10',
    ]);
    expect(r.errors).toEqual({});
    expect(r.writes).toBe(100);
    expect(r.ops).toBe(600);
    expect(r.latencyMs.count).toBe(600);
    expect(r.subLatencyMs['put']!.count).toBe(100);
    expect(r.unit).toBe('events');
  });

  it('watch-latency: rate-limited puts, delivery latency per watcher', async () => {
    const r = await run([
      'watch-latency',
      '--watchers',
      '3',
      '--total',
      '20',
      '--rate',
      '200',
      '--key-prefix',
      'wl/',
    ]);
    expect(r.errors).toEqual({});
    expect(r.ops).toBe(60);
    // 20 puts at 200/s take at least 95 ms.
    expect(r.elapsedSec).toBeGreaterThan(0.09);
  });

  it('lease-keepalive: one response per keep-alive', async () => {
    expectClean(await run(['lease-keepalive', '--clients', '4', '--total', '400']), 400);
  });

  it('worker threads: the shards add up', async () => {
    const r = await run([
      'put',
      '--workers',
      '2',
      '--clients',
      '4',
      '--total',
      '300',
      '--key-space',
      '100',
    ]);
    expectClean(r, 300);
    expect(r.workers).toBe(2);
    const w = await run([
      'watch',
      '--workers',
      '2',
      '--watchers',
      '4',
      '--streams',
      '2',
      '--clients',
      '2',
      '--total',
      '50',
      '--key-prefix',
      'ww/',
    ]);
    expect(w.errors).toEqual({});
    expect(w.ops).toBe(200);
  });

  it('http2 transport: put, range, txn and mixed succeed', async () => {
    const common = ['--transport', 'http2', '--clients', '4', '--conns', '2', '--key-space', '20'];
    expectClean(await run(['put', ...common, '--total', '200']), 200);
    expectClean(await run(['range', ...common, '--total', '200', '--consistency', 's']), 200);
    expectClean(await run(['txn-put', ...common, '--total', '100', '--txn-ops', '2']), 100);
    expectClean(await run(['mixed', ...common, '--total', '200']), 200);
  });

  it('http2 transport: server errors carry their gRPC code', async () => {
    const r = await run(['put', '--transport', 'http2', '--val-size', '1700000', '--total', '3']);
    expect(r.ops).toBe(0);
    expect(r.errors).toEqual({ INVALID_ARGUMENT: 3 });
  });

  it('raw transport: put, range, txn and mixed succeed', async () => {
    const common = ['--transport', 'raw', '--clients', '4', '--conns', '2', '--key-space', '20'];
    expectClean(await run(['put', ...common, '--total', '200']), 200);
    expectClean(await run(['range', ...common, '--total', '200', '--consistency', 's']), 200);
    expectClean(await run(['range', ...common, '--total', '50', '--prefix', '--limit', '20']), 50);
    expectClean(await run(['txn-put', ...common, '--total', '100', '--txn-ops', '2']), 100);
    expectClean(await run(['mixed', ...common, '--total', '200']), 200);
  });

  it('raw transport: sequential calls of every method on one connection all succeed', async () => {
    expect(await sequentialRawCalls(etcd.endpoints[0]!)).toEqual(Array(7).fill(null));
  });

  it('raw transport: bodies larger than a frame and than the first windows go through', async () => {
    // 1 MiB values: 64 frames of 16 KiB each, beyond the 64 KiB initial windows.
    const r = await run(['put', '--transport', 'raw', '--val-size', '1048576', '--total', '4']);
    expectClean(r, 4);
  });

  it('raw transport: server errors carry their gRPC code', async () => {
    const r = await run(['put', '--transport', 'raw', '--val-size', '1700000', '--total', '3']);
    expect(r.ops).toBe(0);
    expect(r.errors).toEqual({ INVALID_ARGUMENT: 3 });
  });

  it('counts server errors by gRPC code', async () => {
    // etcd rejects requests above --max-request-bytes (1.5 MiB) with InvalidArgument.
    const r = await run(['put', '--val-size', '1700000', '--total', '3']);
    expect(r.ops).toBe(0);
    expect(r.errors).toEqual({ INVALID_ARGUMENT: 3 });
    expect(r.errorCount).toBe(3);
  });
});

describe('raw transport against our server', () => {
  // Our server indexes the response fields every call repeats in the
  // client's HPACK table: the raw client must decode every block to follow.
  it('puts, ranges and txns succeed and errors carry their code', async () => {
    const kv = await startServer('kv', 1);
    try {
      const run = (argv: string[]): Promise<BenchResult> =>
        runBenchmark(parseArgs([...argv, '--endpoints', kv.endpoints.join(',')]));
      const common = ['--transport', 'raw', '--clients', '8', '--conns', '2', '--key-space', '50'];
      expectClean(await run(['put', ...common, '--total', '300']), 300);
      expectClean(await run(['range', ...common, '--total', '300']), 300);
      expectClean(await run(['txn-put', ...common, '--total', '100']), 100);
      expect(await sequentialRawCalls(kv.endpoints[0]!)).toEqual(Array(7).fill(null));
      const big = await run(['put', '--transport', 'raw', '--val-size', '1700000', '--total', '2']);
      expect(big.errors).toEqual({ INVALID_ARGUMENT: 2 });
    } finally {
      await kv.stop();
    }
  });
});
