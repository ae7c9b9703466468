// A log-linear latency histogram in the spirit of HdrHistogram: values below
// 2^SUB_BITS are exact, larger ones keep SUB_BITS-1 significant bits, so the
// relative error stays under 1/1024 while memory stays fixed and histograms
// from several worker threads merge by adding counts.

const SUB_BITS = 11;
const SUB_COUNT = 1 << SUB_BITS; // 2048 exact slots
const HALF = SUB_COUNT >> 1; // 1024 slots per power of two above that
const MAX_EXP = 40; // values up to ~2^51 µs; far beyond any run

/** Number of slots: the exact range plus HALF per extra power of two. */
const SLOTS = SUB_COUNT + MAX_EXP * HALF;

function indexOf(v: number): number {
  if (v < SUB_COUNT) return v;
  if (v < 2 ** 31) {
    // The common case, with integer bit operations instead of log2.
    const e = 31 - Math.clz32(v) - (SUB_BITS - 1);
    return SUB_COUNT + (e - 1) * HALF + ((v >>> e) - HALF);
  }
  // Shift so that the leading bit lands at position SUB_BITS-1.
  const exp = Math.floor(Math.log2(v)) - (SUB_BITS - 1);
  let e = exp;
  let m = Math.floor(v / 2 ** e);
  // log2 of large doubles can round up or down by one; correct it.
  if (m >= SUB_COUNT) {
    e += 1;
    m = Math.floor(v / 2 ** e);
  } else if (m < HALF) {
    e -= 1;
    m = Math.floor(v / 2 ** e);
  }
  if (e > MAX_EXP) return SLOTS - 1;
  return SUB_COUNT + (e - 1) * HALF + (m - HALF);
}

/** Highest value that maps to slot `i` (what HdrHistogram reports). */
function highestOf(i: number): number {
  if (i < SUB_COUNT) return i;
  const e = Math.floor((i - SUB_COUNT) / HALF) + 1;
  const m = ((i - SUB_COUNT) % HALF) + HALF;
  return (m + 1) * 2 ** e - 1;
}

/** The percentiles every report prints. */
export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Sparse, structured-clone-friendly form used between worker threads. */
export interface HistogramSnapshot {
  slots: number[];
  counts: number[];
  total: number;
  min: number;
  max: number;
  sum: number;
}

export class Histogram {
  private readonly counts = new Float64Array(SLOTS);
  private total = 0;
  private minV = Number.POSITIVE_INFINITY;
  private maxV = 0;
  private sum = 0;

  /** Records one value (any non-negative number; rounded to an integer). */
  record(value: number): void {
    const v = value <= 0 ? 0 : Math.round(value);
    this.counts[indexOf(v)]! += 1;
    this.total += 1;
    this.sum += v;
    if (v < this.minV) this.minV = v;
    if (v > this.maxV) this.maxV = v;
  }

  get count(): number {
    return this.total;
  }

  /**
   * Value at percentile p (0..100): the highest value equivalent to the
   * slot holding the ceil(p% × count)-th smallest sample, capped at the max.
   */
  percentile(p: number): number {
    if (this.total === 0) return 0;
    // The epsilon absorbs float noise such as 99.9/100*1000 = 999.0000000000001.
    const rank = Math.max(1, Math.ceil((p * this.total) / 100 - 1e-9));
    let seen = 0;
    for (let i = 0; i < SLOTS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(highestOf(i), this.maxV);
    }
    return this.maxV;
  }

  summary(): LatencySummary {
    return {
      count: this.total,
      min: this.total === 0 ? 0 : this.minV,
      mean: this.total === 0 ? 0 : this.sum / this.total,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.maxV,
    };
  }

  merge(other: Histogram | HistogramSnapshot): void {
    const snap = other instanceof Histogram ? other.snapshot() : other;
    for (let j = 0; j < snap.slots.length; j++) {
      this.counts[snap.slots[j]!]! += snap.counts[j]!;
    }
    if (snap.total > 0) {
      this.total += snap.total;
      this.sum += snap.sum;
      if (snap.min < this.minV) this.minV = snap.min;
      if (snap.max > this.maxV) this.maxV = snap.max;
    }
  }

  snapshot(): HistogramSnapshot {
    const slots: number[] = [];
    const counts: number[] = [];
    for (let i = 0; i < SLOTS; i++) {
      const c = this.counts[i]!;
      if (c > 0) {
        slots.push(i);
        counts.push(c);
      }
    }
    return { slots, counts, total: this.total, min: this.minV, max: this.maxV, sum: this.sum };
  }

  static fromSnapshot(snap: HistogramSnapshot): Histogram {
    const h = new Histogram();
    h.merge(snap);
    return h;
  }
}
