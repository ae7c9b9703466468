import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonValueSplitter, UnexpectedEofError, ValueTooLargeError } from './json-stream';

// Feeds `text` in the given chunk sizes and collects every value.
function split(text: string, cuts: number[], limit = 1 << 20): string[] {
  const bytes = Buffer.from(text);
  const splitter = new JsonValueSplitter(limit);
  const out: string[] = [];
  let at = 0;
  for (const cut of cuts) {
    out.push(...splitter.push(bytes.subarray(at, Math.min(bytes.length, at + cut))));
    at = Math.min(bytes.length, at + cut);
  }
  out.push(...splitter.push(bytes.subarray(at)));
  const last = splitter.end();
  if (last !== undefined) out.push(last);
  return out;
}

describe('JsonValueSplitter', () => {
  it('finds every value of a concatenation, however the bytes are chunked', () => {
    const separator = fc.constantFrom('', ' ', '\n', '\r\n\t ');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.jsonValue(), separator), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 40 }),
        (values, cuts) => {
          // Adjacent scalars need a separator to stay two values, as in Go.
          const texts = values.map(([v]) => JSON.stringify(v));
          let text = '';
          values.forEach(([, sep], i) => {
            const prev = texts[i - 1];
            const needsSpace =
              prev !== undefined &&
              sep === '' &&
              !/[}\]"]$/.test(prev) &&
              !/^[{["]/.test(texts[i]!);
            text += (needsSpace ? ' ' : sep) + texts[i]!;
          });
          expect(split(text, cuts).map((t) => JSON.parse(t) as unknown)).toEqual(
            texts.map((t) => JSON.parse(t) as unknown),
          );
        },
      ),
    );
  });

  it('keeps braces and quotes inside strings, escapes and multi-byte characters intact', () => {
    const text = '{"a":"}{\\"\\\\","b":["]"]}{"c":"héllo ✓ 😀"}';
    expect(split(text, [1, 1, 1, 3, 2, 5, 1, 1, 1, 1, 1])).toEqual([
      '{"a":"}{\\"\\\\","b":["]"]}',
      '{"c":"héllo ✓ 😀"}',
    ]);
  });

  it('reports a value cut short at the end of input', () => {
    const splitter = new JsonValueSplitter(100);
    expect(splitter.push(Buffer.from('{"a":1} {"b":'))).toEqual(['{"a":1}']);
    expect(() => splitter.end()).toThrow(UnexpectedEofError);
  });

  it('rejects a value over the limit, complete or still arriving', () => {
    expect(() => new JsonValueSplitter(10).push(Buffer.from('{"a":"0123456789"}'))).toThrow(
      ValueTooLargeError,
    );
    const growing = new JsonValueSplitter(10);
    expect(growing.push(Buffer.from('{"a":'))).toEqual([]);
    expect(() => growing.push(Buffer.from('"0123456789'))).toThrow(ValueTooLargeError);
    // Whitespace between values does not count.
    expect(new JsonValueSplitter(10).push(Buffer.from(`${' '.repeat(50)}{"a":1}`))).toEqual([
      '{"a":1}',
    ]);
  });
});
