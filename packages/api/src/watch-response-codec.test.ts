import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { etcdserverpb, mvccpb } from './index';
import {
  encodeEvent,
  encodeResponseHeader,
  encodeWatchResponse,
  encodeWatchResponseFrames,
} from './watch-response-codec';
import type { PreEncodedWatchResponse } from './watch-response-codec';
import { messageArb, messageDescs } from '../test/schema';

const { WatchResponse } = etcdserverpb;
const { Event } = mvccpb;
const { ResponseHeader } = etcdserverpb;
const desc = messageDescs.find((d) => d.typeName === 'etcdserverpb.WatchResponse')!;
const arb = messageArb(desc) as fc.Arbitrary<etcdserverpb.WatchResponse>;

describe('hand-written WatchResponse encoder', () => {
  it('encodes exactly the bytes of the generated encoder', () => {
    fc.assert(
      fc.property(arb, (msg) => {
        expect(encodeWatchResponse(msg).equals(WatchResponse.encode(msg).finish())).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('writes unknown and negative event types like the generated encoder', () => {
    for (const type of [2, 127, 128, 2 ** 31 - 1, -1, -(2 ** 31)]) {
      const msg = WatchResponse.fromPartial({
        events: [{ type: type as etcdserverpb.WatchResponse['events'][number]['type'] }],
      });
      expect(
        encodeWatchResponse(msg).equals(WatchResponse.encode(msg).finish()),
        String(type),
      ).toBe(true);
    }
  });

  it('writes non-ASCII cancel reasons and a -1 compact revision', () => {
    const msg = WatchResponse.fromPartial({
      canceled: true,
      cancelReason: 'mvcc: réquired revision has been compacted ✂',
      compactRevision: -1n,
    });
    expect(encodeWatchResponse(msg).equals(WatchResponse.encode(msg).finish())).toBe(true);
  });

  it('rejects out-of-range values', () => {
    expect(() => encodeWatchResponse(WatchResponse.fromPartial({ watchId: 2n ** 63n }))).toThrow(
      RangeError,
    );
    expect(() =>
      encodeWatchResponse(WatchResponse.fromPartial({ header: { clusterId: -1n } })),
    ).toThrow(RangeError);
  });
});

/** The pre-encoded form of a message, built with the hand-written part encoders. */
function preEncode(msg: etcdserverpb.WatchResponse): PreEncodedWatchResponse {
  return {
    ...msg,
    header: msg.header === undefined ? undefined : encodeResponseHeader(msg.header),
    events: msg.events.map(encodeEvent),
  };
}

/** gRPC framing as a client reads it: [0][u32 BE length][message] per message. */
function frames(msgs: etcdserverpb.WatchResponse[]): Buffer {
  return Buffer.concat(
    msgs.flatMap((m) => {
      const body = Buffer.from(WatchResponse.encode(m).finish());
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(body.length, 1);
      return [prefix, body];
    }),
  );
}

describe('pre-encoded WatchResponse frames', () => {
  it('encode events and headers exactly as the generated encoder', () => {
    fc.assert(
      fc.property(arb, (msg) => {
        for (const ev of msg.events) {
          expect(encodeEvent(ev).equals(Event.encode(ev).finish())).toBe(true);
        }
        if (msg.header !== undefined) {
          expect(
            encodeResponseHeader(msg.header).equals(ResponseHeader.encode(msg.header).finish()),
          ).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("are the generated encoder's messages, each with its gRPC length prefix, back to back", () => {
    fc.assert(
      fc.property(fc.array(arb, { maxLength: 6 }), (msgs) => {
        const got = encodeWatchResponseFrames(msgs.map(preEncode));
        expect(got.equals(frames(msgs))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('decode back to the same messages, with a shared event and header', () => {
    const header = {
      clusterId: 14841639068965178418n,
      memberId: 10276657743932975437n,
      revision: 77n,
      raftTerm: 3n,
    };
    const ev: mvccpb.Event = {
      type: mvccpb.Event_EventType.PUT,
      kv: {
        key: Buffer.from('w/1'),
        createRevision: 5n,
        modRevision: 77n,
        version: 9n,
        value: Buffer.alloc(300, 1),
        lease: 0n,
      },
      prevKv: undefined,
    };
    const shared = encodeEvent(ev);
    const hdr = encodeResponseHeader(header);
    const base = {
      created: false,
      canceled: false,
      compactRevision: 0n,
      cancelReason: '',
      fragment: false,
    };
    const buf = encodeWatchResponseFrames([
      { ...base, header: hdr, watchId: 0n, events: [shared] },
      { ...base, header: hdr, watchId: 1n, events: [shared, shared] },
      { ...base, header: undefined, watchId: -1n, canceled: true, cancelReason: 'ü', events: [] },
    ]);
    const got: etcdserverpb.WatchResponse[] = [];
    for (let pos = 0; pos < buf.length;) {
      expect(buf[pos]).toBe(0);
      const n = buf.readUInt32BE(pos + 1);
      got.push(WatchResponse.decode(buf.subarray(pos + 5, pos + 5 + n)));
      pos += 5 + n;
    }
    expect(
      got.map((r) => [r.watchId, r.events.length, r.header?.revision, r.cancelReason]),
    ).toEqual([
      [0n, 1, 77n, ''],
      [1n, 2, 77n, ''],
      [-1n, 0, undefined, 'ü'],
    ]);
    expect(got[1]!.events[1]).toEqual(ev);
  });

  it('rejects out-of-range values', () => {
    const msg = preEncode(WatchResponse.fromPartial({}));
    expect(() => encodeWatchResponseFrames([{ ...msg, watchId: 2n ** 63n }])).toThrow(RangeError);
    expect(() => encodeWatchResponseFrames([{ ...msg, compactRevision: -(2n ** 64n) }])).toThrow(
      RangeError,
    );
  });
});
