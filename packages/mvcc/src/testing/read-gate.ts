/**
 * A gate for {@link MemoryBackendOptions.beforeRead}: while closed, every
 * backend read waits; `open()` lets them all through. Tests use it to keep
 * reads in flight while writes and compactions go on.
 */
export class ReadGate {
  private closed = false;
  private waiting: (() => void)[] = [];
  private arrivals: (() => void)[] = [];

  /** Pass as `beforeRead`. */
  readonly beforeRead = (): Promise<void> => {
    if (!this.closed) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.waiting.push(resolve));
    const a = this.arrivals;
    this.arrivals = [];
    for (const r of a) r();
    return p;
  };

  /** Make subsequent reads wait. */
  close(): void {
    this.closed = true;
  }

  /** Release every waiting read and stop holding new ones. */
  open(): void {
    this.closed = false;
    const w = this.waiting;
    this.waiting = [];
    for (const r of w) r();
  }

  /** Number of reads currently held. */
  get held(): number {
    return this.waiting.length;
  }

  /** Resolves when the next read arrives at the closed gate (or at once if one is held). */
  arrived(): Promise<void> {
    if (this.waiting.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.arrivals.push(resolve));
  }
}
