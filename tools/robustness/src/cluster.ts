/**
 * A 3-member cluster of real server processes on 127.0.0.1. Each member
 * listens for peers on a private port and advertises the port of a
 * {@link PeerProxy} in front of it, so every peer link can be faulted.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { reservePort as freePort } from '@kv-tools/test-ports';
import { credentials } from '@grpc/grpc-js';
import { ClusterClient, etcdserverpb } from '@kv/api';
import { PeerProxy } from './proxy';
import { call, connect } from './rpc';
import type { Conn } from './rpc';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const tsxLoader = path.join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs');
/**
 * The server under test; KV_ROBUSTNESS_SERVER_ROOT points at another checkout
 * (for example a `git archive` of a commit) while the working tree is in flux.
 */
const serverRoot = process.env.KV_ROBUSTNESS_SERVER_ROOT ?? repoRoot;
const cliSource = path.join(serverRoot, 'packages/server/src/cli.ts');

export interface ClusterOptions {
  readonly size: number;
  /** Extra environment for every member (failpoints, unsafe test modes). */
  readonly env: Readonly<Record<string, string>>;
  readonly snapshotCount: number;
  /** Base of KV_FAILPOINT_SEED; each spawn gets its own derived seed. */
  readonly seed: number;
}

export interface Member {
  readonly index: number;
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly proxy: PeerProxy;
  readonly dataDir: string;
  readonly endpoint: string;
  /** Hex member id, learned after start. */
  id: string;
  proc: ChildProcess | undefined;
  stopped: boolean;
  log: string[];
  /** Exits not caused by the harness (a failpoint kill or a crash). */
  unexpectedExits: number;
  spawns: number;
  /** Set once the member was replaced: it (re)starts with --initial-cluster-state=existing. */
  joinExisting: boolean;
  /** The running process was started with failpoint crashes on. */
  failpoints: boolean;
  admin: Conn;
}

export class Cluster {
  readonly members: Member[] = [];
  readonly root: string;
  /**
   * Set while a membership change is retried: members (re)started then run
   * without failpoint crashes. The crashes fire per save and per response,
   * so at full speed a member dies every few seconds; etcd's strict
   * reconfiguration check refuses MemberAdd until every member has been up
   * for 5 s, which then never happens (long --seed 26 left a member removed).
   */
  #membershipChanges = 0;
  /** Set by {@link calm}: members start without failpoint crashes from then on. */
  #calm = false;

  private constructor(readonly options: ClusterOptions) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-robustness-'));
  }

  static async start(options: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(options);
    for (let i = 0; i < options.size; i++) {
      const clientPort = await freePort();
      const peerPort = await freePort();
      const proxy = new PeerProxy(await freePort(), peerPort);
      await proxy.listen();
      const endpoint = `127.0.0.1:${clientPort}`;
      c.members.push({
        index: i,
        name: `m${i}`,
        clientPort,
        peerPort,
        proxy,
        dataDir: path.join(c.root, `m${i}.etcd`),
        endpoint,
        id: '',
        proc: undefined,
        stopped: false,
        log: [],
        unexpectedExits: 0,
        spawns: 0,
        joinExisting: false,
        failpoints: false,
        admin: connect(endpoint),
      });
    }
    for (const m of c.members) c.spawn(m.index);
    await c.waitHealthy();
    for (const m of c.members) {
      // With failpoint crashes on, a member may die right after it answered.
      for (let attempt = 1; ; attempt++) {
        try {
          const st = await call(
            m.admin.maintenance.status.bind(m.admin.maintenance),
            etcdserverpb.StatusRequest.create(),
            5000,
          );
          m.id = st.header!.memberId.toString(16);
          break;
        } catch (err) {
          if (attempt >= 5) throw err;
          await c.waitHealthy([m.index]);
        }
      }
    }
    return c;
  }

  get initialCluster(): string {
    return this.members.map((m) => `${m.name}=http://127.0.0.1:${m.proxy.listenPort}`).join(',');
  }

  spawn(i: number): void {
    const m = this.members[i]!;
    // etcd ignores --initial-cluster-state once the data directory exists, so
    // a replaced member keeps the flag on every later restart too.
    const joinExisting = m.joinExisting;
    const flags = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=http://127.0.0.1:${m.clientPort}`,
      `--advertise-client-urls=http://127.0.0.1:${m.clientPort}`,
      `--listen-peer-urls=http://127.0.0.1:${m.peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${m.proxy.listenPort}`,
      `--initial-cluster=${this.initialCluster}`,
      '--initial-cluster-token=robustness',
      '--heartbeat-interval=50',
      '--election-timeout=500',
      `--snapshot-count=${this.options.snapshotCount}`,
      `--experimental-snapshot-catchup-entries=${Math.max(10, this.options.snapshotCount >> 1)}`,
      ...(joinExisting ? ['--initial-cluster-state=existing'] : []),
    ];
    const noCrashes = this.#membershipChanges > 0 || this.#calm;
    const proc = spawn(
      'node',
      ['--conditions=@kv/source', '--import', tsxLoader, cliSource, ...flags],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          ...this.options.env,
          ...(noCrashes ? { KV_FAILPOINTS: '' } : {}),
          // A fresh coin-flip sequence per spawn, so a restarted member does not crash at the same step again.
          KV_FAILPOINT_SEED: String(this.options.seed * 7919 + i * 131 + ++m.spawns),
        },
      },
    );
    m.proc = proc;
    m.stopped = false;
    m.failpoints = !noCrashes && (this.options.env['KV_FAILPOINTS'] ?? '') !== '';
    liveMembers.add(proc);
    proc.once('exit', () => liveMembers.delete(proc));
    // The full output of every spawn goes to <root>/<name>.log (kept with the
    // data directories of a failing run); the last lines stay in memory.
    const file = path.join(this.root, `${m.name}.log`);
    fs.appendFileSync(
      file,
      `\n==== spawn ${m.spawns} at ${new Date().toISOString()}: ${flags.join(' ')}\n`,
    );
    const collect = (d: Buffer): void => {
      m.log.push(d.toString());
      if (m.log.length > 300) m.log.shift();
      try {
        fs.appendFileSync(file, d);
      } catch {
        // The root is gone (the cluster was closed): nothing to keep.
      }
    };
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    proc.once('exit', () => {
      if (m.proc === proc && !expectedExit.has(proc)) m.unexpectedExits++;
    });
  }

  isRunning(i: number): boolean {
    const p = this.members[i]!.proc;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  /** SIGKILL: a crash. */
  async kill(i: number): Promise<void> {
    const proc = this.members[i]!.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    expectedExit.add(proc);
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
  }

  /**
   * Ends the faults for good: members start without failpoint crashes from
   * now on, and those running with them are restarted (one at a time, each
   * back before the next), so the checks after a run read from members that
   * do not die under them (a failpoint crash fires per save and per
   * response, linearizable reads included).
   */
  async calm(): Promise<void> {
    this.#calm = true;
    for (const m of this.members) {
      if (!m.failpoints) continue;
      await this.kill(m.index);
      await this.restart(m.index);
    }
  }

  /** Restarts a member that is down (after a kill, or a failpoint crash). */
  async restart(i: number): Promise<void> {
    if (!this.isRunning(i)) this.spawn(i);
    await this.waitHealthy([i]);
  }

  /**
   * Removes member i from the cluster, kills it, wipes its data and adds it
   * back as a new member that joins with --initial-cluster-state=existing.
   */
  async replace(i: number): Promise<void> {
    const m = this.members[i]!;
    const peerURL = `http://127.0.0.1:${m.proxy.listenPort}`;
    const oldId = BigInt(`0x${m.id}`);
    // A removed member exits by itself (as etcd does): that exit is expected.
    if (m.proc !== undefined) expectedExit.add(m.proc);
    await this.#membership(i, 'MemberRemove', async (cl) => {
      try {
        await call(
          cl.memberRemove.bind(cl),
          etcdserverpb.MemberRemoveRequest.fromPartial({ ID: oldId }),
          10_000,
        );
      } catch (err) {
        // An earlier attempt that timed out was applied after all (unless
        // the member asked has not applied the member's addition yet).
        if (!(err as Error).message.includes('member not found')) throw err;
        const list = await call(
          cl.memberList.bind(cl),
          etcdserverpb.MemberListRequest.fromPartial({ linearizable: true }),
          10_000,
        );
        if (list.members.some((x) => x.ID === oldId)) throw err;
      }
    });
    await this.kill(i);
    fs.rmSync(m.dataDir, { recursive: true, force: true });
    const newId = await this.#membership(i, 'MemberAdd', async (cl) => {
      try {
        const added = await call(
          cl.memberAdd.bind(cl),
          etcdserverpb.MemberAddRequest.fromPartial({ peerURLs: [peerURL] }),
          10_000,
        );
        return added.member!.ID;
      } catch (err) {
        if (!(err as Error).message.includes('Peer URLs already exists')) throw err;
        // An earlier attempt that timed out was applied after all.
        const list = await call(
          cl.memberList.bind(cl),
          etcdserverpb.MemberListRequest.fromPartial({ linearizable: true }),
          10_000,
        );
        const mine = list.members.find((x) => x.peerURLs.includes(peerURL));
        if (mine === undefined || mine.ID === oldId) throw err;
        return mine.ID;
      }
    });
    m.id = newId.toString(16);
    m.joinExisting = true;
    m.log = [];
    this.spawn(i);
    try {
      await this.waitHealthy([i]);
    } catch (err) {
      throw new Error(`restart of m${i}: ${(err as Error).message}`);
    }
  }

  /**
   * Runs a membership call through the leader (or another live member).
   * With failpoint crashes on, the quorum may be down for a moment: a call
   * that fails while another member was down or crashed is retried for up
   * to 30 s (crashed members are restarted in between, without failpoint
   * crashes: see {@link Cluster.#membershipChanges}), and one that timed
   * out may still be applied (the callback treats that outcome as success).
   * A call that fails while every other member was up is not retried,
   * except etcd's --strict-reconfig-check refusal (`unhealthy cluster`):
   * a member (re)started or (re)joined less than 5 s ago does not count as
   * connected yet, so that refusal is retried too, up to the same deadline.
   */
  async #membership<T>(i: number, what: string, fn: (cl: ClusterClient) => Promise<T>): Promise<T> {
    this.#membershipChanges++;
    try {
      return await this.#membershipAttempts(i, what, fn);
    } finally {
      this.#membershipChanges--;
    }
  }

  async #membershipAttempts<T>(
    i: number,
    what: string,
    fn: (cl: ClusterClient) => Promise<T>,
  ): Promise<T> {
    const deadline = Date.now() + 30_000;
    for (let attempt = 1; ; attempt++) {
      for (const o of this.members)
        if (o.index !== i && !this.isRunning(o.index)) this.spawn(o.index);
      const leader = await this.leader();
      const other =
        leader !== undefined && leader !== i
          ? this.members[leader]!
          : (this.members.find((o) => o.index !== i && this.isRunning(o.index) && !o.stopped) ??
            this.members.find((o) => o.index !== i)!);
      const cl = new ClusterClient(other.endpoint, credentials.createInsecure(), {
        channelOverride: other.admin.kv.getChannel(),
      });
      const others = this.members.filter((o) => o.index !== i);
      const exits = (): number => others.reduce((n, o) => n + o.unexpectedExits, 0);
      const exitsBefore = exits();
      const allUp = others.every((o) => this.isRunning(o.index) && !o.stopped);
      try {
        return await fn(cl);
      } catch (err) {
        // With every other member up throughout, a failure is the server's
        // (a member that could not be reached at all may have just died).
        const msg = (err as Error).message;
        const unreachable = /No connection established|Connection dropped|ECONNRESET/.test(msg);
        const crashed = !allUp || unreachable || exits() !== exitsBefore;
        const unhealthy = msg.includes('etcdserver: unhealthy cluster');
        if ((!crashed && !unhealthy) || Date.now() > deadline)
          throw new Error(
            `${what} of m${i} via m${other.index} (attempt ${attempt}): ${(err as Error).message}`,
          );
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  pause(i: number): void {
    const m = this.members[i]!;
    if (this.isRunning(i)) {
      m.proc!.kill('SIGSTOP');
      m.stopped = true;
    }
  }

  resume(i: number): void {
    const m = this.members[i]!;
    if (m.stopped && this.isRunning(i)) m.proc!.kill('SIGCONT');
    m.stopped = false;
  }

  /** Cuts (or restores) every link to and from member i. */
  isolate(i: number, on: boolean): void {
    const m = this.members[i]!;
    for (const o of this.members) {
      if (o === m) continue;
      o.proxy.setFault(m.id, { partitioned: on });
      m.proxy.setFault(o.id, { partitioned: on });
    }
  }

  /** Adds one-way latency on every link into member i. */
  delayInto(i: number, ms: number): void {
    const m = this.members[i]!;
    for (const o of this.members) if (o !== m) m.proxy.setFault(o.id, { delayMs: ms });
  }

  healNetwork(): void {
    for (const m of this.members) m.proxy.heal();
  }

  /** Waits until the members answer a serializable read. */
  async waitHealthy(which?: readonly number[], timeoutMs = 30_000): Promise<void> {
    const targets = which ?? this.members.map((m) => m.index);
    const deadline = Date.now() + timeoutMs;
    for (const i of targets) {
      const m = this.members[i]!;
      for (;;) {
        try {
          await call(
            m.admin.kv.range.bind(m.admin.kv),
            etcdserverpb.RangeRequest.fromPartial({
              key: Buffer.from('health'),
              serializable: true,
            }),
            1000,
          );
          break;
        } catch {
          if (!this.isRunning(i)) this.spawn(i);
          if (Date.now() > deadline)
            throw new Error(`member ${m.name} not healthy:\n${m.log.join('')}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  }

  /** Index of the member that believes it leads, or undefined. */
  async leader(): Promise<number | undefined> {
    for (const m of this.members) {
      if (!this.isRunning(m.index) || m.stopped) continue;
      try {
        const st = await call(
          m.admin.maintenance.status.bind(m.admin.maintenance),
          etcdserverpb.StatusRequest.create(),
          500,
        );
        if (st.leader !== 0n && st.leader === st.header?.memberId) return m.index;
      } catch {
        // Down or unreachable: ask the next one.
      }
    }
    return undefined;
  }

  async close(keepData = false): Promise<void> {
    for (const m of this.members) {
      this.resume(m.index);
      await this.kill(m.index);
      m.admin.close();
      await m.proxy.close();
    }
    if (!keepData) fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** Processes the harness itself killed. */
const expectedExit = new WeakSet<ChildProcess>();
/** Every member process still running, of every cluster. */
const liveMembers = new Set<ChildProcess>();

/**
 * SIGKILLs every member process this harness started (synchronous, so it
 * can run in an 'exit' handler): an interrupted run leaves none behind.
 */
export function killAllMembers(): void {
  for (const proc of liveMembers) proc.kill('SIGKILL');
  liveMembers.clear();
}

/** A port reserved for this test process (see @kv-tools/test-ports). */
export { freePort };
