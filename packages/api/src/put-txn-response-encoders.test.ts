import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { etcdserverpb, mvccpb } from './index';
import {
  EncodedKeyValue,
  FastKVService,
  encodePutResponse,
  encodeTxnResponse,
} from './range-response-codec';
import { messageArb, messageDescs } from '../test/schema';

const { PutResponse, TxnResponse } = etcdserverpb;
const desc = messageDescs.find((d) => d.typeName === 'etcdserverpb.PutResponse')!;
const arb = messageArb(desc) as fc.Arbitrary<etcdserverpb.PutResponse>;
const txnDesc = messageDescs.find((d) => d.typeName === 'etcdserverpb.TxnResponse')!;
const txnArb = messageArb(txnDesc) as fc.Arbitrary<etcdserverpb.TxnResponse>;

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

/** The same message with every stored key-value replaced by its encoding (as the server sends). */
function withEncodedKvs(msg: etcdserverpb.TxnResponse): etcdserverpb.TxnResponse {
  const enc = (kv: mvccpb.KeyValue): mvccpb.KeyValue =>
    new EncodedKeyValue(Buffer.from(mvccpb.KeyValue.encode(kv).finish()));
  return {
    ...msg,
    responses: msg.responses.map((op): etcdserverpb.ResponseOp => {
      const r = op.response;
      if (r === undefined) return op;
      switch (r.$case) {
        case 'responsePut':
          return {
            response: {
              $case: 'responsePut',
              value: { ...r.value, prevKv: r.value.prevKv && enc(r.value.prevKv) },
            },
          };
        case 'responseRange':
          return {
            response: {
              $case: 'responseRange',
              value: { ...r.value, kvs: r.value.kvs.map(enc) },
            },
          };
        case 'responseTxn':
          return { response: { $case: 'responseTxn', value: withEncodedKvs(r.value) } };
        default:
          return op;
      }
    }),
  };
}

describe('hand-written TxnResponse encoder', () => {
  it('encodes exactly the bytes of the generated encoder, nested txns and every op kind', () => {
    const kinds = new Set<string>();
    fc.assert(
      fc.property(txnArb, (msg) => {
        for (const op of msg.responses) kinds.add(op.response?.$case ?? 'none');
        const want = TxnResponse.encode(msg).finish();
        expect(encodeTxnResponse(msg).equals(want)).toBe(true);
        expect(encodeTxnResponse(withEncodedKvs(msg)).equals(want)).toBe(true);
      }),
      { numRuns: 500 },
    );
    // The generator reached every shape the encoder branches on.
    expect([...kinds].sort()).toEqual(
      ['none', 'responseDeleteRange', 'responsePut', 'responseRange', 'responseTxn'].sort(),
    );
  });

  it('encodes the common txn of puts and an empty one', () => {
    const header = {
      clusterId: 2n ** 64n - 7n,
      memberId: 2n ** 60n + 3n,
      revision: 42n,
      raftTerm: 3n,
    };
    for (const msg of [
      TxnResponse.fromPartial({}),
      TxnResponse.fromPartial({ header, succeeded: true }),
      TxnResponse.fromPartial({
        header,
        succeeded: true,
        responses: [
          { response: { $case: 'responsePut', value: { header: { revision: 42n } } } },
          { response: { $case: 'responsePut', value: { header: {} } } },
          { response: undefined },
        ],
      }),
    ]) {
      expect(encodeTxnResponse(msg).equals(TxnResponse.encode(msg).finish())).toBe(true);
    }
  });

  it('is the serializer of FastKVService.txn', () => {
    expect(FastKVService.txn.responseSerialize).toBe(encodeTxnResponse);
    expect(FastKVService.txn.responseDeserialize).toBe(
      etcdserverpb.KVService.txn.responseDeserialize,
    );
  });
});
