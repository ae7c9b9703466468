/**
 * Callers waiting for the apply result of a proposal, by request ID. The
 * member that proposed an entry registers before proposing; whichever member
 * applies it resolves only its own waiters.
 */
export class WaitRegistry<T> {
  readonly #waiters = new Map<bigint, { resolve: (v: T) => void; reject: (e: unknown) => void }>();

  register(id: bigint): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#waiters.set(id, { resolve, reject });
    });
  }

  has(id: bigint): boolean {
    return this.#waiters.has(id);
  }

  resolve(id: bigint, value: T): void {
    const w = this.#waiters.get(id);
    if (w === undefined) return;
    this.#waiters.delete(id);
    w.resolve(value);
  }

  reject(id: bigint, err: unknown): void {
    const w = this.#waiters.get(id);
    if (w === undefined) return;
    this.#waiters.delete(id);
    w.reject(err);
  }

  rejectAll(err: unknown): void {
    for (const [id, w] of this.#waiters) {
      this.#waiters.delete(id);
      w.reject(err);
    }
  }

  get size(): number {
    return this.#waiters.size;
  }
}
