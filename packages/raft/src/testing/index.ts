/**
 * @kv/raft/testing — deterministic test utilities: an in-memory cluster, a
 * randomized fault-injecting simulator with invariant checks, and a
 * datadriven-style script runner.
 *
 * @packageDocumentation
 */

/** In-memory cluster with instant, filterable delivery. */
export { Cluster } from './cluster';
/** Cluster types. */
export type { ClusterNode, ClusterOptions, MessageFilter, NodeConfigOverrides } from './cluster';
/** Seeded PRNG (mulberry32). */
export { seededRandom } from './rng';
/** Randomized fault-injecting simulator with invariant checks after every step. */
export { runSimulation, replayCommand, SimulationError } from './simulator';
/** Simulator options and results. */
export type { SimulationOptions, SimulationResult } from './simulator';
/** Datadriven-style script runner (`cmd args` / `----` / expected output). */
export { runScript } from './script';
