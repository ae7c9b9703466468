// A scriptable GatewayBackend for unit tests: records every call and answers
// with whatever the test installs.
import type { CallMeta, GatewayBackend, ServiceName } from '../src/index';

export interface RecordedCall {
  readonly kind: 'unary' | 'server' | 'bidi';
  readonly service: ServiceName;
  readonly method: string;
  readonly request?: unknown;
  readonly meta: CallMeta;
}

export class FakeBackend implements GatewayBackend {
  readonly calls: RecordedCall[] = [];
  onUnary: (request: unknown, meta: CallMeta) => Promise<unknown> = async () => ({});
  onServerStream: (request: unknown, meta: CallMeta) => AsyncIterable<unknown> =
    async function* () {};
  onBidi: (requests: AsyncIterable<unknown>, meta: CallMeta) => AsyncIterable<unknown> =
    async function* () {};

  unary(service: ServiceName, method: string, request: unknown, meta: CallMeta): Promise<unknown> {
    this.calls.push({ kind: 'unary', service, method, request, meta });
    return this.onUnary(request, meta);
  }

  serverStream(
    service: ServiceName,
    method: string,
    request: unknown,
    meta: CallMeta,
  ): AsyncIterable<unknown> {
    this.calls.push({ kind: 'server', service, method, request, meta });
    return this.onServerStream(request, meta);
  }

  bidiStream(
    service: ServiceName,
    method: string,
    requests: AsyncIterable<unknown>,
    meta: CallMeta,
  ): AsyncIterable<unknown> {
    this.calls.push({ kind: 'bidi', service, method, meta });
    return this.onBidi(requests, meta);
  }
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
