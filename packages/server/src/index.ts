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
/**
 * The client port's own HTTP/2 server connection (no push, no priorities),
 * usable alone: `new H2Connection(socket, { onStream })` for each accepted
 * socket that starts with the HTTP/2 preface.
 */
export { H2Connection, H2Stream } from './h2/connection';
export type { H2ConnectionOptions } from './h2/connection';
/**
 * HPACK (RFC 7541) as the HTTP/2 server uses it: the decoder of one
 * connection's header blocks (static and dynamic table, Huffman) and a
 * stateless encoder of literal fields. The load generator's own HTTP/2
 * client (tools/benchmark) decodes the servers' responses with it.
 */
export { HpackDecoder, HpackError, encodeHeaders } from './h2/hpack';
export type { HeaderMap } from './h2/hpack';
