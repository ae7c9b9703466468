/**
 * A small Prometheus registry: counters, gauges and histograms with labels,
 * rendered in the text exposition format. Metric names follow etcd's so that
 * existing dashboards and alerts keep working.
 */

type Labels = Readonly<Record<string, string>>;

// Hot paths pass the same frozen label objects again and again (one per gRPC
// method and code): their keys are computed once. Other objects may be
// one-off or mutated later, so they are not remembered.
const frozenLabelKeys = new WeakMap<Labels, string>();

/** The default labels: frozen and shared, so an unlabelled series' key is computed once. */
const NO_LABELS: Labels = Object.freeze({});

function labelKey(labels: Labels): string {
  const cached = frozenLabelKeys.get(labels);
  if (cached !== undefined) return cached;
  const keys = Object.keys(labels).sort();
  const key = keys.map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`).join(',');
  if (Object.isFrozen(labels)) frozenLabelKeys.set(labels, key);
  return key;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

/** One labelled series of a counter, resolved once so a hot path only adds. */
export interface CounterSeries {
  inc(by?: number): void;
}

class CounterCell implements CounterSeries {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

export class Counter implements Metric {
  readonly type = 'counter' as const;
  readonly #values = new Map<string, CounterCell>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = NO_LABELS, by = 1): void {
    this.#cell(labelKey(labels)).value += by;
  }
  /** The series for `labels`, to increment without looking it up each time. */
  series(labels: Labels = NO_LABELS): CounterSeries {
    return this.#cell(labelKey(labels));
  }
  get(labels: Labels = NO_LABELS): number {
    return this.#values.get(labelKey(labels))?.value ?? 0;
  }
  #cell(key: string): CounterCell {
    let cell = this.#values.get(key);
    if (cell === undefined) {
      cell = new CounterCell();
      this.#values.set(key, cell);
    }
    return cell;
  }
  render(): string[] {
    if (this.#values.size === 0) return [`${this.name} 0`];
    return [...this.#values].map(([k, c]) => `${this.name}${k === '' ? '' : `{${k}}`} ${c.value}`);
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge' as const;
  readonly #values = new Map<string, () => number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(value: number | (() => number), labels: Labels = NO_LABELS): void {
    this.#values.set(labelKey(labels), typeof value === 'number' ? () => value : value);
  }
  render(): string[] {
    return [...this.#values].map(([k, v]) => `${this.name}${k === '' ? '' : `{${k}}`} ${v()}`);
  }
}

/** One labelled series of a histogram, resolved once so a hot path only records. */
export interface HistogramSeries {
  observe(value: number): void;
}

class HistogramCell implements HistogramSeries {
  /** Observations per bucket, not cumulative (+Inf last); cumulated when rendered. */
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length + 1).fill(0);
  }
  observe(value: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram' as const;
  readonly #series = new Map<string, HistogramCell>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}
  observe(value: number, labels: Labels = NO_LABELS): void {
    this.#cell(labelKey(labels)).observe(value);
  }
  /** The series for `labels`, to record without looking it up each time. */
  series(labels: Labels = NO_LABELS): HistogramSeries {
    return this.#cell(labelKey(labels));
  }
  #cell(key: string): HistogramCell {
    let s = this.#series.get(key);
    if (s === undefined) {
      s = new HistogramCell(this.buckets);
      this.#series.set(key, s);
    }
    return s;
  }
  render(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.#series) {
      const sep = k === '' ? '' : ',';
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += s.counts[i]!;
        out.push(`${this.name}_bucket{${k}${sep}le="${b}"} ${cumulative}`);
      });
      out.push(`${this.name}_bucket{${k}${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k === '' ? '' : `{${k}}`} ${s.sum}`);
      out.push(`${this.name}_count${k === '' ? '' : `{${k}}`} ${s.count}`);
    }
    return out;
  }
}

/** Exponential buckets, like Prometheus' ExponentialBuckets(start, factor, count). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  let v = start;
  for (let i = 0; i < count; i++) {
    out.push(v);
    v *= factor;
  }
  return out;
}

export class MetricsRegistry {
  readonly #metrics = new Map<string, Metric>();

  counter(name: string, help: string): Counter {
    return this.#register(new Counter(name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.#register(new Gauge(name, help));
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.#register(new Histogram(name, help, buckets));
  }

  #register<M extends Metric>(m: M): M {
    const existing = this.#metrics.get(m.name);
    if (existing !== undefined) return existing as M;
    this.#metrics.set(m.name, m);
    return m;
  }

  /** The Prometheus text exposition format. */
  render(): string {
    const lines: string[] = [];
    for (const m of this.#metrics.values()) {
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render());
    }
    return lines.join('\n') + '\n';
  }
}
