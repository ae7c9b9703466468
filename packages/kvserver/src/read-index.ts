/**
 * The linearizable read gate. Every read waiting at the same moment joins one
 * ReadIndex round: the leader confirms with a heartbeat quorum that it is
 * still leader and answers with its commit index; the reads then wait until
 * this member has applied at least that index. Followers ask the leader.
 */
import { Errors } from './errors';
import type { Clock, TimerHandle } from './clock';

interface PendingRound {
  readonly ctx: string;
  readonly waiters: { resolve: () => void; reject: (e: unknown) => void }[];
  timer: TimerHandle | undefined;
  attempts: number;
}

export interface ReadIndexOptions {
  readonly clock: Clock;
  /** Asks Raft for a read index; `ctx` comes back with the answer. */
  readonly requestReadIndex: (ctx: Uint8Array) => void;
  /** Current applied index of this member. */
  readonly appliedIndex: () => number;
  /** How long one round may take before it is retried. */
  readonly retryMs: number;
  /** Total time a read may wait. */
  readonly timeoutMs: number;
}

export class ReadIndexGate {
  readonly #o: ReadIndexOptions;
  #next: PendingRound['waiters'] = [];
  #inFlight = new Map<string, PendingRound>();
  #seq = 0n;
  #flushScheduled = false;
  /** Reads whose index is known, waiting for apply to reach it. */
  #applyWaiters: { index: number; resolve: () => void }[] = [];

  constructor(options: ReadIndexOptions) {
    this.#o = options;
  }

  /** Resolves when a linearizable read may be served from local state. */
  wait(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#next.push({ resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        // Reads arriving in the same turn of the event loop share the round.
        setImmediate(() => {
          this.#flushScheduled = false;
          this.#startRound();
        });
      }
    });
  }

  #startRound(): void {
    if (this.#next.length === 0) return;
    this.#seq++;
    const ctxBytes = Buffer.alloc(8);
    ctxBytes.writeBigUInt64BE(this.#seq);
    const round: PendingRound = {
      ctx: ctxBytes.toString('hex'),
      waiters: this.#next,
      timer: undefined,
      attempts: 0,
    };
    this.#next = [];
    this.#inFlight.set(round.ctx, round);
    this.#ask(round, ctxBytes);
  }

  #ask(round: PendingRound, ctx: Uint8Array): void {
    round.attempts++;
    try {
      this.#o.requestReadIndex(ctx);
    } catch {
      // No leader yet: the retry below tries again.
    }
    round.timer = this.#o.clock.setTimeout(() => {
      if (!this.#inFlight.has(round.ctx)) return;
      if (round.attempts * this.#o.retryMs >= this.#o.timeoutMs) {
        this.#inFlight.delete(round.ctx);
        for (const w of round.waiters) w.reject(Errors.timeout());
        return;
      }
      this.#ask(round, ctx);
    }, this.#o.retryMs);
  }

  /** Raft answered a ReadIndex request. */
  onReadState(ctx: Uint8Array, index: number): void {
    const key = Buffer.from(ctx).toString('hex');
    const round = this.#inFlight.get(key);
    if (round === undefined) return;
    this.#inFlight.delete(key);
    round.timer?.cancel();
    const release = (): void => {
      for (const w of round.waiters) w.resolve();
    };
    if (this.#o.appliedIndex() >= index) release();
    else this.#applyWaiters.push({ index, resolve: release });
  }

  /** The member applied up to `index`. */
  onApplied(index: number): void {
    if (this.#applyWaiters.length === 0) return;
    const ready = this.#applyWaiters.filter((w) => w.index <= index);
    if (ready.length === 0) return;
    this.#applyWaiters = this.#applyWaiters.filter((w) => w.index > index);
    for (const w of ready) w.resolve();
  }

  /** Leadership changed: rounds in flight are asked again of the new leader. */
  onLeaderChange(): void {
    for (const round of this.#inFlight.values()) {
      round.timer?.cancel();
      const ctx = Buffer.from(round.ctx, 'hex');
      this.#ask(round, ctx);
    }
  }

  close(err: unknown): void {
    for (const round of this.#inFlight.values()) {
      round.timer?.cancel();
      for (const w of round.waiters) w.reject(err);
    }
    this.#inFlight.clear();
    for (const w of this.#next) w.reject(err);
    this.#next = [];
  }
}
