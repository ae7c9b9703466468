/**
 * The checks run after a history is recorded: crash safety against the
 * final event log, watch guarantees, and serializable reads never going
 * back in time on one member.
 */
import type { Operation } from './history';
import type { SeenEvent } from './watcher';
import type { SerializableRead } from './workload';

/** One failed check, with a short excerpt for the report. */
export interface Finding {
  readonly check:
    'linearizability' | 'crash-safety' | 'watch' | 'serializable' | 'crash' | 'availability';
  readonly message: string;
}

const fmt = (e: SeenEvent | undefined): string =>
  e === undefined ? 'nothing' : `${e.type} ${e.key}=${e.value} @${e.revision}`;

/**
 * Crash safety: the log is continuous (every revision from the first to the last,
 * one event each for this single-key workload), no write applied twice, and
 * every acknowledged write is in it at the revision it was acknowledged with.
 */
export function checkLog(log: readonly SeenEvent[], history: readonly Operation[]): Finding[] {
  const out: Finding[] = [];
  const byRevision = new Map<number, SeenEvent>();
  // etcd's first write is revision 2; this server's is 1 (see README
  // Findings). Either start is accepted, continuity is what matters here.
  const start = log[0]?.revision ?? 2;
  if (start !== 1 && start !== 2)
    out.push({ check: 'crash-safety', message: `the log starts at revision ${start}` });
  log.forEach((e, i) => {
    const expected = i + start;
    if (e.revision !== expected && out.length < 5)
      out.push({
        check: 'crash-safety',
        message: `revisions not continuous: expected ${expected}, found ${fmt(e)}`,
      });
    byRevision.set(e.revision, e);
  });
  const seen = new Map<string, SeenEvent>();
  for (const e of log) {
    if (e.type !== 'put') continue;
    const prior = seen.get(e.value);
    if (prior !== undefined && out.length < 10)
      out.push({
        check: 'crash-safety',
        message: `write applied twice: ${fmt(prior)} and ${fmt(e)}`,
      });
    seen.set(e.value, e);
  }
  for (const op of history) {
    if (op.output === undefined || op.revision === undefined) continue;
    const i = op.input;
    let wrote: { type: 'put' | 'delete'; value?: string } | undefined;
    if (i.kind === 'put') wrote = { type: 'put', value: i.value };
    else if (i.kind === 'cas' && op.output.kind === 'cas' && op.output.succeeded)
      wrote = { type: 'put', value: i.value };
    else if (op.output.kind === 'delete' && op.output.deleted > 0) wrote = { type: 'delete' };
    if (wrote === undefined) continue;
    const e = byRevision.get(op.revision);
    const match =
      e !== undefined &&
      e.key === i.key &&
      e.type === wrote.type &&
      (wrote.value === undefined || e.value === wrote.value);
    if (!match && out.length < 20)
      out.push({
        check: 'crash-safety',
        message: `acknowledged ${i.kind} ${i.key}${wrote.value !== undefined ? `=${wrote.value}` : ''} at revision ${op.revision} (op ${op.id}, member m${op.member}) lost: the log has ${fmt(e)}`,
      });
  }
  return out;
}

/** All members must have the same log. */
export function compareLogs(logs: readonly (readonly SeenEvent[])[]): Finding[] {
  const out: Finding[] = [];
  const first = logs[0] ?? [];
  logs.forEach((log, m) => {
    const n = Math.max(log.length, first.length);
    for (let i = 0; i < n; i++) {
      const a = first[i];
      const b = log[i];
      if (fmt(a) !== fmt(b)) {
        out.push({
          check: 'crash-safety',
          message: `member m${m} diverges from m0 at #${i}: ${fmt(b)} vs ${fmt(a)}`,
        });
        break;
      }
    }
  });
  return out;
}

/** A watcher saw exactly the log from its start, in order, with no gap or duplicate. */
export function checkWatch(
  name: string,
  got: readonly SeenEvent[],
  log: readonly SeenEvent[],
): Finding[] {
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    if (i > 0 && g.revision <= got[i - 1]!.revision)
      return [
        {
          check: 'watch',
          message: `${name}: revision went from ${got[i - 1]!.revision} to ${g.revision} (${fmt(g)})`,
        },
      ];
    if (fmt(g) !== fmt(log[i]))
      return [
        {
          check: 'watch',
          message: `${name}: event #${i} is ${fmt(g)}, the log has ${fmt(log[i])}`,
        },
      ];
  }
  return [];
}

/** A serializable read that starts after another on the same member returned must not see an older revision. */
export function checkSerializable(reads: readonly SerializableRead[]): Finding[] {
  const out: Finding[] = [];
  const members = new Set(reads.map((r) => r.member));
  for (const m of members) {
    const rs = reads.filter((r) => r.member === m);
    const byRet = [...rs].sort((a, b) => a.ret - b.ret);
    const byCall = [...rs].sort((a, b) => a.call - b.call);
    let j = 0;
    let max: SerializableRead | undefined;
    for (const r of byCall) {
      while (j < byRet.length && byRet[j]!.ret < r.call) {
        const done = byRet[j++]!;
        if (max === undefined || done.revision > max.revision) max = done;
      }
      if (max !== undefined && r.revision < max.revision) {
        out.push({
          check: 'serializable',
          message: `member ${m}: read at revision ${r.revision} after one at ${max.revision} had returned`,
        });
        break;
      }
    }
  }
  return out;
}
