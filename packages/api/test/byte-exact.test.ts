// Encodings worked out by hand from the protobuf wire format
// (https://protobuf.dev/programming-guides/encoding/): tag byte =
// (field_number << 3) | wire_type, wire types 0 = varint, 2 = length-delimited;
// varints are little-endian base-128; negative int64 is a 10-byte varint
// of its two's complement. A wrong field number or type changes the bytes.
import { describe, expect, it } from 'vitest';
import { etcdserverpb, mvccpb } from '../src/index';

const { PutRequest, RangeResponse, WatchResponse, Member, ResponseHeader, Compare, WatchRequest } =
  etcdserverpb;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
}

const b = (s: string) => Buffer.from(s, 'utf8');

describe('byte-exact encodings', () => {
  it('PutRequest{key:"foo", value:"bar", prev_kv:true}', () => {
    // key   #1 LEN: 0a 03 'f' 'o' 'o'
    // value #2 LEN: 12 03 'b' 'a' 'r'
    // prev_kv #4 VARINT: 20 01
    const expected = '0a 03 66 6f 6f 12 03 62 61 72 20 01';
    const msg = PutRequest.fromPartial({ key: b('foo'), value: b('bar'), prevKv: true });
    expect(hex(PutRequest.encode(msg).finish())).toBe(expected);
    expect(PutRequest.decode(Buffer.from(expected.replaceAll(' ', ''), 'hex'))).toEqual(msg);
  });

  it('RangeResponse with a header and one KeyValue', () => {
    // header #1 LEN 9: cluster_id #1 = 1 (08 01), member_id #2 = 2 (10 02),
    //   revision #3 = 300 (18 ac 02: 300 = 0b10_0101100 -> ac 02), raft_term #4 = 4 (20 04)
    // kvs #2 LEN 17: key #1 "foo" (0a 03 ..), create_revision #2 = 2 (10 02),
    //   mod_revision #3 = 300 (18 ac 02), version #4 = 1 (20 01), value #5 "bar" (2a 03 ..);
    //   lease 0 is the default and is not written
    // more = false is not written; count #4 = 1 (20 01)
    const expected =
      '0a 09 08 01 10 02 18 ac 02 20 04 ' +
      '12 11 0a 03 66 6f 6f 10 02 18 ac 02 20 01 2a 03 62 61 72 ' +
      '20 01';
    const msg = RangeResponse.fromPartial({
      header: { clusterId: 1n, memberId: 2n, revision: 300n, raftTerm: 4n },
      kvs: [{ key: b('foo'), createRevision: 2n, modRevision: 300n, version: 1n, value: b('bar') }],
      count: 1n,
    });
    expect(hex(RangeResponse.encode(msg).finish())).toBe(expected);
    const decoded = RangeResponse.decode(Buffer.from(expected.replaceAll(' ', ''), 'hex'));
    expect(decoded).toEqual(msg);
    expect(decoded.kvs[0]?.modRevision).toBe(300n);
  });

  it('WatchResponse with one DELETE event', () => {
    // header #1 LEN 2: revision #3 = 5 (18 05)
    // watch_id #2 = 7 (10 07)
    // events #11 LEN: tag (11 << 3) | 2 = 0x5a, length 9:
    //   type #1 = DELETE = 1 (08 01); kv #2 LEN 5: key #1 "a" (0a 01 61), mod_revision #3 = 5 (18 05)
    const expected = '0a 02 18 05 10 07 5a 09 08 01 12 05 0a 01 61 18 05';
    const msg = WatchResponse.fromPartial({
      header: { revision: 5n },
      watchId: 7n,
      events: [{ type: mvccpb.Event_EventType.DELETE, kv: { key: b('a'), modRevision: 5n } }],
    });
    expect(hex(WatchResponse.encode(msg).finish())).toBe(expected);
    expect(WatchResponse.decode(Buffer.from(expected.replaceAll(' ', ''), 'hex'))).toEqual(msg);
  });

  it('uint64 member id 0xffffffffffffffff keeps all 64 bits', () => {
    // ID #1 VARINT: 64 one-bits = nine 7-bit groups of ones (ff x9) then the last bit (01)
    const expected = '08 ff ff ff ff ff ff ff ff ff 01';
    const msg = Member.fromPartial({ ID: 0xffff_ffff_ffff_ffffn });
    expect(hex(Member.encode(msg).finish())).toBe(expected);
    const decoded = Member.decode(Buffer.from(expected.replaceAll(' ', ''), 'hex'));
    expect(decoded.ID).toBe(18446744073709551615n);
    expect(typeof decoded.ID).toBe('bigint');

    // The same value in ResponseHeader.member_id (#2, tag 10).
    const header = ResponseHeader.decode(
      Buffer.from('10 ff ff ff ff ff ff ff ff ff 01'.replaceAll(' ', ''), 'hex'),
    );
    expect(header.memberId).toBe(2n ** 64n - 1n);
  });

  it('int64 -1 and int64 max (lease TTL -1 means expired)', () => {
    // ID #2 = 2^63-1: 63 one-bits = ff x8 then 7f; TTL #3 = -1: ten-byte two's complement varint
    const expected = '10 ff ff ff ff ff ff ff ff 7f 18 ff ff ff ff ff ff ff ff ff 01';
    const msg = etcdserverpb.LeaseTimeToLiveResponse.fromPartial({
      ID: 2n ** 63n - 1n,
      TTL: -1n,
    });
    expect(hex(etcdserverpb.LeaseTimeToLiveResponse.encode(msg).finish())).toBe(expected);
    expect(
      etcdserverpb.LeaseTimeToLiveResponse.decode(Buffer.from(expected.replaceAll(' ', ''), 'hex')),
    ).toEqual(msg);
  });

  it('rejects 64-bit values that do not fit the field type', () => {
    expect(() => Member.encode(Member.fromPartial({ ID: 2n ** 64n })).finish()).toThrow();
    expect(() => Member.encode(Member.fromPartial({ ID: -1n })).finish()).toThrow();
    expect(() =>
      ResponseHeader.encode(ResponseHeader.fromPartial({ revision: 2n ** 63n })).finish(),
    ).toThrow();
  });

  it('Compare: oneof member value #7 and range_end #64 (two-byte tag)', () => {
    // result #1 = NOT_EQUAL (08 03), target #2 = VALUE (10 03), key #3 "k" (1a 01 6b),
    // value #7 LEN "v" (3a 01 76), range_end #64 LEN "\0": tag 64 << 3 | 2 = 514 = 82 04
    const expected = '08 03 10 03 1a 01 6b 3a 01 76 82 04 01 00';
    const msg = Compare.fromPartial({
      result: etcdserverpb.Compare_CompareResult.NOT_EQUAL,
      target: etcdserverpb.Compare_CompareTarget.VALUE,
      key: b('k'),
      targetUnion: { $case: 'value', value: b('v') },
      rangeEnd: Buffer.from([0]),
    });
    expect(hex(Compare.encode(msg).finish())).toBe(expected);
    expect(Compare.decode(Buffer.from(expected.replaceAll(' ', ''), 'hex'))).toEqual(msg);
  });

  it('Compare: a zero oneof member is still written (explicit presence)', () => {
    // target #2 = MOD (10 02), key "k", mod_revision #6 = 0 (30 00)
    const msg = Compare.fromPartial({
      target: etcdserverpb.Compare_CompareTarget.MOD,
      key: b('k'),
      targetUnion: { $case: 'modRevision', value: 0n },
    });
    expect(hex(Compare.encode(msg).finish())).toBe('10 02 1a 01 6b 30 00');
  });

  it('WatchRequest: create with packed filters, and an empty progress request', () => {
    // create_request #1 LEN 11: key "foo" (0a 03 ..), filters #5 packed LEN 2 [NOPUT, NODELETE]
    // (2a 02 00 01), prev_kv #6 (30 01)
    const create = WatchRequest.fromPartial({
      requestUnion: {
        $case: 'createRequest',
        value: { key: b('foo'), filters: [0, 1], prevKv: true },
      },
    });
    expect(hex(WatchRequest.encode(create).finish())).toBe(
      '0a 0b 0a 03 66 6f 6f 2a 02 00 01 30 01',
    );
    // progress_request #3 LEN 0: the empty message is still sent (1a 00)
    const progress = WatchRequest.fromPartial({
      requestUnion: { $case: 'progressRequest', value: {} },
    });
    expect(hex(WatchRequest.encode(progress).finish())).toBe('1a 00');
    expect(WatchRequest.decode(Buffer.from([0x1a, 0x00])).requestUnion?.$case).toBe(
      'progressRequest',
    );
  });

  it('decoders skip fields they do not know (forward compatibility)', () => {
    // field #15 VARINT 1 (78 01) before key #1 "foo"
    const decoded = PutRequest.decode(
      Buffer.from('78 01 0a 03 66 6f 6f'.replaceAll(' ', ''), 'hex'),
    );
    expect(decoded.key.toString()).toBe('foo');
  });
});
