// Gateway benchmarks. Prints medians of several rounds:
//  1. JSON codec cost: a 1000-key RangeResponse to etcd JSON, a Txn request from JSON;
//  2. handler throughput over a fake backend (HTTP keep-alive, 16 in flight);
//  3. watch stream throughput (lines/s) over a fake backend;
//  4. with etcd installed: unary Range through etcd 3.4's own gateway vs ours
//     (grpcClientBackend → the same etcd), same client, same load.
// Run: pnpm bench (= node --conditions=@kv/source --import tsx bench/gateway.ts)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { credentials } from '@grpc/grpc-js';
import { etcdserverpb } from '@kv/api';
import { createGatewayHandler, grpcClientBackend } from '../src/index';
import { codecsOf } from '../src/codecs';
import { decodeRequest, responseJson, stringifyGoStyle } from '../src/json-codec';
import { etcdAvailable, startEtcd } from '../test/etcd-process';
import { FakeBackend } from '../test/fake-backend';

const ROUNDS = 5;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeIt(iterations: number, fn: () => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - start) / 1e6 / iterations;
}

function codecBench(): void {
  const header = { clusterId: 1n, memberId: 2n, revision: 123456n, raftTerm: 4n };
  const big = etcdserverpb.RangeResponse.fromPartial({
    header,
    kvs: Array.from({ length: 1000 }, (_, i) => ({
      key: Buffer.from(`/registry/pods/default/pod-${i}`),
      value: Buffer.alloc(100, i),
      createRevision: BigInt(i + 1),
      modRevision: BigInt(i + 1000),
      version: 3n,
    })),
    count: 1000n,
  });
  const range = codecsOf('KV', 'Range')!;
  const txn = codecsOf('KV', 'Txn')!;
  const txnJson = JSON.stringify({
    compare: [{ key: 'a2V5', target: 'MOD', result: 'LESS', mod_revision: '100' }],
    success: [{ request_put: { key: 'a2V5', value: 'dmFsdWU=' } }],
    failure: [{ request_range: { key: 'a2V5' } }],
  });
  const enc: number[] = [];
  const dec: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    enc.push(timeIt(20, () => stringifyGoStyle(responseJson(range.response, big))));
    dec.push(timeIt(20_000, () => decodeRequest(txn.request, txnJson)) * 1000);
  }
  console.log(`encode RangeResponse, 1000 kvs of 100 B → etcd JSON: ${median(enc).toFixed(2)} ms`);
  console.log(`decode TxnRequest JSON (3 ops): ${median(dec).toFixed(2)} µs`);
}

async function listen(
  handler: http.RequestListener,
): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

// Sends `total` POSTs with `concurrency` in flight; returns requests/s and
// the median latency in ms.
async function load(
  url: string,
  body: string,
  total: number,
  concurrency: number,
): Promise<{ rps: number; p50: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let sent = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const req = http.request(url, { method: 'POST', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          resolve();
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < total) {
        sent++;
        await one();
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  agent.destroy();
  return { rps: total / seconds, p50: median(latencies) };
}

async function handlerBench(): Promise<void> {
  const backend = new FakeBackend();
  const response = etcdserverpb.RangeResponse.fromPartial({
    header: { clusterId: 1n, memberId: 2n, revision: 99n, raftTerm: 2n },
    kvs: [
      {
        key: Buffer.from('foo'),
        value: Buffer.alloc(100, 1),
        createRevision: 5n,
        modRevision: 99n,
        version: 2n,
      },
    ],
    count: 1n,
  });
  backend.onUnary = async () => response;
  const { url, server } = await listen(createGatewayHandler(backend));
  const rps: number[] = [];
  const p50: number[] = [];
  await load(`${url}/v3/kv/range`, '{"key":"Zm9v"}', 2000, 16);
  for (let r = 0; r < ROUNDS; r++) {
    const res = await load(`${url}/v3/kv/range`, '{"key":"Zm9v"}', 10_000, 16);
    rps.push(res.rps);
    p50.push(res.p50);
  }
  await close(server);
  console.log(
    `handler, fake backend, unary range (16 in flight): ${Math.round(median(rps))} req/s, p50 ${median(p50).toFixed(2)} ms`,
  );
}

async function watchBench(): Promise<void> {
  const backend = new FakeBackend();
  const N = 50_000;
  const event = etcdserverpb.WatchResponse.fromPartial({
    header: { clusterId: 1n, memberId: 2n, revision: 99n, raftTerm: 2n },
    events: [
      {
        kv: { key: Buffer.from('foo'), value: Buffer.alloc(100, 1), modRevision: 99n, version: 2n },
      },
    ],
  });
  backend.onBidi = async function* (requests) {
    for await (const _ of requests) break;
    for (let i = 0; i < N; i++) yield event;
  };
  const { url, server } = await listen(createGatewayHandler(backend));
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    const lines = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${url}/v3/watch`, { method: 'POST' }, (res) => {
        let count = 0;
        res.on('data', (chunk: Buffer) => {
          for (const b of chunk) if (b === 0x0a) count++;
        });
        res.on('end', () => resolve(count));
      });
      req.on('error', reject);
      req.end('{"create_request":{"key":"Zm9v"}}');
    });
    if (lines !== N) throw new Error(`expected ${N} lines, got ${lines}`);
    rates.push(N / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  await close(server);
  console.log(`watch stream, fake backend, 1 event/line: ${Math.round(median(rates))} lines/s`);
}

async function etcdBench(): Promise<void> {
  if (!etcdAvailable) {
    console.log('etcd not installed: skipping the etcd comparison');
    return;
  }
  const etcd = await startEtcd();
  const backend = grpcClientBackend(etcd.grpcAddress, credentials.createInsecure());
  const { url, server } = await listen(createGatewayHandler(backend));
  try {
    await new Promise<void>((resolve, reject) => {
      const req = http.request(`${etcd.clientUrl}/v3/kv/put`, { method: 'POST' }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(JSON.stringify({ key: 'Zm9v', value: Buffer.alloc(100, 1).toString('base64') }));
    });
    const body = '{"key":"Zm9v","serializable":true}';
    const theirs: number[] = [];
    const ours: number[] = [];
    const theirsP50: number[] = [];
    const oursP50: number[] = [];
    await load(`${etcd.clientUrl}/v3/kv/range`, body, 1000, 16);
    await load(`${url}/v3/kv/range`, body, 1000, 16);
    for (let r = 0; r < ROUNDS; r++) {
      const t = await load(`${etcd.clientUrl}/v3/kv/range`, body, 4000, 16);
      const o = await load(`${url}/v3/kv/range`, body, 4000, 16);
      theirs.push(t.rps);
      theirsP50.push(t.p50);
      ours.push(o.rps);
      oursP50.push(o.p50);
    }
    console.log(
      `etcd 3.4 own gateway, serializable range (16 in flight): ${Math.round(median(theirs))} req/s, p50 ${median(theirsP50).toFixed(2)} ms`,
    );
    console.log(
      `our gateway → same etcd via gRPC, same load:          ${Math.round(median(ours))} req/s, p50 ${median(oursP50).toFixed(2)} ms`,
    );
  } finally {
    await close(server);
    backend.close();
    await etcd.stop();
  }
}

codecBench();
await handlerBench();
await watchBench();
await etcdBench();
