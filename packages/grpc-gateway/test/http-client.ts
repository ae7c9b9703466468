// Small HTTP helpers for the tests: one-shot POSTs and streamed POSTs whose
// request body stays open and whose response is read line by line.
import http from 'node:http';

export interface Reply {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly text: string;
}

export function post(
  base: string,
  path: string,
  body?: string | object,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${path}`,
      { method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'],
            text: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // A hung request should fail with its address, not time the test out.
    req.setTimeout(8000, () => req.destroy(new Error(`POST ${base}${path}: no answer in 8 s`)));
    req.end(payload);
  });
}

export function json(reply: Reply): unknown {
  return JSON.parse(reply.text);
}

/** A POST whose body is written piecewise and whose response is read by line. */
export class StreamCall {
  private readonly req: http.ClientRequest;
  private buffered = '';
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private failure: Error | undefined;
  readonly response: Promise<http.IncomingMessage>;

  constructor(base: string, path: string, headers: Record<string, string> = {}) {
    this.req = http.request(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
    });
    this.response = new Promise((resolve, reject) => {
      this.req.on('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          this.buffered += text;
          let nl: number;
          while ((nl = this.buffered.indexOf('\n')) >= 0) {
            this.lines.push(this.buffered.slice(0, nl));
            this.buffered = this.buffered.slice(nl + 1);
          }
          this.wake();
        });
        res.on('end', () => {
          this.ended = true;
          this.wake();
        });
        res.on('error', () => {
          this.ended = true;
          this.wake();
        });
        resolve(res);
      });
      this.req.on('error', (err) => {
        this.failure = err;
        this.ended = true;
        this.wake();
        reject(err);
      });
    });
    this.response.catch(() => undefined);
    this.req.flushHeaders();
  }

  send(body: string | object): void {
    this.req.write(typeof body === 'string' ? body : JSON.stringify(body));
  }

  endBody(): void {
    this.req.end();
  }

  /** The next complete line, or the unterminated rest when the response ended. */
  async nextLine(): Promise<string | undefined> {
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.ended) {
        if (this.failure) throw this.failure;
        const rest = this.buffered;
        this.buffered = '';
        return rest === '' ? undefined : rest;
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  async nextJson(): Promise<unknown> {
    const line = await this.nextLine();
    if (line === undefined) throw new Error('stream ended');
    return JSON.parse(line);
  }

  /** Everything up to the end of the response. */
  async rest(): Promise<string> {
    const parts: string[] = [];
    for (;;) {
      const line = await this.nextLine();
      if (line === undefined) return parts.join('\n');
      parts.push(line);
    }
  }

  close(): void {
    this.req.destroy();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
