/** A small seeded generator (xorshift32): the seed alone fixes the fault schedule and workload choices. */
export class Random {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 0x9e3779b9;
    for (let i = 0; i < 8; i++) this.next();
  }
  /** Uniform in [0, 1). */
  next(): number {
    let s = this.#s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.#s = s >>> 0;
    return this.#s / 2 ** 32;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  /** A derived, independent generator. */
  fork(salt: number): Random {
    return new Random(Math.imul(this.#s ^ salt, 2654435761) ^ salt);
  }
}
