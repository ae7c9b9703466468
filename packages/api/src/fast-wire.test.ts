import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { sizeOf64, write64 } from './fast-wire';

/** The generated encoders' varint bytes: uint64 for non-negative values, int64 otherwise. */
function reference(v: bigint): Uint8Array {
  const w = new BinaryWriter();
  if (v < 0n) w.int64(v);
  else w.uint64(v);
  return w.finish();
}

function mine(v: bigint): Uint8Array {
  const buf = Buffer.alloc(sizeOf64(v) + 4, 0xee);
  const end = write64(buf, 2, v);
  expect(end - 2).toBe(sizeOf64(v));
  expect(buf[0]).toBe(0xee);
  expect(buf[end]).toBe(0xee);
  return new Uint8Array(buf.subarray(2, end));
}

const int64 = fc.oneof(
  fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n),
  fc.bigInt(0n, 2n ** 64n - 1n),
  fc.bigInt(2n ** 53n - 2n, 2n ** 53n + 2n),
);

describe('write64 / sizeOf64', () => {
  it('write the generated encoder’s varint bytes', () => {
    fc.assert(
      fc.property(int64, (v) => {
        expect(mine(v)).toEqual(reference(v));
      }),
      { numRuns: 2000 },
    );
  });

  it('stay exact when more large values alternate than it remembers', () => {
    // Large values go through a small cache of encodings: a stale or
    // mismatched slot would show up as wrong bytes here.
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.bigInt(2n ** 53n, 2n ** 64n - 1n), fc.bigInt(-(2n ** 63n), -1n)), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 60 }),
        (values, picks) => {
          for (const p of picks) {
            const v = values[p % values.length]!;
            expect(mine(v)).toEqual(reference(v));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
