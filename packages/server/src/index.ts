/**
 * @kv/server — the composed etcd-compatible server. `startServer(config)`
 * starts a member in-process; the `kv-server` command does the same from
 * etcd's flags.
 *
 * @packageDocumentation
 */
export { startServer } from './start-server';
export type { ServerHandle, StartOptions } from './start-server';
export { parseArgs, defaultConfig, usage, ConfigError, FLAGS } from './config';
export type { ServerConfig, ParsedArgs } from './config';
