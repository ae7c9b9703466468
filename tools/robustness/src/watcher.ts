/**
 * A watcher over the workload's key prefix from revision 1. When its stream
 * breaks it resumes on the next member from the revision after the last one
 * it received, so the stitched stream tests resumption too.
 */
import { etcdserverpb } from '@kv/api';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { connect } from './rpc';
import type { Conn } from './rpc';
import { KEY_PREFIX } from './workload';

/** One event as the checks compare it. */
export interface SeenEvent {
  readonly revision: number;
  readonly key: string;
  readonly type: 'put' | 'delete';
  readonly value: string;
}

function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  b[b.length - 1]! += 1;
  return b;
}

export class Watcher {
  readonly events: SeenEvent[] = [];
  /** Protocol problems seen on the stream (cancel, compaction). */
  readonly problems: string[] = [];
  resumes = 0;
  #member: number;
  #stream: ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse> | undefined;
  #conns: Conn[];
  #closed = false;
  #waiters: { revision: number; resolve: () => void }[] = [];

  constructor(
    endpoints: readonly string[],
    member: number,
    /** Resume on the same member only (ground truth) or rotate. */
    readonly pinned = false,
  ) {
    this.#member = member;
    this.#conns = endpoints.map((e) => connect(e));
    this.#open();
  }

  get lastRevision(): number {
    return this.events.at(-1)?.revision ?? 0;
  }

  #open(): void {
    if (this.#closed) return;
    const conn = this.#conns[this.#member]!;
    const stream = conn.watch.watch();
    this.#stream = stream;
    let done = false;
    const retry = (): void => {
      if (done) return;
      done = true;
      stream.removeAllListeners('data');
      stream.cancel();
      if (this.#closed) return;
      this.resumes++;
      if (!this.pinned) this.#member = (this.#member + 1) % this.#conns.length;
      setTimeout(() => this.#open(), 100);
    };
    stream.on('data', (r: etcdserverpb.WatchResponse) => {
      if (r.canceled || r.compactRevision > 0n) {
        this.problems.push(`watch canceled: ${r.cancelReason} (compact ${r.compactRevision})`);
        return retry();
      }
      for (const e of r.events) {
        const kv = e.kv!;
        this.events.push({
          revision: Number(kv.modRevision),
          key: kv.key.toString(),
          type: e.type === 1 ? 'delete' : 'put',
          value: kv.value.toString(),
        });
      }
      const last = this.lastRevision;
      this.#waiters = this.#waiters.filter((w) =>
        w.revision <= last ? (w.resolve(), false) : true,
      );
    });
    stream.on('error', retry);
    stream.on('end', retry);
    stream.write(
      etcdserverpb.WatchRequest.fromPartial({
        requestUnion: {
          $case: 'createRequest',
          value: etcdserverpb.WatchCreateRequest.fromPartial({
            key: Buffer.from(KEY_PREFIX),
            rangeEnd: prefixEnd(KEY_PREFIX),
            startRevision: BigInt(this.lastRevision + 1),
          }),
        },
      }),
    );
  }

  /** Resolves once an event at `revision` or later arrived; false on timeout. */
  reach(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.lastRevision >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#waiters.push({
        revision,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      });
    });
  }

  close(): void {
    this.#closed = true;
    this.#stream?.cancel();
    for (const c of this.#conns) c.close();
  }
}
