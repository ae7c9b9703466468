// Differential tests: every gateway endpoint group, asked through etcd 3.4's
// own gateway and through ours (grpcClientBackend → the same etcd's gRPC
// port), must answer the same status, content type and JSON. Fields that
// must differ between two calls (revisions after a write, random IDs, times)
// are scrubbed; read-only calls are compared byte for byte.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, post, StreamCall } from './http-client';
import {
  b64,
  expectSame,
  expectSameErrorCode,
  expectSameMutation,
  expectSameReply,
  expectSameWhenStable,
  KV_REVS,
  REV,
  scrub,
  startRig,
} from './parity-helpers';
import type { Rig } from './parity-helpers';

let rig: Rig;

beforeAll(async () => {
  rig = await startRig();
});

afterAll(async () => {
  await rig?.close();
});

const put = (key: string, value: string, extra: object = {}): Promise<unknown> =>
  post(rig.theirs, '/v3/kv/put', { key: b64(key), value: b64(value), ...extra });

describe('kv', () => {
  it('put (with and without prev_kv)', async () => {
    await expectSameMutation(
      rig,
      async () => undefined,
      '/v3/kv/put',
      {
        key: b64('kv/p'),
        value: b64('v1'),
      },
      REV,
    );
    await expectSameMutation(
      rig,
      () => put('kv/p', 'before'),
      '/v3/kv/put',
      { key: b64('kv/p'), value: b64('v2'), prev_kv: true },
      KV_REVS,
    );
  });

  it('range: single key, prefix, sort, limit, keys_only, count_only, missing key', async () => {
    await put('kv/r1', 'one');
    await put('kv/r2', 'two <&> \u2028');
    await put('kv/r3', '');
    await expectSame(rig, '/v3/kv/range', { key: b64('kv/r1') });
    await expectSame(rig, '/v3/kv/range', {
      key: b64('kv/r'),
      range_end: b64('kv/s'),
      sort_order: 'DESCEND',
      sort_target: 'MOD',
    });
    await expectSame(rig, '/v3/kv/range', { key: b64('kv/r'), range_end: b64('kv/s'), limit: 2 });
    await expectSame(rig, '/v3/kv/range', {
      key: b64('kv/r'),
      rangeEnd: b64('kv/s'),
      keysOnly: true,
    });
    await expectSame(rig, '/v3/kv/range', {
      key: b64('kv/r'),
      range_end: b64('kv/s'),
      count_only: true,
    });
    await expectSame(rig, '/v3/kv/range', { key: b64('kv/absent') });
    await expectSame(rig, '/v3/kv/range', { key: b64('kv/r1'), serializable: true, revision: '1' });
    // The trailing value is ignored by both decoders.
    await expectSame(rig, '/v3/kv/range', `{"key":"${b64('kv/r2')}"} {"key":"eA=="}`);
  });

  it('deleterange with prev_kv', async () => {
    await expectSameMutation(
      rig,
      () => put('kv/d', 'gone'),
      '/v3/kv/deleterange',
      { key: b64('kv/d'), prev_kv: true },
      KV_REVS,
    );
    await expectSame(rig, '/v3/kv/deleterange', { key: b64('kv/d-absent') }, { scrub: REV });
  });

  it('txn: compare, success and failure branches, nested responses', async () => {
    const txn = (expected: string): object => ({
      compare: [{ key: b64('kv/t'), target: 'VALUE', result: 'EQUAL', value: b64(expected) }],
      success: [
        { request_put: { key: b64('kv/t'), value: b64('next'), prev_kv: true } },
        { request_range: { key: b64('kv/t') } },
      ],
      failure: [{ request_delete_range: { key: b64('kv/t-other') } }],
    });
    await expectSameMutation(rig, () => put('kv/t', 'start'), '/v3/kv/txn', txn('start'), KV_REVS);
    await expectSameMutation(rig, () => put('kv/t', 'start'), '/v3/kv/txn', txn('nope'), KV_REVS);
  });

  it('compaction, and the error for an already compacted revision', async () => {
    const r = json(await post(rig.theirs, '/v3/kv/put', { key: b64('kv/c'), value: b64('x') })) as {
      header: { revision: string };
    };
    const rev = Number(r.header.revision);
    const theirs = await post(rig.theirs, '/v3/kv/compaction', { revision: rev - 1 });
    const ours = await post(rig.ours, '/v3/kv/compaction', { revision: rev });
    expectSameReply(theirs, ours, REV);
    await expectSame(rig, '/v3/kv/compaction', { revision: 1 });
    await expectSame(rig, '/v3/kv/range', { key: b64('kv/c'), revision: 1 });
  });

  it('errors from etcd: missing key, unknown lease, request too large', async () => {
    const missing = await expectSame(rig, '/v3/kv/range', {});
    expect(missing.ours.status).toBe(400);
    const lease = await expectSame(rig, '/v3/kv/put', {
      key: b64('k'),
      value: b64('v'),
      lease: 12,
    });
    expect(lease.ours.status).toBe(404);
    const huge = { key: b64('kv/huge'), value: Buffer.alloc(1_700_000).toString('base64') };
    const tooLarge = await expectSame(rig, '/v3/kv/put', huge);
    expect(json(tooLarge.ours)).toMatchObject({ code: 3 });
  });

  it('responses over the default 4 MiB gRPC receive limit', async () => {
    const value = Buffer.alloc(1_400_000, 7).toString('base64');
    for (const k of ['big/1', 'big/2', 'big/3']) await put(k, '', { value });
    const { ours } = await expectSame(rig, '/v3/kv/range', {
      key: b64('big/'),
      range_end: b64('big0'),
    });
    expect(ours.text.length).toBeGreaterThan(5_000_000);
    await post(rig.theirs, '/v3/kv/deleterange', { key: b64('big/'), range_end: b64('big0') });
  });

  it('empty and null bodies are the default message', async () => {
    await expectSame(rig, '/v3/kv/range', '');
    await expectSame(rig, '/v3/kv/range', 'null');
    await expectSame(rig, '/v3/lease/leases', '  ');
  });

  it('decode errors: 400, code 3, same shape', async () => {
    for (const body of [
      '{bad',
      '[1]',
      '{"key":"YQ==","limit":1.5}',
      '{"key":"YQ==","sort_order":"NOPE"}',
      '{"key":"YQ==","lease":"abc"}',
      '{"key":5}',
      '{"key":"foo"}',
      '{"key":"Zg==Zg=="}',
    ]) {
      const theirs = await post(rig.theirs, '/v3/kv/range', body);
      const ours = await post(rig.ours, '/v3/kv/range', body);
      expectSameErrorCode(theirs, ours);
    }
    // Base64 errors are worded as Go words them.
    await expectSame(rig, '/v3/kv/put', { key: 'Zm 9v', value: 'YQ==' });
    await expectSame(rig, '/v3/lock/lock', { name: 'plain text' });
  });

  it('unknown routes, wrong methods, /v3beta aliases', async () => {
    await expectSame(rig, '/v3/kv/rangex', {});
    await expectSame(rig, '/v3beta/kv/range', { key: b64('kv/r1') });
    await expectSame(rig, '/v3beta/lease/leases', {});
    const get = async (base: string): Promise<{ status: number; text: string }> => {
      const res = await fetch(`${base}/v3/kv/range`);
      return { status: res.status, text: await res.text() };
    };
    expect(await get(rig.ours)).toEqual(await get(rig.theirs));
  });
});

describe('watch (streamed)', () => {
  // etcd 3.4's gateway (Go 1.19 net/http) sends no response before the
  // request body is complete, so every request goes in one body here; our
  // gateway's full-duplex behaviour is covered by the unit tests.
  it('create, progress and cancel requests, then events', async () => {
    const open = (base: string): StreamCall => {
      const call = new StreamCall(base, '/v3/watch');
      call.send({ create_request: { key: b64('w/'), range_end: b64('w0'), prev_kv: true } });
      call.send(`\n{"create_request":{"key":"${b64('w/b')}"}}`);
      call.send({ progress_request: {} });
      call.send({ cancel_request: { watch_id: 1 } });
      call.endBody();
      return call;
    };
    const theirs = open(rig.theirs);
    const ours = open(rig.ours);
    try {
      for (let i = 0; i < 4; i++) expect(await ours.nextLine()).toBe(await theirs.nextLine());
      await put('w/a', '1');
      expect(await ours.nextLine()).toBe(await theirs.nextLine());
      await put('w/a', '2');
      expect(await ours.nextLine()).toBe(await theirs.nextLine());
      await post(rig.theirs, '/v3/kv/deleterange', { key: b64('w/a') });
      expect(await ours.nextLine()).toBe(await theirs.nextLine());
      await put('w/b', 'only watcher 0 sees this');
      expect(await ours.nextLine()).toBe(await theirs.nextLine());
      const [t, o] = await Promise.all([theirs.response, ours.response]);
      expect(o.statusCode).toBe(t.statusCode);
      expect(o.headers['content-type']).toBe(t.headers['content-type']);
    } finally {
      theirs.close();
      ours.close();
    }
  });

  it('watching from a compacted revision', async () => {
    const body = { create_request: { key: b64('w/'), start_revision: 1 } };
    const theirs = new StreamCall(rig.theirs, '/v3/watch');
    const ours = new StreamCall(rig.ours, '/v3/watch');
    try {
      for (const call of [theirs, ours]) {
        call.send(body);
        call.endBody();
      }
      expect(await ours.nextLine()).toBe(await theirs.nextLine());
      expect(await ours.nextLine()).toBe(await theirs.nextLine());
    } finally {
      theirs.close();
      ours.close();
    }
  });

  it('a malformed first request is a plain error (500, code 2, as etcd 3.4)', async () => {
    for (const path of ['/v3/watch', '/v3/lease/keepalive']) {
      const theirs = await post(rig.theirs, path, '{nope');
      const ours = await post(rig.ours, path, '{nope');
      expectSameErrorCode(theirs, ours);
      expect(ours.status).toBe(500);
    }
  });
});

describe('lease', () => {
  it('grant, timetolive, leases, keepalive (streamed), revoke', async () => {
    await expectSameMutation(rig, async () => undefined, '/v3/lease/grant', { TTL: 60, ID: 0 }, [
      'ID',
      ...REV,
    ]);
    await post(rig.theirs, '/v3/lease/grant', { TTL: 120, ID: 7001 });
    await put('lease/k', 'v', { lease: 7001 });
    await expectSame(rig, '/v3/lease/timetolive', { ID: 7001, keys: true }, { scrub: ['TTL'] });
    await expectSame(rig, '/v3/kv/lease/timetolive', { ID: 7001 }, { scrub: ['TTL'] });
    await expectSame(rig, '/v3/lease/timetolive', { ID: 9999 });
    // Large IDs as bare JSON numbers, as etcd's docs write them, stay exact.
    await post(rig.theirs, '/v3/lease/grant', { TTL: 120, ID: '7587821338341002422' });
    await expectSame(rig, '/v3/lease/timetolive', '{"ID":7587821338341002422}', { scrub: ['TTL'] });
    await expectSame(rig, '/v3/lease/leases', {});
    await expectSame(rig, '/v3/kv/lease/leases', {});

    const theirs = new StreamCall(rig.theirs, '/v3/lease/keepalive');
    const ours = new StreamCall(rig.ours, '/v3/lease/keepalive');
    try {
      for (const call of [theirs, ours]) {
        call.send({ ID: '7001' });
        call.send({ ID: 9998 });
        // The end of the body ends etcd's keepalive stream.
        call.endBody();
      }
      const lines = await ours.rest();
      expect(lines).toBe(await theirs.rest());
      expect(lines.split('\n')).toHaveLength(2);
    } finally {
      theirs.close();
      ours.close();
    }

    await post(rig.theirs, '/v3/lease/grant', { TTL: 60, ID: 7002 });
    await post(rig.theirs, '/v3/lease/grant', { TTL: 60, ID: 7003 });
    const theirsRevoke = await post(rig.theirs, '/v3/lease/revoke', { ID: 7002 });
    const oursRevoke = await post(rig.ours, '/v3/kv/lease/revoke', { ID: 7003 });
    expectSameReply(theirsRevoke, oursRevoke, REV);
    const notFound = await expectSame(rig, '/v3/lease/revoke', { ID: 7002 });
    expect(notFound.ours.status).toBe(404);
  });
});

describe('cluster', () => {
  it('member list, add, update, promote, remove', async () => {
    await expectSame(rig, '/v3/cluster/member/list', {});
    // etcd derives member IDs from the peer URLs and the time in seconds, and
    // never reuses a removed ID, so every add uses a fresh URL.
    let port = 1;
    let added: string[] = [];
    const addThenRemember = async (base: string): Promise<ReturnType<typeof post>> => {
      const learner = { peerURLs: [`http://127.0.0.1:${port++}`], isLearner: true };
      const reply = await post(base, '/v3/cluster/member/add', learner);
      expect(reply.status, reply.text).toBe(200);
      added.push((json(reply) as { member: { ID: string } }).member.ID);
      return reply;
    };
    // Members are sorted by their (random) IDs, so compare them as a set.
    const members = (r: Awaited<ReturnType<typeof post>>, keys: string[]): string[] =>
      (json(r) as { members: object[] }).members.map((m) => JSON.stringify(scrub(m, keys))).sort();
    const t = await addThenRemember(rig.theirs);
    await post(rig.theirs, '/v3/cluster/member/remove', { ID: added[0] });
    const o = await addThenRemember(rig.ours);
    expectSameReply(t, o, ['ID', 'members', 'peerURLs']);
    expect(members(o, ['ID', 'peerURLs'])).toEqual(members(t, ['ID', 'peerURLs']));

    const id = added[1]!;
    const update = { ID: id, peerURLs: ['http://127.0.0.1:2'] };
    const updated = await expectSame(rig, '/v3/cluster/member/update', update, {
      scrub: ['ID', 'members'],
    });
    expect(members(updated.ours, [])).toEqual(members(updated.theirs, []));
    const promote = await expectSame(rig, '/v3/cluster/member/promote', { ID: id });
    expect(promote.ours.status).toBe(412);

    const theirsRemove = await post(rig.theirs, '/v3/cluster/member/remove', { ID: id });
    added = [];
    await addThenRemember(rig.theirs);
    const oursRemove = await post(rig.ours, '/v3/cluster/member/remove', { ID: added[0] });
    expectSameReply(theirsRemove, oursRemove, ['ID']);
    const gone = await expectSame(rig, '/v3/cluster/member/remove', { ID: id });
    expect(gone.ours.status).toBe(404);
  });
});

describe('maintenance', () => {
  it('status, alarm, defragment, hash', async () => {
    await expectSameWhenStable(rig, '/v3/maintenance/status', {});
    await expectSame(rig, '/v3/maintenance/alarm', { action: 'GET' });
    await expectSame(rig, '/v3/maintenance/alarm', { action: 'DEACTIVATE', alarm: 'NOSPACE' });
    await expectSame(rig, '/v3/maintenance/defragment', {});
    // etcd 3.4 binds /v3/maintenance/hash to Hash.
    const hash = await expectSameWhenStable(rig, '/v3/maintenance/hash', {});
    expect(Object.keys(json(hash.ours) as object)).toEqual(['header', 'hash']);
  });

  it('transfer-leadership to a member that does not exist', async () => {
    const reply = await expectSame(rig, '/v3/maintenance/transfer-leadership', { targetID: 42 });
    expect(reply.ours.status).not.toBe(200);
  });

  it('hashkv (a 3.5+ route; 3.4 has the RPC but no route)', async () => {
    const theirs = await post(rig.theirs, '/v3/maintenance/hashkv', {});
    expect(theirs.status).toBe(404);
    const ours = await post(rig.ours, '/v3/maintenance/hashkv', {});
    expect(ours.status).toBe(200);
    expect(Object.keys(json(ours) as object)).toEqual(['header', 'hash', 'compact_revision']);
  });

  it('snapshot (streamed)', async () => {
    const theirs = await post(rig.theirs, '/v3/maintenance/snapshot', {});
    const ours = await post(rig.ours, '/v3/maintenance/snapshot', {});
    expectSameReply(theirs, ours);
    const lines = ours.text.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(1);
    const last = JSON.parse(lines.at(-1)!) as {
      result: { blob: string; remaining_bytes?: string };
    };
    expect(last.result.remaining_bytes).toBeUndefined();
  });
});

describe('auth', () => {
  it('users and roles: add, get, list, grant, revoke, changepw, delete', async () => {
    const both = (path: string, make: (side: string) => object, scrubKeys = REV) =>
      (async () => {
        const theirs = await post(rig.theirs, path, make('e'));
        const ours = await post(rig.ours, path, make('o'));
        expectSameReply(theirs, ours, scrubKeys);
      })();
    await both('/v3/auth/user/add', (s) => ({ name: `user-${s}`, password: 'pw' }));
    await both('/v3/auth/role/add', (s) => ({ name: `role-${s}` }));
    await both('/v3/auth/role/grant', (s) => ({
      name: `role-${s}`,
      perm: { permType: 'READWRITE', key: b64('auth/'), range_end: b64('auth0') },
    }));
    await both('/v3/auth/user/grant', (s) => ({ user: `user-${s}`, role: `role-${s}` }));
    await expectSame(rig, '/v3/auth/user/get', { name: 'user-e' });
    await expectSame(rig, '/v3/auth/role/get', { role: 'role-o' });
    // Go escapes <, > and & in JSON strings; so must we.
    await post(rig.theirs, '/v3/auth/user/add', { name: 'x<&>\u2028', password: 'pw' });
    const list = await expectSame(rig, '/v3/auth/user/list', {});
    expect(list.ours.text).toContain('x\\u003c\\u0026\\u003e\\u2028');
    await post(rig.theirs, '/v3/auth/user/delete', { name: 'x<&>\u2028' });
    await expectSame(rig, '/v3/auth/role/list', {});
    await both('/v3/auth/user/changepw', (s) => ({ name: `user-${s}`, password: 'pw2' }));
    await both('/v3/auth/role/revoke', (s) => ({
      role: `role-${s}`,
      key: b64('auth/'),
      range_end: b64('auth0'),
    }));
    await both('/v3/auth/user/revoke', (s) => ({ name: `user-${s}`, role: `role-${s}` }));
    await both('/v3/auth/role/delete', (s) => ({ role: `role-${s}` }));
    await both('/v3/auth/user/delete', (s) => ({ name: `user-${s}` }));
    const missing = await expectSame(rig, '/v3/auth/user/get', { name: 'nobody' });
    expect(missing.ours.status).toBe(412);
    await expectSame(rig, '/v3/auth/role/get', { role: 'no<role>' });
    await expectSame(rig, '/v3/auth/user/add', { name: '' });
  });

  it('enable, authenticate, Authorization header, disable', async () => {
    await post(rig.theirs, '/v3/auth/user/add', { name: 'root', password: 'rootpw' });
    await post(rig.theirs, '/v3/auth/user/grant', { user: 'root', role: 'root' });
    const login = (base: string): Promise<string> =>
      post(base, '/v3/auth/authenticate', { name: 'root', password: 'rootpw' }).then(
        (r) => (json(r) as { token: string }).token,
      );

    const theirsEnable = await post(rig.theirs, '/v3/auth/enable', {});
    await post(rig.theirs, '/v3/auth/disable', {}, { authorization: await login(rig.theirs) });
    const oursEnable = await post(rig.ours, '/v3/auth/enable', {});
    expectSameReply(theirsEnable, oursEnable, REV);
    await expectSame(
      rig,
      '/v3/auth/authenticate',
      { name: 'root', password: 'rootpw' },
      {
        scrub: ['token'],
      },
    );
    await expectSame(rig, '/v3/auth/authenticate', { name: 'root', password: 'wrong' });
    const token = await login(rig.ours);
    await expectSame(
      rig,
      '/v3/kv/range',
      { key: b64('kv/r1') },
      { headers: { authorization: token } },
    );
    const anonymous = await expectSame(rig, '/v3/kv/range', { key: b64('kv/r1') });
    expect(anonymous.ours.status).toBe(400);
    const bogus = await expectSame(
      rig,
      '/v3/kv/range',
      { key: b64('kv/r1') },
      {
        headers: { authorization: 'bogus' },
      },
    );
    expect(bogus.ours.status).toBe(401);
    // A streamed call that fails: etcd answers with its stream error chunk.
    await expectSame(rig, '/v3/maintenance/snapshot', {}, { headers: { authorization: 'bogus' } });

    const theirs = await post(
      rig.theirs,
      '/v3/auth/disable',
      {},
      { authorization: await login(rig.theirs) },
    );
    await post(rig.theirs, '/v3/auth/enable', {});
    const ours = await post(
      rig.ours,
      '/v3/auth/disable',
      {},
      { authorization: await login(rig.ours) },
    );
    expectSameReply(theirs, ours, REV);
  });

  it('auth/status is a 3.5+ route; 3.4 does not implement the RPC', async () => {
    expect((await post(rig.theirs, '/v3/auth/status', {})).status).toBe(404);
    const ours = await post(rig.ours, '/v3/auth/status', {});
    expect(ours.status).toBe(501);
    expect(json(ours)).toMatchObject({ code: 12 });
  });
});

describe('lock and election', () => {
  const grant = async (id: number): Promise<void> => {
    await post(rig.theirs, '/v3/lease/grant', { TTL: 60, ID: id });
  };

  it('lock and unlock', async () => {
    await grant(8001);
    await grant(8002);
    const theirs = await post(rig.theirs, '/v3/lock/lock', { name: b64('lk'), lease: 8001 });
    const theirsUnlock = await post(rig.theirs, '/v3/lock/unlock', {
      key: (json(theirs) as { key: string }).key,
    });
    const ours = await post(rig.ours, '/v3/lock/lock', { name: b64('lk'), lease: 8002 });
    expectSameReply(theirs, ours, ['key', ...REV]);
    const oursUnlock = await post(rig.ours, '/v3/lock/unlock', {
      key: (json(ours) as { key: string }).key,
    });
    expectSameReply(theirsUnlock, oursUnlock, REV);
  });

  it('campaign, proclaim, leader, observe (streamed), resign', async () => {
    await grant(8101);
    await grant(8102);
    const campaign = (lease: number, name: string) => ({
      name: b64(name),
      lease,
      value: b64('v0'),
    });
    const t = await post(rig.theirs, '/v3/election/campaign', campaign(8101, 'el-t'));
    const o = await post(rig.ours, '/v3/election/campaign', campaign(8102, 'el-o'));
    expectSameReply(t, o, ['name', 'key', 'rev', 'lease', ...REV]);
    const leaderOf = (r: typeof t): object => (json(r) as { leader: object }).leader;

    const tp = await post(rig.theirs, '/v3/election/proclaim', {
      leader: leaderOf(t),
      value: b64('v1'),
    });
    const op = await post(rig.ours, '/v3/election/proclaim', {
      leader: leaderOf(o),
      value: b64('v1'),
    });
    expectSameReply(tp, op, REV);
    await expectSame(rig, '/v3/election/leader', { name: b64('el-t') });
    await expectSame(rig, '/v3/election/leader', { name: b64('el-none') });

    const theirs = new StreamCall(rig.theirs, '/v3/election/observe');
    const ours = new StreamCall(rig.ours, '/v3/election/observe');
    try {
      for (const call of [theirs, ours]) {
        call.send({ name: b64('el-o') });
        call.endBody();
      }
      expect(await ours.nextLine()).toBe(await theirs.nextLine());
      await post(rig.theirs, '/v3/election/proclaim', { leader: leaderOf(o), value: b64('v2') });
      expect(await ours.nextLine()).toBe(await theirs.nextLine());
    } finally {
      theirs.close();
      ours.close();
    }

    const tr = await post(rig.theirs, '/v3/election/resign', { leader: leaderOf(t) });
    const or = await post(rig.ours, '/v3/election/resign', { leader: leaderOf(o) });
    expectSameReply(tr, or, REV);
  });
});
