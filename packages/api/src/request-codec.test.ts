import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { etcdserverpb } from './index';
import { decodePutRequest, decodeRangeRequest } from './request-codec';
import { FastKVService } from './range-response-codec';
import { messageArb, messageDescs } from '../test/schema';

const { RangeRequest } = etcdserverpb;
const desc = messageDescs.find((d) => d.typeName === 'etcdserverpb.RangeRequest')!;
const arb = messageArb(desc) as fc.Arbitrary<etcdserverpb.RangeRequest>;

/** Both decoders give equal objects, or both throw. */
function same(bytes: Uint8Array): void {
  let want: etcdserverpb.RangeRequest | Error;
  try {
    want = RangeRequest.decode(bytes);
  } catch (err) {
    want = err as Error;
  }
  if (want instanceof Error) {
    expect(() => decodeRangeRequest(bytes)).toThrow();
    return;
  }
  const got = decodeRangeRequest(bytes);
  expect(got).toEqual(want);
  expect(Buffer.isBuffer(got.key) && Buffer.isBuffer(got.rangeEnd)).toBe(true);
}

describe('hand-written RangeRequest decoder', () => {
  it('decodes what the generated encoder writes to the same object', () => {
    fc.assert(
      fc.property(arb, (msg) => {
        const bytes = RangeRequest.encode(msg).finish();
        same(bytes);
        expect(decodeRangeRequest(bytes)).toEqual(msg);
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
          const bytes = Buffer.from(RangeRequest.encode(msg).finish());
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

  it('reads boundary values the same way', () => {
    const edges = [0n, 1n, 127n, 128n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 53n, 2n ** 63n - 1n];
    for (const v of edges) {
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

const { PutRequest } = etcdserverpb;
const putDesc = messageDescs.find((d) => d.typeName === 'etcdserverpb.PutRequest')!;
const putArb = messageArb(putDesc) as fc.Arbitrary<etcdserverpb.PutRequest>;

/** Both PutRequest decoders give equal objects, or both throw. */
function samePut(bytes: Uint8Array): void {
  let want: etcdserverpb.PutRequest | Error;
  try {
    want = PutRequest.decode(bytes);
  } catch (err) {
    want = err as Error;
  }
  if (want instanceof Error) {
    expect(() => decodePutRequest(bytes)).toThrow();
    return;
  }
  const got = decodePutRequest(bytes);
  expect(got).toEqual(want);
  expect(Buffer.isBuffer(got.key) && Buffer.isBuffer(got.value)).toBe(true);
}

describe('hand-written PutRequest decoder', () => {
  it('decodes what the generated encoder writes to the same object', () => {
    fc.assert(
      fc.property(putArb, (msg) => {
        const bytes = PutRequest.encode(msg).finish();
        samePut(bytes);
        expect(decodePutRequest(bytes)).toEqual(msg);
      }),
      { numRuns: 1000 },
    );
  });

  it('agrees with the generated decoder on damaged, reordered and unknown input', () => {
    fc.assert(
      fc.property(
        putArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.uint8Array({ maxLength: 8 }),
        fc.nat(),
        (msg, flips, extra, cut) => {
          const bytes = Buffer.from(PutRequest.encode(msg).finish());
          for (const [at, v] of flips) if (bytes.length > 0) bytes[at % bytes.length] = v;
          samePut(bytes);
          samePut(Buffer.concat([bytes, extra]));
          samePut(Buffer.concat([extra, bytes]));
          samePut(bytes.subarray(0, bytes.length === 0 ? 0 : cut % bytes.length));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('reads boundary values the same way', () => {
    const edges = [0n, 1n, 127n, 128n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 53n, 2n ** 63n - 1n];
    for (const v of edges) {
      for (const lease of [v, -v]) {
        samePut(
          PutRequest.encode(
            PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v'), lease }),
          ).finish(),
        );
      }
    }
    samePut(new Uint8Array(0));
    samePut(Uint8Array.from([0x20, 0x80, 0x01])); // prev_kv written in two bytes
    samePut(Uint8Array.from([0x38, 0x01])); // field 7: unknown to PutRequest
    samePut(Uint8Array.from([0x12, 0x80, 0x80, 0x80, 0x80, 0x01])); // length beyond the input
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
