// --target-leader against a real 3-member etcd: the leader is the endpoint
// whose member ID is the leader it reports, and the run uses only it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, Metadata } from '@grpc/grpc-js';
import type { etcdserverpb } from '@kv/api';
import { MaintenanceClient } from '@kv/api';
import { STANDARD_ROWS } from '../src/compare';
import { findLeaderEndpoint } from '../src/leader';
import { parseArgs } from '../src/options';
import { runBenchmark } from '../src/run';
import { startServer } from '../src/servers';
import type { RunningCluster } from '../src/servers';

let etcd: RunningCluster;

beforeAll(async () => {
  etcd = await startServer('etcd', 3);
});

afterAll(async () => {
  await etcd?.stop();
});

async function status(endpoint: string): Promise<etcdserverpb.StatusResponse> {
  const client = new MaintenanceClient(endpoint, credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) =>
      client.status({}, new Metadata(), (err, res) => (err ? reject(err) : resolve(res))),
    );
  } finally {
    client.close();
  }
}

describe('--target-leader', () => {
  it('finds the endpoint of the member that leads, whatever the order', async () => {
    const leader = await findLeaderEndpoint(etcd.endpoints);
    const s = await status(leader);
    expect(s.leader).not.toBe(0n);
    expect(s.header?.memberId).toBe(s.leader);
    // Listed last, it is still the one found.
    const reordered = [...etcd.endpoints.filter((e) => e !== leader), leader];
    expect(await findLeaderEndpoint(reordered)).toBe(leader);
  });

  it('sends every request of the run to the leader', async () => {
    const leader = await findLeaderEndpoint(etcd.endpoints);
    const r = await runBenchmark(
      parseArgs([
        'put',
        '--target-leader',
        '--total',
        '100',
        '--transport',
        'http2',
        '--endpoints',
        etcd.endpoints.join(','),
      ]),
    );
    expect(r.errors).toEqual({});
    expect(r.ops).toBe(100);
    expect(r.endpoints).toEqual([leader]);
  });

  it('fails clearly when no endpoint is the leader', async () => {
    await expect(findLeaderEndpoint(['127.0.0.1:1'], 500)).rejects.toThrow(
      /--target-leader: no leader among 127\.0\.0\.1:1/,
    );
  });

  it('is how the compare run sends put with 1 client (as in etcd performance docs)', () => {
    const row = STANDARD_ROWS.find((r) => r.name === 'put-1')!;
    expect(parseArgs([...row.args]).targetLeader).toBe(true);
    expect(parseArgs(['put']).targetLeader).toBe(false);
  });
});
