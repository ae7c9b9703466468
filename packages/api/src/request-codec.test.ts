import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { etcdserverpb } from './index';
import { decodePutRequest, decodeRangeRequest } from './request-codec';
import { FastKVService } from './range-response-codec';
import { messageArb, messageDescs } from '../test/schema';

const { PutRequest, RangeRequest } = etcdserverpb;

/** A generated codec, as the hand-written decoder must match it. */
interface Generated<T> {
  encode(msg: T): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
}

/**
 * Returns a check that the hand-written and the generated decoder give equal
 * objects for some bytes, or both throw; `byteFields` must come out as Buffers.
 */
function agreement<T>(
  generated: Generated<T>,
  decode: (bytes: Uint8Array) => T,
  byteFields: readonly (keyof T)[],
): (bytes: Uint8Array) => void {
  return (bytes) => {
    let want: T | Error;
    try {
      want = generated.decode(bytes);
    } catch (err) {
      want = err as Error;
    }
    if (want instanceof Error) {
      expect(() => decode(bytes)).toThrow();
      return;
    }
    const got = decode(bytes);
    expect(got).toEqual(want);
    for (const f of byteFields) expect(Buffer.isBuffer(got[f])).toBe(true);
  };
}

/** The two property tests both decoders share: valid messages, then damaged copies of them. */
function agreesOnRandomInput<T>(
  typeName: string,
  generated: Generated<T>,
  decode: (bytes: Uint8Array) => T,
  same: (bytes: Uint8Array) => void,
): void {
  const desc = messageDescs.find((d) => d.typeName === typeName)!;
  const arb = messageArb(desc) as fc.Arbitrary<T>;

  it('decodes what the generated encoder writes to the same object', () => {
    fc.assert(
      fc.property(arb, (msg) => {
        const bytes = generated.encode(msg).finish();
        same(bytes);
        expect(decode(bytes)).toEqual(msg);
      }),
      { numRuns: 1000 },
    );
  });

  it('agrees with the generated decoder on damaged, reordered and unknown input', () => {
    fc.assert(
      fc.property(
        arb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.uint8Array({ maxLength: 8 }),
        fc.nat(),
        (msg, flips, extra, cut) => {
          const bytes = Buffer.from(generated.encode(msg).finish());
          for (const [at, v] of flips) if (bytes.length > 0) bytes[at % bytes.length] = v;
          same(bytes);
          same(Buffer.concat([bytes, extra]));
          same(Buffer.concat([extra, bytes]));
          same(bytes.subarray(0, bytes.length === 0 ? 0 : cut % bytes.length));
        },
      ),
      { numRuns: 1000 },
    );
  });
}

const EDGES = [0n, 1n, 127n, 128n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 53n, 2n ** 63n - 1n];

describe('hand-written RangeRequest decoder', () => {
  const same = agreement(RangeRequest, decodeRangeRequest, ['key', 'rangeEnd']);
  agreesOnRandomInput('etcdserverpb.RangeRequest', RangeRequest, decodeRangeRequest, same);

  it('reads boundary values the same way', () => {
    for (const v of EDGES) {
      for (const s of [v, -v]) {
        same(
          RangeRequest.encode(
            RangeRequest.fromPartial({
              key: Buffer.from('k'),
              limit: s,
              revision: s,
              maxCreateRevision: s,
              sortOrder: Number(BigInt.asIntN(32, s)) as etcdserverpb.RangeRequest_SortOrder,
              serializable: true,
            }),
          ).finish(),
        );
      }
    }
    same(new Uint8Array(0));
    same(Uint8Array.from([0x38, 0x80, 0x01])); // bool written in two bytes
    same(Uint8Array.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x01])); // length beyond the input
  });

  it('copies key and range end out of the input', () => {
    const bytes = Buffer.from(
      RangeRequest.encode(
        RangeRequest.fromPartial({ key: Buffer.from('abc'), rangeEnd: Buffer.from('abd') }),
      ).finish(),
    );
    const got = decodeRangeRequest(bytes);
    bytes.fill(0);
    expect(got.key.toString()).toBe('abc');
    expect(got.rangeEnd.toString()).toBe('abd');
  });

  it('is the request deserializer of FastKVService.range', () => {
    expect(FastKVService.range.requestDeserialize).toBe(decodeRangeRequest);
  });
});

describe('hand-written PutRequest decoder', () => {
  const same = agreement(PutRequest, decodePutRequest, ['key', 'value']);
  agreesOnRandomInput('etcdserverpb.PutRequest', PutRequest, decodePutRequest, same);

  it('reads boundary values the same way', () => {
    for (const v of EDGES) {
      for (const lease of [v, -v]) {
        same(
          PutRequest.encode(
            PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v'), lease }),
          ).finish(),
        );
      }
    }
    same(new Uint8Array(0));
    same(Uint8Array.from([0x20, 0x80, 0x01])); // prev_kv written in two bytes
    same(Uint8Array.from([0x38, 0x01])); // field 7: unknown to PutRequest
    same(Uint8Array.from([0x12, 0x80, 0x80, 0x80, 0x80, 0x01])); // length beyond the input
  });

  it('copies key and value out of the input', () => {
    const bytes = Buffer.from(
      PutRequest.encode(
        PutRequest.fromPartial({ key: Buffer.from('abc'), value: Buffer.from('xyz') }),
      ).finish(),
    );
    const got = decodePutRequest(bytes);
    bytes.fill(0);
    expect(got.key.toString()).toBe('abc');
    expect(got.value.toString()).toBe('xyz');
  });

  it('is the request deserializer of FastKVService.put', () => {
    expect(FastKVService.put.requestDeserialize).toBe(decodePutRequest);
  });
});
