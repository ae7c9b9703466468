// The deployment etcd uses: gRPC and the JSON gateway on one port. Each
// accepted connection is routed by its first bytes (the HTTP/2 preface goes to
// grpc-js, anything else to the HTTP server), and the gateway's backend is a
// gRPC client of that same port. This is the wiring @kv/server needs.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { credentials, Server, ServerCredentials, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { etcdserverpb, KVClient, KVService } from '@kv/api';
import type { KVServer } from '@kv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayHandler, grpcClientBackend } from '../src/index';
import type { GrpcClientBackend } from '../src/index';
import { post } from './http-client';

const unimplemented = (_call: unknown, cb: (err: Partial<ServiceError>) => void): void =>
  cb({ code: status.UNIMPLEMENTED, details: 'not in this test' });

const store = new Map<string, Buffer>();
const kv: KVServer = {
  range(call, callback) {
    const value = store.get(call.request.key.toString());
    callback(
      null,
      etcdserverpb.RangeResponse.fromPartial({
        kvs: value ? [{ key: call.request.key, value }] : [],
        count: value ? 1n : 0n,
      }),
    );
  },
  put(call, callback) {
    store.set(call.request.key.toString(), call.request.value);
    callback(null, etcdserverpb.PutResponse.fromPartial({}));
  },
  deleteRange: unimplemented,
  txn: unimplemented,
  compact: unimplemented,
};

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

let grpcServer: Server;
let listener: net.Server;
let httpServer: http.Server;
let backend: GrpcClientBackend;
let address: string;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  grpcServer = new Server();
  grpcServer.addService(KVService, kv);
  const injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
  listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      const isGrpc = first.subarray(0, H2_PREFACE.length).equals(H2_PREFACE);
      if (isGrpc) injector.injectConnection(socket);
      else {
        httpServer.emit('connection', socket);
        // The HTTP parser listens for 'data' but does not undo our pause.
        socket.resume();
      }
    });
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(listener.address() as AddressInfo).port}`;
  backend = grpcClientBackend(address, credentials.createInsecure());
  httpServer = http.createServer(createGatewayHandler(backend));
});

afterAll(async () => {
  backend.close();
  httpServer.closeAllConnections();
  grpcServer.forceShutdown();
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => listener.close(() => resolve()));
});

describe('gRPC and the gateway on one port', () => {
  it('serves both protocols, the gateway looping back to gRPC', async () => {
    const put = await post(`http://${address}`, '/v3/kv/put', { key: 'Zm9v', value: 'YmFy' });
    expect(put).toEqual({ status: 200, contentType: 'application/json', text: '{}' });

    const client = new KVClient(address, credentials.createInsecure());
    const viaGrpc = await new Promise<etcdserverpb.RangeResponse>((resolve, reject) =>
      client.range(
        etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('foo') }),
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    client.close();
    expect(viaGrpc.kvs[0]?.value.toString()).toBe('bar');

    const viaHttp = await post(`http://${address}`, '/v3/kv/range', { key: 'Zm9v' });
    expect(viaHttp.text).toBe('{"kvs":[{"key":"Zm9v","value":"YmFy"}],"count":"1"}');
  });
});
