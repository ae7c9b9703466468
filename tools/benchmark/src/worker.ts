// Worker-thread entry: runs one shard, driven by the coordinator's commands.

import { parentPort, workerData } from 'node:worker_threads';
import { Shard } from './shard';
import type { WorkerCommand, WorkerInit, WorkerReply } from './worker-protocol';

const port = parentPort;
if (port === null) throw new Error('worker.ts must run in a worker thread');
const init = workerData as WorkerInit;
const shard = new Shard(init.options, init.plan);

async function handle(cmd: WorkerCommand): Promise<WorkerReply> {
  switch (cmd.type) {
    case 'setup':
      await shard.setup();
      return { type: 'ok' };
    case 'run':
      return { type: 'ran', writes: await shard.run(cmd.durationMs) };
    case 'drain':
      await shard.drain(cmd.totalWrites);
      return { type: 'ok' };
    case 'result':
      return { type: 'result', result: shard.result() };
    case 'close':
      await shard.close();
      return { type: 'ok' };
  }
}

port.on('message', (cmd: WorkerCommand) => {
  handle(cmd).then(
    (reply) => port.postMessage(reply),
    (err: unknown) =>
      port.postMessage({
        type: 'error',
        message: err instanceof Error ? err.message : String(err),
      } satisfies WorkerReply),
  );
});
