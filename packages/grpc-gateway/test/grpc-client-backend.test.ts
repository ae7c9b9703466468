// grpcClientBackend against an in-process grpc-js server built from the
// generated definitions: token metadata, status passthrough, half-close and
// cancellation of streams when the HTTP client leaves.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { credentials, Server, ServerCredentials, status } from '@grpc/grpc-js';
import type { ServerDuplexStream, ServerWritableStream, ServiceError } from '@grpc/grpc-js';
import { etcdserverpb, KVService, MaintenanceService, WatchService } from '@kv/api';
import type { KVServer, MaintenanceServer, WatchServer } from '@kv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayHandler, grpcClientBackend } from '../src/index';
import type { GrpcClientBackend } from '../src/index';
import { deferred } from './fake-backend';
import { post, StreamCall } from './http-client';

const unimplemented = (_call: unknown, cb: (err: Partial<ServiceError>) => void): void =>
  cb({ code: status.UNIMPLEMENTED, details: 'not in this test' });

const tokens: (string | undefined)[] = [];
const accepts: (string | undefined)[] = [];
const watchEnded = deferred<'end' | 'cancelled'>();
const snapshotCancelled = deferred();

const kv: KVServer = {
  range(call, callback) {
    tokens.push(call.metadata.get('token')[0]?.toString());
    accepts.push(call.metadata.get('grpcgateway-accept')[0]?.toString());
    if (call.request.key.length === 0) {
      callback({ code: status.INVALID_ARGUMENT, details: 'etcdserver: key is not provided' });
      return;
    }
    callback(
      null,
      etcdserverpb.RangeResponse.fromPartial({
        header: { revision: 7n },
        kvs: [{ key: call.request.key, value: Buffer.from('v'), modRevision: 7n }],
        count: 1n,
      }),
    );
  },
  put: unimplemented,
  deleteRange: unimplemented,
  txn: unimplemented,
  compact: unimplemented,
};

const watch: WatchServer = {
  watch(call: ServerDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>) {
    let n = 0n;
    call.on('data', () => call.write(etcdserverpb.WatchResponse.fromPartial({ watchId: n++ })));
    call.on('end', () => {
      watchEnded.resolve('end');
      call.end();
    });
    call.on('cancelled', () => watchEnded.resolve('cancelled'));
  },
};

const maintenance: MaintenanceServer = {
  alarm: unimplemented,
  status: unimplemented,
  defragment: unimplemented,
  hash: unimplemented,
  hashKv: unimplemented,
  moveLeader: unimplemented,
  downgrade: unimplemented,
  snapshot(
    call: ServerWritableStream<etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse>,
  ) {
    call.write(
      etcdserverpb.SnapshotResponse.fromPartial({ remainingBytes: 1n, blob: Buffer.from('x') }),
    );
    // Never finishes on its own: only a cancellation ends it.
    call.on('cancelled', () => snapshotCancelled.resolve());
  },
};

let grpcServer: Server;
let backend: GrpcClientBackend;
let httpServer: http.Server;
let base: string;

beforeAll(async () => {
  grpcServer = new Server();
  grpcServer.addService(KVService, kv);
  grpcServer.addService(WatchService, watch);
  grpcServer.addService(MaintenanceService, maintenance);
  const port = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  backend = grpcClientBackend(`127.0.0.1:${port}`, credentials.createInsecure());
  httpServer = http.createServer(createGatewayHandler(backend));
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  httpServer.closeAllConnections();
  await new Promise<void>((resolve) => httpServer.close(() => resolve()));
  backend.close();
  grpcServer.forceShutdown();
});

describe('grpcClientBackend', () => {
  it('forwards unary calls, sending Authorization as the `token` metadata', async () => {
    const reply = await post(base, '/v3/kv/range', { key: 'aw==' }, { authorization: 'abc.1' });
    expect(reply.text).toBe(
      '{"header":{"revision":"7"},"kvs":[{"key":"aw==","mod_revision":"7","value":"dg=="}],"count":"1"}',
    );
    await post(base, '/v3/kv/range', { key: 'aw==' });
    expect(tokens).toEqual(['abc.1', undefined]);
  });

  it('sends the Accept header as grpc-gateway does: `grpcgateway-accept` metadata', async () => {
    accepts.length = 0;
    await post(base, '/v3/kv/range', { key: 'aw==' }, { accept: 'application/json' });
    await post(base, '/v3/kv/range', { key: 'aw==' });
    expect(accepts).toEqual(['application/json', undefined]);
  });

  it('passes the gRPC status through (details as message)', async () => {
    const missing = await post(base, '/v3/kv/range', {});
    expect(missing.status).toBe(400);
    expect(missing.text).toBe(
      '{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3}',
    );
    const unimpl = await post(base, '/v3/kv/put', {});
    expect(unimpl.status).toBe(501);
    expect(JSON.parse(unimpl.text)).toMatchObject({ code: 12, message: 'not in this test' });
  });

  it('a service the server lacks is UNIMPLEMENTED', async () => {
    const reply = await post(base, '/v3/lease/grant', { TTL: 5 });
    expect(reply.status).toBe(501);
  });

  it('bidi: responses flow while the body is open; the end of the body half-closes', async () => {
    const call = new StreamCall(base, '/v3/watch');
    call.send({ create_request: { key: 'YQ==' } });
    expect(await call.nextLine()).toBe('{"result":{}}');
    call.send({ create_request: { key: 'Yg==' } });
    expect(await call.nextLine()).toBe('{"result":{"watch_id":"1"}}');
    call.endBody();
    expect(await watchEnded.promise).toBe('end');
    expect(await call.nextLine()).toBeUndefined();
  });

  it('server stream: an HTTP client that leaves cancels the gRPC call', async () => {
    const call = new StreamCall(base, '/v3/maintenance/snapshot');
    call.endBody();
    expect(await call.nextLine()).toBe('{"result":{"remaining_bytes":"1","blob":"eA=="}}');
    call.close();
    await snapshotCancelled.promise;
  });
});
