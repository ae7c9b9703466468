/**
 * The server's configuration from etcd's flags, ETCD_* environment variables
 * and a YAML --config-file, with etcd's names and defaults. Precedence as in
 * etcd: a config file, when given, is the whole configuration; otherwise
 * flags win over environment variables, which win over defaults.
 */
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';

export interface ServerConfig {
  name: string;
  dataDir: string;
  walDir: string;
  listenClientUrls: string[];
  advertiseClientUrls: string[];
  listenPeerUrls: string[];
  initialAdvertisePeerUrls: string[];
  initialCluster: string;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  snapshotCount: number;
  heartbeatInterval: number;
  electionTimeout: number;
  quotaBackendBytes: number;
  /** Longest wait (ms) before buffered backend writes are committed; 0 = the default (10 ms). */
  backendBatchInterval: number;
  /** Buffered backend writes that force a commit; 0 = the default (10,000). */
  backendBatchLimit: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  autoCompactionMode: 'periodic' | 'revision';
  autoCompactionRetention: string;
  listenMetricsUrls: string[];
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
  clientCertAuth: boolean;
  peerCertFile: string;
  peerKeyFile: string;
  peerTrustedCaFile: string;
  peerClientCertAuth: boolean;
  autoTls: boolean;
  peerAutoTls: boolean;
  preVote: boolean;
  /** Refuse membership changes that could cost the quorum (etcd 3.4's default: true). */
  strictReconfigCheck: boolean;
  /** Entries kept behind a snapshot for slow followers (etcd 3.6's experimental flag). */
  experimentalSnapshotCatchupEntries: number;
  /** Compare HashKV with peers before serving (a restarting member). */
  experimentalInitialCorruptCheck: boolean;
  /** Milliseconds between the leader's corruption checks; 0 = off (a Go duration on the command line). */
  experimentalCorruptCheckTime: number;
  /** Test-only: fdatasync the WAL (always true outside tests). */
  unsafeNoFsync: boolean;
}

type Kind = 'string' | 'urls' | 'int' | 'bool' | 'enum' | 'duration';

interface FlagSpec {
  readonly key: keyof ServerConfig;
  readonly kind: Kind;
  readonly help: string;
  readonly values?: readonly string[];
}

/** etcd's flags this server understands, with etcd's descriptions. */
export const FLAGS: Readonly<Record<string, FlagSpec>> = {
  name: { key: 'name', kind: 'string', help: 'Human-readable name for this member.' },
  'data-dir': { key: 'dataDir', kind: 'string', help: 'Path to the data directory.' },
  'wal-dir': { key: 'walDir', kind: 'string', help: 'Path to the dedicated wal directory.' },
  'listen-client-urls': {
    key: 'listenClientUrls',
    kind: 'urls',
    help: 'List of URLs to listen on for client traffic.',
  },
  'advertise-client-urls': {
    key: 'advertiseClientUrls',
    kind: 'urls',
    help: "List of this member's client URLs to advertise to the public.",
  },
  'listen-peer-urls': {
    key: 'listenPeerUrls',
    kind: 'urls',
    help: 'List of URLs to listen on for peer traffic.',
  },
  'initial-advertise-peer-urls': {
    key: 'initialAdvertisePeerUrls',
    kind: 'urls',
    help: "List of this member's peer URLs to advertise to the rest of the cluster.",
  },
  'initial-cluster': {
    key: 'initialCluster',
    kind: 'string',
    help: 'Initial cluster configuration for bootstrapping.',
  },
  'initial-cluster-state': {
    key: 'initialClusterState',
    kind: 'enum',
    values: ['new', 'existing'],
    help: "Initial cluster state ('new' or 'existing').",
  },
  'initial-cluster-token': {
    key: 'initialClusterToken',
    kind: 'string',
    help: 'Initial cluster token for the etcd cluster during bootstrap.',
  },
  'snapshot-count': {
    key: 'snapshotCount',
    kind: 'int',
    help: 'Number of committed transactions to trigger a snapshot to disk.',
  },
  'heartbeat-interval': {
    key: 'heartbeatInterval',
    kind: 'int',
    help: 'Time (in milliseconds) of a heartbeat interval.',
  },
  'election-timeout': {
    key: 'electionTimeout',
    kind: 'int',
    help: 'Time (in milliseconds) for an election to timeout.',
  },
  'quota-backend-bytes': {
    key: 'quotaBackendBytes',
    kind: 'int',
    help: 'Raise alarms when backend size exceeds the given quota. 0 means use the default quota.',
  },
  'backend-batch-interval': {
    key: 'backendBatchInterval',
    kind: 'duration',
    help: 'BackendBatchInterval is the maximum time before commit the backend transaction.',
  },
  'backend-batch-limit': {
    key: 'backendBatchLimit',
    kind: 'int',
    help: 'BackendBatchLimit is the maximum operations before commit the backend transaction.',
  },
  'max-request-bytes': {
    key: 'maxRequestBytes',
    kind: 'int',
    help: 'Maximum client request size in bytes the server will accept.',
  },
  'max-txn-ops': {
    key: 'maxTxnOps',
    kind: 'int',
    help: 'Maximum number of operations permitted in a transaction.',
  },
  'auto-compaction-mode': {
    key: 'autoCompactionMode',
    kind: 'enum',
    values: ['periodic', 'revision'],
    help: "Interpret 'auto-compaction-retention' one of: periodic|revision.",
  },
  'auto-compaction-retention': {
    key: 'autoCompactionRetention',
    kind: 'string',
    help: 'Auto compaction retention for mvcc key value store. 0 means disable auto compaction.',
  },
  'listen-metrics-urls': {
    key: 'listenMetricsUrls',
    kind: 'urls',
    help: 'List of URLs to listen on for the metrics and health endpoints.',
  },
  'log-level': {
    key: 'logLevel',
    kind: 'enum',
    values: ['debug', 'info', 'warn', 'error', 'panic', 'fatal'],
    help: 'Configures log level. Only supports debug, info, warn, error, panic, or fatal.',
  },
  'cert-file': {
    key: 'certFile',
    kind: 'string',
    help: 'Path to the client server TLS cert file.',
  },
  'key-file': { key: 'keyFile', kind: 'string', help: 'Path to the client server TLS key file.' },
  'trusted-ca-file': {
    key: 'trustedCaFile',
    kind: 'string',
    help: 'Path to the client server TLS trusted CA cert file.',
  },
  'client-cert-auth': {
    key: 'clientCertAuth',
    kind: 'bool',
    help: 'Enable client cert authentication.',
  },
  'peer-cert-file': {
    key: 'peerCertFile',
    kind: 'string',
    help: 'Path to the peer server TLS cert file.',
  },
  'peer-key-file': {
    key: 'peerKeyFile',
    kind: 'string',
    help: 'Path to the peer server TLS key file.',
  },
  'peer-trusted-ca-file': {
    key: 'peerTrustedCaFile',
    kind: 'string',
    help: 'Path to the peer server TLS trusted CA file.',
  },
  'peer-client-cert-auth': {
    key: 'peerClientCertAuth',
    kind: 'bool',
    help: 'Enable peer client cert authentication.',
  },
  'auto-tls': { key: 'autoTls', kind: 'bool', help: 'Client TLS using generated certificates.' },
  'peer-auto-tls': {
    key: 'peerAutoTls',
    kind: 'bool',
    help: 'Peer TLS using generated certificates.',
  },
  'experimental-snapshot-catchup-entries': {
    key: 'experimentalSnapshotCatchupEntries',
    kind: 'int',
    help: 'Number of entries for a slow follower to catch up after compacting the raft storage entries.',
  },
  'experimental-initial-corrupt-check': {
    key: 'experimentalInitialCorruptCheck',
    kind: 'bool',
    help: 'Enable to check data corruption before serving any client/peer traffic.',
  },
  'experimental-corrupt-check-time': {
    key: 'experimentalCorruptCheckTime',
    kind: 'duration',
    help: 'Duration of time between cluster corruption check passes.',
  },
  'pre-vote': {
    key: 'preVote',
    kind: 'bool',
    help: 'Enable to run an additional Raft election phase.',
  },
  'strict-reconfig-check': {
    key: 'strictReconfigCheck',
    kind: 'bool',
    help: 'Reject reconfiguration requests that would cause quorum loss.',
  },
  'unsafe-no-fsync': {
    key: 'unsafeNoFsync',
    kind: 'bool',
    help: 'Disables fsync, unsafe, will cause data loss.',
  },
};

export function defaultConfig(): ServerConfig {
  return {
    name: 'default',
    dataDir: '',
    walDir: '',
    listenClientUrls: ['http://localhost:2379'],
    advertiseClientUrls: ['http://localhost:2379'],
    listenPeerUrls: ['http://localhost:2380'],
    initialAdvertisePeerUrls: ['http://localhost:2380'],
    initialCluster: '',
    initialClusterState: 'new',
    initialClusterToken: 'etcd-cluster',
    snapshotCount: 100_000,
    heartbeatInterval: 100,
    electionTimeout: 1000,
    quotaBackendBytes: 0,
    backendBatchInterval: 0,
    backendBatchLimit: 0,
    maxRequestBytes: 1.5 * 1024 * 1024,
    maxTxnOps: 128,
    autoCompactionMode: 'periodic',
    autoCompactionRetention: '0',
    listenMetricsUrls: [],
    logLevel: 'info',
    certFile: '',
    keyFile: '',
    trustedCaFile: '',
    clientCertAuth: false,
    peerCertFile: '',
    peerKeyFile: '',
    peerTrustedCaFile: '',
    peerClientCertAuth: false,
    autoTls: false,
    peerAutoTls: false,
    preVote: true,
    strictReconfigCheck: true,
    experimentalSnapshotCatchupEntries: 5000,
    experimentalInitialCorruptCheck: false,
    experimentalCorruptCheckTime: 0,
    unsafeNoFsync: false,
  };
}

/** A configuration error, printed as is with a non-zero exit. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function setValue(
  cfg: ServerConfig,
  flag: string,
  spec: FlagSpec,
  raw: string | boolean | number,
): void {
  const target = cfg as unknown as Record<string, unknown>;
  switch (spec.kind) {
    case 'bool': {
      if (typeof raw === 'boolean') target[spec.key] = raw;
      else if (raw === 'true' || raw === '1') target[spec.key] = true;
      else if (raw === 'false' || raw === '0') target[spec.key] = false;
      else throw new ConfigError(`invalid value "${raw}" for flag -${flag}: parse error`);
      return;
    }
    case 'int': {
      const s = String(raw);
      if (!/^-?\d+$/.test(s))
        throw new ConfigError(`invalid value "${s}" for flag -${flag}: parse error`);
      target[spec.key] = Number(s);
      return;
    }
    case 'duration': {
      // A YAML number is a time.Duration in nanoseconds, as etcd reads it.
      const ms = typeof raw === 'number' ? raw / 1e6 : parseGoDuration(String(raw));
      if (ms === undefined || ms < 0) {
        throw new ConfigError(`invalid value "${String(raw)}" for flag -${flag}: parse error`);
      }
      target[spec.key] = ms;
      return;
    }
    case 'urls': {
      const urls = String(raw)
        .split(',')
        .map((u) => u.trim())
        .filter((u) => u !== '');
      for (const u of urls) {
        let parsed: URL;
        try {
          parsed = new URL(u);
        } catch {
          throw new ConfigError(
            `invalid value "${String(raw)}" for flag -${flag}: parse ${u}: invalid URL`,
          );
        }
        if (
          parsed.protocol !== 'http:' &&
          parsed.protocol !== 'https:' &&
          parsed.protocol !== 'unix:'
        ) {
          throw new ConfigError(
            `invalid value "${String(raw)}" for flag -${flag}: URL scheme must be http, https, unix, or unixs: ${u}`,
          );
        }
      }
      target[spec.key] = urls;
      return;
    }
    case 'enum': {
      const s = String(raw);
      if (spec.values !== undefined && !spec.values.includes(s)) {
        throw new ConfigError(
          `invalid value "${s}" for flag -${flag}: valid values are ${spec.values.join(', ')}`,
        );
      }
      target[spec.key] = s;
      return;
    }
    default:
      target[spec.key] = String(raw);
  }
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration ("1m30s", "500ms", "0"), in milliseconds; undefined if invalid. */
export function parseGoDuration(s: string): number | undefined {
  if (s === '0' || s === '+0' || s === '-0') return 0;
  const m = /^([-+]?)((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+)$/.exec(s);
  if (m === null) return undefined;
  let total = 0;
  for (const part of m[2]!.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(part[1]) * DURATION_UNITS_MS[part[2]!]!;
  }
  return m[1] === '-' ? -total : total;
}

/** A duration in milliseconds as Go prints one ("0s", "5s", "1m30s", "250ms"). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sec = (ms % 60_000) / 1000;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${sec}s`;
}

export interface ParsedArgs {
  readonly config: ServerConfig;
  readonly help: boolean;
  readonly version: boolean;
}

/** Parses argv (without node and script) and the environment. */
export function parseArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ParsedArgs {
  const cfg = defaultConfig();
  const explicit = new Set<string>();
  let configFile: string | undefined;
  let help = false;
  let version = false;
  const fromFlags: [string, FlagSpec, string | boolean][] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) throw new ConfigError(`'${arg}' is not a valid flag`);
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (name === 'h' || name === 'help') {
      help = true;
      continue;
    }
    if (name === 'version') {
      version = true;
      continue;
    }
    if (name === 'config-file') {
      configFile = eq >= 0 ? body.slice(eq + 1) : argv[++i];
      if (configFile === undefined) throw new ConfigError('flag needs an argument: -config-file');
      continue;
    }
    const spec = FLAGS[name];
    if (spec === undefined) throw new ConfigError(`flag provided but not defined: -${name}`);
    let value: string | boolean;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (spec.kind === 'bool') value = true;
    else {
      const next = argv[++i];
      if (next === undefined) throw new ConfigError(`flag needs an argument: -${name}`);
      value = next;
    }
    fromFlags.push([name, spec, value]);
    explicit.add(name);
  }
  configFile ??= env.ETCD_CONFIG_FILE;
  if (configFile !== undefined && configFile !== '') {
    applyConfigFile(cfg, configFile);
  } else {
    for (const [flag, spec] of Object.entries(FLAGS)) {
      const envName = `ETCD_${flag.toUpperCase().replace(/-/g, '_')}`;
      const v = env[envName];
      if (v !== undefined && !explicit.has(flag)) setValue(cfg, flag, spec, v);
    }
    for (const [flag, spec, value] of fromFlags) setValue(cfg, flag, spec, value);
  }
  finish(cfg);
  return { config: cfg, help, version };
}

function applyConfigFile(cfg: ServerConfig, file: string): void {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`error unmarshaling config file ${file}: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object') return;
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    // etcd's YAML keys are the flag names (data-dir, initial-cluster, ...).
    const spec = FLAGS[key];
    if (spec === undefined) throw new ConfigError(`config file ${file}: unknown field "${key}"`);
    if (value === null || value === undefined) continue;
    setValue(
      cfg,
      key,
      spec,
      Array.isArray(value) ? value.join(',') : (value as string | boolean | number),
    );
  }
}

function finish(cfg: ServerConfig): void {
  if (cfg.dataDir === '') cfg.dataDir = `${cfg.name}.etcd`;
  if (cfg.initialCluster === '') {
    cfg.initialCluster = cfg.initialAdvertisePeerUrls.map((u) => `${cfg.name}=${u}`).join(',');
  }
  if (cfg.heartbeatInterval <= 0) throw new ConfigError('--heartbeat-interval must be > 0');
  if (5 * cfg.heartbeatInterval > cfg.electionTimeout) {
    throw new ConfigError(
      `--election-timeout[${cfg.electionTimeout}ms] should be at least as 5 times as --heartbeat-interval[${cfg.heartbeatInterval}ms]`,
    );
  }
  if (cfg.electionTimeout > 50000) {
    throw new ConfigError(
      `--election-timeout[${cfg.electionTimeout}ms] is too long, and should be set less than 50000ms`,
    );
  }
  if (cfg.snapshotCount <= 0) throw new ConfigError('--snapshot-count must be > 0');
  if (cfg.maxTxnOps <= 0) throw new ConfigError('--max-txn-ops must be > 0');
  if (cfg.maxRequestBytes <= 0) throw new ConfigError('--max-request-bytes must be > 0');
  if (cfg.listenClientUrls.length === 0)
    throw new ConfigError('--listen-client-urls must not be empty');
}

/** `--help` text in etcd's style. */
export function usage(): string {
  const lines = [
    'Usage:',
    '',
    '  kv-server [flags]',
    '',
    'An etcd-compatible key-value store.',
    '',
    'Flags:',
  ];
  lines.push(
    '  --config-file',
    '      Path to the server configuration file (YAML, etcd field names).',
  );
  const defaults = defaultConfig() as unknown as Record<string, unknown>;
  for (const [flag, spec] of Object.entries(FLAGS)) {
    const d = defaults[spec.key];
    const shown = Array.isArray(d)
      ? d.join(',')
      : spec.kind === 'duration'
        ? formatGoDuration(d as number)
        : String(d);
    lines.push(`  --${flag} '${shown}'`, `      ${spec.help}`);
  }
  lines.push(
    '  --version',
    '      Print the version and exit.',
    '  --help',
    '      Show this help.',
  );
  return lines.join('\n') + '\n';
}
