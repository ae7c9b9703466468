import { etcdserverpb } from '@kv/api';
import { describe, expect, it } from 'vitest';
import { v3lockpb } from '@kv/api';
import {
  BadRequestError,
  BYTES_KEYS_WITH_NAME,
  decodeRequest,
  stringifyGoStyle,
} from './json-codec';

describe('decodeRequest', () => {
  it('keeps int64 values exact when they are sent as bare JSON numbers', () => {
    const req = decodeRequest(
      etcdserverpb.LeaseRevokeRequest,
      '{"ID":7587821338341002422}',
    ) as etcdserverpb.LeaseRevokeRequest;
    expect(req.ID).toBe(7587821338341002422n);
    const neg = decodeRequest(
      etcdserverpb.RangeRequest,
      '{"key":"YQ==","revision":-9223372036854775808, "limit": 12}',
    ) as etcdserverpb.RangeRequest;
    expect(neg.revision).toBe(-9223372036854775808n);
    expect(neg.limit).toBe(12n);
  });

  it('leaves digits inside strings and fractional numbers alone', () => {
    const req = decodeRequest(
      etcdserverpb.AuthUserAddRequest,
      '{"name":"u\\"12345678901234567890","password":"1234567890123456789"}',
    ) as etcdserverpb.AuthUserAddRequest;
    expect(req.name).toBe('u"12345678901234567890');
    expect(req.password).toBe('1234567890123456789');
    expect(() => decodeRequest(etcdserverpb.RangeRequest, '{"limit":1234567890123456.5}')).toThrow(
      BadRequestError,
    );
  });
});

describe('base64 in bytes fields (Go standard encoding)', () => {
  const range = (key: string): unknown =>
    decodeRequest(etcdserverpb.RangeRequest, JSON.stringify({ key }));

  it('accepts padded standard base64, ignoring line breaks', () => {
    for (const ok of ['', 'Zm9v', 'Zm8=', 'Zg==', '+/8=', 'Zm9v\n', 'Zm\r\n9v']) {
      expect(() => range(ok), ok).not.toThrow();
    }
    expect(range('Zm9v\n')).toMatchObject({ key: Buffer.from('foo') });
  });

  it('rejects what Go rejects, at the byte Go reports', () => {
    const cases: [string, number][] = [
      ['foo', 0],
      ['Zm8', 0],
      ['_-8=', 0],
      ['Zm 9v', 2],
      ['Zg==Zg==', 4],
      ['Zm9vY', 4],
    ];
    for (const [bad, at] of cases) {
      expect(() => range(bad), bad).toThrow(`illegal base64 data at input byte ${at}`);
    }
  });

  it('checks nested bytes fields (txn compares and ops, role permissions)', () => {
    expect(() =>
      decodeRequest(
        etcdserverpb.TxnRequest,
        '{"success":[{"request_put":{"key":"a2V5","value":"plain"}}]}',
      ),
    ).toThrow(BadRequestError);
    expect(() =>
      decodeRequest(etcdserverpb.TxnRequest, '{"compare":[{"key":"a2V5","value":"nope!"}]}'),
    ).toThrow(BadRequestError);
    expect(() =>
      decodeRequest(
        etcdserverpb.AuthRoleGrantPermissionRequest,
        '{"name":"any name","perm":{"key":"a/b"}}',
      ),
    ).toThrow(BadRequestError);
  });

  it('`name` is bytes only where the caller says so (Lock, Election)', () => {
    expect(decodeRequest(etcdserverpb.AuthUserAddRequest, '{"name":"root user"}')).toMatchObject({
      name: 'root user',
    });
    expect(() =>
      decodeRequest(v3lockpb.LockRequest, '{"name":"my lock"}', BYTES_KEYS_WITH_NAME),
    ).toThrow(BadRequestError);
    expect(
      decodeRequest(v3lockpb.LockRequest, '{"name":"bXlsb2Nr"}', BYTES_KEYS_WITH_NAME),
    ).toMatchObject({ name: Buffer.from('mylock') });
  });
});

describe('stringifyGoStyle', () => {
  it("escapes what Go's encoder escapes", () => {
    expect(stringifyGoStyle({ a: '<a&b>\u2028\u2029é' })).toBe(
      '{"a":"\\u003ca\\u0026b\\u003e\\u2028\\u2029é"}',
    );
  });
});
