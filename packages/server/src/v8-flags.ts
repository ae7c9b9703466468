/**
 * V8 heap and tier-up settings the kv-server command applies to itself at
 * start-up.
 *
 * Why: under a write load most allocation is short-lived request garbage,
 * but enough of it survives a scavenge that V8's old space keeps growing
 * (by its default factor, up to 4x) long before a full GC; RSS per stored
 * key then ends far above what the data needs. A smaller growing factor
 * makes the old space grow in smaller steps, at a few per cent of CPU
 * (measurements in docs/performance.md). On Node 20 a smaller tier-up
 * budget also brings a fresh member to its steady speed sooner.
 *
 * Only flags V8 reads after start-up can be set this way (`--heap-growing-percent`
 * is read when the next heap limit is computed); sizes fixed when the heap
 * is created, such as `--max-semi-space-size`, must be given to node itself
 * (`NODE_OPTIONS` or the node command line); the young generation's size is
 * capped instead by switching its growth factor (`capYoungGeneration`).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * V8's tier-up budget for Node 20 (V8 11.3): a quarter of its default
 * (67,584 bytes of bytecode run per profiler tick). Why: a function called
 * once per request reached optimized code only after thousands of requests,
 * so a fresh member served put with 1 client at half its steady rate for its
 * first ~5,000 requests on three members; with a quarter, CPU per put falls
 * to the steady level after ~2,000 (docs/performance.md).
 */
export const WARM_UP_INTERRUPT_BUDGET = 16_896;

/**
 * Whether this V8 tiers up by `--interrupt-budget`: V8 11.3 (Node 20) does;
 * from 11.8 (Node 21 on) V8 counts invocations instead and no longer knows
 * the flag, so setting it would only print an error.
 */
export function tiersUpByInterruptBudget(v8Version: string): boolean {
  const [major = 0, minor = 0] = v8Version.split('.').map((p) => Number.parseInt(p, 10));
  return major < 11 || (major === 11 && minor <= 3);
}

/** The defaults for a given V8 version (`process.versions.v8`). */
export function defaultV8Flags(v8Version: string): string[] {
  const flags = ['--heap-growing-percent=50'];
  if (tiersUpByInterruptBudget(v8Version)) {
    flags.push(`--interrupt-budget=${WARM_UP_INTERRUPT_BUDGET}`);
  }
  return flags;
}

/** Applied unless the user gives the same flag or `KV_V8_FLAGS`. */
export const DEFAULT_V8_FLAGS: readonly string[] = defaultV8Flags(process.versions.v8);

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

/** Names of the flags the user gave node, on its command line or in `NODE_OPTIONS`. */
function givenFlagNames(src: V8FlagSources): Set<string> {
  const given = new Set<string>();
  for (const a of [...src.execArgv, ...(src.nodeOptions ?? '').split(/\s+/)]) {
    const n = flagName(a);
    if (n !== undefined) given.add(n);
  }
  return given;
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
  const given = givenFlagNames(src);
  return defaults.filter((f) => {
    const n = flagName(f);
    return n === undefined || !given.has(n);
  });
}

/**
 * Largest semi-space the young generation may grow to, MiB (V8's own limit
 * is 16 on 64-bit). Why: a write load keeps new data surviving scavenges,
 * and V8 grows the young generation on survival until it holds 32 MiB;
 * stopping at 16 MiB (two semi-spaces of 8) saved about 15 MB of peak RSS
 * while 20,000 keys were written. A smaller limit costs single-client
 * latency in extra scavenges (docs/performance.md).
 */
export const DEFAULT_SEMI_SPACE_CAP_MIB = 8;

/** Flags that size the young generation: when the user gave one, the cap stays off. */
const YOUNG_GENERATION_FLAGS = new Set([
  'max-semi-space-size',
  'min-semi-space-size',
  'semi-space-growth-factor',
]);

/**
 * The semi-space cap to enforce, MiB, or undefined for none: off when
 * `KV_V8_FLAGS` is set (it replaces every heap default) or when the user
 * gave node a flag that sizes the young generation.
 */
export function semiSpaceCapToApply(src: V8FlagSources): number | undefined {
  if (src.kvV8Flags !== undefined) return undefined;
  for (const n of givenFlagNames(src)) if (YOUNG_GENERATION_FLAGS.has(n)) return undefined;
  return DEFAULT_SEMI_SPACE_CAP_MIB;
}

/**
 * The growth factor the young generation should have now: V8's default (2)
 * below the cap, 1 (no growth) once a semi-space reaches it.
 */
export function semiSpaceGrowthFactor(newSpaceBytes: number, capMiB: number): number {
  // new_space's size counts both semi-spaces.
  return newSpaceBytes / 2 >= capMiB * 2 ** 20 ? 1 : 2;
}

/**
 * Keeps the young generation from growing past `capMiB` per semi-space.
 *
 * `--max-semi-space-size` is read only when the heap is created, so it
 * cannot be set from inside the process; `--semi-space-growth-factor` is
 * read at each growth. After every GC this sets the factor to 1 once the
 * cap is reached, and back to 2 when V8 has shrunk the young generation
 * below it (after an idle full GC), so it can grow again under load. V8
 * needs a semi-space's worth of surviving bytes between two growths, so
 * the observer runs before the next one in practice; if it did not, the
 * young generation would end one step larger, as without the cap.
 */
export function capYoungGeneration(capMiB: number): void {
  let factor = 2;
  const adjust = (): void => {
    const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (space === undefined) return;
    const wanted = semiSpaceGrowthFactor(space.space_size, capMiB);
    if (wanted !== factor) {
      factor = wanted;
      setFlagsFromString(`--semi-space-growth-factor=${wanted}`);
    }
  };
  const observer = new PerformanceObserver(adjust);
  observer.observe({ entryTypes: ['gc'] });
  adjust();
}

/**
 * Applies `v8FlagsToApply` and the semi-space cap from this process's
 * flags and environment; returns the flags it applied.
 */
export function applyV8Flags(): string[] {
  const src: V8FlagSources = {
    execArgv: process.execArgv,
    nodeOptions: process.env['NODE_OPTIONS'],
    kvV8Flags: process.env['KV_V8_FLAGS'],
  };
  const flags = v8FlagsToApply(src);
  for (const f of flags) setFlagsFromString(f);
  const cap = semiSpaceCapToApply(src);
  if (cap !== undefined) capYoungGeneration(cap);
  return flags;
}
