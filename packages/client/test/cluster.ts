// Test harness: starts N members of real etcd (default) or of our server
// (KV_TEST_TARGET=kv) on 127.0.0.1 with free ports and temp data dirs.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reservePort as freePort } from '@kv-tools/test-ports';
import { Client } from '../src/index';

/** Which server the suite runs against. */
export const target: 'etcd' | 'kv' = process.env['KV_TEST_TARGET'] === 'kv' ? 'kv' : 'etcd';

const repoRoot = join(import.meta.dirname, '../../..');

// Our server runs from its TypeScript sources, so no build is needed first.
const serverCommand: readonly string[] =
  target === 'kv'
    ? [
        process.execPath,
        '--conditions=@kv/source',
        '--import',
        join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs'),
        join(repoRoot, 'packages/server/src/cli.ts'),
      ]
    : [process.env['ETCD_BIN'] ?? '/usr/bin/etcd'];

export interface Member {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  proc: ChildProcess | undefined;
  args: string[];
  log: string[];
}

export interface TestCluster {
  /** Client URLs of every member. */
  endpoints: string[];
  members: Member[];
  /** SIGKILLs member i and waits for the process to exit. */
  kill(i: number): Promise<void>;
  /** Restarts a killed member with its data dir and waits until it serves. */
  restart(i: number): Promise<void>;
  /** Kills every member and removes the data dirs. */
  stop(): Promise<void>;
}

function launch(m: Member): void {
  const [cmd, ...pre] = serverCommand;
  const proc = spawn(cmd!, [...pre, ...m.args], { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (chunk: string) => {
    m.log.push(chunk);
    if (m.log.length > 200) m.log.shift();
  });
  m.proc = proc;
}

function killMember(m: Member): Promise<void> {
  const proc = m.proc;
  m.proc = undefined;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}

/** Waits until the member answers a linearizable read (it has a leader). */
async function waitServing(m: Member, timeoutMs = 30_000): Promise<void> {
  const client = new Client({ endpoints: [m.clientUrl], retry: { maxAttempts: 1 } });
  const until = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await client.kv.get('__cluster_health', { deadlineMs: 1_000 });
        return;
      } catch (e) {
        if (m.proc === undefined || m.proc.exitCode !== null)
          throw new Error(`member ${m.name} exited: ${m.log.join('').slice(-2000)}`);
        if (Date.now() > until)
          throw new Error(
            `member ${m.name} not serving: ${String(e)}\n${m.log.join('').slice(-3000)}`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    client.close();
  }
}

/** Starts an n-member cluster and waits until every member serves. */
export async function startCluster(n: number): Promise<TestCluster> {
  const base = mkdtempSync(join(tmpdir(), 'kv-client-test-'));
  const members: Member[] = [];
  for (let i = 0; i < n; i++) {
    const cp = await freePort();
    const pp = await freePort();
    members.push({
      name: `m${i}`,
      clientUrl: `http://127.0.0.1:${cp}`,
      peerUrl: `http://127.0.0.1:${pp}`,
      dataDir: join(base, `m${i}`),
      proc: undefined,
      args: [],
      log: [],
    });
  }
  const token = `t-${process.pid}-${Date.now()}`;
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  for (const m of members) {
    m.args = [
      '--name',
      m.name,
      '--data-dir',
      m.dataDir,
      '--listen-client-urls',
      m.clientUrl,
      '--advertise-client-urls',
      m.clientUrl,
      '--listen-peer-urls',
      m.peerUrl,
      '--initial-advertise-peer-urls',
      m.peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      token,
      // Fast elections keep failover tests short.
      '--heartbeat-interval',
      '50',
      '--election-timeout',
      '500',
    ];
    launch(m);
  }
  const cluster: TestCluster = {
    endpoints: members.map((m) => m.clientUrl),
    members,
    kill: (i) => killMember(members[i]!),
    restart: async (i) => {
      const m = members[i]!;
      await killMember(m);
      launch(m);
      await waitServing(m);
    },
    stop: async () => {
      await Promise.all(members.map(killMember));
      rmSync(base, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(members.map((m) => waitServing(m)));
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

/** A port reserved for this test process (see @kv-tools/test-ports). */
export { freePort };
