import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { etcdserverpb, mvccpb } from './index';
import { EncodedKeyValue, FastKVService, encodePutResponse } from './range-response-codec';
import { messageArb, messageDescs } from '../test/schema';

const { PutResponse } = etcdserverpb;
const desc = messageDescs.find((d) => d.typeName === 'etcdserverpb.PutResponse')!;
const arb = messageArb(desc) as fc.Arbitrary<etcdserverpb.PutResponse>;

describe('hand-written PutResponse encoder', () => {
  it('encodes exactly the bytes of the generated encoder', () => {
    fc.assert(
      fc.property(arb, (msg) => {
        expect(encodePutResponse(msg).equals(PutResponse.encode(msg).finish())).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('copies a previous key-value given as its stored encoding', () => {
    fc.assert(
      fc.property(arb, (msg) => {
        if (msg.prevKv === undefined) return;
        const stored = Buffer.from(mvccpb.KeyValue.encode(msg.prevKv).finish());
        const withEncoded = { ...msg, prevKv: new EncodedKeyValue(stored) };
        expect(encodePutResponse(withEncoded).equals(PutResponse.encode(msg).finish())).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('handles boundary values and empty sub-messages', () => {
    const edges = [0n, 1n, 127n, 128n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n];
    for (const v of edges) {
      for (const signed of [v, -v]) {
        const msg = PutResponse.fromPartial({
          header: { clusterId: 2n ** 64n - 1n - v, memberId: v, revision: signed, raftTerm: v },
          prevKv: { key: Buffer.from('k'), modRevision: signed, lease: -signed },
        });
        expect(encodePutResponse(msg).equals(PutResponse.encode(msg).finish())).toBe(true);
      }
    }
    for (const msg of [
      PutResponse.fromPartial({}),
      PutResponse.fromPartial({ header: {} }),
      PutResponse.fromPartial({ prevKv: {} }),
    ]) {
      expect(encodePutResponse(msg).equals(PutResponse.encode(msg).finish())).toBe(true);
    }
    expect(() =>
      encodePutResponse(PutResponse.fromPartial({ header: { clusterId: -1n } })),
    ).toThrow(RangeError);
  });

  it('is the serializer of FastKVService.put', () => {
    expect(FastKVService.put.responseSerialize).toBe(encodePutResponse);
    expect(FastKVService.put.responseDeserialize).toBe(
      etcdserverpb.KVService.put.responseDeserialize,
    );
  });
});
