import { describe, expect, it } from 'vitest';
import { etcdserverpb, mvccpb } from '@kv/api';
import { scanWatchResponse } from './watch-scan';

function encode(fields: Partial<etcdserverpb.WatchResponse>): Buffer {
  return Buffer.from(
    etcdserverpb.WatchResponse.encode(etcdserverpb.WatchResponse.fromPartial(fields)).finish(),
  );
}

function event(i: number, value: Buffer, withPrev: boolean): mvccpb.Event {
  return mvccpb.Event.fromPartial({
    type: i % 3 === 0 ? mvccpb.Event_EventType.DELETE : mvccpb.Event_EventType.PUT,
    kv: {
      key: Buffer.from(`key-${i}`),
      createRevision: BigInt(i + 1),
      modRevision: BigInt(i + 1000),
      version: BigInt(i),
      value,
      lease: BigInt(i * 7),
    },
    ...(withPrev ? { prevKv: { key: Buffer.from('prev'), value: Buffer.from('old value') } } : {}),
  });
}

describe('scanWatchResponse', () => {
  it('finds the created flag, the events and their values as a full decode does', () => {
    for (let seed = 0; seed < 50; seed++) {
      const n = seed % 7;
      const values = Array.from({ length: n }, (_, i) => Buffer.alloc((seed * 13 + i) % 300, i));
      const bytes = encode({
        header: { clusterId: 123456789n, memberId: 42n, revision: BigInt(seed * 99), raftTerm: 3n },
        watchId: BigInt(seed),
        created: seed % 5 === 0,
        compactRevision: seed % 4 === 0 ? 17n : 0n,
        cancelReason: seed % 6 === 0 ? 'because' : '',
        fragment: seed % 2 === 0,
        events: values.map((v, i) => event(i, v, (seed + i) % 2 === 0)),
      });
      const decoded = etcdserverpb.WatchResponse.decode(bytes);
      const seen: Buffer[] = [];
      const scanned = scanWatchResponse(bytes, (v) => seen.push(Buffer.from(v)));
      expect(scanned).toEqual({ created: decoded.created, events: decoded.events.length });
      expect(seen).toEqual(decoded.events.map((e) => Buffer.from(e.kv!.value)));
    }
  });

  it('rejects a truncated response', () => {
    const bytes = encode({ events: [event(1, Buffer.alloc(20, 1), false)] });
    expect(() => scanWatchResponse(bytes.subarray(0, bytes.length - 3), () => undefined)).toThrow(
      RangeError,
    );
  });
});
