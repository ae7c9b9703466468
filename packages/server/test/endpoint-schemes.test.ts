/**
 * etcdctl 3.4 accepts endpoints with or without a scheme. With one
 * (`--endpoints=http://127.0.0.1:2379`), Go's gRPC sends the whole string as
 * the HTTP/2 `:authority`, which Node's nghttp2 rejects unless the client
 * port repairs it (src/h2-authority.ts). The same commands run against real
 * etcd 3.4 and our server, with every endpoint form, and the outputs must
 * match once IDs, versions, sizes, ports and timings are normalised.
 * `unix://localhost:PORT` listeners (a socket file named `localhost:PORT` in
 * the working directory, as etcd makes it) are covered the same way.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, freePort } from './harness';
import type { CommandResult, ServerKind } from './harness';

type Scheme = 'http' | 'https' | 'unix';

interface Variant {
  readonly name: string;
  readonly scheme: Scheme;
  /** The endpoint as written on etcdctl's command line. */
  readonly endpoint: (port: number) => string;
  readonly flags: readonly string[];
}

const TLS_FLAGS = ['--insecure-transport=false', '--insecure-skip-tls-verify'];

const variants: Variant[] = [
  { name: 'host:port', scheme: 'http', endpoint: (p) => `127.0.0.1:${p}`, flags: [] },
  { name: 'http://', scheme: 'http', endpoint: (p) => `http://127.0.0.1:${p}`, flags: [] },
  {
    name: 'http:// with a path',
    scheme: 'http',
    endpoint: (p) => `http://127.0.0.1:${p}/`,
    flags: [],
  },
  { name: 'http://localhost', scheme: 'http', endpoint: (p) => `http://localhost:${p}`, flags: [] },
  {
    name: 'https://',
    scheme: 'https',
    endpoint: (p) => `https://127.0.0.1:${p}`,
    flags: TLS_FLAGS,
  },
  { name: 'unix://', scheme: 'unix', endpoint: (p) => `unix://localhost:${p}`, flags: [] },
];

const commands: (readonly string[])[] = [
  ['put', 'scheme-key', 'v1'],
  ['get', 'scheme-key'],
  ['get', 'scheme-key', '-w', 'json'],
  ['endpoint', 'status'],
  ['endpoint', 'status', '-w', 'json'],
  ['endpoint', 'health'],
  ['endpoint', 'hashkv'],
  ['member', 'list', '-w', 'json'],
  ['del', 'scheme-key'],
];

function normalise(text: string, port: number): string {
  return (
    text
      // Only as a port (after a colon): the digits may also occur inside an ID.
      .replace(new RegExp(`:${port}(?!\\d)`, 'g'), ':PORT')
      .replace(/^\{"level":"warn".*"error":"([^"]*)"\}$/gm, 'WARN $1')
      .replace(
        /"(cluster_id|member_id|raft_term|ID|leader|revision|hash|raftIndex|raftTerm|raftAppliedIndex|dbSize|dbSizeInUse|raft_index|raft_applied_index|hash_revision)":\d+/g,
        '"$1":N',
      )
      .replace(/"version":"[^"]*"/g, '"version":V')
      .replace(/took = [0-9.]+[µmn]?s/g, 'took = T')
      // `endpoint status` / `hashkv` tables: ID, version, DB size, term and indexes.
      .replace(
        /^(\S+), [0-9a-f]+, [0-9.]+, [0-9.]+ [kMG]?B, (true|false), (true|false), \d+, \d+, \d+, (.*)$/gm,
        '$1, ID, V, SIZE, $2, $3, N, N, N, $4',
      )
      .replace(/^(\S+), \d+$/gm, '$1, HASH')
      .replace(/"name":"[^"]*"/g, '"name":NAME')
      .replace(/"peerURLs":\["[^"]*"\]/g, '"peerURLs":[PEER]')
  );
}

/** A running single member: its port and the working directory etcdctl runs in. */
interface Target {
  readonly port: number;
  readonly cwd: string;
  close(): Promise<void>;
}

/** Runs etcdctl 3.4 in `cwd` (where relative unix socket names resolve). */
function etcdctlIn(cwd: string, args: readonly string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      'etcdctl',
      args,
      { cwd, env: { ...process.env, ETCDCTL_API: '3' }, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const repoRoot = path.resolve(import.meta.dirname, '../../..');

/**
 * One member listening on `unix://localhost:PORT` only, started in a
 * temporary directory (so its socket file lands there), ready once etcdctl
 * reads through the socket.
 */
async function startUnixMember(kind: ServerKind): Promise<Target> {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), `${kind}-unix-`));
  const port = await freePort();
  const peer = `http://127.0.0.1:${await freePort()}`;
  const url = `unix://localhost:${port}`;
  const flags = [
    '--name=m0',
    `--data-dir=${path.join(cwd, 'data')}`,
    `--listen-client-urls=${url}`,
    `--advertise-client-urls=${url}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=m0=${peer}`,
    '--heartbeat-interval=50',
    '--election-timeout=500',
  ];
  const [cmd, args] =
    kind === 'kv'
      ? [
          process.execPath,
          [
            '--conditions=@kv/source',
            '--import',
            path.join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs'),
            path.join(repoRoot, 'packages/server/src/cli.ts'),
            ...flags,
          ],
        ]
      : ['etcd', flags];
  const log: string[] = [];
  const proc: ChildProcess = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.on('data', (d: Buffer) => log.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  const close = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      });
    }
    fs.rmSync(cwd, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await etcdctlIn(cwd, [`--endpoints=${url}`, '--dial-timeout=1s', 'get', 'probe']);
    if (r.code === 0) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      await close();
      throw new Error(`${kind} on ${url} not serving (${r.stderr.trim()}):\n${log.join('')}`);
    }
    await new Promise((r2) => setTimeout(r2, 100));
  }
  return { port, cwd, close };
}

async function startTarget(kind: ServerKind, scheme: Scheme): Promise<Target> {
  if (scheme === 'unix') return startUnixMember(kind);
  const cluster = await ProcessCluster.start({
    kind,
    size: 1,
    clientScheme: scheme,
    ...(scheme === 'https' ? { extraFlags: ['--auto-tls'], etcdctlFlags: TLS_FLAGS } : {}),
  });
  return { port: cluster.members[0]!.clientPort, cwd: cluster.root, close: () => cluster.close() };
}

async function transcript(target: Target, v: Variant): Promise<string> {
  const out: string[] = [];
  for (const args of commands) {
    const r = await etcdctlIn(target.cwd, [
      ...v.flags,
      `--endpoints=${v.endpoint(target.port)}`,
      '--dial-timeout=3s',
      '--command-timeout=5s',
      ...args,
    ]);
    out.push(
      `$ etcdctl ${args.join(' ')}\n[exit ${r.code}]\n${normalise(r.stdout + r.stderr, target.port)}`,
    );
  }
  return out.join('\n');
}

// One single-member cluster per server kind and client scheme, shared by the variants.
const targets = new Map<string, Target>();
const key = (kind: ServerKind, scheme: Scheme): string => `${kind}/${scheme}`;

beforeAll(async () => {
  const starts: Promise<void>[] = [];
  for (const kind of ['etcd', 'kv'] as const) {
    for (const scheme of ['http', 'https', 'unix'] as const) {
      starts.push(startTarget(kind, scheme).then((t) => void targets.set(key(kind, scheme), t)));
    }
  }
  const results = await Promise.allSettled(starts);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}, 60_000);

afterAll(async () => {
  await Promise.all([...targets.values()].map((t) => t.close()));
});

describe.each(variants)('etcdctl --endpoints=$name', (v) => {
  it('answers as etcd 3.4 does', async () => {
    const [want, got] = await Promise.all([
      transcript(targets.get(key('etcd', v.scheme))!, v),
      transcript(targets.get(key('kv', v.scheme))!, v),
    ]);
    expect(want).not.toMatch(/\[exit [^0]/);
    expect(got).toBe(want);
  });
});
