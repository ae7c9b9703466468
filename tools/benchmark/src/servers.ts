// Starts and stops the servers under test: real etcd, or our server with
// etcd's flag names, as 1 or 3 members on 127.0.0.1 free ports in a fresh
// temporary data directory. Processes are tracked by PID only, stopped by
// PID, and their CPU time and peak RSS read from /proc.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { reservePorts } from '@kv-tools/test-ports';
import { credentials, Metadata } from '@grpc/grpc-js';
import { etcdserverpb, KVClient } from '@kv/api';

/**
 * Which server to start: real etcd, ours, or a floor (a server answering
 * every unary call with an empty message, see floor-server.ts: `floor` on
 * node:http2, `floor-h2` on our server's own HTTP/2).
 */
export type ServerKind = 'etcd' | 'kv' | 'floor' | 'floor-h2';

/** Extra etcd-style flags, without the leading dashes: `{ 'snapshot-count': '10000' }`. */
export type ServerFlags = Readonly<Record<string, string>>;

/** CPU time and memory of one member process. */
export interface ProcessUsage {
  pid: number;
  /** User plus system CPU seconds since the process started. */
  cpuSeconds: number;
  /** Peak resident set size (VmHWM) in bytes. */
  peakRssBytes: number;
}

/** A running cluster; `stop()` must be called (it is idempotent). */
export interface RunningCluster {
  kind: ServerKind;
  members: 1 | 3;
  /** host:port client endpoint of each member. */
  endpoints: string[];
  pids: number[];
  /** Temporary directory holding every member's data dir and log. */
  dir: string;
  /** Current CPU seconds and peak RSS of each member. */
  usage(): ProcessUsage[];
  stop(): Promise<void>;
}

/** Options of {@link startServer}. */
export interface StartServerOptions {
  /** Overrides the command (argv prefix) that starts one member. */
  command?: readonly string[];
  /** Parent of the temporary data directory (default: the OS temp dir). */
  tmpRoot?: string;
  /** How long to wait for every member to serve a linearizable read. */
  startTimeoutMs?: number;
}

/** Where our server's CLI lands once packages/server is built. */
export const KV_SERVER_CLI = fileURLToPath(
  new URL('../../../packages/server/dist/cli.js', import.meta.url),
);

/** The etcd binary (Debian's etcd-server package). */
export const ETCD_BINARY = '/usr/bin/etcd';

/** The floor server: next to this module, as TypeScript source or as built JavaScript. */
function floorCommand(): string[] {
  const fromSource = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(
    new URL(fromSource ? './floor-server.ts' : './floor-server.js', import.meta.url),
  );
  if (!fromSource) return [process.execPath, script];
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  // From source, @kv/server (the own-HTTP/2 floor) resolves to its source too.
  return [process.execPath, '--conditions=@kv/source', '--import', tsx, script];
}

/** Default command starting one member of `kind`. */
export function serverCommand(kind: ServerKind): string[] {
  if (kind === 'floor') return floorCommand();
  if (kind === 'floor-h2') return [...floorCommand(), '--floor-http2=own'];
  return kind === 'etcd' ? [ETCD_BINARY] : [process.execPath, KV_SERVER_CLI];
}

/** Whether `kind` can be started on this machine. */
export function serverAvailable(kind: ServerKind): boolean {
  if (kind === 'floor' || kind === 'floor-h2') return true;
  return kind === 'etcd' ? existsSync(ETCD_BINARY) : existsSync(KV_SERVER_CLI);
}

const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat counts in these ticks.

/** Reads utime+stime and VmHWM of a live process from /proc. */
export function processUsage(pid: number): ProcessUsage {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces; fields restart after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = /VmHWM:\s+(\d+)\s+kB/.exec(status);
  return {
    pid,
    cpuSeconds: (utime + stime) / CLK_TCK,
    peakRssBytes: hwm ? Number(hwm[1]) * 1024 : 0,
  };
}

/** The etcd command-line flags of member `i` of a cluster. */
export function memberFlags(
  i: number,
  clientPorts: readonly number[],
  peerPorts: readonly number[],
  dir: string,
  token: string,
): string[] {
  const peer = (j: number): string => `http://127.0.0.1:${peerPorts[j]}`;
  const cluster = peerPorts.map((_, j) => `m${j}=${peer(j)}`).join(',');
  const client = `http://127.0.0.1:${clientPorts[i]}`;
  return [
    `--name=m${i}`,
    `--data-dir=${join(dir, `m${i}`)}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer(i)}`,
    `--initial-advertise-peer-urls=${peer(i)}`,
    `--initial-cluster=${cluster}`,
    `--initial-cluster-token=${token}`,
    '--initial-cluster-state=new',
  ];
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Never leave a server behind when the runner dies.
  process.on('exit', () => {
    for (const c of live)
      if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
  });
}

async function waitServing(endpoint: string, deadline: number): Promise<void> {
  const client = new KVClient(endpoint, credentials.createInsecure());
  try {
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        client.range(
          etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('health') }),
          new Metadata(),
          { deadline: Date.now() + 1000 },
          (err) => resolve(err === null),
        );
      });
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`${endpoint} did not become ready`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    client.close();
  }
}

async function stopChild(c: ChildProcess, timeoutMs: number): Promise<void> {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  process.kill(c.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
      resolve();
    }, timeoutMs);
  });
  await Promise.race([exited, killed]);
  clearTimeout(timer);
  await exited;
}

/**
 * Starts a fresh `members`-member cluster of `kind` on free 127.0.0.1 ports,
 * passing `flags` (etcd names) to every member, and resolves once every
 * member serves a linearizable read.
 */
export async function startServer(
  kind: ServerKind,
  members: 1 | 3,
  flags: ServerFlags = {},
  options: StartServerOptions = {},
): Promise<RunningCluster> {
  const command = options.command ?? serverCommand(kind);
  const [bin, ...prefixArgs] = command;
  if (bin === undefined) throw new Error('empty server command');
  if (options.command === undefined && !serverAvailable(kind)) {
    throw new Error(
      kind === 'kv'
        ? `our server is not built: ${KV_SERVER_CLI} is missing (run pnpm nx run server:build)`
        : `${ETCD_BINARY} is missing (apt-get install etcd-server)`,
    );
  }
  installExitHook();
  const dir = mkdtempSync(join(options.tmpRoot ?? tmpdir(), `bench-${kind}-`));
  const ports = await reservePorts(members * 2);
  const clientPorts = ports.slice(0, members);
  const peerPorts = ports.slice(members);
  const token = `bench-${process.pid}-${Date.now()}`;
  const extra = Object.entries(flags).map(([k, v]) => `--${k}=${v}`);
  const children: ChildProcess[] = [];
  for (let i = 0; i < members; i++) {
    // etcd accepts an empty existing data dir. Our server (as of this
    // writing) fails unless <data-dir>/member exists, so that is made too.
    mkdirSync(join(dir, `m${i}`, ...(kind === 'kv' ? ['member'] : [])), { recursive: true });
    const log = openSync(join(dir, `m${i}.log`), 'a');
    const child = spawn(
      bin,
      [...prefixArgs, ...memberFlags(i, clientPorts, peerPorts, dir, token), ...extra],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    live.add(child);
    child.once('exit', () => live.delete(child));
    children.push(child);
  }
  const endpoints = clientPorts.map((p) => `127.0.0.1:${p}`);
  let stopped = false;
  const cluster: RunningCluster = {
    kind,
    members,
    endpoints,
    pids: children.map((c) => c.pid ?? -1),
    dir,
    usage: () => children.map((c) => processUsage(c.pid ?? -1)),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await Promise.all(children.map((c) => stopChild(c, 5000)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    const early = new Promise<never>((_, reject) => {
      for (const c of children) {
        c.once('exit', (code) =>
          reject(new Error(`${kind} member exited during start (code ${code}); see ${dir}`)),
        );
      }
    });
    early.catch(() => undefined);
    const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
    await Promise.race([Promise.all(endpoints.map((e) => waitServing(e, deadline))), early]);
  } catch (err) {
    const logs = children
      .map((_, i) => {
        try {
          return readFileSync(join(dir, `m${i}.log`), 'utf8')
            .split('\n')
            .slice(-5)
            .join('\n');
        } catch {
          return '';
        }
      })
      .join('\n');
    await cluster.stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${logs}`);
  }
  return cluster;
}
