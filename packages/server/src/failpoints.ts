/**
 * Named fault points for robustness tests, enabled only through the
 * KV_FAILPOINTS environment variable (as etcd's gofail failpoints are enabled
 * only in test builds). Syntax: comma-separated `name=action[@probability]`:
 *
 *   KV_FAILPOINTS="raftBeforeSave=kill@0.01,beforeRespond=sleep(20)"
 *
 * Actions: `kill` (SIGKILL this process: a crash at exactly that point),
 * `sleep(ms)` (stall there). Points: raftBeforeSave, raftAfterSave,
 * raftBeforeSaveSnap, raftAfterSaveSnap (around recording a snapshot received
 * from the leader), raftBeforeApplySnap, raftAfterApplySnap (around applying
 * it, once it and the hard state are durable), beforeApply, beforeRespond. KV_FAILPOINT_SEED makes the coin flips
 * reproducible.
 */
import { ConfigError } from './config';

type Action = { readonly kind: 'kill' } | { readonly kind: 'sleep'; readonly ms: number };

export const FAILPOINT_NAMES = [
  'raftBeforeSave',
  'raftAfterSave',
  'raftBeforeSaveSnap',
  'raftAfterSaveSnap',
  'raftBeforeApplySnap',
  'raftAfterApplySnap',
  'beforeApply',
  'beforeRespond',
] as const;

export function parseFailpoints(
  spec: string | undefined,
  seed = 1,
): ((name: string) => Promise<void> | void) | undefined {
  if (spec === undefined || spec.trim() === '') return undefined;
  const points = new Map<string, { action: Action; probability: number }>();
  for (const part of spec.split(',')) {
    const m = /^\s*(\w+)=(kill|sleep\((\d+)\))(?:@([\d.]+))?\s*$/.exec(part);
    if (m === null) throw new ConfigError(`invalid KV_FAILPOINTS entry ${JSON.stringify(part)}`);
    const name = m[1]!;
    if (!(FAILPOINT_NAMES as readonly string[]).includes(name)) {
      throw new ConfigError(
        `unknown failpoint ${JSON.stringify(name)}; known: ${FAILPOINT_NAMES.join(', ')}`,
      );
    }
    const action: Action = m[2] === 'kill' ? { kind: 'kill' } : { kind: 'sleep', ms: Number(m[3]) };
    points.set(name, { action, probability: m[4] !== undefined ? Number(m[4]) : 1 });
  }
  let state = seed >>> 0 || 1;
  const random = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  return (name) => {
    const p = points.get(name);
    if (p === undefined || random() >= p.probability) return;
    if (p.action.kind === 'kill') {
      process.kill(process.pid, 'SIGKILL');
      return;
    }
    const ms = p.action.ms;
    return new Promise((resolve) => setTimeout(resolve, ms));
  };
}

/**
 * KV_UNSAFE_TEST_MODES="stale-reads,ack-before-sync,corrupt-puts": deliberately
 * broken servers for the harness (corrupt-puts: this member alters the value
 * of every Put it applies, so its HashKV differs from its peers').
 */
export function parseUnsafeModes(
  spec: string | undefined,
): { staleReads?: boolean; ackBeforeSync?: boolean; corruptPuts?: boolean } | undefined {
  if (spec === undefined || spec.trim() === '') return undefined;
  const modes: { staleReads?: boolean; ackBeforeSync?: boolean; corruptPuts?: boolean } = {};
  for (const m of spec.split(',').map((s) => s.trim())) {
    if (m === 'stale-reads') modes.staleReads = true;
    else if (m === 'ack-before-sync') modes.ackBeforeSync = true;
    else if (m === 'corrupt-puts') modes.corruptPuts = true;
    else throw new ConfigError(`unknown KV_UNSAFE_TEST_MODES entry ${JSON.stringify(m)}`);
  }
  return modes;
}
