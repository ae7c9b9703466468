/**
 * @kv/mvcc/testing — helpers for tests of the store and of backends.
 *
 * @packageDocumentation
 */

/** Holds backend reads of a {@link MemoryBackend} in flight until opened. */
export { ReadGate } from './read-gate';
