/**
 * Time as a port: everything in the server that waits (the Raft ticker, lease
 * expiry, request timeouts, backend commit intervals) asks a Clock, so tests
 * can drive a whole cluster with a manual clock.
 */

/** A cancellable timer handle. */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since an arbitrary epoch; monotonic. */
  now(): number;
  /** Run `fn` once after `ms`. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Run `fn` every `ms` until cancelled. */
  setInterval(fn: () => void, ms: number): TimerHandle;
}

/** The process clock (performance.now and Node timers, unref'd where long-lived). */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
};

interface ManualTimer {
  at: number;
  every: number | undefined;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that only moves when `advance` is called. For tests. */
export class ManualClock implements Clock {
  #now = 0;
  #timers: ManualTimer[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.#add({ at: this.#now + ms, every: undefined, fn, cancelled: false });
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.#add({ at: this.#now + ms, every: Math.max(1, ms), fn, cancelled: false });
  }

  /** Move time forward, firing due timers in time order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.#timers) {
        if (!t.cancelled && t.at <= target && (next === undefined || t.at < next.at)) next = t;
      }
      if (next === undefined) break;
      this.#now = next.at;
      if (next.every === undefined) next.cancelled = true;
      else next.at += next.every;
      next.fn();
    }
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    this.#now = target;
  }

  #add(t: ManualTimer): TimerHandle {
    this.#timers.push(t);
    return {
      cancel: () => {
        t.cancelled = true;
      },
    };
  }
}
