import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { etcdserverpb } from './index';
import { encodeWatchResponse } from './watch-response-codec';
import { messageArb, messageDescs } from '../test/schema';

const { WatchResponse } = etcdserverpb;
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
