/**
 * @kv/wal — public entry point. This package is an empty shell for now; see README.md.
 */
export const packageName = '@kv/wal';
