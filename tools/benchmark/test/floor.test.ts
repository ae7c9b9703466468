// The floor servers (node:http2 and our own HTTP/2): answer unary calls with
// empty messages, refuse streams, and the load generator runs against them
// like against a real server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { etcdserverpb, KVClient, WatchClient } from '@kv/api';
import { floorHttp2, floorListenAddress } from '../src/floor-server';
import { findLeaderEndpoint } from '../src/leader';
import { parseArgs } from '../src/options';
import { runBenchmark } from '../src/run';
import { startServer } from '../src/servers';
import type { RunningCluster } from '../src/servers';

describe('floor server flags', () => {
  it('chooses its HTTP/2 with --floor-http2 (node by default)', () => {
    expect(floorHttp2([])).toBe('node');
    expect(floorHttp2(['--floor-http2=own'])).toBe('own');
    expect(() => floorHttp2(['--floor-http2=h3'])).toThrow(/must be own or node/);
  });
});

describe.each(['floor', 'floor-h2'] as const)('%s server', (kind) => {
  let floor: RunningCluster;

  beforeAll(async () => {
    // startServer resolves only once the member answers a Range.
    floor = await startServer(kind, 1);
  });

  afterAll(async () => {
    await floor?.stop();
  });

  it('reads its address from --listen-client-urls, in either form', () => {
    expect(floorListenAddress(['--name=m0', '--listen-client-urls=http://127.0.0.1:2379'])).toEqual(
      { host: '127.0.0.1', port: 2379 },
    );
    expect(floorListenAddress(['--listen-client-urls', 'http://127.0.0.1:1,http://x:2'])).toEqual({
      host: '127.0.0.1',
      port: 1,
    });
    expect(() => floorListenAddress(['--name=m0'])).toThrow(/--listen-client-urls is required/);
    expect(() => floorListenAddress(['--listen-client-urls=https://127.0.0.1:1'])).toThrow(
      /only http/,
    );
  });

  it('answers a Put with an empty PutResponse', async () => {
    const client = new KVClient(floor.endpoints[0]!, credentials.createInsecure());
    try {
      const res = await new Promise<etcdserverpb.PutResponse>((resolve, reject) => {
        client.put(
          etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v') }),
          new Metadata(),
          (err, r) => (err ? reject(err) : resolve(r)),
        );
      });
      expect(res.header).toBeUndefined();
      expect(res.prevKv).toBeUndefined();
    } finally {
      client.close();
    }
  });

  it('names itself the leader, so --target-leader finds it', async () => {
    expect(await findLeaderEndpoint(floor.endpoints)).toBe(floor.endpoints[0]);
  });

  it('refuses a Watch stream as unimplemented', async () => {
    const client = new WatchClient(floor.endpoints[0]!, credentials.createInsecure());
    try {
      const err = await new Promise<ServiceError>((resolve) => {
        const call = client.watch();
        call.on('error', resolve);
        call.on('data', () => undefined);
      });
      expect(err.code).toBe(status.UNIMPLEMENTED);
    } finally {
      client.close();
    }
  });

  it('serves the load generator with no errors', async () => {
    const o = parseArgs([
      'put',
      '--clients',
      '8',
      '--conns',
      '2',
      '--total',
      '300',
      '--transport',
      'http2',
      '--endpoints',
      floor.endpoints.join(','),
    ]);
    const r = await runBenchmark(o);
    expect(r.errors).toEqual({});
    expect(r.ops).toBe(300);
  });
});
