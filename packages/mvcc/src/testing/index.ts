/**
 * @kv/mvcc/testing — helpers for tests of the store and of backends.
 *
 * @packageDocumentation
 */

/** Holds backend reads of a {@link MemoryBackend} in flight until opened. */
export { ReadGate } from './read-gate';
/** The Backend conformance suite every backend implementation runs. */
export { backendSuite } from './backend-suite';
/** Options and matcher shape of {@link backendSuite}. */
export type { BackendSuiteOptions, BackendSuiteAssertion } from './backend-suite';
