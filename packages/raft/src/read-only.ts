import type { Message, NodeId, ReadOnlyOption } from './types';

interface ReadIndexStatus {
  req: Message;
  index: number;
  acks: Map<NodeId, boolean>;
}

// The contexts are opaque bytes; a latin1-style string is a cheap, exact key.
function key(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i]!);
  return s;
}

// Pending ReadIndex requests on the leader, answered in arrival order once a
// heartbeat round carrying a later request's context is acknowledged by a quorum.
export class ReadOnly {
  readonly option: ReadOnlyOption;
  private pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(option: ReadOnlyOption) {
    this.option = option;
  }

  addRequest(index: number, m: Message): void {
    const k = key(m.entries[0]!.data);
    if (this.pending.has(k)) return;
    this.pending.set(k, { index, req: m, acks: new Map() });
    this.queue.push(k);
  }

  recvAck(id: NodeId, context: Uint8Array): Map<NodeId, boolean> | undefined {
    const rs = this.pending.get(key(context));
    if (rs === undefined) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  // Dequeues every request up to and including the one with m's context.
  advance(m: Message): { req: Message; index: number }[] {
    const k = key(m.context);
    const i = this.queue.indexOf(k);
    if (i < 0) return [];
    const done = this.queue.splice(0, i + 1);
    const out: { req: Message; index: number }[] = [];
    for (const d of done) {
      const rs = this.pending.get(d);
      if (rs !== undefined) {
        out.push({ req: rs.req, index: rs.index });
        this.pending.delete(d);
      }
    }
    return out;
  }

  lastPendingRequestCtx(): Uint8Array | undefined {
    const last = this.queue[this.queue.length - 1];
    if (last === undefined) return undefined;
    return this.pending.get(last)?.req.entries[0]?.data;
  }

  pendingCount(): number {
    return this.queue.length;
  }
}
