// Spaces requests evenly at `rate` per second. Each caller is told how long
// to wait for its slot; a limiter that fell behind does not burst to catch up.

export class RateLimiter {
  private nextAt = 0;
  private readonly interval: number;

  constructor(rate: number) {
    this.interval = 1000 / rate;
  }

  /** Milliseconds the caller must wait before sending (0 = now). */
  delay(now: number): number {
    if (this.nextAt < now) this.nextAt = now;
    const at = this.nextAt;
    this.nextAt += this.interval;
    return at - now;
  }
}
