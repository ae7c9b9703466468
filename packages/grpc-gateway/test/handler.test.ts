// Unit tests of the HTTP handler over a fake backend: request decoding,
// response encoding, error shapes and statuses, routing, limits, streaming
// and cancellation.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { etcdserverpb, v3electionpb } from '@kv/api';
import { afterEach, describe, expect, it } from 'vitest';
import { createGatewayHandler, GatewayError, GrpcCode, httpStatusFromGrpcCode } from '../src/index';
import type { GatewayHandler, GatewayOptions } from '../src/index';
import { deferred, FakeBackend } from './fake-backend';
import { post, StreamCall } from './http-client';

const servers: http.Server[] = [];

afterEach(async () => {
  for (const srv of servers.splice(0)) {
    srv.closeAllConnections();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
});

async function serve(
  backend: FakeBackend,
  options: GatewayOptions = {},
  wrap?: (gw: GatewayHandler) => http.RequestListener,
): Promise<string> {
  const gw = createGatewayHandler(backend, options);
  const srv = http.createServer(wrap ? wrap(gw) : gw);
  servers.push(srv);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
}

const header = { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 4n };

describe('unary routes', () => {
  it('decodes the body, calls the backend, writes etcd-style JSON', async () => {
    const backend = new FakeBackend();
    backend.onUnary = async () =>
      etcdserverpb.RangeResponse.fromPartial({
        header,
        kvs: [
          {
            key: Buffer.from('k'),
            value: Buffer.from('v'),
            createRevision: 5n,
            modRevision: 9007199254740993n,
          },
        ],
        count: 1n,
      });
    const base = await serve(backend);
    const reply = await post(base, '/v3/kv/range', { key: 'aw==', range_end: 'bA==', limit: '10' });
    expect(reply.status).toBe(200);
    expect(reply.contentType).toBe('application/json');
    expect(reply.text).toBe(
      '{"header":{"cluster_id":"1","member_id":"2","revision":"3","raft_term":"4"},' +
        '"kvs":[{"key":"aw==","create_revision":"5","mod_revision":"9007199254740993","value":"dg=="}],"count":"1"}',
    );
    const call = backend.calls[0]!;
    expect(call).toMatchObject({ kind: 'unary', service: 'KV', method: 'Range' });
    expect(call.request).toEqual(
      etcdserverpb.RangeRequest.fromPartial({
        key: Buffer.from('k'),
        rangeEnd: Buffer.from('l'),
        limit: 10n,
      }),
    );
  });

  it('an empty, blank or null body is the default request message', async () => {
    const backend = new FakeBackend();
    const base = await serve(backend);
    for (const body of ['', ' \n', 'null']) {
      expect((await post(base, '/v3/lease/leases', body)).text).toBe('{}');
    }
    expect(backend.calls.map((c) => c.request)).toEqual([{}, {}, {}]);
  });

  it('forwards the Authorization header verbatim, and only when present', async () => {
    const backend = new FakeBackend();
    const base = await serve(backend);
    await post(base, '/v3/kv/put', {}, { authorization: 'tok.123' });
    await post(base, '/v3/kv/put', {});
    expect(backend.calls[0]!.meta.authorization).toBe('tok.123');
    expect('authorization' in backend.calls[1]!.meta).toBe(false);
  });

  it('forwards the Accept header verbatim, and only when present', async () => {
    const backend = new FakeBackend();
    const base = await serve(backend);
    await post(base, '/v3/kv/put', {}, { accept: 'application/json, */*' });
    await post(base, '/v3/kv/put', {});
    expect(backend.calls[0]!.meta.accept).toBe('application/json, */*');
    expect('accept' in backend.calls[1]!.meta).toBe(false);
  });

  it('ignores the query string, and serves /v3beta aliases unless disabled', async () => {
    const backend = new FakeBackend();
    backend.onUnary = async () => etcdserverpb.StatusResponse.fromPartial({ version: '3.4.23' });
    const base = await serve(backend);
    expect((await post(base, '/v3/kv/put?x=1', {})).status).toBe(200);
    expect((await post(base, '/v3beta/maintenance/status', {})).text).toBe('{"version":"3.4.23"}');
    expect(backend.calls.map((c) => `${c.service}/${c.method}`)).toEqual([
      'KV/Put',
      'Maintenance/Status',
    ]);
    const strict = await serve(new FakeBackend(), { v3beta: false });
    expect((await post(strict, '/v3beta/maintenance/status', {})).status).toBe(404);
  });

  it('maps /v3/maintenance/hash to Hash and /v3/maintenance/hashkv to HashKV', async () => {
    const backend = new FakeBackend();
    const base = await serve(backend);
    await post(base, '/v3/maintenance/hash', {});
    await post(base, '/v3/maintenance/hashkv', { revision: 4 });
    expect(backend.calls.map((c) => c.method)).toEqual(['Hash', 'HashKV']);
    expect(backend.calls[1]!.request).toEqual({ revision: 4n });
  });
});

describe('errors', () => {
  it('every gRPC code gets grpc-gateway v1 status and the {error, message, code} body', async () => {
    const backend = new FakeBackend();
    let code: GrpcCode = GrpcCode.CANCELLED;
    backend.onUnary = async () => {
      throw new GatewayError(code, `failure <${code}>`);
    };
    const base = await serve(backend);
    const expected = [
      408, 500, 400, 504, 404, 409, 403, 429, 412, 409, 400, 501, 500, 503, 500, 401,
    ];
    for (let c = 1; c <= 16; c++) {
      code = c as GrpcCode;
      const reply = await post(base, '/v3/kv/range', {});
      expect(reply.status).toBe(expected[c - 1]);
      expect(reply.contentType).toBe('application/json');
      expect(reply.text).toBe(
        `{"error":"failure \\u003c${c}\\u003e","message":"failure \\u003c${c}\\u003e","code":${c}}`,
      );
    }
  });

  it('the v2 table differs for CANCELLED and FAILED_PRECONDITION', async () => {
    expect(httpStatusFromGrpcCode(GrpcCode.CANCELLED, 'v2')).toBe(499);
    expect(httpStatusFromGrpcCode(GrpcCode.FAILED_PRECONDITION, 'v2')).toBe(400);
    expect(httpStatusFromGrpcCode(GrpcCode.NOT_FOUND, 'v2')).toBe(404);
    const backend = new FakeBackend();
    backend.onUnary = async () => {
      throw new GatewayError(GrpcCode.FAILED_PRECONDITION, 'etcdserver: user name not found');
    };
    expect(
      (await post(await serve(backend, { statusMapping: 'v2' }), '/v3/auth/user/get', {})).status,
    ).toBe(400);
    expect((await post(await serve(backend), '/v3/auth/user/get', {})).status).toBe(412);
  });

  it('uses grpc-js `details`, and treats errors without a code as UNKNOWN', async () => {
    const backend = new FakeBackend();
    const errors: unknown[] = [
      Object.assign(new Error('5 NOT_FOUND: etcdserver: requested lease not found'), {
        code: 5,
        details: 'etcdserver: requested lease not found',
      }),
      new TypeError('boom'),
      'a string',
    ];
    backend.onUnary = async () => {
      throw errors.shift();
    };
    const base = await serve(backend);
    expect(JSON.parse((await post(base, '/v3/lease/revoke', {})).text)).toEqual({
      error: 'etcdserver: requested lease not found',
      message: 'etcdserver: requested lease not found',
      code: 5,
    });
    const boom = await post(base, '/v3/lease/revoke', {});
    expect(boom.status).toBe(500);
    expect(JSON.parse(boom.text)).toEqual({ error: 'boom', message: 'boom', code: 2 });
    expect((await post(base, '/v3/lease/revoke', {})).status).toBe(500);
  });

  it('malformed JSON and unconvertible values are 400 / INVALID_ARGUMENT, without a backend call', async () => {
    const backend = new FakeBackend();
    const base = await serve(backend);
    for (const body of [
      '{bad',
      '[1]',
      '"str"',
      '42',
      '{"key":"YQ==","limit":1.5}',
      '{"sort_order":"NOPE"}',
      '{"key":5}',
      '{"key":"a"',
    ]) {
      const reply = await post(base, '/v3/kv/range', body);
      expect(reply.status, body).toBe(400);
      const parsed = JSON.parse(reply.text) as Record<string, unknown>;
      expect(Object.keys(parsed)).toEqual(['error', 'message', 'code']);
      expect(parsed['code']).toBe(3);
      expect(parsed['error']).toBe(parsed['message']);
    }
    expect(backend.calls).toHaveLength(0);
  });

  it('unknown paths are 404 Not Found, other methods 405, as etcd answers', async () => {
    const base = await serve(new FakeBackend());
    const unknown = await post(base, '/v3/kv/nope', {});
    expect(unknown).toEqual({
      status: 404,
      contentType: 'text/plain; charset=utf-8',
      text: 'Not Found\n',
    });
    const get = await fetch(`${base}/v3/kv/range`);
    expect(get.status).toBe(405);
    expect(await get.text()).toBe('Method Not Allowed\n');
  });

  it('hands paths it does not own to next(), and exposes handles()', async () => {
    const backend = new FakeBackend();
    const gw = createGatewayHandler(backend);
    expect(gw.handles('/v3/kv/range')).toBe(true);
    expect(gw.handles('/v3beta/watch')).toBe(true);
    expect(gw.handles('/health')).toBe(false);
    expect(gw.paths).toHaveLength(2 * 51);
    const base = await serve(
      backend,
      {},
      (handler) => (req, res) =>
        handler(req, res, () => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(`next ${req.url}`);
        }),
    );
    expect((await post(base, '/health', {})).text).toBe('next /health');
    expect((await post(base, '/v3/kv/put', {})).text).toBe('{}');
  });

  it('bodies over maxRequestBytes are RESOURCE_EXHAUSTED (429) and never reach the backend', async () => {
    const backend = new FakeBackend();
    const base = await serve(backend, { maxRequestBytes: 1024 });
    const big = { key: 'YQ==', value: Buffer.alloc(2048).toString('base64') };
    for (const path of ['/v3/kv/put', '/v3/watch', '/v3/maintenance/snapshot']) {
      const reply = await post(base, path, big);
      expect(reply.status, path).toBe(429);
      expect(JSON.parse(reply.text)).toMatchObject({ code: 8 });
    }
    const small = await post(base, '/v3/kv/put', {
      key: 'YQ==',
      value: Buffer.alloc(512).toString('base64'),
    });
    expect(small.status).toBe(200);
    expect(backend.calls).toHaveLength(1);
  });
});

describe('server streams', () => {
  const leader = (rev: bigint) =>
    v3electionpb.LeaderResponse.fromPartial({
      header,
      kv: { key: Buffer.from('e/1'), modRevision: rev },
    });

  it('write one {"result": ...} line per message', async () => {
    const backend = new FakeBackend();
    backend.onServerStream = async function* () {
      yield leader(1n);
      yield leader(2n);
    };
    const reply = await post(await serve(backend), '/v3/election/observe', { name: 'ZQ==' });
    expect(reply.status).toBe(200);
    expect(reply.contentType).toBe('application/json');
    const line = (rev: number): string =>
      `{"result":{"header":{"cluster_id":"1","member_id":"2","revision":"3","raft_term":"4"},"kv":{"key":"ZS8x","mod_revision":"${rev}"}}}\n`;
    expect(reply.text).toBe(line(1) + line(2));
    expect(backend.calls[0]!.request).toEqual({ name: Buffer.from('e') });
  });

  it('a failure after the first line appends grpc-gateway v1 stream error chunk', async () => {
    const backend = new FakeBackend();
    backend.onServerStream = async function* () {
      yield etcdserverpb.SnapshotResponse.fromPartial({
        remainingBytes: 3n,
        blob: Buffer.from('abc'),
      });
      throw new GatewayError(GrpcCode.UNAVAILABLE, 'gone');
    };
    const reply = await post(await serve(backend), '/v3/maintenance/snapshot', {});
    expect(reply.status).toBe(200);
    expect(reply.text).toBe(
      '{"result":{"remaining_bytes":"3","blob":"YWJj"}}\n' +
        '{"error":{"grpc_code":14,"http_code":503,"message":"gone","http_status":"Service Unavailable"}}',
    );
  });

  it('a failure before the first line sets the HTTP status from the code', async () => {
    const backend = new FakeBackend();
    backend.onServerStream = () => ({
      [Symbol.asyncIterator]: () => ({
        next: () =>
          Promise.reject(
            new GatewayError(GrpcCode.UNAUTHENTICATED, 'etcdserver: invalid auth token'),
          ),
      }),
    });
    const reply = await post(await serve(backend), '/v3/maintenance/snapshot', {});
    expect(reply.status).toBe(401);
    expect(JSON.parse(reply.text)).toEqual({
      error: {
        grpc_code: 16,
        http_code: 401,
        message: 'etcdserver: invalid auth token',
        http_status: 'Unauthorized',
      },
    });
  });

  it('an empty stream is an empty 200', async () => {
    const reply = await post(await serve(new FakeBackend()), '/v3/election/observe', {});
    expect(reply).toEqual({ status: 200, contentType: 'application/json', text: '' });
  });

  it('aborts the backend call when the client goes away', async () => {
    const backend = new FakeBackend();
    const aborted = deferred();
    backend.onServerStream = async function* (_request, meta) {
      meta.signal.addEventListener('abort', () => aborted.resolve());
      yield leader(1n);
      await aborted.promise;
    };
    const call = new StreamCall(await serve(backend), '/v3/election/observe');
    call.endBody();
    expect(JSON.parse((await call.nextLine())!)).toHaveProperty('result');
    call.close();
    await aborted.promise;
    expect(backend.calls[0]!.meta.signal.aborted).toBe(true);
  });
});

describe('bidirectional streams', () => {
  // Echoes every WatchRequest's create key back as a WatchResponse whose
  // watch_id counts requests; ends when the request side ends.
  function echoBackend(): { backend: FakeBackend; requestsEnded: Promise<void> } {
    const backend = new FakeBackend();
    const ended = deferred();
    backend.onBidi = async function* (requests) {
      let n = 0n;
      for await (const request of requests) {
        const req = request as etcdserverpb.WatchRequest;
        yield etcdserverpb.WatchResponse.fromPartial({
          watchId: n++,
          created: req.requestUnion?.$case === 'createRequest',
          cancelReason: req.requestUnion?.$case ?? 'none',
        });
      }
      ended.resolve();
    };
    return { backend, requestsEnded: ended.promise };
  }

  it('is full duplex: each request is answered while the body is still open', async () => {
    const { backend, requestsEnded } = echoBackend();
    const call = new StreamCall(await serve(backend), '/v3/watch', { authorization: 't' });
    call.send({ create_request: { key: 'YQ==' } });
    expect(await call.nextLine()).toBe(
      '{"result":{"created":true,"cancel_reason":"createRequest"}}',
    );
    call.send('{"cancel_request":{"watch_id":"0"}}\n{"progress_request"');
    expect(await call.nextLine()).toBe(
      '{"result":{"watch_id":"1","cancel_reason":"cancelRequest"}}',
    );
    call.send(':{}}');
    expect(await call.nextLine()).toBe(
      '{"result":{"watch_id":"2","cancel_reason":"progressRequest"}}',
    );
    call.endBody();
    await requestsEnded;
    expect(await call.nextLine()).toBeUndefined();
    expect(backend.calls[0]).toMatchObject({ kind: 'bidi', service: 'Watch', method: 'Watch' });
    expect(backend.calls[0]!.meta.authorization).toBe('t');
  });

  it('a malformed later request half-closes the call; responses continue', async () => {
    const backend = new FakeBackend();
    const seen: unknown[] = [];
    const release = deferred();
    backend.onBidi = async function* (requests) {
      for await (const request of requests) seen.push(request);
      yield etcdserverpb.LeaseKeepAliveResponse.fromPartial({ ID: 7n });
      await release.promise;
      yield etcdserverpb.LeaseKeepAliveResponse.fromPartial({ ID: 8n, TTL: 5n });
    };
    const call = new StreamCall(await serve(backend), '/v3/lease/keepalive');
    call.send('{"ID":"1"} {"ID":2} {"ID":1.5} {"ID":3}');
    expect(await call.nextLine()).toBe('{"result":{"ID":"7"}}');
    expect(seen).toEqual([{ ID: 1n }, { ID: 2n }]);
    release.resolve();
    expect(await call.nextLine()).toBe('{"result":{"ID":"8","TTL":"5"}}');
    call.close();
  });

  it('an empty body starts the call with no requests', async () => {
    const { backend, requestsEnded } = echoBackend();
    const reply = await post(await serve(backend), '/v3/watch', '');
    await requestsEnded;
    expect(reply).toEqual({ status: 200, contentType: 'application/json', text: '' });
  });

  it('a malformed first request is answered like etcd 3.4: 500, UNKNOWN', async () => {
    const { backend } = echoBackend();
    const reply = await post(await serve(backend), '/v3/watch', '{"create_request":');
    expect(reply.status).toBe(500);
    expect(JSON.parse(reply.text)).toEqual({
      error: 'unexpected EOF',
      message: 'unexpected EOF',
      code: 2,
    });
    expect(backend.calls).toHaveLength(0);
  });

  it('client disconnect aborts the call', async () => {
    const backend = new FakeBackend();
    const aborted = deferred();
    backend.onBidi = async function* (_requests, meta) {
      meta.signal.addEventListener('abort', () => aborted.resolve());
      yield etcdserverpb.WatchResponse.fromPartial({ created: true });
      await aborted.promise;
    };
    const call = new StreamCall(await serve(backend), '/v3/watch');
    call.send({ create_request: { key: 'YQ==' } });
    await call.nextLine();
    call.close();
    await aborted.promise;
    expect(backend.calls[0]!.meta.signal.aborted).toBe(true);
  });
});
