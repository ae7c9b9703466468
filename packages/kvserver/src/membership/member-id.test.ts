import { describe, expect, it } from 'vitest';
import { computeClusterId, computeMemberId, formatId, parseInitialCluster } from './member-id';

describe('etcd-compatible IDs', () => {
  // Reference values observed from etcd 3.4.23 started with
  //   --name default --initial-advertise-peer-urls http://localhost:2380
  //   --initial-cluster default=http://localhost:2380 --initial-cluster-token etcd-cluster
  // which reports member 8e9e05c52164694d in cluster cdf818194e3a8c32.
  it('derives the member ID of etcd defaults', () => {
    expect(formatId(computeMemberId(['http://localhost:2380'], 'etcd-cluster'))).toBe(
      '8e9e05c52164694d',
    );
  });

  it('derives the cluster ID from the member IDs', () => {
    const id = computeMemberId(['http://localhost:2380'], 'etcd-cluster');
    expect(formatId(computeClusterId([id]))).toBe('cdf818194e3a8c32');
  });

  it('is independent of peer URL order', () => {
    const a = computeMemberId(['http://b:2380', 'http://a:2380'], 't');
    const b = computeMemberId(['http://a:2380', 'http://b:2380'], 't');
    expect(a).toBe(b);
    expect(computeMemberId(['http://a:2380'], 't', 1)).not.toBe(
      computeMemberId(['http://a:2380'], 't'),
    );
  });

  it('parses --initial-cluster', () => {
    const m = parseInitialCluster('a=http://127.0.0.1:1,b=http://127.0.0.1:2,a=http://127.0.0.1:3');
    expect([...m.entries()]).toEqual([
      ['a', ['http://127.0.0.1:1', 'http://127.0.0.1:3']],
      ['b', ['http://127.0.0.1:2']],
    ]);
    expect(() => parseInitialCluster('nourl')).toThrow(/invalid initial cluster/);
  });
});
