import { describe, expect, it } from 'vitest';
import { HeaderListTooLarge, HpackDecoder, HpackEncoder, HpackError, encodeHeaders } from './hpack';
import type { HeaderMap } from './hpack';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeAll(decoder: HpackDecoder, block: Buffer): HeaderMap {
  const out: HeaderMap = {};
  decoder.decode(block, out, 1 << 20);
  return out;
}

describe('HpackDecoder', () => {
  // RFC 7541 Appendix C.3: three requests on one connection, no Huffman.
  it('decodes the RFC 7541 C.3 requests, dynamic table carried across blocks', () => {
    const d = new HpackDecoder();
    expect(decodeAll(d, hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'))).toEqual({
      ':method': 'GET',
      ':scheme': 'http',
      ':path': '/',
      ':authority': 'www.example.com',
    });
    expect(decodeAll(d, hex('8286 84be 5808 6e6f 2d63 6163 6865'))).toEqual({
      ':method': 'GET',
      ':scheme': 'http',
      ':path': '/',
      ':authority': 'www.example.com',
      'cache-control': 'no-cache',
    });
    expect(
      decodeAll(d, hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65')),
    ).toEqual({
      ':method': 'GET',
      ':scheme': 'https',
      ':path': '/index.html',
      ':authority': 'www.example.com',
      'custom-key': 'custom-value',
    });
  });

  // RFC 7541 Appendix C.4: the same requests with Huffman-coded strings.
  it('decodes the RFC 7541 C.4 requests (Huffman)', () => {
    const d = new HpackDecoder();
    expect(decodeAll(d, hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))[':authority']).toBe(
      'www.example.com',
    );
    expect(decodeAll(d, hex('8286 84be 5886 a8eb 1064 9cbf'))['cache-control']).toBe('no-cache');
    expect(
      decodeAll(d, hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))[
        'custom-key'
      ],
    ).toBe('custom-value');
  });

  it('evicts to the size the client sets, and keeps repeated names as a list', () => {
    const d = new HpackDecoder();
    decodeAll(d, hex('400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'));
    // Size update to 0 (0x20) empties the table: index 62 is then out of range.
    expect(() => decodeAll(d, hex('20be'))).toThrow(HpackError);
    const e = new HpackDecoder();
    // Two literal fields with the same new name.
    const block = Buffer.concat([
      hex('0003 6162 6301 31'), // abc: 1
      hex('0003 6162 6301 32'), // abc: 2
    ]);
    expect(decodeAll(e, block)).toEqual({ abc: ['1', '2'] });
  });

  it('refuses malformed blocks and oversized header lists', () => {
    expect(() => decodeAll(new HpackDecoder(), hex('80'))).toThrow(HpackError); // index 0
    expect(() => decodeAll(new HpackDecoder(), hex('ff'))).toThrow(HpackError); // truncated integer
    expect(() => decodeAll(new HpackDecoder(), hex('0003 6162'))).toThrow(HpackError); // truncated string
    expect(() => decodeAll(new HpackDecoder(), hex('82 20'))).toThrow(HpackError); // size update late
    expect(() => decodeAll(new HpackDecoder(), hex('3fe21f'))).toThrow(HpackError); // 4,097: above the limit
    const big = encodeHeaders([['x-big', 'v'.repeat(2000)]]);
    expect(() => new HpackDecoder().decode(big, {}, 1000)).toThrow(HeaderListTooLarge);
  });
});

describe('encodeHeaders', () => {
  it('round-trips through the decoder without touching the dynamic table', () => {
    const fields: [string, string][] = [
      [':status', '200'],
      ['content-type', 'application/grpc+proto'],
      ['grpc-status', '0'],
      ['grpc-message', 'a'.repeat(300)],
    ];
    const block = encodeHeaders(fields);
    expect(block[0]).toBe(0x88);
    const d = new HpackDecoder();
    expect(decodeAll(d, block)).toEqual(Object.fromEntries(fields));
    // Nothing was indexed: index 62 does not exist.
    expect(() => decodeAll(d, hex('be'))).toThrow(HpackError);
  });
});

describe('HpackEncoder', () => {
  const indexable = (name: string, value: string): boolean =>
    name === 'content-type' || (name === 'grpc-message' && value === 'OK');

  it('indexes what it may on first use, then sends one-byte indexes; a decoder follows it', () => {
    const enc = new HpackEncoder(indexable);
    const dec = new HpackDecoder();
    const fields: [string, string][] = [
      [':status', '200'],
      ['content-type', 'application/grpc+proto'],
      ['grpc-message', 'OK'],
      ['x-md', 'literal'],
    ];
    const first = enc.encode(fields);
    const second = enc.encode(fields);
    expect(second.length).toBeLessThan(first.length);
    // :status, content-type and grpc-message indexed; x-md a literal again.
    expect([...second.subarray(0, 3)]).toEqual([0x88, 0xbf, 0xbe]);
    expect(decodeAll(dec, first)).toEqual(Object.fromEntries(fields));
    expect(decodeAll(dec, second)).toEqual(Object.fromEntries(fields));
    // Random blocks of indexable and other fields keep both tables in step.
    for (let i = 0; i < 500; i++) {
      const n = (i * 7919) % 13;
      const block: [string, string][] = [
        ['grpc-message', n % 3 === 0 ? 'OK' : `err ${n}`],
        ['content-type', `application/grpc+v${n}`],
      ];
      expect(decodeAll(dec, enc.encode(block))).toEqual(Object.fromEntries(block));
    }
  });

  it("follows the client's SETTINGS_HEADER_TABLE_SIZE with a size update and no indexing at 0", () => {
    const enc = new HpackEncoder(indexable);
    const dec = new HpackDecoder();
    const fields: [string, string][] = [['content-type', 'application/grpc']];
    decodeAll(dec, enc.encode(fields));
    enc.setLimit(0);
    const block = enc.encode(fields);
    expect(block[0]).toBe(0x20); // size update to 0
    expect(decodeAll(dec, block)).toEqual(Object.fromEntries(fields));
    // Still a literal: nothing can be indexed in a table of size 0.
    expect(enc.encode(fields)[0]).not.toBe(0xbe);
  });

  it('hands out the same block for a repeated field list only while the table is unchanged', () => {
    const enc = new HpackEncoder(indexable);
    const dec = new HpackDecoder();
    const headers: [string, string][] = [
      [':status', '200'],
      ['content-type', 'application/grpc'],
    ];
    const trailers: [string, string][] = [['grpc-message', 'OK']];
    const other: [string, string][] = [['content-type', 'application/grpc+other']];
    const send = (fields: [string, string][]): Buffer => {
      const block = enc.encode(fields);
      expect(decodeAll(dec, block)).toEqual(Object.fromEntries(fields));
      return block;
    };
    send(headers);
    send(trailers);
    const h = send(headers);
    const t = send(trailers);
    // Both lists are remembered at once (a unary response's two blocks).
    expect(send(headers)).toBe(h);
    expect(send(trailers)).toBe(t);
    // A new entry shifts every dynamic index by one: fresh bytes, never the old ones.
    send(other);
    const h2 = send(headers);
    expect(h2).not.toBe(h);
    expect(h2[1]).toBe(h[1]! + 1);
    expect(send(trailers)[0]).toBe(t[0]! + 1);
    // A smaller table evicts entries: the next block starts with the size
    // update, and the ones after it refer only to what is left.
    enc.setLimit(40 + 'content-type'.length + 'application/grpc+other'.length);
    expect(send(headers)[0]! & 0xe0).toBe(0x20);
    for (let i = 0; i < 3; i++) {
      send(trailers);
      send(headers);
    }
    // Evicting alone (no entry added) also retires the remembered blocks.
    enc.setLimit(4096);
    send(headers);
    send(trailers);
    const remembered = send(headers);
    expect(send(headers)).toBe(remembered);
    enc.setLimit(0);
    send([['x-md', 'takes the size update']]);
    expect(send(headers)).not.toBe(remembered);
    send(trailers);
  });
});
