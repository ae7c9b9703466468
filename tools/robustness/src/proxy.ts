/**
 * A fault-injecting TCP proxy in front of one member's peer port. Every peer
 * connection opens with a hello frame naming the sending member, so the
 * proxy can tell links apart (from → this member) and partition or delay
 * each one separately while all members agree on one peer URL per member.
 */
import net from 'node:net';

/** Faults on one directed link. */
export interface LinkFault {
  /** Drop every connection on the link and refuse new ones. */
  partitioned: boolean;
  /** Extra one-way latency added to every chunk (order kept). */
  delayMs: number;
}

interface Pipe {
  readonly from: string;
  readonly client: net.Socket;
  readonly upstream: net.Socket;
}

/** Reads the sender id out of the first frame (4-byte length, type 1, JSON). */
function helloSender(buf: Buffer): string | undefined | null {
  if (buf.length < 5) return undefined;
  const len = buf.readUInt32BE(0);
  if (buf[4] !== 1) return null;
  if (buf.length < 4 + len) return undefined;
  try {
    const hello = JSON.parse(buf.subarray(5, 4 + len).toString('utf8')) as { from?: unknown };
    return typeof hello.from === 'string' ? hello.from : null;
  } catch {
    return null;
  }
}

export class PeerProxy {
  readonly #server: net.Server;
  readonly #pipes = new Set<Pipe>();
  /** Faults keyed by the sender's member id (hex). */
  readonly #faults = new Map<string, LinkFault>();

  constructor(
    readonly listenPort: number,
    readonly targetPort: number,
  ) {
    this.#server = net.createServer((s) => this.#accept(s));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.listenPort, '127.0.0.1', () => resolve());
    });
  }

  fault(from: string): LinkFault {
    let f = this.#faults.get(from);
    if (f === undefined) {
      f = { partitioned: false, delayMs: 0 };
      this.#faults.set(from, f);
    }
    return f;
  }

  /** Sets the fault of link `from` → this member; partitioning cuts live connections. */
  setFault(from: string, fault: Partial<LinkFault>): void {
    Object.assign(this.fault(from), fault);
    if (fault.partitioned === true) {
      for (const p of this.#pipes) if (p.from === from) this.#cut(p);
    }
  }

  /** Removes every fault. */
  heal(): void {
    this.#faults.clear();
  }

  #cut(p: Pipe): void {
    p.client.destroy();
    p.upstream.destroy();
    this.#pipes.delete(p);
  }

  #accept(client: net.Socket): void {
    let head = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      const from = helloSender(head);
      if (from === undefined) return;
      client.off('data', onData);
      client.pause();
      if (from === null || this.fault(from).partitioned) {
        client.destroy();
        return;
      }
      this.#pipe(client, from, head);
    };
    client.on('data', onData);
    client.on('error', () => client.destroy());
  }

  #pipe(client: net.Socket, from: string, first: Buffer): void {
    const upstream = net.connect({ host: '127.0.0.1', port: this.targetPort });
    const pipe: Pipe = { from, client, upstream };
    this.#pipes.add(pipe);
    const close = (): void => this.#cut(pipe);
    upstream.on('error', close);
    upstream.on('close', close);
    client.on('close', close);
    const fault = (): LinkFault => this.fault(from);
    // Delays keep order: each chunk leaves no earlier than the previous one.
    let lastDue = 0;
    const forward = (chunk: Buffer): void => {
      const f = fault();
      if (f.partitioned) return close();
      if (f.delayMs <= 0 && lastDue <= Date.now()) {
        upstream.write(chunk);
        return;
      }
      const due = Math.max(Date.now() + f.delayMs, lastDue);
      lastDue = due;
      setTimeout(() => {
        if (!upstream.destroyed) upstream.write(chunk);
      }, due - Date.now());
    };
    forward(first);
    client.on('data', forward);
    client.resume();
    // Replies (snapshot acks, rejects) travel back undelayed.
    upstream.on('data', (d: Buffer) => {
      if (fault().partitioned) return close();
      client.write(d);
    });
  }

  close(): Promise<void> {
    for (const p of [...this.#pipes]) this.#cut(p);
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
