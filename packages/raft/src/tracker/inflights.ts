// A bounded FIFO window of in-flight MsgApp messages, each remembered by the
// last index it carried and its payload bytes. A ring buffer keeps add/free
// allocation-free on the hot path.
export class Inflights {
  private start = 0;
  count = 0;
  bytes = 0;
  readonly size: number;
  readonly maxBytes: number;
  private buffer: { index: number; bytes: number }[] = [];

  constructor(size: number, maxBytes: number) {
    this.size = size;
    this.maxBytes = maxBytes;
  }

  clone(): Inflights {
    const c = new Inflights(this.size, this.maxBytes);
    c.start = this.start;
    c.count = this.count;
    c.bytes = this.bytes;
    c.buffer = this.buffer.map((e) => ({ ...e }));
    return c;
  }

  add(index: number, bytes: number): void {
    if (this.full()) throw new Error('cannot add into a full inflights');
    let next = this.start + this.count;
    if (next >= this.size) next -= this.size;
    const slot = this.buffer[next];
    if (slot === undefined) this.buffer[next] = { index, bytes };
    else {
      slot.index = index;
      slot.bytes = bytes;
    }
    this.count++;
    this.bytes += bytes;
  }

  /** Frees every in-flight message whose last index is <= to. */
  freeLE(to: number): void {
    if (this.count === 0 || to < this.buffer[this.start]!.index) return;
    let idx = this.start;
    let i = 0;
    let bytes = 0;
    for (; i < this.count; i++) {
      const e = this.buffer[idx]!;
      if (to < e.index) break;
      bytes += e.bytes;
      idx++;
      if (idx >= this.size) idx -= this.size;
    }
    this.count -= i;
    this.bytes -= bytes;
    this.start = idx;
    if (this.count === 0) this.start = 0;
  }

  full(): boolean {
    return this.count === this.size || (this.maxBytes !== 0 && this.bytes >= this.maxBytes);
  }

  reset(): void {
    this.count = 0;
    this.start = 0;
    this.bytes = 0;
  }
}
