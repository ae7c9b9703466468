// Messages between the coordinator and a worker thread. Each command gets
// exactly one reply, and the coordinator sends one command at a time.

import type { BenchOptions } from './options';
import type { ShardPlan, ShardResult } from './shard';

export interface WorkerInit {
  options: BenchOptions;
  plan: ShardPlan;
}

export type WorkerCommand =
  | { type: 'setup' }
  | { type: 'run'; durationMs: number }
  | { type: 'drain'; totalWrites: number }
  | { type: 'result' }
  | { type: 'close' };

export type WorkerReply =
  | { type: 'ok' }
  | { type: 'ran'; writes: number }
  | { type: 'result'; result: ShardResult }
  | { type: 'error'; message: string };
