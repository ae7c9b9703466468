/**
 * A client Watch stream for tests of the Watch service: everything it
 * received, and a way to await a condition on it.
 */
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb } from '@kv/api';

type ClientCall = ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

/** One client Watch stream and everything it received. */
export class WatchCall {
  readonly got: etcdserverpb.WatchResponse[] = [];
  #ended: string | undefined;
  #waiters: (() => void)[] = [];

  constructor(readonly call: ClientCall) {
    call.on('data', (r: etcdserverpb.WatchResponse) => {
      this.got.push(r);
      this.#wake();
    });
    call.on('end', () => this.#end('the server ended the watch stream'));
    call.on('error', (e: Error) => this.#end(`watch stream error: ${e.message}`));
  }

  create(value: Partial<etcdserverpb.WatchCreateRequest>): void {
    this.call.write(
      etcdserverpb.WatchRequest.fromPartial({ requestUnion: { $case: 'createRequest', value } }),
    );
  }

  /** Creates a watcher and resolves with its id. */
  async watch(value: Partial<etcdserverpb.WatchCreateRequest>): Promise<bigint> {
    const before = this.got.filter((r) => r.created).length;
    this.create(value);
    await this.until(() => this.got.filter((r) => r.created).length > before);
    return this.got.filter((r) => r.created)[before]!.watchId;
  }

  /** Resolves once `pred` holds; rejects if the stream ends first. */
  async until(pred: () => boolean): Promise<void> {
    while (!pred()) {
      if (this.#ended !== undefined) throw new Error(this.#ended);
      await new Promise<void>((res) => this.#waiters.push(res));
    }
  }

  /** Events of a watcher as "P key=value@rev" / "D key@rev", with "<prev" for prev_kv. */
  events(watchId: bigint): string[] {
    return this.got
      .filter((r) => r.watchId === watchId && !r.created)
      .flatMap((r) => r.events)
      .map((e) => {
        const kv = e.kv!;
        const prev = e.prevKv !== undefined ? ` <${e.prevKv.value.toString()}` : '';
        return e.type === 0
          ? `P ${kv.key.toString()}=${kv.value.toString()}@${kv.modRevision}${prev}`
          : `D ${kv.key.toString()}@${kv.modRevision}${prev}`;
      });
  }

  #end(why: string): void {
    this.#ended ??= why;
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}
