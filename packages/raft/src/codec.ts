// A compact binary codec for everything Raft hands the transport and the WAL.
// Each top-level value starts with a format byte so formats can evolve and
// conf change versions can be told apart. Integers are LEB128 varints
// (numbers up to 2^53, node IDs as full uint64 bigints).
import { RaftError } from './errors';
import type {
  ConfChange,
  ConfChangeSingle,
  ConfChangeV2,
  ConfChangeTransition,
  ConfChangeType,
  ConfState,
  Entry,
  EntryType,
  HardState,
  Message,
  MessageType,
  NodeId,
  Snapshot,
  SnapshotMetadata,
} from './types';

const FMT_MESSAGE = 0x01;
const FMT_ENTRY = 0x02;
const FMT_HARD_STATE = 0x03;
const FMT_CONF_STATE = 0x04;
const FMT_SNAPSHOT_METADATA = 0x05;
const FMT_CONF_CHANGE_V1 = 0x06;
const FMT_CONF_CHANGE_V2 = 0x07;
const FMT_SNAPSHOT = 0x08;

const TRANSITIONS: readonly ConfChangeTransition[] = ['auto', 'implicit', 'explicit'];

class Writer {
  buf: Uint8Array;
  pos = 0;
  constructor(size = 64) {
    this.buf = new Uint8Array(size);
  }
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.pos));
    this.buf = nb;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  uint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0)
      throw new RaftError('RAFT_CODEC', `cannot encode ${n} as uint`);
    this.ensure(8);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }
  id(v: bigint): void {
    if (v < 0n || v > 0xffffffffffffffffn)
      throw new RaftError('RAFT_CODEC', `node id ${v} out of uint64 range`);
    this.ensure(10);
    // Two 32-bit halves as numbers: a BigInt operation per 7 bits cost more
    // than the rest of a small message's encoding (ids are random 64-bit).
    let lo = Number(v & 0xffffffffn);
    let hi = Number(v >> 32n);
    while (hi !== 0 || lo >= 0x80) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.pos++] = lo;
  }
  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}
  byte(): number {
    const b = this.buf[this.pos++];
    if (b === undefined) throw new RaftError('RAFT_CODEC', 'unexpected end of input');
    return b;
  }
  uint(): number {
    let n = 0;
    let mul = 1;
    for (;;) {
      const b = this.byte();
      n += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 0x80;
      if (mul > 2 ** 56) throw new RaftError('RAFT_CODEC', 'varint too long');
    }
    return n;
  }
  id(): bigint {
    // Bits 0-31 into lo, 32-63 into hi (see Writer.id).
    let lo = 0;
    let hi = 0;
    for (let shift = 0; ; shift += 7) {
      if (shift > 63) throw new RaftError('RAFT_CODEC', 'node id varint too long');
      const b = this.byte();
      const bits = b & 0x7f;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi = bits >>> 4;
      } else if (shift < 63) hi |= bits << (shift - 32);
      else if (bits > 1) throw new RaftError('RAFT_CODEC', 'node id out of uint64 range');
      else hi |= bits << 31;
      if (b < 0x80) break;
    }
    return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  }
  bytes(): Uint8Array {
    const n = this.uint();
    if (this.pos + n > this.buf.length)
      throw new RaftError('RAFT_CODEC', 'byte string overruns input');
    const b = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  format(expected: number, what: string): void {
    const f = this.byte();
    if (f !== expected) throw new RaftError('RAFT_CODEC', `not a ${what} (format byte ${f})`);
  }
  end(): void {
    if (this.pos !== this.buf.length)
      throw new RaftError('RAFT_CODEC', `${this.buf.length - this.pos} trailing bytes`);
  }
}

function checkRange(v: number, max: number, what: string): number {
  if (v > max) throw new RaftError('RAFT_CODEC', `invalid ${what} ${v}`);
  return v;
}

function writeEntry(w: Writer, e: Entry): void {
  w.uint(e.term);
  w.uint(e.index);
  w.byte(e.type);
  w.bytes(e.data);
}
function readEntry(r: Reader): Entry {
  const term = r.uint();
  const index = r.uint();
  const type = checkRange(r.byte(), 2, 'entry type') as EntryType;
  return { term, index, type, data: r.bytes() };
}

function writeIds(w: Writer, ids: readonly NodeId[]): void {
  w.uint(ids.length);
  for (const id of ids) w.id(id);
}
function readIds(r: Reader): NodeId[] {
  const n = r.uint();
  const out: NodeId[] = [];
  for (let i = 0; i < n; i++) out.push(r.id());
  return out;
}

function writeConfState(w: Writer, cs: ConfState): void {
  writeIds(w, cs.voters);
  writeIds(w, cs.learners);
  writeIds(w, cs.votersOutgoing);
  writeIds(w, cs.learnersNext);
  w.byte(cs.autoLeave ? 1 : 0);
}
function readConfState(r: Reader): ConfState {
  return {
    voters: readIds(r),
    learners: readIds(r),
    votersOutgoing: readIds(r),
    learnersNext: readIds(r),
    autoLeave: r.byte() === 1,
  };
}

function writeSnapshotMetadata(w: Writer, m: SnapshotMetadata): void {
  w.uint(m.index);
  w.uint(m.term);
  writeConfState(w, m.confState);
}
function readSnapshotMetadata(r: Reader): SnapshotMetadata {
  const index = r.uint();
  const term = r.uint();
  return { index, term, confState: readConfState(r) };
}

/** Encodes a message for the transport. */
export function encodeMessage(m: Message): Uint8Array {
  let size = 48 + m.context.length + (m.snapshot?.data.length ?? 0);
  for (const e of m.entries) size += e.data.length + 24;
  const w = new Writer(size);
  w.byte(FMT_MESSAGE);
  w.byte(m.type);
  w.id(m.to);
  w.id(m.from);
  w.uint(m.term);
  w.uint(m.logTerm);
  w.uint(m.index);
  w.uint(m.commit);
  w.byte(m.reject ? 1 : 0);
  w.uint(m.rejectHint);
  w.bytes(m.context);
  w.uint(m.entries.length);
  for (const e of m.entries) writeEntry(w, e);
  if (m.snapshot) {
    w.byte(1);
    writeSnapshotMetadata(w, m.snapshot.metadata);
    w.bytes(m.snapshot.data);
  } else w.byte(0);
  return w.finish();
}

/** Decodes a message; throws RaftError RAFT_CODEC on malformed input. */
export function decodeMessage(b: Uint8Array): Message {
  const r = new Reader(b);
  r.format(FMT_MESSAGE, 'message');
  const type = checkRange(r.byte(), 18, 'message type') as MessageType;
  const to = r.id();
  const from = r.id();
  const term = r.uint();
  const logTerm = r.uint();
  const index = r.uint();
  const commit = r.uint();
  const reject = r.byte() === 1;
  const rejectHint = r.uint();
  const context = r.bytes();
  const n = r.uint();
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) entries.push(readEntry(r));
  const hasSnap = r.byte() === 1;
  let snapshot: Snapshot | undefined;
  if (hasSnap) {
    const metadata = readSnapshotMetadata(r);
    snapshot = { metadata, data: r.bytes() };
  }
  r.end();
  const m: Message = {
    type,
    to,
    from,
    term,
    logTerm,
    index,
    commit,
    reject,
    rejectHint,
    context,
    entries,
  };
  return snapshot ? { ...m, snapshot } : m;
}

/** Encodes one log entry (for the WAL). */
export function encodeEntry(e: Entry): Uint8Array {
  const w = new Writer(e.data.length + 24);
  w.byte(FMT_ENTRY);
  writeEntry(w, e);
  return w.finish();
}

/** Decodes one log entry. */
export function decodeEntry(b: Uint8Array): Entry {
  const r = new Reader(b);
  r.format(FMT_ENTRY, 'entry');
  const e = readEntry(r);
  r.end();
  return e;
}

/** Encodes a hard state. */
export function encodeHardState(hs: HardState): Uint8Array {
  const w = new Writer(32);
  w.byte(FMT_HARD_STATE);
  w.uint(hs.term);
  w.id(hs.vote);
  w.uint(hs.commit);
  return w.finish();
}

/** Decodes a hard state. */
export function decodeHardState(b: Uint8Array): HardState {
  const r = new Reader(b);
  r.format(FMT_HARD_STATE, 'hard state');
  const hs = { term: r.uint(), vote: r.id(), commit: r.uint() };
  r.end();
  return hs;
}

/** Encodes a conf state. */
export function encodeConfState(cs: ConfState): Uint8Array {
  const w = new Writer(64);
  w.byte(FMT_CONF_STATE);
  writeConfState(w, cs);
  return w.finish();
}

/** Decodes a conf state. */
export function decodeConfState(b: Uint8Array): ConfState {
  const r = new Reader(b);
  r.format(FMT_CONF_STATE, 'conf state');
  const cs = readConfState(r);
  r.end();
  return cs;
}

/** Encodes snapshot metadata. */
export function encodeSnapshotMetadata(m: SnapshotMetadata): Uint8Array {
  const w = new Writer(64);
  w.byte(FMT_SNAPSHOT_METADATA);
  writeSnapshotMetadata(w, m);
  return w.finish();
}

/** Decodes snapshot metadata. */
export function decodeSnapshotMetadata(b: Uint8Array): SnapshotMetadata {
  const r = new Reader(b);
  r.format(FMT_SNAPSHOT_METADATA, 'snapshot metadata');
  const m = readSnapshotMetadata(r);
  r.end();
  return m;
}

/** Encodes a whole snapshot (metadata and data). */
export function encodeSnapshot(s: Snapshot): Uint8Array {
  const w = new Writer(s.data.length + 64);
  w.byte(FMT_SNAPSHOT);
  writeSnapshotMetadata(w, s.metadata);
  w.bytes(s.data);
  return w.finish();
}

/** Decodes a whole snapshot. */
export function decodeSnapshot(b: Uint8Array): Snapshot {
  const r = new Reader(b);
  r.format(FMT_SNAPSHOT, 'snapshot');
  const metadata = readSnapshotMetadata(r);
  const data = r.bytes();
  r.end();
  return { metadata, data };
}

/** Encodes a conf change; v1 and v2 get distinct format bytes. */
export function encodeConfChange(cc: ConfChange | ConfChangeV2): Uint8Array {
  const w = new Writer(32 + cc.context.length);
  if ('transition' in cc) {
    w.byte(FMT_CONF_CHANGE_V2);
    w.byte(TRANSITIONS.indexOf(cc.transition));
    w.uint(cc.changes.length);
    for (const c of cc.changes) {
      w.byte(c.type);
      w.id(c.nodeId);
    }
  } else {
    w.byte(FMT_CONF_CHANGE_V1);
    w.byte(cc.type);
    w.id(cc.nodeId);
  }
  w.bytes(cc.context);
  return w.finish();
}

/** Decodes either conf change version; a V2 result has a `transition` field. */
export function decodeConfChange(b: Uint8Array): ConfChange | ConfChangeV2 {
  const r = new Reader(b);
  const f = r.byte();
  if (f === FMT_CONF_CHANGE_V1) {
    const type = checkRange(r.byte(), 3, 'conf change type') as ConfChangeType;
    const nodeId = r.id();
    const context = r.bytes();
    r.end();
    return { type, nodeId, context };
  }
  if (f === FMT_CONF_CHANGE_V2) {
    const t = TRANSITIONS[r.byte()];
    if (t === undefined) throw new RaftError('RAFT_CODEC', 'invalid conf change transition');
    const n = r.uint();
    const changes: ConfChangeSingle[] = [];
    for (let i = 0; i < n; i++) {
      const type = checkRange(r.byte(), 3, 'conf change type') as ConfChangeType;
      changes.push({ type, nodeId: r.id() });
    }
    const context = r.bytes();
    r.end();
    return { transition: t, changes, context };
  }
  throw new RaftError('RAFT_CODEC', `not a conf change (format byte ${f})`);
}
