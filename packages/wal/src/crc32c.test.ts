import { describe, expect, it } from 'vitest';
import { crc32c, crc32cReference } from './crc32c';

const ascii = (s: string) => new TextEncoder().encode(s);

describe('crc32c', () => {
  it('matches the published check values', () => {
    expect(crc32c(0, ascii('123456789'))).toBe(0xe3069283);
    // RFC 3720 appendix B.4 vectors.
    expect(crc32c(0, new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(0, new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    const inc = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(crc32c(0, inc)).toBe(0x46dd794e);
    expect(crc32c(0, new Uint8Array(0))).toBe(0);
  });

  it('agrees with the bitwise reference at every length and alignment', () => {
    const backing = Uint8Array.from({ length: 400 }, (_, i) => (i * 131 + 7 + (i >> 5)) & 0xff);
    // Views at every offset mod 4, so both the byte and the word paths see every alignment.
    for (let view = 0; view < 4; view++) {
      const buf = backing.subarray(view);
      for (let start = 0; start < 20; start++) {
        for (let end = start; end <= 300; end += end - start < 80 ? 1 : 7) {
          expect(crc32c(0, buf, start, end)).toBe(crc32cReference(0, buf.subarray(start, end)));
        }
      }
    }
  });

  it('continues across pieces', () => {
    const buf = Uint8Array.from({ length: 1000 }, (_, i) => (i * 17) & 0xff);
    const whole = crc32c(0, buf);
    for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) {
      expect(crc32c(crc32c(0, buf, 0, cut), buf, cut)).toBe(whole);
    }
  });
});
