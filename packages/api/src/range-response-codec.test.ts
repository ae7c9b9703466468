import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { etcdserverpb, mvccpb } from './index';
import { EncodedKeyValue, decodeRangeResponse, encodeRangeResponse } from './range-response-codec';
import { messageArb, messageDescs } from '../test/schema';

const { RangeResponse } = etcdserverpb;
const desc = messageDescs.find((d) => d.typeName === 'etcdserverpb.RangeResponse')!;
const arb = messageArb(desc) as fc.Arbitrary<etcdserverpb.RangeResponse>;

// Unknown fields a newer peer might send: [tag bytes..., payload...].
const unknownField = fc.oneof(
  fc.bigInt(0n, 2n ** 64n - 1n).map((v) => {
    const out = [0x78]; // field 15, varint
    let u = v;
    while (u > 0x7fn) {
      out.push(Number(u & 0x7fn) | 0x80);
      u >>= 7n;
    }
    out.push(Number(u));
    return out;
  }),
  fc.uint8Array({ maxLength: 5 }).map((b) => [0xa2, 0x06, b.length, ...b]), // field 100, LEN
  fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => [0x79, ...b]), // field 15, I64
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => [0x7d, ...b]), // field 15, I32
);

describe('hand-written RangeResponse codec', () => {
  it('encodes exactly the bytes of the generated encoder', () => {
    fc.assert(
      fc.property(arb, (msg) => {
        expect(encodeRangeResponse(msg).equals(RangeResponse.encode(msg).finish())).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes to the same object as the generated decoder, skipping unknown fields', () => {
    fc.assert(
      fc.property(arb, fc.array(unknownField, { maxLength: 3 }), (msg, extra) => {
        const bytes = Buffer.concat([
          Buffer.from(extra.flat()),
          RangeResponse.encode(msg).finish(),
        ]);
        expect(decodeRangeResponse(bytes)).toEqual(RangeResponse.decode(bytes));
        expect(decodeRangeResponse(bytes, { copy: false })).toEqual(msg);
      }),
      { numRuns: 300 },
    );
  });

  it('handles boundary values of 64-bit fields', () => {
    const edges = [0n, 1n, 127n, 128n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 53n, 2n ** 63n - 1n];
    for (const v of edges) {
      for (const signed of [v, -v]) {
        const msg = RangeResponse.fromPartial({
          header: { clusterId: 2n ** 64n - 1n - v, revision: signed },
          kvs: [{ key: Buffer.from('k'), createRevision: signed, lease: -signed }],
          count: signed,
        });
        const bytes = encodeRangeResponse(msg);
        expect(bytes.equals(RangeResponse.encode(msg).finish()), String(signed)).toBe(true);
        expect(decodeRangeResponse(bytes), String(signed)).toEqual(msg);
      }
    }
  });

  it('rejects out-of-range values like the generated encoder', () => {
    const bad = RangeResponse.fromPartial({ count: 2n ** 63n });
    expect(() => encodeRangeResponse(bad)).toThrow(RangeError);
    const badHeader = RangeResponse.fromPartial({ header: { memberId: -1n } });
    expect(() => encodeRangeResponse(badHeader)).toThrow(RangeError);
  });

  it('copies bytes by default and aliases the input with copy: false', () => {
    const msg = RangeResponse.fromPartial({ kvs: [{ key: Buffer.from('abc') }] });
    const bytes = encodeRangeResponse(msg);
    const copied = decodeRangeResponse(bytes);
    const aliased = decodeRangeResponse(bytes, { copy: false });
    bytes.fill(0x7a);
    expect(copied.kvs[0]?.key.toString()).toBe('abc');
    expect(aliased.kvs[0]?.key.toString()).toBe('zzz');
  });

  it('throws on truncated input', () => {
    const bytes = encodeRangeResponse(
      RangeResponse.fromPartial({ kvs: [{ key: Buffer.from('abc'), value: Buffer.from('v') }] }),
    );
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(() => decodeRangeResponse(bytes.subarray(0, cut)), String(cut)).toThrow(RangeError);
    }
  });

  it('copies EncodedKeyValue bytes: the same response bytes as the generated encoder', () => {
    const { KeyValue } = mvccpb;
    fc.assert(
      fc.property(arb, fc.array(fc.boolean(), { maxLength: 8 }), (msg, which) => {
        // Any mix of plain and encoded key-values, encoded the way the store keeps them.
        const mixed: etcdserverpb.RangeResponse = {
          ...msg,
          kvs: msg.kvs.map((kv, i) =>
            which[i] === true ? new EncodedKeyValue(KeyValue.encode(kv).finish()) : kv,
          ),
        };
        expect(encodeRangeResponse(mixed).equals(RangeResponse.encode(msg).finish())).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('EncodedKeyValue reads as its fields and re-encodes after a field is assigned', () => {
    const { KeyValue } = mvccpb;
    const plain = KeyValue.fromPartial({
      key: Buffer.from('k'),
      createRevision: 2n,
      modRevision: 9n,
      version: 3n,
      value: Buffer.from('value'),
      lease: -5n,
    });
    const kv = new EncodedKeyValue(new Uint8Array(KeyValue.encode(plain).finish()));
    expect(kv.encoded).toBeDefined();
    expect(kv.toJSON()).toEqual(plain);
    expect(KeyValue.encode(kv).finish()).toEqual(KeyValue.encode(plain).finish());
    kv.value = Buffer.from('other');
    expect(kv.encoded).toBeUndefined();
    const expected = RangeResponse.fromPartial({
      kvs: [{ ...plain, value: Buffer.from('other') }],
    });
    expect(
      encodeRangeResponse({ ...expected, kvs: [kv] }).equals(
        RangeResponse.encode(expected).finish(),
      ),
    ).toBe(true);
  });

  it('copies EncodedKeyValue bytes as they are, without re-encoding', () => {
    // An unknown field (15, varint 1) survives only if the bytes are copied.
    const raw = Buffer.from([0x0a, 0x01, 0x6b, 0x78, 0x01]);
    const out = encodeRangeResponse({
      header: undefined,
      kvs: [new EncodedKeyValue(raw)],
      more: false,
      count: 0n,
    });
    expect(out.equals(Buffer.concat([Buffer.from([0x12, raw.length]), raw]))).toBe(true);
  });
});
