/**
 * The fault scheduler. Every choice (which fault, which member, how long)
 * comes from the seed, so a seed replays the same schedule; the server's own
 * timing still varies from run to run.
 */
import type { Cluster } from './cluster';
import type { FaultKind } from './profiles';
import type { Random } from './random';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface FaultLogEntry {
  readonly at: number;
  readonly fault: string;
}

export class FaultScheduler {
  readonly log: FaultLogEntry[] = [];
  /** Faults the cluster did not recover from (the run stops injecting). */
  readonly failures: string[] = [];
  #running = false;
  #loop: Promise<void> | undefined;
  readonly #t0 = Date.now();

  /**
   * `awaitWrite`, when given, is awaited before a kill of several members: the
   * blow then lands just after an acknowledged write, the moment a server that
   * acknowledges before its disk has the write loses it. It resolves false
   * when no write came within the time; the kill goes ahead anyway.
   */
  constructor(
    readonly cluster: Cluster,
    readonly faults: readonly FaultKind[],
    readonly random: Random,
    readonly awaitWrite?: (timeoutMs: number) => Promise<boolean>,
  ) {}

  start(): void {
    this.#running = true;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  #note(fault: string): void {
    this.log.push({ at: Date.now() - this.#t0, fault });
  }

  /** Leader half the time (it matters most), else any member. */
  async #target(): Promise<number> {
    const n = this.cluster.members.length;
    const r = this.random.next();
    const pick = this.random.int(0, n - 1);
    if (r < 0.5) return (await this.cluster.leader()) ?? pick;
    return pick;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      await sleep(this.random.int(800, 1500));
      // Members downed by failpoint crashes come back first.
      for (const m of this.cluster.members) {
        if (!this.cluster.isRunning(m.index)) {
          this.#note(`restart m${m.index} (crashed)`);
          await this.cluster.restart(m.index);
        }
      }
      if (!this.#running || this.faults.length === 0) continue;
      const kind = this.random.pick(this.faults);
      try {
        await this.inject(kind);
      } catch (err) {
        this.failures.push(`${kind}: ${(err as Error).message.slice(0, 2000)}`);
        this.#note(`${kind} failed; no more faults`);
        return;
      }
    }
  }

  /** Injects one fault and heals it. */
  async inject(kind: FaultKind): Promise<void> {
    const c = this.cluster;
    const n = c.members.length;
    switch (kind) {
      case 'kill': {
        const i = await this.#target();
        this.#note(`kill m${i}`);
        await c.kill(i);
        await sleep(this.random.int(200, 1000));
        await c.restart(i);
        this.#note(`restarted m${i}`);
        return;
      }
      case 'kill-majority':
      case 'kill-all': {
        const all = this.random.next() < 0.5 || kind === 'kill-all';
        const spared = this.random.int(0, n - 1);
        const victims = c.members.map((m) => m.index).filter((i) => all || i !== spared);
        await this.awaitWrite?.(5000);
        this.#note(`kill ${victims.map((i) => `m${i}`).join('+')}`);
        await Promise.all(victims.map((i) => c.kill(i)));
        await sleep(this.random.int(100, 500));
        for (const i of victims) c.spawn(i);
        await c.waitHealthy(victims);
        this.#note('restarted');
        return;
      }
      case 'pause': {
        const i = await this.#target();
        this.#note(`SIGSTOP m${i}`);
        c.pause(i);
        await sleep(this.random.int(500, 2000));
        c.resume(i);
        this.#note(`SIGCONT m${i}`);
        return;
      }
      case 'partition': {
        const i = await this.#target();
        this.#note(`isolate m${i}`);
        c.isolate(i, true);
        await sleep(this.random.int(1000, 3000));
        c.isolate(i, false);
        this.#note(`heal m${i}`);
        return;
      }
      case 'replace': {
        const i = this.random.int(0, n - 1);
        this.#note(`remove, wipe and re-add m${i}`);
        await c.replace(i);
        this.#note(`m${i} rejoined as ${c.members[i]!.id}`);
        return;
      }
      case 'delay': {
        const i = await this.#target();
        const ms = this.random.int(50, 300);
        this.#note(`delay into m${i} ${ms} ms`);
        c.delayInto(i, ms);
        await sleep(this.random.int(1000, 3000));
        c.delayInto(i, 0);
        this.#note(`undelay m${i}`);
        return;
      }
    }
  }
}
