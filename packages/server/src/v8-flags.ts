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
 * The young generation: V8 doubles it (up to 32 MiB on 64-bit) once enough
 * has survived scavenges, and a write load makes everything it stores
 * survive one. With a small data set that fixed 24 MiB was half of the RSS
 * growth (20,000 keys: 2,500 B/key against etcd's 1,700). So it starts
 * without growing (`--semi-space-growth-factor=1`), at about 9 % more CPU
 * per put under load, and may grow by V8's own factor once the heap holds
 * enough that the full size is a small part of it
 * ({@link watchYoungGeneration}).
 *
 * Only flags V8 reads while running can be set this way (`--heap-growing-percent`
 * is read when the next heap limit is computed, the growth factor when the
 * young generation grows); sizes fixed when the heap is created, such as
 * `--max-semi-space-size`, must be given to node itself (`NODE_OPTIONS` or
 * the node command line).
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';

/** The young generation keeps its start-up size (see {@link watchYoungGeneration}). */
const YOUNG_FIXED = '--semi-space-growth-factor=1';
/** V8's default growth factor, restored once the heap is large. */
const YOUNG_GROWING = '--semi-space-growth-factor=2';

/** Applied unless the user gives the same flag or `KV_V8_FLAGS`. */
export const DEFAULT_V8_FLAGS: readonly string[] = ['--heap-growing-percent=50', YOUNG_FIXED];

/**
 * Heap in use plus external memory (Buffers) from which the young generation
 * may grow: its full 32 MiB is then at most a quarter of what is held.
 */
export const YOUNG_GROWTH_FROM_BYTES = 128 * 2 ** 20;

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

/**
 * Applies `v8FlagsToApply` from this process's flags and environment, and
 * watches the young generation when its default was applied; returns what
 * it applied.
 */
export function applyV8Flags(): string[] {
  const kvV8Flags = process.env['KV_V8_FLAGS'];
  const flags = v8FlagsToApply({
    execArgv: process.execArgv,
    nodeOptions: process.env['NODE_OPTIONS'],
    kvV8Flags,
  });
  for (const f of flags) setFlagsFromString(f);
  if (kvV8Flags === undefined && flags.includes(YOUNG_FIXED)) watchYoungGeneration();
  return flags;
}

/** The figures of `v8.getHeapStatistics()` the young-generation policy reads. */
export interface HeapFigures {
  readonly used_heap_size: number;
  readonly external_memory: number;
}

/** Whether the heap is large enough for the young generation to grow again. */
export function youngGenerationMayGrow(heap: HeapFigures): boolean {
  return heap.used_heap_size + heap.external_memory >= YOUNG_GROWTH_FROM_BYTES;
}

/** Settings of {@link watchYoungGeneration}, for tests. */
export interface YoungGenerationWatch {
  /** How often the heap is looked at, ms. Default 2,000. */
  readonly intervalMs?: number;
  /** Default: `v8.getHeapStatistics`. */
  readonly readHeap?: () => HeapFigures;
  /** Default: `v8.setFlagsFromString`. */
  readonly setFlag?: (flag: string) => void;
}

/**
 * Restores V8's growth factor for the young generation, once, when the heap
 * reaches {@link YOUNG_GROWTH_FROM_BYTES}; until then it keeps the size it
 * had when {@link DEFAULT_V8_FLAGS} were applied. Reading the statistics
 * costs a few microseconds; the timer does not keep the process alive.
 * Returns a function that stops watching.
 */
export function watchYoungGeneration(w: YoungGenerationWatch = {}): () => void {
  const readHeap = w.readHeap ?? getHeapStatistics;
  const setFlag = w.setFlag ?? setFlagsFromString;
  const timer = setInterval(() => {
    if (!youngGenerationMayGrow(readHeap())) return;
    setFlag(YOUNG_GROWING);
    clearInterval(timer);
  }, w.intervalMs ?? 2000);
  timer.unref();
  return () => clearInterval(timer);
}
