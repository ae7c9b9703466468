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

export class Counter implements Metric {
  readonly type = 'counter' as const;
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    if (this.#values.size === 0) return [`${this.name} 0`];
    return [...this.#values].map(([k, v]) => `${this.name}${k === '' ? '' : `{${k}}`} ${v}`);
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge' as const;
  readonly #values = new Map<string, () => number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  set(value: number | (() => number), labels: Labels = {}): void {
    this.#values.set(labelKey(labels), typeof value === 'number' ? () => value : value);
  }
  render(): string[] {
    return [...this.#values].map(([k, v]) => `${this.name}${k === '' ? '' : `{${k}}`} ${v()}`);
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram' as const;
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}
  observe(value: number, labels: Labels = {}): void {
    const k = labelKey(labels);
    let s = this.#series.get(k);
    if (s === undefined) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]!) s.counts[i]!++;
    }
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.#series) {
      const sep = k === '' ? '' : ',';
      this.buckets.forEach((b, i) => {
        out.push(`${this.name}_bucket{${k}${sep}le="${b}"} ${s.counts[i]}`);
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
