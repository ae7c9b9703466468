/**
 * Auto-compaction (--auto-compaction-mode, --auto-compaction-retention), run
 * by the leader only, through ordinary Compact proposals:
 * - periodic: keep `retention` of history. Revisions are sampled every
 *   retention/10; each sample older than the retention window is compacted to.
 * - revision: every 5 minutes, compact to current revision − retention.
 */
import type { Clock, TimerHandle } from './clock';

export interface CompactorTarget {
  readonly isLeader: boolean;
  currentRevision(): number;
  compactedRevision(): number;
  compact(revision: number): Promise<unknown>;
}

export type CompactionMode = 'periodic' | 'revision';

/** Parses etcd's retention: a Go duration ("1h30m", "10m", "90s") or a bare number of hours. */
export function parseRetention(mode: CompactionMode, value: string): number {
  const v = value.trim();
  if (v === '' || v === '0') return 0;
  if (mode === 'revision') {
    if (!/^\d+$/.test(v))
      throw new Error(
        `invalid auto-compaction-retention ${JSON.stringify(value)}: expected a number of revisions`,
      );
    return Number(v);
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 3600_000;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (const m of v.matchAll(re)) {
    const n = Number(m[1]);
    const unit = m[2];
    total += unit === 'h' ? n * 3600_000 : unit === 'm' ? n * 60_000 : unit === 's' ? n * 1000 : n;
    consumed += m[0].length;
  }
  if (consumed !== v.length || total <= 0) {
    throw new Error(
      `invalid auto-compaction-retention ${JSON.stringify(value)}: expected a duration like 1h or 30m`,
    );
  }
  return total;
}

export class Compactor {
  #timer: TimerHandle | undefined;
  #samples: { at: number; revision: number }[] = [];

  constructor(
    private readonly target: CompactorTarget,
    private readonly clock: Clock,
    private readonly mode: CompactionMode,
    /** Milliseconds (periodic) or revisions (revision). */
    private readonly retention: number,
    /** Check interval for revision mode (etcd: 5 minutes). */
    private readonly revisionIntervalMs = 5 * 60_000,
  ) {}

  start(): void {
    if (this.retention <= 0) return;
    const interval =
      this.mode === 'periodic' ? Math.max(1000, this.retention / 10) : this.revisionIntervalMs;
    this.#timer = this.clock.setInterval(() => this.tick(), interval);
  }

  stop(): void {
    this.#timer?.cancel();
  }

  /** One round (exposed for tests driven by a manual clock). */
  tick(): void {
    const t = this.target;
    if (this.mode === 'periodic') {
      const now = this.clock.now();
      this.#samples.push({ at: now, revision: t.currentRevision() });
      let chosen: number | undefined;
      while (this.#samples.length > 0 && now - this.#samples[0]!.at >= this.retention) {
        chosen = this.#samples.shift()!.revision;
      }
      if (chosen !== undefined) this.#compact(chosen);
      return;
    }
    this.#compact(t.currentRevision() - this.retention);
  }

  #compact(revision: number): void {
    const t = this.target;
    if (!t.isLeader || revision <= t.compactedRevision() || revision <= 0) return;
    t.compact(revision).catch(() => undefined);
  }
}
