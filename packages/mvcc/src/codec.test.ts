import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareBytes } from './bytes';
import { crc32c } from './crc32c';
import { MvccError } from './errors';
import { decodeKeyValue, decodeKeyValueKey, encodeKeyValue } from './key-value';
import type { KeyValue } from './key-value';
import { decodeRevision, encodeRevision } from './revision';

const hex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('revision keys', () => {
  it('match etcd layout: 8-byte BE main, "_", 8-byte BE sub, optional "t"', () => {
    expect(hex(encodeRevision(1, 0))).toBe('0000000000000001' + '5f' + '0000000000000000');
    expect(hex(encodeRevision(0x1_0000_0002, 3, true))).toBe(
      '0000000100000002' + '5f' + '0000000000000003' + '74',
    );
    expect(decodeRevision(encodeRevision(2 ** 53 - 1, 7, true))).toEqual({
      main: 2 ** 53 - 1,
      sub: 7,
      tombstone: true,
    });
  });

  it('sort bytewise in revision order', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 1000 }),
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 1000 }),
        (m1, s1, m2, s2) => {
          const byBytes = Math.sign(compareBytes(encodeRevision(m1, s1), encodeRevision(m2, s2)));
          const byNum = Math.sign(m1 === m2 ? s1 - s2 : m1 - m2);
          expect(byBytes).toBe(byNum);
        },
      ),
    );
  });

  it('reject malformed keys', () => {
    expect(() => decodeRevision(new Uint8Array(5))).toThrow(MvccError);
    const bad = encodeRevision(1, 1);
    bad[8] = 0;
    expect(() => decodeRevision(bad)).toThrow(MvccError);
  });
});

describe('KeyValue codec', () => {
  it('produces the mvccpb.KeyValue bytes protobuf would', () => {
    const kv: KeyValue = {
      key: utf8('foo'),
      createRevision: 2,
      modRevision: 300,
      version: 1,
      value: utf8('bar'),
      lease: 0n,
    };
    // field 1 "foo", 2:2, 3:300 (varint ac 02), 4:1, 5 "bar"; lease 0 omitted
    expect(hex(encodeKeyValue(kv))).toBe('0a03666f6f' + '1002' + '18ac02' + '2001' + '2a03626172');
    expect(hex(encodeKeyValue({ ...kv, lease: 1n, value: new Uint8Array() }))).toBe(
      '0a03666f6f' + '1002' + '18ac02' + '2001' + '3001',
    );
  });

  it('round-trips any key-value, including large and negative int64 fields', () => {
    const kvArb = fc.record({
      key: fc.uint8Array({ maxLength: 40 }),
      createRevision: fc.maxSafeNat(),
      modRevision: fc.maxSafeNat(),
      version: fc.maxSafeNat(),
      value: fc.uint8Array({ maxLength: 300 }),
      lease: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
    });
    fc.assert(
      fc.property(kvArb, (kv) => {
        const bytes = encodeKeyValue(kv);
        expect(decodeKeyValue(bytes)).toEqual(kv);
        expect(decodeKeyValueKey(bytes)).toEqual(kv.key);
      }),
    );
  });

  it('skips unknown fields and rejects truncated input', () => {
    const kv = encodeKeyValue({
      key: utf8('k'),
      createRevision: 1,
      modRevision: 1,
      version: 1,
      value: utf8('v'),
      lease: 5n,
    });
    // field 9 varint 1, field 10 bytes "x", field 11 fixed32
    const extra = new Uint8Array([...kv, 0x48, 0x01, 0x52, 0x01, 0x78, 0x5d, 1, 2, 3, 4]);
    expect(decodeKeyValue(extra).lease).toBe(5n);
    expect(() => decodeKeyValue(kv.subarray(0, kv.length - 1))).toThrow(MvccError);
    expect(() => decodeKeyValue(new Uint8Array([0x0a, 0x05, 0x61]))).toThrow(MvccError);
  });
});

describe('crc32c', () => {
  it('matches the standard check value', () => {
    expect(crc32c(utf8('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  });
});
