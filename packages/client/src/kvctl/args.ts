/** Flags that take no value (`--prefix`, `--prefix=false` also accepted). */
const BOOLEAN_FLAGS = new Set([
  'prefix',
  'from-key',
  'keys-only',
  'print-value-only',
  'prev-kv',
  'ignore-value',
  'ignore-lease',
  'interactive',
  'once',
  'keys',
  'physical',
  'progress-notify',
  'cluster',
  'hex',
  'debug',
  'insecure-transport',
  'insecure-skip-tls-verify',
  'insecure-discovery',
  'help',
]);

const SHORT: Readonly<Record<string, string>> = {
  w: 'write-out',
  i: 'interactive',
  h: 'help',
  d: 'discovery-srv',
};

/** Parsed command line: positional words and flags by long name. */
export interface Args {
  positional: string[];
  flags: Map<string, string>;
}

/** Parses etcdctl-style arguments: `--f=v`, `--f v`, `-w v`, booleans, `--`. */
export function parseArgs(argv: readonly string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let value: string | undefined;
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      if (eq >= 0) value = a.slice(eq + 1);
    } else if (a.startsWith('-') && a.length === 2 && SHORT[a[1]!] !== undefined) {
      name = SHORT[a[1]!]!;
    } else if (/^-[a-z]=/.test(a) && SHORT[a[1]!] !== undefined) {
      name = SHORT[a[1]!]!;
      value = a.slice(3);
    }
    if (name === undefined) {
      positional.push(a);
      continue;
    }
    if (value === undefined) {
      if (BOOLEAN_FLAGS.has(name)) value = 'true';
      else {
        const next = argv[i + 1];
        if (next === undefined) throw new UsageError(`flag needs an argument: --${name}`);
        value = next;
        i++;
      }
    }
    // Repeated --endpoints accumulate, like etcdctl's string-slice flag.
    const prev = flags.get(name);
    flags.set(name, name === 'endpoints' && prev !== undefined ? `${prev},${value}` : value);
  }
  return { positional, flags };
}

/** Splits a line like a shell would for kvctl's interactive txn (quotes, escapes). */
export function splitLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i]!;
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new UsageError(`unterminated quote in "${line}"`);
  if (inWord) out.push(cur);
  return out;
}

/** A bad command line; printed as `Error: ...`, exit code 128 like etcdctl. */
export class UsageError extends Error {}

/** A failure with a specific etcdctl exit code (2: ExitBadConnection). */
export class ExitCodeError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Parses a Go duration like `2s`, `500ms`, `1m30s` into milliseconds. */
export function parseDuration(s: string): number {
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * units[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (consumed !== s.length || s.length === 0) throw new UsageError(`invalid duration "${s}"`);
  return total;
}

/** Go's time.Duration String() for a duration in nanoseconds. */
export function formatDuration(ns: number): string {
  const trim = (x: string): string =>
    x.includes('.') ? x.replace(/0+$/, '').replace(/\.$/, '') : x;
  if (ns < 1_000) return `${Math.round(ns)}ns`;
  if (ns < 1_000_000) return `${trim((ns / 1_000).toFixed(3))}µs`;
  if (ns < 1_000_000_000) return `${trim((ns / 1_000_000).toFixed(6))}ms`;
  return `${trim((ns / 1_000_000_000).toFixed(9))}s`;
}

/** go-humanize Bytes(): SI units with one decimal below 10. */
export function humanizeBytes(n: bigint): string {
  const v = Number(n);
  if (v < 10) return `${v} B`;
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(v) / Math.log(1000));
  const val = Math.floor((v / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : val.toFixed(0)} ${sizes[e]!}`;
}
