import { describe, expect, it } from 'vitest';
import { etcdserverpb } from '@kv/api';
import { checkTxn } from './validate';

const b = (s: string): Buffer => Buffer.from(s);
const put = (key: string): etcdserverpb.RequestOp => ({
  request: { $case: 'requestPut', value: etcdserverpb.PutRequest.fromPartial({ key: b(key) }) },
});
const range = (key: string): etcdserverpb.RequestOp => ({
  request: { $case: 'requestRange', value: etcdserverpb.RangeRequest.fromPartial({ key: b(key) }) },
});
const del = (key: string, end = ''): etcdserverpb.RequestOp => ({
  request: {
    $case: 'requestDeleteRange',
    value: etcdserverpb.DeleteRangeRequest.fromPartial({ key: b(key), rangeEnd: b(end) }),
  },
});
const txn = (
  success: etcdserverpb.RequestOp[],
  failure: etcdserverpb.RequestOp[] = [],
): etcdserverpb.TxnRequest => etcdserverpb.TxnRequest.fromPartial({ success, failure });
const nested = (t: etcdserverpb.TxnRequest): etcdserverpb.RequestOp => ({
  request: { $case: 'requestTxn', value: t },
});

const check = (t: etcdserverpb.TxnRequest): void => checkTxn(t, { maxTxnOps: 128 });
const DUP = 'etcdserver: duplicate key given in txn request';

describe('checkTxn: duplicate writes in a branch', () => {
  it('accepts distinct puts, ranges of the same key, and the same key in both branches', () => {
    expect(() => check(txn([put('a'), put('b'), range('a'), range('a')]))).not.toThrow();
    expect(() => check(txn([put('a')], [put('a')]))).not.toThrow();
    expect(() => check(txn([put('a'), put('ab'), put('a\0')]))).not.toThrow();
  });

  it('refuses a key put twice in one branch, in every shape', () => {
    expect(() => check(txn([put('a'), put('a')]))).toThrow(DUP);
    expect(() => check(txn([range('x'), put('b'), put('a'), put('b')]))).toThrow(DUP);
    expect(() => check(txn([], [put('k'), range('k'), put('k')]))).toThrow(DUP);
    // More ops than the pairwise path takes.
    const many = Array.from({ length: 12 }, (_, i) => put(`k${i}`));
    expect(() => check(txn(many))).not.toThrow();
    expect(() => check(txn([...many, put('k3')]))).toThrow(DUP);
    // Put inside a deleted range, and puts in a nested txn clashing with a sibling.
    expect(() => check(txn([del('a', 'c'), put('b')]))).toThrow(DUP);
    expect(() => check(txn([del('a'), put('b')]))).not.toThrow();
    expect(() => check(txn([put('a'), nested(txn([put('a')]))]))).toThrow(DUP);
    expect(() => check(txn([put('a'), nested(txn([put('b')], [put('b')]))]))).not.toThrow();
    // Keys given as plain Uint8Arrays (not Buffers) are compared by bytes too.
    const raw = (key: string): etcdserverpb.RequestOp => ({
      request: {
        $case: 'requestPut',
        value: etcdserverpb.PutRequest.fromPartial({ key: new Uint8Array(b(key)) as Buffer }),
      },
    });
    expect(() => check(txn([raw('a'), raw('a')]))).toThrow(DUP);
    expect(() => check(txn([raw('a'), raw('b')]))).not.toThrow();
  });
});
