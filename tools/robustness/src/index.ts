/**
 * @kv-tools/robustness — runs a real 3-member cluster under crashes, pauses,
 * partitions, delays and failpoints, and checks linearizability, crash
 * safety and watch guarantees. The CLI (`src/cli.ts`) is the usual entry.
 *
 * @packageDocumentation
 */

/** Linearizability checker for one key's operations (Wing–Gong/Lowe search). */
export { checkKey } from './checker';
/** Linearizability checker for a whole history, partitioned per key. */
export { checkHistory } from './checker';
/** Verdicts of the linearizability checker. */
export type { CheckResult, KeyResult } from './checker';
/** History operation types the checker consumes. */
export type { OpInput, OpOutput, Operation } from './history';
/** Runs one profile with one seed and checks the outcome. */
export { runProfile } from './run';
/** Options and result of {@link runProfile}. */
export type { RunOptions, RunResult } from './run';
/** The named profiles and the fault kinds. */
export { PROFILES, FAULTS } from './profiles';
/** A profile and a fault kind. */
export type { Profile, FaultKind } from './profiles';
/** A failed check. */
export type { Finding } from './checks';
/** The fault-injecting TCP proxy for peer links. */
export { PeerProxy } from './proxy';
/** Faults of one proxied link. */
export type { LinkFault } from './proxy';
