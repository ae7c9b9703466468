import { EventType } from '../src/index';
import type { KeyValue, WatchResponse, WatchStream } from '../src/index';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A readable projection of a key-value for assertions. */
export function show(kv: KeyValue): string {
  const lease = kv.lease === 0n ? '' : ` L${kv.lease}`;
  return `${dec(kv.key)}=${dec(kv.value)} c${kv.createRevision} m${kv.modRevision} v${kv.version}${lease}`;
}

/** mulberry32: a tiny seeded PRNG so any failing run can be replayed by its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

export function int(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** Drains a stream in the background and lets a test await a condition on what arrived. */
export class Collector {
  readonly got: WatchResponse[] = [];
  private waiters: (() => void)[] = [];
  private ended = false;
  readonly done: Promise<void>;

  constructor(stream: WatchStream) {
    this.done = (async () => {
      try {
        for await (const r of stream) {
          this.got.push(r);
          this.wake();
        }
      } finally {
        this.ended = true;
        this.wake();
      }
    })();
  }

  /** Resolves once `pred` holds for what arrived; rejects if the stream ends first. */
  async until(pred: (got: WatchResponse[]) => boolean): Promise<void> {
    while (!pred(this.got)) {
      if (this.ended) throw new Error('watch stream ended before the condition held');
      await new Promise<void>((res) => this.waiters.push(res));
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Events of a watcher as "P key@rev" / "D key@rev". */
  events(watchId: number): string[] {
    return this.got
      .filter((r) => r.watchId === watchId)
      .flatMap((r) => r.events)
      .map((e) => `${e.type === EventType.Put ? 'P' : 'D'} ${dec(e.kv.key)}@${e.kv.modRevision}`);
  }
}
