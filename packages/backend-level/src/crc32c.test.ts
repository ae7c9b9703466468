import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32c, crc32cUpdate } from './crc32c';

// Bit-at-a-time reference, independent of the table construction.
function slowCrc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32c', () => {
  it('matches the published check value and RFC 3720 vectors', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('agrees with a bitwise reference and composes across splits', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(100), (data, cut) => {
        const at = Math.min(cut, data.length);
        const whole = crc32c(data);
        expect(whole).toBe(slowCrc32c(data));
        expect(crc32cUpdate(crc32cUpdate(0, data.subarray(0, at)), data.subarray(at))).toBe(whole);
      }),
    );
  });
});
