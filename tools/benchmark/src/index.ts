/**
 * @kv-tools/benchmark — a load generator speaking the etcd v3 gRPC protocol
 * (so it measures real etcd and our server alike), and the side-by-side
 * comparison runner that starts both and prints one table.
 *
 * @packageDocumentation
 */

export {
  /** Every workload name: put, range, txn-put, txn-mixed, watch, watch-latency, lease-keepalive, mixed. */
  MODES,
  /** One workload name. */
  type Mode,
  /** Read consistency of ranges: `'l'` linearizable, `'s'` serializable. */
  type Consistency,
  /** Fully resolved settings of one run. */
  type BenchOptions,
  /** Parses a load-generator command line (`['put', '--clients', '100']`). */
  parseArgs,
  /** Defaults of a mode before the command line applies. */
  defaultOptions,
  /** Parses `10s`, `250ms`, `2m` or bare seconds into milliseconds. */
  parseDuration,
  /** Error for a bad command line; its message is for the user. */
  UsageError,
  /** The load generator's usage text. */
  USAGE,
} from './options';

export {
  /** How Put/Range/Txn calls travel: `'grpc'` (grpc-js clients) or `'http2'` (lean node:http2 caller). */
  type Transport,
} from './connections';

export {
  /** Runs one benchmark (main thread or `workers` threads) and merges the measurements. */
  runBenchmark,
  /** The outcome of one run. */
  type BenchResult,
  /** Latency percentiles in milliseconds. */
  type LatencyMs,
} from './run';

export {
  /** Renders a result as a few lines of text. */
  formatText,
  /** Renders a result as one JSON line. */
  formatJson,
} from './report';

export {
  /** Log-linear latency histogram (relative error below 1/1024), mergeable across threads. */
  Histogram,
  /** count/min/mean/p50/p90/p99/p99.9/max of a histogram. */
  type LatencySummary,
  /** Plain-data form of a histogram, as sent between threads. */
  type HistogramSnapshot,
} from './histogram';

export {
  /** Starts a fresh 1- or 3-member cluster of real etcd (`'etcd'`) or our server (`'kv'`). */
  startServer,
  /** Whether a server kind can be started here. */
  serverAvailable,
  /** The argv prefix that starts one member of a kind. */
  serverCommand,
  /** CPU seconds and peak RSS of a live process, from /proc. */
  processUsage,
  /** Path of our server's CLI (packages/server/dist/cli.js). */
  KV_SERVER_CLI,
  /** Which server to start. */
  type ServerKind,
  /** Extra etcd-named flags for every member. */
  type ServerFlags,
  /** A started cluster. */
  type RunningCluster,
  /** CPU and memory of one member. */
  type ProcessUsage,
  /** Options of `startServer`. */
  type StartServerOptions,
} from './servers';

export {
  /** The comparison rows of issue 12. */
  STANDARD_ROWS,
  /** Rows run only when named (`mem-20k`: RSS growth per key). */
  EXTRA_ROWS,
  /** Runs rows against servers and cluster sizes. */
  runCompare,
  /** Measures one row against one freshly started cluster. */
  measureRow,
  /** Renders measurements as a Markdown table with ours/etcd ratios. */
  formatTable,
  /** Parses the compare runner's command line. */
  parseCompareArgs,
  /** One comparison row. */
  type CompareRow,
  /** Settings of a comparison. */
  type CompareOptions,
  /** One row measured against one server. */
  type Measurement,
} from './compare';
