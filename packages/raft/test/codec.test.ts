import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConfChangeType,
  decodeConfChange,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  decodeSnapshotMetadata,
  encodeConfChange,
  encodeConfState,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
  encodeSnapshotMetadata,
  MessageType,
  RaftError,
} from '../src/index';
import type { ConfState, Entry, Message } from '../src/index';

const u64 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
const idx = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const bytes = fc.uint8Array({ maxLength: 64 });
const entry: fc.Arbitrary<Entry> = fc.record({
  term: idx,
  index: idx,
  type: fc.constantFrom(0 as const, 1 as const, 2 as const),
  data: bytes,
});
const ids = fc.array(u64, { maxLength: 5 });
const confState: fc.Arbitrary<ConfState> = fc.record({
  voters: ids,
  learners: ids,
  votersOutgoing: ids,
  learnersNext: ids,
  autoLeave: fc.boolean(),
});
const snapshot = fc.record({
  data: bytes,
  metadata: fc.record({ index: idx, term: idx, confState }),
});
const msgType = fc.constantFrom(...Object.values(MessageType));
const message: fc.Arbitrary<Message> = fc
  .record({
    type: msgType,
    to: u64,
    from: u64,
    term: idx,
    logTerm: idx,
    index: idx,
    entries: fc.array(entry, { maxLength: 4 }),
    commit: idx,
    reject: fc.boolean(),
    rejectHint: idx,
    context: bytes,
    snapshot: fc.option(snapshot, { nil: undefined }),
  })
  .map(({ snapshot: s, ...m }) => (s === undefined ? m : { ...m, snapshot: s }));
const ccType = fc.constantFrom(...Object.values(ConfChangeType));

/** LEB128 of a uint64, one BigInt step per 7 bits: the oracle for node ids. */
function varint64(v: bigint): number[] {
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

describe('codec', () => {
  it('writes node ids as LEB128 varints and reads them back, at every width', () => {
    const edges = [0n, 1n, 0x7fn, 0x80n, 2n ** 28n - 1n, 2n ** 28n, 2n ** 32n - 1n, 2n ** 32n];
    for (let bits = 33n; bits <= 64n; bits++) edges.push(2n ** bits - 1n, 2n ** (bits - 1n));
    const check = (vote: bigint): void => {
      // Hard state: format byte, term 0, vote, commit 0.
      const b = encodeHardState({ term: 0, vote, commit: 0 });
      expect(Array.from(b.subarray(2, b.length - 1))).toEqual(varint64(vote));
      expect(decodeHardState(b).vote).toBe(vote);
    };
    for (const v of edges) check(v);
    fc.assert(fc.property(u64, check));
  });
  it('refuses node ids beyond 64 bits', () => {
    const b = Array.from(encodeHardState({ term: 0, vote: 2n ** 64n - 1n, commit: 0 }));
    // The tenth byte of the vote carries bit 63 only; 2 would be bit 64.
    b[11] = 0x02;
    expect(() => decodeHardState(Uint8Array.from(b))).toThrow(RaftError);
  });
  it('round-trips messages', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
    );
  });
  it('round-trips entries, hard states, conf states and snapshots', () => {
    fc.assert(
      fc.property(entry, (e) => {
        expect(decodeEntry(encodeEntry(e))).toEqual(e);
      }),
    );
    fc.assert(
      fc.property(fc.record({ term: idx, vote: u64, commit: idx }), (hs) => {
        expect(decodeHardState(encodeHardState(hs))).toEqual(hs);
      }),
    );
    fc.assert(
      fc.property(confState, (cs) => {
        expect(decodeConfState(encodeConfState(cs))).toEqual(cs);
      }),
    );
    fc.assert(
      fc.property(snapshot, (s) => {
        expect(decodeSnapshot(encodeSnapshot(s))).toEqual(s);
      }),
    );
    fc.assert(
      fc.property(snapshot, (s) => {
        expect(decodeSnapshotMetadata(encodeSnapshotMetadata(s.metadata))).toEqual(s.metadata);
      }),
    );
  });
  it('round-trips both conf change versions and tells them apart', () => {
    fc.assert(
      fc.property(fc.record({ type: ccType, nodeId: u64, context: bytes }), (cc) => {
        const d = decodeConfChange(encodeConfChange(cc));
        expect(d).toEqual(cc);
        expect('transition' in d).toBe(false);
      }),
    );
    fc.assert(
      fc.property(
        fc.record({
          transition: fc.constantFrom('auto' as const, 'implicit' as const, 'explicit' as const),
          changes: fc.array(fc.record({ type: ccType, nodeId: u64 }), { maxLength: 5 }),
          context: bytes,
        }),
        (cc) => {
          const d = decodeConfChange(encodeConfChange(cc));
          expect(d).toEqual(cc);
          expect('transition' in d).toBe(true);
        },
      ),
    );
  });
  it('rejects malformed input with RAFT_CODEC, never anything else', () => {
    fc.assert(
      fc.property(message, fc.nat(), (m, cut) => {
        const b = encodeMessage(m);
        const truncated = b.subarray(0, cut % b.length);
        try {
          decodeMessage(truncated);
          expect.unreachable();
        } catch (e) {
          expect(e).toBeInstanceOf(RaftError);
          expect((e as RaftError).code).toBe('RAFT_CODEC');
        }
      }),
    );
    expect(() => decodeEntry(encodeHardState({ term: 1, vote: 1n, commit: 1 }))).toThrow(
      /RAFT_CODEC/,
    );
    expect(() => decodeHardState(new Uint8Array([3, 1, 1, 1, 9]))).toThrow(/trailing/);
  });
  it('is compact: a heartbeat fits in a dozen bytes', () => {
    const m: Message = {
      type: MessageType.MsgHeartbeat,
      to: 2n,
      from: 1n,
      term: 5,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 100,
      reject: false,
      rejectHint: 0,
      context: new Uint8Array(),
    };
    expect(encodeMessage(m).length).toBeLessThanOrEqual(16);
  });
});
