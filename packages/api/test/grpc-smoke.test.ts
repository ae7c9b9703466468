// In-process grpc-js server and client over 127.0.0.1 on an ephemeral port,
// wired only through the generated definitions: proves the definitions work
// as both server and client stubs, including a bidi stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, Server, ServerCredentials, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import {
  etcdserverpb,
  FastKVClient,
  FastKVService,
  FastWatchService,
  KVClient,
  KVService,
  WatchClient,
  WatchService,
} from '../src/index';
import type { KVServer, WatchServer } from '../src/index';

const notImplemented = (_call: unknown, cb: (err: Partial<ServiceError>) => void) =>
  cb({ code: status.UNIMPLEMENTED, details: 'not in this test' });

const kv: KVServer = {
  range(call, callback) {
    const req = call.request;
    callback(
      null,
      etcdserverpb.RangeResponse.fromPartial({
        header: { clusterId: 0xffff_ffff_ffff_ffffn, memberId: 9n, revision: 42n, raftTerm: 3n },
        kvs: [
          {
            key: req.key,
            value: Buffer.from(`value of ${req.key.toString()} at ${req.revision}`),
            createRevision: 2n,
            modRevision: 42n,
            version: 5n,
          },
        ],
        count: 1n,
      }),
    );
  },
  put: notImplemented,
  deleteRange: notImplemented,
  txn: notImplemented,
  compact: notImplemented,
};

const watch: WatchServer = {
  watch(call) {
    // Answer each create with a "created" response carrying the client's id.
    call.on('data', (req: etcdserverpb.WatchRequest) => {
      if (req.requestUnion?.$case === 'createRequest') {
        call.write(
          etcdserverpb.WatchResponse.fromPartial({
            watchId: req.requestUnion.value.watchId,
            created: true,
          }),
        );
      }
    });
    call.on('end', () => call.end());
  },
};

describe('grpc-js smoke test', () => {
  const server = new Server();
  const fastServer = new Server();
  let address = '';
  let fastAddress = '';

  const listen = (s: Server) =>
    new Promise<string>((resolve, reject) =>
      s.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(`127.0.0.1:${port}`),
      ),
    );

  beforeAll(async () => {
    server.addService(KVService, kv);
    server.addService(WatchService, watch);
    fastServer.addService(FastKVService, kv);
    fastServer.addService(FastWatchService, watch);
    address = await listen(server);
    fastAddress = await listen(fastServer);
  });

  afterAll(() =>
    Promise.all(
      [server, fastServer].map(
        (s) => new Promise<void>((resolve) => s.tryShutdown(() => resolve())),
      ),
    ),
  );

  it.each([
    ['KVService', 'KVClient'],
    ['KVService', 'FastKVClient'],
    ['FastKVService', 'KVClient'],
    ['FastKVService', 'FastKVClient'],
  ] as const)('calls KV.Range: server %s, client %s', async (serverKind, clientKind) => {
    const Ctor = clientKind === 'KVClient' ? KVClient : FastKVClient;
    const target = serverKind === 'KVService' ? address : fastAddress;
    const client = new Ctor(target, credentials.createInsecure());
    try {
      const res = await new Promise<etcdserverpb.RangeResponse>((resolve, reject) =>
        client.range(
          etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('foo'), revision: 7n }),
          (err, r) => (err ? reject(err) : resolve(r)),
        ),
      );
      expect(res.header?.clusterId).toBe(2n ** 64n - 1n);
      expect(res.header?.revision).toBe(42n);
      expect(res.count).toBe(1n);
      expect(res.kvs[0]?.value.toString()).toBe('value of foo at 7');
    } finally {
      client.close();
    }
  });

  it('maps server errors to gRPC status codes', async () => {
    const client = new KVClient(address, credentials.createInsecure());
    try {
      const err = await new Promise<ServiceError>((resolve, reject) =>
        client.put(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('k') }), (e) =>
          e ? resolve(e) : reject(new Error('expected an error')),
        ),
      );
      expect(err.code).toBe(status.UNIMPLEMENTED);
    } finally {
      client.close();
    }
  });

  it.each(['WatchService', 'FastWatchService'] as const)(
    'runs the bidi Watch stream (%s)',
    async (kind) => {
      const client = new WatchClient(
        kind === 'WatchService' ? address : fastAddress,
        credentials.createInsecure(),
      );
      try {
        const stream = client.watch();
        const got = new Promise<etcdserverpb.WatchResponse>((resolve, reject) => {
          stream.once('data', resolve);
          stream.once('error', reject);
        });
        stream.write(
          etcdserverpb.WatchRequest.fromPartial({
            requestUnion: {
              $case: 'createRequest',
              value: { key: Buffer.from('a'), watchId: 11n },
            },
          }),
        );
        const res = await got;
        expect(res.created).toBe(true);
        expect(res.watchId).toBe(11n);
        stream.end();
      } finally {
        client.close();
      }
    },
  );
});
