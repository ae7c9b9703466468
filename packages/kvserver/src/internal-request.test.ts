import { describe, expect, it } from 'vitest';
import { etcdserverpb } from '@kv/api';
import {
  INTERNAL_HEADER_BYTES,
  RequestKind,
  decodeInternalRequest,
  decodePutRequest,
  decodeTxnRequest,
  encodeInternalRequest,
  encodePutEntry,
  encodeTxnEntry,
} from './internal-request';

/** Seeded xorshift, so a failing case is reproducible. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const LEASES = [
  0n,
  1n,
  127n,
  128n,
  300n,
  2n ** 31n,
  2n ** 32n + 5n,
  2n ** 49n - 1n,
  2n ** 49n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n - 1n,
  -1n,
  -(2n ** 63n),
];

function randomPut(r: () => number): etcdserverpb.PutRequest {
  const len = (): number => {
    const x = r();
    if (x < 0.2) return 0;
    if (x < 0.97) return Math.floor(r() * 300);
    return Math.floor(r() * 70_000);
  };
  const bytes = (n: number): Buffer => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
    return b;
  };
  return {
    key: bytes(len()),
    value: bytes(len()),
    lease: LEASES[Math.floor(r() * LEASES.length)]!,
    prevKv: r() < 0.5,
    ignoreValue: r() < 0.5,
    ignoreLease: r() < 0.5,
  };
}

/** Field by field (toEqual on large buffers is slow), checking Buffer-ness too. */
function expectSamePut(a: etcdserverpb.PutRequest | undefined, b: etcdserverpb.PutRequest): void {
  expect(a).toBeDefined();
  expect(Buffer.isBuffer(a!.key)).toBe(Buffer.isBuffer(b.key));
  expect(Buffer.isBuffer(a!.value)).toBe(Buffer.isBuffer(b.value));
  expect(Buffer.compare(a!.key, b.key)).toBe(0);
  expect(Buffer.compare(a!.value, b.value)).toBe(0);
  expect({ ...a!, key: 0, value: 0 }).toEqual({ ...b, key: 0, value: 0 });
}

describe('Put entries (hand-written codec against ts-proto)', () => {
  it('encodes the same bytes as the generic path, and decodes to the same object', () => {
    const r = rng(12);
    let fast = 0;
    for (let i = 0; i < 2000; i++) {
      const p = randomPut(r);
      const id = BigInt(Math.floor(r() * 2 ** 48)) | (0xabcdn << 48n);
      const payload = etcdserverpb.PutRequest.encode(p).finish();
      const generic = encodeInternalRequest({ kind: RequestKind.Put, id, payload });
      const entry = encodePutEntry(id, p);
      if (p.lease < 0n || p.lease >= 2n ** 53n) {
        expect(entry).toBeUndefined();
        continue;
      }
      expect(entry).toBeDefined();
      expect(Buffer.compare(entry!, generic)).toBe(0);
      const req = decodeInternalRequest(entry!);
      expect(req.kind).toBe(RequestKind.Put);
      expect(req.id).toBe(id);
      expect(entry!.length - INTERNAL_HEADER_BYTES).toBe(payload.length);
      const decoded = decodePutRequest(req.payload);
      if (p.lease >= 2n ** 49n) {
        // Eight-byte varints are left to the generic decoder.
        expect(decoded).toBeUndefined();
        continue;
      }
      fast++;
      expectSamePut(decoded, etcdserverpb.PutRequest.decode(req.payload));
      expectSamePut(decoded, p);
    }
    expect(fast).toBeGreaterThan(1000);
  });

  it('decodes damaged or unusual payloads as ts-proto does, or leaves them to it', () => {
    const r = rng(7);
    let handled = 0;
    for (let i = 0; i < 5000; i++) {
      const p = randomPut(r);
      p.key = p.key.subarray(0, 20);
      p.value = p.value.subarray(0, 20);
      const bytes = Buffer.from(etcdserverpb.PutRequest.encode(p).finish());
      // Flip, cut or extend a few bytes (unknown fields, long varints, truncation).
      const damaged = [...bytes];
      for (let k = 0; k < 1 + Math.floor(r() * 3); k++) {
        const at = Math.floor(r() * (damaged.length + 1));
        const x = r();
        if (x < 0.4) damaged[at] = (r() * 256) | 0;
        else if (x < 0.7) damaged.splice(at, 1);
        else damaged.splice(at, 0, (r() * 256) | 0);
      }
      const input = Uint8Array.from(damaged);
      const fast = decodePutRequest(input);
      if (fast === undefined) continue;
      handled++;
      expectSamePut(fast, etcdserverpb.PutRequest.decode(input));
    }
    expect(handled).toBeGreaterThan(500);
  });

  it('copies key and value out of the entry', () => {
    const entry = encodePutEntry(1n, {
      key: Buffer.from('k'),
      value: Buffer.from('v'),
      lease: 0n,
      prevKv: false,
      ignoreValue: false,
      ignoreLease: false,
    })!;
    const p = decodePutRequest(entry.subarray(INTERNAL_HEADER_BYTES))!;
    entry.fill(0);
    expect(p.key.toString()).toBe('k');
    expect(p.value.toString()).toBe('v');
  });
});

describe('Txn entries of puts (hand-written codec against ts-proto)', () => {
  const putOp = (p: etcdserverpb.PutRequest): etcdserverpb.RequestOp => ({
    request: { $case: 'requestPut', value: p },
  });

  it('encodes the same bytes as the generic path for txns of puts, and decodes them alike', () => {
    const r = rng(99);
    let fast = 0;
    for (let i = 0; i < 1500; i++) {
      const n = Math.floor(r() * 5);
      const t = etcdserverpb.TxnRequest.fromPartial({
        success: Array.from({ length: n }, () => putOp(randomPut(r))),
      });
      const id = BigInt(Math.floor(r() * 2 ** 48));
      const payload = etcdserverpb.TxnRequest.encode(t).finish();
      const entry = encodeTxnEntry(id, t);
      const slow = t.success.some((op) => {
        const l = (op.request as { value: etcdserverpb.PutRequest }).value.lease;
        return l < 0n || l >= 2n ** 53n;
      });
      if (slow) {
        expect(entry).toBeUndefined();
        continue;
      }
      expect(entry).toBeDefined();
      const generic = encodeInternalRequest({ kind: RequestKind.Txn, id, payload });
      expect(Buffer.compare(entry!, generic)).toBe(0);
      const decoded = decodeTxnRequest(decodeInternalRequest(entry!).payload);
      const reference = etcdserverpb.TxnRequest.decode(payload);
      const long = t.success.some(
        (op) => (op.request as { value: etcdserverpb.PutRequest }).value.lease >= 2n ** 49n,
      );
      if (long) {
        expect(decoded).toBeUndefined();
        continue;
      }
      fast++;
      expect(decoded).toBeDefined();
      expect(decoded!.compare).toEqual([]);
      expect(decoded!.failure).toEqual([]);
      expect(decoded!.success).toHaveLength(reference.success.length);
      for (let k = 0; k < reference.success.length; k++) {
        const a = decoded!.success[k]!.request;
        const b = reference.success[k]!.request;
        expect(a?.$case).toBe('requestPut');
        expect(b?.$case).toBe('requestPut');
        expectSamePut(
          (a as { value: etcdserverpb.PutRequest }).value,
          (b as { value: etcdserverpb.PutRequest }).value,
        );
      }
    }
    expect(fast).toBeGreaterThan(500);
  });

  it('leaves every other txn shape to the generic codec', () => {
    const p = etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('k') });
    const shapes: etcdserverpb.TxnRequest[] = [
      etcdserverpb.TxnRequest.fromPartial({
        compare: [{ key: Buffer.from('k') }],
        success: [putOp(p)],
      }),
      etcdserverpb.TxnRequest.fromPartial({ success: [putOp(p)], failure: [putOp(p)] }),
      etcdserverpb.TxnRequest.fromPartial({
        success: [
          putOp(p),
          {
            request: {
              $case: 'requestRange',
              value: etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('k') }),
            },
          },
        ],
      }),
      etcdserverpb.TxnRequest.fromPartial({ success: [putOp(p), { request: undefined }] }),
    ];
    for (const t of shapes) {
      expect(encodeTxnEntry(1n, t)).toBeUndefined();
      expect(decodeTxnRequest(etcdserverpb.TxnRequest.encode(t).finish())).toBeUndefined();
    }
  });

  it('decodes damaged payloads as ts-proto does, or leaves them to it', () => {
    const r = rng(5);
    let handled = 0;
    for (let i = 0; i < 4000; i++) {
      const t = etcdserverpb.TxnRequest.fromPartial({
        success: Array.from({ length: 1 + Math.floor(r() * 3) }, () => {
          const p = randomPut(r);
          p.key = p.key.subarray(0, 10);
          p.value = p.value.subarray(0, 10);
          p.lease = BigInt(Math.floor(r() * 1000));
          return putOp(p);
        }),
      });
      const damaged = [...etcdserverpb.TxnRequest.encode(t).finish()];
      if (r() < 0.8) {
        const at = Math.floor(r() * (damaged.length + 1));
        const x = r();
        if (x < 0.4) damaged[at] = (r() * 256) | 0;
        else if (x < 0.7) damaged.splice(at, 1);
        else damaged.splice(at, 0, (r() * 256) | 0);
      }
      const input = Uint8Array.from(damaged);
      const fast = decodeTxnRequest(input);
      if (fast === undefined) continue;
      handled++;
      const reference = etcdserverpb.TxnRequest.decode(input);
      expect(reference.compare).toEqual([]);
      expect(reference.failure).toEqual([]);
      expect(fast.success).toHaveLength(reference.success.length);
      for (let k = 0; k < reference.success.length; k++) {
        const a = fast.success[k]!.request as { $case: string; value: etcdserverpb.PutRequest };
        const b = reference.success[k]!.request as {
          $case: string;
          value: etcdserverpb.PutRequest;
        };
        expect(b.$case).toBe(a.$case);
        expectSamePut(a.value, b.value);
      }
    }
    expect(handled).toBeGreaterThan(800);
  });
});
