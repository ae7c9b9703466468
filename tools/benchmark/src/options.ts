// Command-line parsing for the load generator. Flag names follow etcd's
// `benchmark` tool where it has one, so commands translate directly.

/** Every workload the generator can run. */
export const MODES = [
  'put',
  'range',
  'txn-put',
  'txn-mixed',
  'watch',
  'watch-latency',
  'lease-keepalive',
  'mixed',
] as const;

/** One workload name. */
export type Mode = (typeof MODES)[number];

/** Read consistency of range requests: linearizable or serializable. */
export type Consistency = 'l' | 's';

/** Fully resolved settings of one benchmark run. */
export interface BenchOptions {
  mode: Mode;
  /** host:port of each member; connections go round-robin over them. */
  endpoints: string[];
  /** Concurrent requests in flight (closed loop); the writers in watch modes. */
  clients: number;
  /** gRPC connections (HTTP/2 sessions) the clients share. */
  conns: number;
  keySize: number;
  valSize: number;
  /** Keys are drawn from [0, keySpace). */
  keySpace: number;
  /** Every generated key starts with this; key-size includes it. */
  keyPrefix: string;
  sequentialKeys: boolean;
  /** Requests to send in total (0 = bounded by duration instead). */
  total: number;
  /** Run length in milliseconds (0 = bounded by total instead). */
  durationMs: number;
  /** Requests per second over all clients (0 = unlimited). */
  rate: number;
  /** Worker threads generating load (1 = the main thread only). */
  workers: number;
  consistency: Consistency;
  /** range: read the whole key prefix instead of one key. */
  prefix: boolean;
  /** range: maximum keys per response (0 = unlimited). */
  limit: number;
  /** Write every key of the key space once before measuring. */
  preload: boolean;
  /** txn-put / txn-mixed: operations per transaction. */
  txnOps: number;
  /** mixed / txn-mixed: fraction of requests that are reads. */
  readRatio: number;
  /** watch modes: watchers in total, spread over the streams. */
  watchers: number;
  /** watch modes: watch streams, spread over the connections. */
  streams: number;
  /** lease-keepalive: TTL of the granted leases in seconds. */
  leaseTtl: number;
  /** Grace period after the run for in-flight requests and events. */
  drainTimeoutMs: number;
  /**
   * How Put/Range/Txn calls travel: grpc-js clients, or a minimal gRPC caller
   * on node:http2 (same wire protocol, a fraction of the client CPU).
   */
  transport: 'grpc' | 'http2' | 'raw';
  /** Decode KV responses (off: only each call's status is looked at). */
  decodeResponses: boolean;
  /**
   * Send everything to the Raft leader among the endpoints (etcd's
   * benchmark flag): found by asking each endpoint's Maintenance.Status.
   */
  targetLeader: boolean;
  /** Print only the JSON line. */
  json: boolean;
}

/** Thrown for bad command lines; the message is meant for the user. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Defaults applied before the command line. */
export function defaultOptions(mode: Mode): BenchOptions {
  const watch = mode === 'watch' || mode === 'watch-latency';
  return {
    mode,
    endpoints: ['127.0.0.1:2379'],
    clients: 1,
    conns: 1,
    keySize: 8,
    valSize: 8,
    keySpace: 1,
    keyPrefix: '',
    sequentialKeys: false,
    total: 0,
    durationMs: 0,
    // etcd's watch-latency puts at a fixed 100/s so that events do not overlap.
    rate: mode === 'watch-latency' ? 100 : 0,
    workers: 1,
    consistency: 'l',
    prefix: false,
    limit: 0,
    preload: false,
    txnOps: 1,
    readRatio: mode === 'txn-mixed' ? 0.5 : 2 / 3,
    watchers: watch ? 10 : 0,
    streams: watch ? 1 : 0,
    leaseTtl: 60,
    drainTimeoutMs: 5000,
    transport: 'grpc',
    decodeResponses: false,
    targetLeader: false,
    json: false,
  };
}

/** Usage text printed for --help and after a usage error. */
export const USAGE = `usage: cli.ts <mode> [flags]
modes: ${MODES.join(', ')}
common flags:
  --endpoints h:p[,h:p]   members to load (default 127.0.0.1:2379)
  --clients N             requests in flight; writers in watch modes (default 1)
  --conns N               gRPC connections shared by the clients (default 1)
  --key-size N            key length in bytes incl. --key-prefix (default 8)
  --val-size N            value length in bytes (default 8)
  --key-space N           keys are drawn from N distinct keys (default 1)
  --key-prefix S          prefix of every key (default empty)
  --sequential-keys       keys 0,1,2,... instead of random
  --total N | --duration D   stop after N requests or after D (10s, 500ms, 2m)
  --rate N                requests/s over all clients (default unlimited)
  --workers N             worker threads generating load (default 1)
  --preload               write every key of the key space before measuring
  --transport grpc|http2|raw  put/range/txn via grpc-js (default), a lean node:http2 caller,
                          or the generator's own HTTP/2 client (least CPU per call)
  --decode-responses      decode KV responses (default: status only, cheaper; implies grpc)
  --target-leader         send every request to the leader among --endpoints
  --json                  print only the JSON line
mode flags:
  range:     --consistency l|s, --prefix (read the whole key prefix), --limit N
  txn-put:   --txn-ops N
  txn-mixed / mixed: --read-ratio F (txn-mixed 0.5, mixed 0.667), --consistency l|s
  watch / watch-latency: --watchers N, --streams N (writers = --clients)
  lease-keepalive: --lease-ttl S
  --drain-timeout D       wait this long for stragglers at the end (default 5s)`;

/** Parses "10s", "250ms", "2m", "1.5" (seconds) into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new UsageError(`bad duration "${text}" (use e.g. 10s, 500ms, 2m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000);
}

function isMode(s: string): s is Mode {
  return (MODES as readonly string[]).includes(s);
}

function intArg(flag: string, v: string, min: number): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} needs a whole number, got "${v}"`);
  const n = Number(v);
  if (n < min) throw new UsageError(`${flag} must be at least ${min}`);
  return n;
}

function boolArg(flag: string, v: string | undefined): boolean {
  if (v === undefined || v === 'true') return true;
  if (v === 'false') return false;
  throw new UsageError(`${flag} takes no value or =true/=false, got "${v}"`);
}

const BOOLEAN_FLAGS = new Set([
  'sequential-keys',
  'prefix',
  'preload',
  'json',
  'decode-responses',
  'target-leader',
]);

/** Parses a command line (without node and script) into options. */
export function parseArgs(argv: readonly string[]): BenchOptions {
  const [modeArg, ...rest] = argv;
  if (modeArg === undefined || modeArg.startsWith('-')) {
    throw new UsageError('missing mode');
  }
  if (!isMode(modeArg)) throw new UsageError(`unknown mode "${modeArg}"`);
  const o = defaultOptions(modeArg);

  for (let i = 0; i < rest.length; i++) {
    const tok = rest[i]!;
    if (!tok.startsWith('--')) throw new UsageError(`unexpected argument "${tok}"`);
    const eq = tok.indexOf('=');
    const name = eq === -1 ? tok.slice(2) : tok.slice(2, eq);
    let value: string | undefined = eq === -1 ? undefined : tok.slice(eq + 1);
    if (BOOLEAN_FLAGS.has(name)) {
      const b = boolArg(`--${name}`, value);
      if (name === 'sequential-keys') o.sequentialKeys = b;
      else if (name === 'prefix') o.prefix = b;
      else if (name === 'preload') o.preload = b;
      else if (name === 'decode-responses') o.decodeResponses = b;
      else if (name === 'target-leader') o.targetLeader = b;
      else o.json = b;
      continue;
    }
    if (value === undefined) {
      value = rest[i + 1];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      i++;
    }
    const flag = `--${name}`;
    switch (name) {
      case 'endpoints':
        o.endpoints = value
          .split(',')
          .map((e) => e.trim().replace(/^https?:\/\//, ''))
          .filter((e) => e.length > 0);
        if (o.endpoints.length === 0) throw new UsageError('--endpoints is empty');
        break;
      case 'clients':
        o.clients = intArg(flag, value, 1);
        break;
      case 'conns':
        o.conns = intArg(flag, value, 1);
        break;
      case 'key-size':
        o.keySize = intArg(flag, value, 1);
        break;
      case 'val-size':
        o.valSize = intArg(flag, value, 0);
        break;
      case 'key-space':
      case 'key-space-size':
        o.keySpace = intArg(flag, value, 1);
        break;
      case 'key-prefix':
        o.keyPrefix = value;
        break;
      case 'total':
        o.total = intArg(flag, value, 1);
        break;
      case 'duration':
        o.durationMs = parseDuration(value);
        if (o.durationMs <= 0) throw new UsageError('--duration must be positive');
        break;
      case 'rate':
        o.rate = intArg(flag, value, 0);
        break;
      case 'workers':
        o.workers = intArg(flag, value, 1);
        break;
      case 'consistency':
        if (value !== 'l' && value !== 's') throw new UsageError('--consistency is l or s');
        o.consistency = value;
        break;
      case 'limit':
        o.limit = intArg(flag, value, 0);
        break;
      case 'txn-ops':
        o.txnOps = intArg(flag, value, 1);
        break;
      case 'read-ratio': {
        const r = Number(value);
        if (!Number.isFinite(r) || r < 0 || r > 1) {
          throw new UsageError('--read-ratio is a number in [0, 1]');
        }
        o.readRatio = r;
        break;
      }
      case 'watchers':
        o.watchers = intArg(flag, value, 1);
        break;
      case 'streams':
        o.streams = intArg(flag, value, 1);
        break;
      case 'lease-ttl':
        o.leaseTtl = intArg(flag, value, 1);
        break;
      case 'transport':
        if (value !== 'grpc' && value !== 'http2' && value !== 'raw')
          throw new UsageError('--transport is grpc, http2 or raw');
        o.transport = value;
        break;
      case 'drain-timeout':
        o.drainTimeoutMs = parseDuration(value);
        break;
      default:
        throw new UsageError(`unknown flag --${name}`);
    }
  }

  if (o.total > 0 && o.durationMs > 0) throw new UsageError('give --total or --duration, not both');
  // etcd's benchmark defaults to 10,000 requests.
  if (o.total === 0 && o.durationMs === 0) o.total = 10_000;
  if (o.conns > o.clients && o.mode !== 'watch' && o.mode !== 'watch-latency') {
    throw new UsageError('--conns cannot exceed --clients');
  }
  if (o.workers > o.clients && o.mode !== 'watch' && o.mode !== 'watch-latency') {
    throw new UsageError('--workers cannot exceed --clients');
  }
  if ((o.mode === 'txn-put' || o.mode === 'txn-mixed') && o.keySpace < o.txnOps) {
    // etcd rejects a transaction that puts the same key twice.
    throw new UsageError('--key-space must be at least --txn-ops');
  }
  if (o.streams > o.watchers) throw new UsageError('--streams cannot exceed --watchers');
  const digits = String(o.keySpace - 1).length;
  if (o.keySize - Buffer.byteLength(o.keyPrefix) < digits) {
    throw new UsageError(
      `--key-size ${o.keySize} cannot hold --key-prefix "${o.keyPrefix}" plus ${digits} digits for --key-space ${o.keySpace}`,
    );
  }
  if ((o.mode === 'watch' || o.mode === 'watch-latency') && o.valSize < 8) {
    // The send time travels in the first 8 bytes of the value.
    o.valSize = 8;
  }
  return o;
}
