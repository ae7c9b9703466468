// Client overhead: calls/s of client.kv.get against an in-process grpc-js
// server answering Range from memory, on 1 and on 10 connections, next to
// the raw grpc-js generated client under the same load (the floor).
// Run: pnpm --filter @kv/client bench   (BENCH_SECONDS, BENCH_RUNS, BENCH_INFLIGHT)
import { Server, ServerCredentials, credentials } from '@grpc/grpc-js';
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { KVClient, KVService } from '@kv/api';
import type { etcdserverpb } from '@kv/api';
import { Client } from '../src/index';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 2);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
const INFLIGHT = Number(process.env['BENCH_INFLIGHT'] ?? 100);

const kv = {
  key: Buffer.from('bench/key'),
  value: Buffer.alloc(100, 'v'),
  createRevision: 2n,
  modRevision: 2n,
  version: 1n,
  lease: 0n,
};
const response: etcdserverpb.RangeResponse = {
  header: { clusterId: 1n, memberId: 1n, revision: 2n, raftTerm: 1n },
  kvs: [kv],
  more: false,
  count: 1n,
};

async function startServer(): Promise<{ address: string; stop: () => void }> {
  const server = new Server();
  server.addService(KVService, {
    range: (
      _c: ServerUnaryCall<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>,
      cb: sendUnaryData<etcdserverpb.RangeResponse>,
    ) => cb(null, response),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

/** Keeps INFLIGHT calls running for SECONDS; returns calls/s. */
async function drive(call: (i: number) => Promise<unknown>): Promise<number> {
  const until = performance.now() + SECONDS * 1000;
  let done = 0;
  let i = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      await call(i++);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
  return done / ((performance.now() - t0) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

type Impl = (address: string) => { call: () => Promise<unknown>; close: () => void };

/** Alternates runs of the implementations so background load hits both alike. */
async function compareAt(conns: number, impls: [string, Impl][], address: string): Promise<void> {
  const sets = impls.map(([, mk]) => Array.from({ length: conns }, () => mk(address)));
  for (const clients of sets) {
    await Promise.all(clients.map((c) => c.call()));
    await drive((i) => clients[i % conns]!.call());
  }
  const rates: number[][] = impls.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    for (let k = 0; k < sets.length; k++) {
      const clients = sets[k]!;
      rates[k]!.push(await drive((i) => clients[i % conns]!.call()));
    }
  }
  for (const clients of sets) for (const c of clients) c.close();
  impls.forEach(([name], k) => {
    const rs = rates[k]!;
    console.log(
      `${name.padEnd(22)} conns=${String(conns).padStart(2)}  median ${String(Math.round(median(rs))).padStart(6)} calls/s  (runs: ${rs.map((x) => Math.round(x)).join(', ')})`,
    );
  });
}

const ours: Impl = (address) => {
  const c = new Client({ endpoints: [address] });
  return { call: () => c.kv.get('bench/key'), close: () => c.close() };
};
const raw: Impl = (address) => {
  const c = new KVClient(address, credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  const req: etcdserverpb.RangeRequest = {
    key: Buffer.from('bench/key'),
    rangeEnd: Buffer.alloc(0),
    limit: 0n,
    revision: 0n,
    sortOrder: 0,
    sortTarget: 0,
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0n,
    maxModRevision: 0n,
    minCreateRevision: 0n,
    maxCreateRevision: 0n,
  };
  return {
    call: () =>
      new Promise((resolve, reject) => c.range(req, (e, r) => (e ? reject(e) : resolve(r)))),
    close: () => c.close(),
  };
};

const srv = await startServer();
console.log(
  `client overhead: Range from memory, in-process grpc-js server, ${INFLIGHT} calls in flight, ${RUNS} runs x ${SECONDS}s, Node ${process.version}`,
);
for (const conns of [1, 10]) {
  await compareAt(
    conns,
    [
      ['raw grpc-js KVClient', raw],
      ['@kv/client kv.get', ours],
    ],
    srv.address,
  );
}
srv.stop();
