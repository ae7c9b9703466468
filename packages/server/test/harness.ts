/**
 * Test harness: starts clusters of real processes on 127.0.0.1 — our
 * kv-server or the reference etcd 3.4 from Debian — with free ports and
 * temporary data directories, runs the real etcdctl against them, and kills,
 * restarts or stops members by PID.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { reservePort as freePort } from '@kv-tools/test-ports';

export type ServerKind = 'kv' | 'etcd';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const tsxLoader = path.join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs');
const cliSource = path.join(repoRoot, 'packages/server/src/cli.ts');

export interface MemberSpec {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
}

export interface ProcessMember extends MemberSpec {
  proc: ChildProcess | undefined;
  log: string[];
  readonly endpoint: string;
}

export interface ClusterOptions {
  readonly kind: ServerKind;
  readonly size: number;
  readonly extraFlags?: readonly string[];
  /** 'https' switches TLS on for that listener (the flags must supply certificates). */
  readonly clientScheme?: 'http' | 'https';
  readonly peerScheme?: 'http' | 'https';
  /** etcdctl flags needed to reach the members (for example TLS material). */
  readonly etcdctlFlags?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export class ProcessCluster {
  readonly members: ProcessMember[] = [];
  readonly root: string;
  private constructor(readonly options: ClusterOptions) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), `${options.kind}-cluster-`));
  }

  static async start(options: ClusterOptions): Promise<ProcessCluster> {
    const c = new ProcessCluster(options);
    for (let i = 0; i < options.size; i++) {
      const clientPort = await freePort();
      const peerPort = await freePort();
      c.members.push({
        name: `m${i}`,
        clientPort,
        peerPort,
        dataDir: path.join(c.root, `m${i}.etcd`),
        proc: undefined,
        log: [],
        endpoint: `${options.clientScheme === 'https' ? 'https://' : ''}127.0.0.1:${clientPort}`,
      });
    }
    for (let i = 0; i < options.size; i++) c.spawnMember(i);
    try {
      await c.waitHealthy();
    } catch (err) {
      // Never leave members behind when a cluster fails to come up.
      await c.close();
      throw err;
    }
    return c;
  }

  get initialCluster(): string {
    const scheme = this.options.peerScheme ?? 'http';
    return this.members.map((m) => `${m.name}=${scheme}://127.0.0.1:${m.peerPort}`).join(',');
  }

  get endpoints(): string {
    return this.members.map((m) => m.endpoint).join(',');
  }

  flagsFor(m: MemberSpec): string[] {
    const cs = this.options.clientScheme ?? 'http';
    const ps = this.options.peerScheme ?? 'http';
    return [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${cs}://127.0.0.1:${m.clientPort}`,
      `--advertise-client-urls=${cs}://127.0.0.1:${m.clientPort}`,
      `--listen-peer-urls=${ps}://127.0.0.1:${m.peerPort}`,
      `--initial-advertise-peer-urls=${ps}://127.0.0.1:${m.peerPort}`,
      `--initial-cluster=${this.initialCluster}`,
      '--initial-cluster-token=test-token',
      '--heartbeat-interval=50',
      '--election-timeout=500',
      ...(this.options.extraFlags ?? []),
    ];
  }

  spawnMember(i: number): void {
    const m = this.members[i]!;
    const flags = [...this.flagsFor(m), ...(this.extraArgs.get(i) ?? [])];
    const [cmd, args] =
      this.options.kind === 'kv'
        ? ['node', ['--conditions=@kv/source', '--import', tsxLoader, cliSource, ...flags]]
        : ['etcd', flags];
    const proc = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(this.options.env ?? {}), ...(this.memberEnv.get(i) ?? {}) },
    });
    m.proc = proc;
    m.log = [];
    const collect = (d: Buffer): void => {
      m.log.push(d.toString());
      if (m.log.length > 200) m.log.shift();
    };
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
  }

  /**
   * Adds a process for a member that joins the running cluster (after
   * `etcdctl member add`): --initial-cluster-state existing.
   */
  async addJoiningMember(name: string, peerPort: number, initialCluster: string): Promise<number> {
    const clientPort = await freePort();
    const m: ProcessMember = {
      name,
      clientPort,
      peerPort,
      dataDir: path.join(this.root, `${name}.etcd`),
      proc: undefined,
      log: [],
      endpoint: `127.0.0.1:${clientPort}`,
    };
    this.members.push(m);
    const i = this.members.length - 1;
    this.extraArgs.set(i, [
      '--initial-cluster-state=existing',
      `--initial-cluster=${initialCluster}`,
    ]);
    this.spawnMember(i);
    return i;
  }

  readonly extraArgs = new Map<number, string[]>();
  /** Extra environment for one member's process (from its next spawn on). */
  readonly memberEnv = new Map<number, Record<string, string>>();

  /** SIGKILL, as a crash. */
  kill(i: number): Promise<void> {
    return this.#signal(i, 'SIGKILL');
  }

  /** SIGTERM, a graceful stop. */
  stop(i: number): Promise<void> {
    return this.#signal(i, 'SIGTERM');
  }

  #signal(i: number, sig: NodeJS.Signals): Promise<void> {
    const proc = this.members[i]!.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null)
      return Promise.resolve();
    return new Promise((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(sig);
    });
  }

  async restart(i: number): Promise<void> {
    this.spawnMember(i);
    await this.waitHealthy([i]);
  }

  /** Waits until the given members answer a serializable read. */
  async waitHealthy(which?: readonly number[], timeoutMs = 30_000): Promise<void> {
    const targets = which ?? this.members.map((_, i) => i);
    const deadline = Date.now() + timeoutMs;
    for (const i of targets) {
      const m = this.members[i]!;
      for (;;) {
        const r = await etcdctl([
          ...(this.options.etcdctlFlags ?? []),
          `--endpoints=${m.endpoint}`,
          '--dial-timeout=3s',
          '--command-timeout=5s',
          'get',
          'health-probe',
        ]);
        if (r.code === 0) break;
        if (m.proc?.exitCode !== null && m.proc?.exitCode !== undefined) {
          throw new Error(`member ${m.name} exited with ${m.proc.exitCode}:\n${m.log.join('')}`);
        }
        if (Date.now() > deadline) {
          throw new Error(`member ${m.name} not healthy (${r.stderr.trim()}):\n${m.log.join('')}`);
        }
        await new Promise((r2) => setTimeout(r2, 100));
      }
    }
  }

  /** Index of the leader, from `endpoint status`. */
  async leaderIndex(): Promise<number> {
    for (let attempt = 0; attempt < 100; attempt++) {
      for (let i = 0; i < this.members.length; i++) {
        const m = this.members[i]!;
        if (m.proc?.exitCode !== null) continue;
        const r = await etcdctl([
          ...(this.options.etcdctlFlags ?? []),
          `--endpoints=${m.endpoint}`,
          'endpoint',
          'status',
          '-w',
          'json',
        ]);
        if (r.code !== 0) continue;
        const parsed = JSON.parse(r.stdout) as {
          Status: { header: { member_id: number | string }; leader: number | string };
        }[];
        const st = parsed[0]?.Status;
        if (st !== undefined && String(st.leader) === String(st.header.member_id)) return i;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('no leader found');
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i)));
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** A certificate and its key, as file paths. */
export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

/**
 * A throwaway certificate authority in `dir` (openssl, P-256, valid 2 days):
 * `issue` signs a certificate for `subject` with the given openssl
 * extensions (for example a subjectAltName and extendedKeyUsage).
 */
export function makeTestCa(dir: string): {
  readonly ca: string;
  issue(name: string, subject: string, extensions: string): CertPair;
} {
  const f = (n: string): string => path.join(dir, n);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=test-ca',
  );
  const issue = (name: string, subject: string, extensions: string): CertPair => {
    fs.writeFileSync(f(`${name}.ext`), extensions);
    ssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subject);
    ssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${name}.pem`),
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
    );
    return { cert: f(`${name}.pem`), key: f(`${name}.key`) };
  };
  return { ca: f('ca.pem'), issue };
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs an etcdctl command again while it fails with a refusal matching
 * `retryOn` (for example `unhealthy cluster`: with --strict-reconfig-check,
 * etcd 3.4 and ours refuse membership changes until every voting member has
 * been connected for 5 s; nothing to await from outside the process), up to
 * a deadline. Resolves with the last result.
 */
export async function retryEtcdctl(
  run: () => Promise<CommandResult>,
  retryOn: RegExp,
  timeoutMs = 30_000,
): Promise<CommandResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await run();
    if (r.code === 0 || !retryOn.test(r.stderr) || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Runs the real etcdctl (v3 API) with optional stdin. */
export function etcdctl(args: readonly string[], stdin?: string): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'etcdctl',
      args,
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
    else child.stdin?.end();
  });
}

/** A port reserved for this test process (see @kv-tools/test-ports). */
export { freePort };
