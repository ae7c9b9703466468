/**
 * V8 heap settings the kv-server command applies to itself at start-up.
 *
 * Why: under a write load most allocation is short-lived request garbage,
 * but enough of it survives a scavenge that V8's old space keeps growing
 * (by its default factor, up to 4x) long before a full GC; RSS per stored
 * key then ends far above what the data needs. A smaller growing factor
 * makes the old space grow in smaller steps, at a few per cent of CPU
 * (measurements in docs/performance.md).
 *
 * Only flags V8 reads at each GC can be set this way (`--heap-growing-percent`
 * is read when the next heap limit is computed); sizes fixed when the heap
 * is created, such as `--max-semi-space-size`, must be given to node itself
 * (`NODE_OPTIONS` or the node command line).
 */
import { setFlagsFromString } from 'node:v8';

/** Applied unless the user gives the same flag or `KV_V8_FLAGS`. */
export const DEFAULT_V8_FLAGS: readonly string[] = ['--heap-growing-percent=50'];

/** V8 treats `-` and `_` in flag names alike; `--no-x` names flag `x`. */
function flagName(arg: string): string | undefined {
  if (!arg.startsWith('--')) return undefined;
  const eq = arg.indexOf('=');
  let name = (eq < 0 ? arg.slice(2) : arg.slice(2, eq)).replace(/_/g, '-');
  if (name.startsWith('no-')) name = name.slice(3);
  return name;
}

/** Where the user may have set V8 flags already. */
export interface V8FlagSources {
  /** node's own command-line flags (`process.execArgv`). */
  execArgv: readonly string[];
  /** `NODE_OPTIONS`. */
  nodeOptions: string | undefined;
  /** `KV_V8_FLAGS`: when set, replaces the defaults (empty: apply none). */
  kvV8Flags: string | undefined;
}

/**
 * The flags to apply: `KV_V8_FLAGS` if set, else the defaults, minus any
 * flag the user already gave node (theirs win).
 */
export function v8FlagsToApply(
  src: V8FlagSources,
  defaults: readonly string[] = DEFAULT_V8_FLAGS,
): string[] {
  // KV_V8_FLAGS is the user's own choice: applied as given.
  if (src.kvV8Flags !== undefined) return src.kvV8Flags.split(/\s+/).filter((s) => s !== '');
  const given = new Set<string>();
  for (const a of [...src.execArgv, ...(src.nodeOptions ?? '').split(/\s+/)]) {
    const n = flagName(a);
    if (n !== undefined) given.add(n);
  }
  return defaults.filter((f) => {
    const n = flagName(f);
    return n === undefined || !given.has(n);
  });
}

/** Applies `v8FlagsToApply` from this process's flags and environment; returns what it applied. */
export function applyV8Flags(): string[] {
  const flags = v8FlagsToApply({
    execArgv: process.execArgv,
    nodeOptions: process.env['NODE_OPTIONS'],
    kvV8Flags: process.env['KV_V8_FLAGS'],
  });
  for (const f of flags) setFlagsFromString(f);
  return flags;
}
