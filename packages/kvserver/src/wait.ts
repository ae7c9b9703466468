import type { Clock, TimerHandle } from './clock';

/** One caller waiting for the apply result of its proposal. */
interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
  /** Clock time after which the waiter is rejected with the timeout error. */
  readonly deadline: number;
  /** The proposed entry's bytes and the request they encode (see `local`). */
  readonly data: Uint8Array | undefined;
  readonly request: unknown;
}

export interface WaitRegistryOptions {
  readonly clock: Clock;
  /** The error for a waiter whose deadline passed (asked at that moment). */
  readonly timeoutError: () => unknown;
  /** Called once per waiter when it settles (after resolve or reject). */
  readonly onSettled?: (failed: boolean) => void;
}

/**
 * Callers waiting for the apply result of a proposal, by request ID (etcd's
 * wait registry). The member that proposed an entry registers before
 * proposing; whichever member applies it resolves only its own waiters.
 *
 * Timeouts cost one timer for the whole registry, not one per request:
 * every waiter gets the same timeout, so deadlines grow in registration
 * order (the Map's iteration order) and the timer only ever needs to fire at
 * the oldest live deadline.
 */
export class WaitRegistry<T> {
  readonly #waiters = new Map<bigint, Waiter<T>>();
  readonly #o: WaitRegistryOptions;
  #timer: TimerHandle | undefined;
  /** The deadline the timer is armed for (Infinity when none). */
  #timerAt = Infinity;

  constructor(options: WaitRegistryOptions) {
    this.#o = options;
  }

  /**
   * Registers a waiter that fails with the timeout error after `timeoutMs`.
   * `data` and `request` (the proposed bytes and the object they encode) let
   * the applying member skip decoding its own proposal: see `local`.
   */
  register(id: bigint, timeoutMs: number, data?: Uint8Array, request?: unknown): Promise<T> {
    const deadline = this.#o.clock.now() + timeoutMs;
    const p = new Promise<T>((resolve, reject) => {
      this.#waiters.set(id, { resolve, reject, deadline, data, request });
    });
    if (deadline < this.#timerAt) this.#arm(deadline);
    return p;
  }

  has(id: bigint): boolean {
    return this.#waiters.has(id);
  }

  /**
   * The request object registered with `id`, if `data` holds exactly the
   * bytes registered with it (the same array, or equal bytes): then it is
   * what decoding `data` would give, as the request was encoded from it.
   */
  local(id: bigint, data: Uint8Array): unknown {
    const w = this.#waiters.get(id);
    if (w === undefined || w.request === undefined || w.data === undefined) return undefined;
    if (w.data !== data && Buffer.compare(w.data, data) !== 0) return undefined;
    return w.request;
  }

  resolve(id: bigint, value: T): void {
    const w = this.#waiters.get(id);
    if (w === undefined) return;
    this.#waiters.delete(id);
    w.resolve(value);
    this.#o.onSettled?.(false);
  }

  reject(id: bigint, err: unknown): void {
    const w = this.#waiters.get(id);
    if (w === undefined) return;
    this.#waiters.delete(id);
    w.reject(err);
    this.#o.onSettled?.(true);
  }

  rejectAll(err: unknown): void {
    for (const id of [...this.#waiters.keys()]) this.reject(id, err);
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  get size(): number {
    return this.#waiters.size;
  }

  #arm(at: number): void {
    this.#timer?.cancel();
    this.#timerAt = at;
    this.#timer = this.#o.clock.setTimeout(
      () => this.#expire(),
      Math.max(0, at - this.#o.clock.now()),
    );
  }

  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#o.clock.now();
    let next = Infinity;
    for (const [id, w] of this.#waiters) {
      if (w.deadline > now) {
        // Later waiters have later deadlines (same timeout, registered later),
        // except when timeouts differ: keep looking for the earliest one.
        if (w.deadline < next) next = w.deadline;
        continue;
      }
      this.reject(id, this.#o.timeoutError());
    }
    if (next !== Infinity) this.#arm(next);
  }
}
