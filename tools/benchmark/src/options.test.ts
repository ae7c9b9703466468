import { describe, it, expect } from 'vitest';
import { defaultOptions, parseArgs, parseDuration, UsageError } from './options';
import { parseCompareArgs, STANDARD_ROWS } from './compare';

describe('parseArgs', () => {
  it('applies etcd-like defaults', () => {
    const o = parseArgs(['put']);
    expect(o).toEqual({ ...defaultOptions('put'), total: 10_000 });
    expect(o.endpoints).toEqual(['127.0.0.1:2379']);
    expect(o.keySize).toBe(8);
    expect(o.valSize).toBe(8);
  });

  it('reads every common flag, in both --flag value and --flag=value forms', () => {
    const o = parseArgs([
      'put',
      '--endpoints',
      'http://127.0.0.1:1,127.0.0.1:2',
      '--clients=100',
      '--conns',
      '10',
      '--key-size',
      '16',
      '--val-size=256',
      '--key-space',
      '1000',
      '--key-prefix',
      'p/',
      '--sequential-keys',
      '--duration',
      '3s',
      '--rate',
      '500',
      '--workers',
      '2',
    ]);
    expect(o.endpoints).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    expect(o.clients).toBe(100);
    expect(o.conns).toBe(10);
    expect(o.keySize).toBe(16);
    expect(o.valSize).toBe(256);
    expect(o.keySpace).toBe(1000);
    expect(o.keyPrefix).toBe('p/');
    expect(o.sequentialKeys).toBe(true);
    expect(o.durationMs).toBe(3000);
    expect(o.total).toBe(0);
    expect(o.rate).toBe(500);
    expect(o.workers).toBe(2);
  });

  it('reads mode flags', () => {
    const r = parseArgs([
      'range',
      '--consistency',
      's',
      '--prefix',
      '--limit',
      '1000',
      '--preload',
    ]);
    expect(r.consistency).toBe('s');
    expect(r.prefix).toBe(true);
    expect(r.limit).toBe(1000);
    expect(r.preload).toBe(true);
    expect(parseArgs(['mixed']).readRatio).toBeCloseTo(2 / 3, 9);
    expect(parseArgs(['txn-mixed', '--key-space', '4']).readRatio).toBe(0.5);
    expect(parseArgs(['mixed', '--read-ratio', '0.9']).readRatio).toBe(0.9);
    expect(parseArgs(['txn-put', '--txn-ops', '4', '--key-space', '4']).txnOps).toBe(4);
    const w = parseArgs(['watch', '--watchers', '100', '--streams', '10', '--val-size', '2']);
    expect(w.watchers).toBe(100);
    expect(w.streams).toBe(10);
    // The send timestamp needs 8 bytes of value.
    expect(w.valSize).toBe(8);
    expect(parseArgs(['watch-latency']).rate).toBe(100);
    expect(parseArgs(['lease-keepalive', '--lease-ttl', '30']).leaseTtl).toBe(30);
    expect(parseArgs(['put', '--sequential-keys=false']).sequentialKeys).toBe(false);
    expect(parseArgs(['range', '--decode-responses']).decodeResponses).toBe(true);
    expect(parseArgs(['range']).decodeResponses).toBe(false);
    expect(parseArgs(['put']).transport).toBe('grpc');
    expect(parseArgs(['put', '--transport', 'http2']).transport).toBe('http2');
    expect(() => parseArgs(['put', '--transport', 'udp'])).toThrow(UsageError);
  });

  it.each([
    [[], /missing mode/],
    [['get'], /unknown mode/],
    [['put', '--bogus', '1'], /unknown flag --bogus/],
    [['put', '--clients'], /needs a value/],
    [['put', '--clients', 'x'], /whole number/],
    [['put', '--clients', '0'], /at least 1/],
    [['put', '--total', '5', '--duration', '1s'], /not both/],
    [['put', '--clients', '2', '--conns', '3'], /cannot exceed --clients/],
    [['put', '--key-space', '1000', '--key-size', '2'], /cannot hold/],
    [['range', '--consistency', 'x'], /l or s/],
    [['mixed', '--read-ratio', '1.5'], /\[0, 1\]/],
    [['txn-put', '--txn-ops', '3'], /key-space must be at least/],
    [['watch', '--watchers', '2', '--streams', '3'], /cannot exceed --watchers/],
    [['put', 'extra'], /unexpected argument/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('parseDuration', () => {
  it('understands ms, s, m and bare seconds', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1.5')).toBe(1500);
    expect(() => parseDuration('soon')).toThrow(UsageError);
  });
});

describe('parseCompareArgs', () => {
  it('defaults to etcd and ours, 1 and 3 members, every standard row', () => {
    const o = parseCompareArgs([]);
    expect(o.servers).toEqual(['etcd', 'kv']);
    expect(o.members).toEqual([1, 3]);
    expect(o.rows).toBe(STANDARD_ROWS);
  });

  it('selects servers, sizes, rows and member flags', () => {
    const o = parseCompareArgs([
      '--servers',
      'etcd,kv',
      '--members=3',
      '--rows',
      'put-1,txn-put',
      '--duration',
      '2s',
      '--flag',
      'snapshot-count=100',
    ]);
    expect(o.servers).toEqual(['etcd', 'kv']);
    expect(o.members).toEqual([3]);
    expect(o.rows.map((r) => r.name)).toEqual(['put-1', 'txn-put']);
    expect(o.durationMs).toBe(2000);
    expect(o.flags).toEqual({ 'snapshot-count': '100' });
    expect(parseCompareArgs(['--transport', 'grpc']).transport).toBe('grpc');
    expect(() => parseCompareArgs(['--rows', 'nope'])).toThrow(/unknown row/);
    expect(() => parseCompareArgs(['--servers', 'redis'])).toThrow(/unknown server/);
  });

  it('has standard rows the load generator accepts', () => {
    for (const row of STANDARD_ROWS) expect(() => parseArgs([...row.args])).not.toThrow();
  });
});
