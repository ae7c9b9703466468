import { etcdserverpb } from '@kv/api';
import { describe, expect, it } from 'vitest';
import { BadRequestError, decodeRequest, stringifyGoStyle } from './json-codec';

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

describe('stringifyGoStyle', () => {
  it("escapes what Go's encoder escapes", () => {
    expect(stringifyGoStyle({ a: '<a&b>\u2028\u2029é' })).toBe(
      '{"a":"\\u003ca\\u0026b\\u003e\\u2028\\u2029é"}',
    );
  });
});
