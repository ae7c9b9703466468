import type { Clock, TimerHandle } from './clock';

/** One caller waiting for the apply result of its proposal. */
interface Waiter<T> {
  readonly id: bigint;
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
  /**
   * Waiters by the low bits of their ID: a member's IDs count up by one, so
   * the waiters in flight take consecutive slots. A Map churned by every
   * request would keep rebuilding its table, and a dead table left in the
   * old generation keeps the requests it pointed to alive through every
   * scavenge until the next full GC (they get promoted, full GCs come more
   * often); clearing an array slot leaves nothing behind. IDs that collide
   * with a live waiter (more than RING waiters in flight) go to the Map.
   */
  readonly #ring: (Waiter<T> | undefined)[] = new Array<Waiter<T> | undefined>(RING).fill(
    undefined,
  );
  readonly #overflow = new Map<bigint, Waiter<T>>();
  #size = 0;
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
      const w: Waiter<T> = { id, resolve, reject, deadline, data, request };
      const slot = slotOf(id);
      const existing = this.#ring[slot];
      if (existing !== undefined && existing.id === id) {
        // Registered again under the same ID: the newer waiter wins, as with a Map.
        this.#ring[slot] = w;
        return;
      }
      if (existing === undefined && !this.#overflow.has(id)) this.#ring[slot] = w;
      else {
        if (!this.#overflow.has(id)) this.#size++;
        this.#overflow.set(id, w);
        return;
      }
      this.#size++;
    });
    if (deadline < this.#timerAt) this.#arm(deadline);
    return p;
  }

  #get(id: bigint): Waiter<T> | undefined {
    const w = this.#ring[slotOf(id)];
    if (w !== undefined && w.id === id) return w;
    return this.#overflow.size > 0 ? this.#overflow.get(id) : undefined;
  }

  #delete(w: Waiter<T>): void {
    const slot = slotOf(w.id);
    if (this.#ring[slot] === w) this.#ring[slot] = undefined;
    else this.#overflow.delete(w.id);
    this.#size--;
  }

  has(id: bigint): boolean {
    return this.#get(id) !== undefined;
  }

  /**
   * The request object registered with `id`, if `data` holds exactly the
   * bytes registered with it (the same array, or equal bytes): then it is
   * what decoding `data` would give, as the request was encoded from it.
   */
  local(id: bigint, data: Uint8Array): unknown {
    const w = this.#get(id);
    if (w === undefined || w.request === undefined || w.data === undefined) return undefined;
    if (w.data !== data && Buffer.compare(w.data, data) !== 0) return undefined;
    return w.request;
  }

  resolve(id: bigint, value: T): void {
    const w = this.#get(id);
    if (w === undefined) return;
    this.#delete(w);
    w.resolve(value);
    this.#o.onSettled?.(false);
  }

  reject(id: bigint, err: unknown): void {
    const w = this.#get(id);
    if (w === undefined) return;
    this.#delete(w);
    w.reject(err);
    this.#o.onSettled?.(true);
  }

  rejectAll(err: unknown): void {
    for (const w of this.#all()) this.reject(w.id, err);
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  get size(): number {
    return this.#size;
  }

  /** Every waiter, oldest registration first (by deadline: all share one timeout). */
  #all(): Waiter<T>[] {
    const all: Waiter<T>[] = [];
    for (const w of this.#ring) if (w !== undefined) all.push(w);
    for (const w of this.#overflow.values()) all.push(w);
    return all.sort((a, b) => a.deadline - b.deadline);
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
    for (const w of this.#all()) {
      if (w.deadline > now) {
        if (w.deadline < next) next = w.deadline;
        continue;
      }
      this.reject(w.id, this.#o.timeoutError());
    }
    if (next !== Infinity) this.#arm(next);
  }
}

/** Ring size: more than the requests a member keeps in flight. */
const RING = 4096;

function slotOf(id: bigint): number {
  return Number(BigInt.asUintN(12, id));
}
