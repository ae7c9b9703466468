// Request body readers. They listen to events instead of using the stream's
// async iterator, because leaving that iterator early destroys the request
// and with it the socket the response is still being written to.
import type { IncomingMessage } from 'node:http';

/** Thrown when a unary body exceeds the limit. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`gateway: request body larger than max (${limit} bytes)`);
    this.name = 'BodyTooLargeError';
  }
}

/** Reads a whole body, failing as soon as it grows past `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onEnd);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onEnd);
    req.once('error', onError);
  });
}

/**
 * The body as an async sequence of chunks that ends with the body (or when
 * the connection closes). Stopping early stops listening; it does not
 * destroy anything.
 */
export function bodyChunks(req: IncomingMessage): AsyncIterable<Buffer> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Buffer> {
      const queue: Buffer[] = [];
      let ended = false;
      let wake: (() => void) | undefined;
      const notify = (): void => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      const onData = (chunk: Buffer): void => {
        queue.push(chunk);
        // One chunk ahead is enough; resume when the consumer takes it.
        req.pause();
        notify();
      };
      const onEnd = (): void => {
        ended = true;
        notify();
      };
      const detach = (): void => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('close', onEnd);
        req.off('error', onEnd);
      };
      req.on('data', onData);
      req.once('end', onEnd);
      req.once('close', onEnd);
      req.once('error', onEnd);
      return {
        async next(): Promise<IteratorResult<Buffer>> {
          for (;;) {
            const chunk = queue.shift();
            if (chunk !== undefined) return { done: false, value: chunk };
            if (ended) {
              detach();
              return { done: true, value: undefined };
            }
            req.resume();
            await new Promise<void>((resolve) => (wake = resolve));
          }
        },
        async return(): Promise<IteratorResult<Buffer>> {
          detach();
          ended = true;
          // Let the rest of the body flow into the void so the socket stays usable.
          req.resume();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
