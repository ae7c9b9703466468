/**
 * One robustness run: start the cluster, run the workload and watchers under
 * the profile's faults, heal, read back every member's full event log, and
 * check everything. A failing run writes its history and report to disk.
 */
import fs from 'node:fs';
import path from 'node:path';
import { etcdserverpb } from '@kv/api';
import { checkHistory } from './checker';
import { checkLog, checkSerializable, checkWatch, compareLogs } from './checks';
import type { Finding } from './checks';
import { Cluster } from './cluster';
import { FaultScheduler } from './faults';
import type { FaultLogEntry } from './faults';
import type { Operation } from './history';
import type { Profile } from './profiles';
import { Random } from './random';
import { call } from './rpc';
import { Watcher } from './watcher';
import type { SeenEvent } from './watcher';
import { Workload } from './workload';

/** What a run found. */
export interface RunResult {
  readonly profile: string;
  readonly seed: number;
  /** True when no check failed. */
  readonly ok: boolean;
  readonly findings: readonly Finding[];
  readonly operations: number;
  /** Operations whose outcome is unknown. */
  readonly unknown: number;
  /** Keys whose linearizability search hit its budget. */
  readonly inconclusiveKeys: readonly string[];
  readonly faults: readonly FaultLogEntry[];
  readonly finalRevision: number;
  readonly watchResumes: number;
  readonly durationMs: number;
  /** Where the history and report were written (failing runs only). */
  readonly resultsDir: string | undefined;
  /** The command that replays this run. */
  readonly replay: string;
}

export interface RunOptions {
  readonly profile: Profile;
  readonly seed: number;
  /** Where failing runs are saved; default tools/robustness/results. */
  readonly resultsRoot?: string;
  /** Overrides the profile's duration. */
  readonly durationMs?: number;
  readonly log?: (line: string) => void;
  /** Keep the members' data directories of a failing run (default true). */
  readonly keepFailedData?: boolean;
}

const defaultResults = path.resolve(import.meta.dirname, '../results');

export async function runProfile(o: RunOptions): Promise<RunResult> {
  const { profile, seed } = o;
  const log = o.log ?? ((): void => {});
  const started = Date.now();
  const random = new Random(seed);
  const replay = `pnpm robustness --profile ${profile.name} --seed ${seed}`;
  log(`profile ${profile.name} seed ${seed}: starting a 3-member cluster`);
  const cluster = await Cluster.start({
    size: 3,
    env: profile.env,
    snapshotCount: profile.snapshotCount,
    seed,
  });
  const endpoints = cluster.members.map((m) => m.endpoint);
  const workload = new Workload({
    endpoints,
    clients: profile.clients,
    keys: profile.keys,
    timeoutMs: 1500,
    random: random.fork(1),
    // A replaced member is a new member: its reads start a fresh sequence.
    tag: (i) => `m${i}/${cluster.members[i]!.id}`,
  });
  const watchers = endpoints.map((_, i) => new Watcher(endpoints, i));
  const scheduler = new FaultScheduler(cluster, profile.faults, random.fork(2), (ms) =>
    workload.nextAcknowledgedWrite(ms),
  );
  const findings: Finding[] = [];
  let finalRevision = 0;
  let history: Operation[] = [];
  const logs: SeenEvent[][] = [];
  let ref: SeenEvent[] = [];
  try {
    workload.start();
    scheduler.start();
    await new Promise((r) => setTimeout(r, o.durationMs ?? profile.durationMs));
    await scheduler.stop();
    await workload.stop();
    history = workload.history;
    log(`workload done: ${history.length} operations; healing and collecting logs`);
    for (const [msg, n] of [...workload.errors].sort((a, b) => b[1] - a[1]).slice(0, 5))
      log(`  ${n} x ${msg}`);
    cluster.healNetwork();
    for (const m of cluster.members) cluster.resume(m.index);
    let healthy = true;
    try {
      // A deliberately broken server that has not come back in 20 s is
      // caught either way; a real one gets a minute to recover.
      await cluster.waitHealthy(undefined, profile.expectFailure ? 20_000 : 60_000);
      // No more failpoint crashes while the results are read.
      await cluster.calm();
    } catch (err) {
      // A member that cannot start again from its own data is a crash-safety
      // failure in itself (a broken server may leave a WAL it cannot read).
      healthy = false;
      findings.push({
        check: 'crash-safety',
        message: `a member does not come back after the faults: ${(err as Error).message.slice(0, 2000)}`,
      });
    }
    // A fault that could not be carried out says why, healthy cluster or not.
    for (const f of scheduler.failures) findings.push({ check: 'availability', message: f });
    if (healthy) {
      finalRevision = await highestRevision(cluster, findings);
      // Every member's full log, each read from that member alone; all
      // watchers catch up in parallel (a broken server may never get there).
      const readers = cluster.members.map((m) => new Watcher(endpoints, m.index, true));
      const reachedAll = await Promise.all([
        ...readers.map((w) => w.reach(finalRevision, 15_000)),
        ...watchers.map((w) => w.reach(finalRevision, 15_000)),
      ]);
      readers.forEach((w, i) => {
        w.close();
        if (reachedAll[i] !== true)
          findings.push({
            check: 'crash-safety',
            message: `member m${i} log stops at ${w.lastRevision}, expected ${finalRevision}`,
          });
        logs.push(w.events.filter((e) => e.revision <= finalRevision));
      });
      // The reference log is the longest one: a member that never caught up
      // (reported above) must not make every acknowledged write look lost.
      ref = logs.reduce((a, b) => (b.length > a.length ? b : a), [] as SeenEvent[]);
      for (const [i, w] of watchers.entries()) {
        w.close();
        for (const p of w.problems)
          findings.push({ check: 'watch', message: `watcher ${i}: ${p}` });
        findings.push(...checkWatch(`watcher ${i}`, w.events, ref));
        if (w.lastRevision < finalRevision)
          findings.push({
            check: 'watch',
            message: `watcher ${i} stopped at revision ${w.lastRevision} of ${finalRevision}`,
          });
      }
      findings.push(...compareLogs(logs));
      findings.push(...checkLog(ref, history));
      findings.push(...checkSerializable(workload.serializableReads));
      const kills = profile.env.KV_FAILPOINTS?.includes('kill') ?? false;
      for (const m of cluster.members)
        if (!kills && m.unexpectedExits > 0)
          findings.push({
            check: 'crash',
            message: `member m${m.index} exited unexpectedly ${m.unexpectedExits} time(s):\n${m.log.slice(-20).join('')}`,
          });
    }
  } finally {
    for (const w of watchers) w.close();
    await cluster.close(findings.length > 0 && o.keepFailedData !== false);
  }
  log(`checking linearizability of ${history.length} operations`);
  const lin = checkHistory(history);
  for (const key of lin.violations)
    findings.push({
      check: 'linearizability',
      message: `history of ${key} is not linearizable (${history.filter((h) => h.input.key === key).length} operations)`,
    });
  const result: RunResult = {
    profile: profile.name,
    seed,
    ok: findings.length === 0,
    findings,
    operations: history.length,
    unknown: history.filter((h) => h.output === undefined).length,
    inconclusiveKeys: lin.keys.filter((k) => k.inconclusive).map((k) => k.key),
    faults: scheduler.log,
    finalRevision,
    watchResumes: watchers.reduce((n, w) => n + w.resumes, 0),
    durationMs: Date.now() - started,
    resultsDir:
      findings.length > 0
        ? save(
            o.resultsRoot ?? defaultResults,
            profile,
            seed,
            replay,
            findings,
            history,
            ref,
            scheduler.log,
            cluster.root,
          )
        : undefined,
    replay,
  };
  return result;
}

async function highestRevision(cluster: Cluster, findings: Finding[]): Promise<number> {
  let best = 0;
  for (const m of cluster.members) {
    try {
      const r = await call(
        m.admin.kv.range.bind(m.admin.kv),
        etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('health') }),
        10_000,
      );
      best = Math.max(best, Number(r.header?.revision ?? 0n));
    } catch (err) {
      findings.push({
        check: 'availability',
        message: `member m${m.index} cannot serve a linearizable read after healing: ${(err as Error).message}`,
      });
    }
  }
  return best;
}

function save(
  root: string,
  profile: Profile,
  seed: number,
  replay: string,
  findings: readonly Finding[],
  history: readonly Operation[],
  eventLog: readonly SeenEvent[],
  faults: readonly FaultLogEntry[],
  dataDir: string,
): string {
  const dir = path.join(
    root,
    `${profile.name}-seed${seed}-${new Date().toISOString().replace(/[:.]/g, '')}`,
  );
  fs.mkdirSync(dir, { recursive: true });
  const json = (v: unknown): string =>
    JSON.stringify(v, (_k, x: unknown) => (x === Infinity ? 'unknown' : x), 1);
  fs.writeFileSync(path.join(dir, 'history.json'), json(history));
  fs.writeFileSync(path.join(dir, 'event-log.json'), json(eventLog));
  fs.writeFileSync(path.join(dir, 'faults.json'), json(faults));
  const badKeys = new Set(
    findings
      .filter((f) => f.check === 'linearizability')
      .map((f) => /history of (\S+)/.exec(f.message)?.[1]),
  );
  const excerpt = history
    .filter((h) => badKeys.has(h.input.key))
    .sort((a, b) => a.call - b.call)
    .slice(-60)
    .map(
      (h) =>
        `  ${h.call.toFixed(1)}..${h.ret === Infinity ? '?' : h.ret.toFixed(1)} m${h.member} ${JSON.stringify(h.input)} -> ${h.output === undefined ? 'unknown' : JSON.stringify(h.output)}`,
    );
  const report = [
    `# Robustness failure: profile ${profile.name}, seed ${seed}`,
    '',
    `Replay: \`${replay}\``,
    `Member data directories: ${dataDir}`,
    '',
    '## Findings',
    ...findings.map((f) => `- [${f.check}] ${f.message}`),
    '',
    '## Faults',
    ...faults.map((f) => `- +${f.at} ms ${f.fault}`),
    ...(excerpt.length > 0
      ? ['', '## Last operations on the non-linearizable key(s)', '```', ...excerpt, '```']
      : []),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'report.md'), report);
  return dir;
}
