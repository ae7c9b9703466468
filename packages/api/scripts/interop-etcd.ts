// Differential check against a real etcd binary (not part of `vitest run`,
// because it needs etcd installed): starts a throwaway single-member etcd on
// free local ports, drives every service through the generated clients, and
// checks that
//   - each response decodes, and re-encodes to exactly the bytes etcd sent
//     (so every field etcd sends has the right number and type here);
//   - the hand-written RangeResponse codec agrees with etcd's bytes;
//   - etcdJson output equals what etcd's own HTTP gateway answers.
// Run: pnpm nx run api:interop   (ETCD_BIN=/path/to/etcd to pick a binary)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { credentials, makeGenericClientConstructor, status } from '@grpc/grpc-js';
import type { Client, ServiceDefinition, ServiceError } from '@grpc/grpc-js';
import {
  AuthService,
  ClusterService,
  decodeRangeResponse,
  ElectionService,
  encodeRangeResponse,
  etcdJson,
  etcdserverpb,
  KVService,
  LeaseService,
  LockService,
  MaintenanceService,
  WatchClient,
} from '../src/index';

const etcdBin = process.env.ETCD_BIN ?? 'etcd';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

let failures = 0;
function check(name: string, ok: boolean, detail?: unknown): void {
  if (ok) console.log(`ok   ${name}`);
  else {
    failures++;
    console.log(`FAIL ${name}`, detail ?? '');
  }
}

interface RawUnaryClient extends Client {
  [method: string]: unknown;
}

/**
 * A client over a definition whose deserializers return the raw bytes, so a
 * test sees exactly what etcd sent.
 */
function rawClient(def: ServiceDefinition, name: string, address: string): RawUnaryClient {
  const raw: ServiceDefinition = Object.fromEntries(
    Object.entries(def).map(([key, m]) => [key, { ...m, responseDeserialize: (b: Buffer) => b }]),
  );
  const Ctor = makeGenericClientConstructor(raw, name);
  return new Ctor(address, credentials.createInsecure());
}

function unary(client: RawUnaryClient, method: string, req: unknown): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const fn = client[method] as (
      r: unknown,
      cb: (e: ServiceError | null, b: Buffer) => void,
    ) => void;
    fn.call(client, req, (err, bytes) => (err ? reject(err) : resolve(bytes)));
  });
}

interface Codec<T> {
  decode(b: Uint8Array): T;
  encode(m: T): { finish(): Uint8Array };
}

/** Decode etcd's bytes, re-encode, and require identical bytes. */
function roundTrips<T>(name: string, codec: Codec<T>, bytes: Buffer): T {
  const msg = codec.decode(bytes);
  const again = Buffer.from(codec.encode(msg).finish());
  check(`${name}: re-encodes to etcd's exact bytes (${bytes.length} B)`, again.equals(bytes), {
    etcd: bytes.toString('hex'),
    ours: again.toString('hex'),
  });
  return msg;
}

async function gateway(base: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(base + path, { method: 'POST', body: JSON.stringify(body) });
  return res.json();
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kv-api-interop-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const etcd = spawn(
    etcdBin,
    [
      '--data-dir',
      join(dir, 'data'),
      '--listen-client-urls',
      clientUrl,
      '--advertise-client-urls',
      clientUrl,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      `default=${peerUrl}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // etcd logs "ready to serve client requests" once its gRPC server is up.
  await new Promise<void>((resolve, reject) => {
    let log = '';
    etcd.once('error', reject);
    etcd.once('exit', (code) => reject(new Error(`etcd exited (${code}): ${log.slice(-2000)}`)));
    etcd.stderr.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('ready to serve client requests')) resolve();
    });
  });
  const address = `127.0.0.1:${clientPort}`;
  const kv = rawClient(KVService, 'etcdserverpb.KV', address);
  const lease = rawClient(LeaseService, 'etcdserverpb.Lease', address);
  const cluster = rawClient(ClusterService, 'etcdserverpb.Cluster', address);
  const maint = rawClient(MaintenanceService, 'etcdserverpb.Maintenance', address);
  const auth = rawClient(AuthService, 'etcdserverpb.Auth', address);
  const lock = rawClient(LockService, 'v3lockpb.Lock', address);
  const election = rawClient(ElectionService, 'v3electionpb.Election', address);
  const pb = etcdserverpb;
  try {
    const status0 = roundTrips('Status', pb.StatusResponse, await unary(maint, 'status', {}));
    console.log(`     etcd ${status0.version}`);

    // --- KV ---
    const leaseGrant = roundTrips(
      'LeaseGrant',
      pb.LeaseGrantResponse,
      await unary(lease, 'leaseGrant', pb.LeaseGrantRequest.fromPartial({ TTL: 600n })),
    );
    for (let i = 0; i < 3; i++) {
      roundTrips(
        `Put #${i}`,
        pb.PutResponse,
        await unary(
          kv,
          'put',
          pb.PutRequest.fromPartial({
            key: Buffer.from(`interop/k${i}`),
            value: Buffer.from(`v${i}`),
            lease: i === 0 ? leaseGrant.ID : 0n,
            prevKv: true,
          }),
        ),
      );
    }
    const put = roundTrips(
      'Put with prev_kv',
      pb.PutResponse,
      await unary(
        kv,
        'put',
        pb.PutRequest.fromPartial({
          key: Buffer.from('interop/k1'),
          value: Buffer.from('v1b'),
          prevKv: true,
        }),
      ),
    );
    check('Put prev_kv carries the old value', put.prevKv?.value.toString() === 'v1');
    const rangeReq = pb.RangeRequest.fromPartial({
      key: Buffer.from('interop/'),
      rangeEnd: Buffer.from('interop0'),
      sortOrder: pb.RangeRequest_SortOrder.DESCEND,
      sortTarget: pb.RangeRequest_SortTarget.KEY,
    });
    const rangeBytes = await unary(kv, 'range', rangeReq);
    const range = roundTrips('Range', pb.RangeResponse, rangeBytes);
    check(
      'Range: 3 keys, descending',
      range.kvs.map((k) => k.key.toString()).join() === 'interop/k2,interop/k1,interop/k0',
    );
    check('Range: lease attached on k0', range.kvs[2]?.lease === leaseGrant.ID);
    check(
      'hand-written decoder agrees on etcd bytes',
      isDeepStrictEqual(decodeRangeResponse(rangeBytes), range),
    );
    check(
      'hand-written encoder reproduces etcd bytes',
      encodeRangeResponse(range).equals(rangeBytes),
    );
    check(
      'cluster id survives as uint64',
      range.header!.clusterId > 0n && typeof range.header!.clusterId === 'bigint',
    );

    const gw = await gateway(`${clientUrl}`, '/v3/kv/range', pb.RangeRequest.toJSON(rangeReq));
    check(
      'gateway /v3/kv/range JSON equals etcdJson output',
      isDeepStrictEqual(gw, etcdJson.etcdserverpb.RangeResponse.toJSON(range)),
      gw,
    );
    const gwRange = pb.RangeResponse.fromJSON(gw);
    check(
      'fromJSON of the gateway answer equals the gRPC answer',
      isDeepStrictEqual(gwRange, range),
    );

    const countOnly = roundTrips(
      'Range count_only with limit',
      pb.RangeResponse,
      await unary(
        kv,
        'range',
        pb.RangeRequest.fromPartial({
          key: Buffer.from('interop/'),
          rangeEnd: Buffer.from('interop0'),
          limit: 1n,
        }),
      ),
    );
    check('Range limit 1: more=true, count=3', countOnly.more && countOnly.count === 3n);

    const txn = roundTrips(
      'Txn',
      pb.TxnResponse,
      await unary(
        kv,
        'txn',
        pb.TxnRequest.fromPartial({
          compare: [
            {
              key: Buffer.from('interop/k1'),
              target: pb.Compare_CompareTarget.VALUE,
              result: pb.Compare_CompareResult.EQUAL,
              targetUnion: { $case: 'value', value: Buffer.from('v1b') },
            },
            {
              key: Buffer.from('interop/'),
              rangeEnd: Buffer.from('interop0'),
              target: pb.Compare_CompareTarget.VERSION,
              result: pb.Compare_CompareResult.GREATER,
              targetUnion: { $case: 'version', value: 0n },
            },
          ],
          success: [
            {
              request: {
                $case: 'requestPut',
                value: { key: Buffer.from('interop/t'), value: Buffer.from('x') },
              },
            },
            { request: { $case: 'requestRange', value: { key: Buffer.from('interop/k0') } } },
            {
              request: {
                $case: 'requestTxn',
                value: {
                  success: [
                    {
                      request: {
                        $case: 'requestDeleteRange',
                        value: { key: Buffer.from('interop/k2'), prevKv: true },
                      },
                    },
                  ],
                },
              },
            },
          ],
        }),
      ),
    );
    check('Txn succeeded with 3 responses', txn.succeeded && txn.responses.length === 3);
    const nested = txn.responses[2]?.response;
    check(
      'nested Txn deleted interop/k2 and returned it',
      nested?.$case === 'responseTxn' &&
        nested.value.responses[0]?.response?.$case === 'responseDeleteRange' &&
        nested.value.responses[0].response.value.deleted === 1n &&
        nested.value.responses[0].response.value.prevKvs[0]?.value.toString() === 'v2',
    );

    // --- Watch (bidi) ---
    const watchClient = new WatchClient(address, credentials.createInsecure());
    const stream = watchClient.watch();
    const responses: etcdserverpb.WatchResponse[] = [];
    const waitFor = (pred: (r: etcdserverpb.WatchResponse) => boolean) =>
      new Promise<etcdserverpb.WatchResponse>((resolve, reject) => {
        const found = responses.find(pred);
        if (found) return resolve(found);
        const onData = (r: etcdserverpb.WatchResponse) => {
          if (pred(r)) {
            stream.off('data', onData);
            resolve(r);
          }
        };
        stream.on('data', onData);
        stream.once('error', reject);
      });
    stream.on('data', (r: etcdserverpb.WatchResponse) => responses.push(r));
    stream.write(
      pb.WatchRequest.fromPartial({
        requestUnion: {
          $case: 'createRequest',
          value: {
            key: Buffer.from('interop/'),
            rangeEnd: Buffer.from('interop0'),
            prevKv: true,
            watchId: 42n,
            startRevision: 2n,
          },
        },
      }),
    );
    const created = await waitFor((r) => r.created);
    check('Watch created with the client-chosen id', created.watchId === 42n, created);
    const history = await waitFor((r) => r.events.length > 0);
    check(
      'Watch replays history from start_revision',
      history.events[0]?.kv?.key.toString().startsWith('interop/') === true,
    );
    stream.write(
      pb.WatchRequest.fromPartial({ requestUnion: { $case: 'progressRequest', value: {} } }),
    );
    const progress = await waitFor((r) => r.events.length === 0 && !r.created && !r.canceled);
    check(
      'Watch progress response carries a header revision',
      (progress.header?.revision ?? 0n) > 0n,
    );
    stream.write(
      pb.WatchRequest.fromPartial({
        requestUnion: { $case: 'cancelRequest', value: { watchId: 42n } },
      }),
    );
    const canceled = await waitFor((r) => r.canceled);
    check('Watch canceled', canceled.watchId === 42n);
    stream.end();
    watchClient.close();

    // --- Lease ---
    const ttl = roundTrips(
      'LeaseTimeToLive',
      pb.LeaseTimeToLiveResponse,
      await unary(
        lease,
        'leaseTimeToLive',
        pb.LeaseTimeToLiveRequest.fromPartial({ ID: leaseGrant.ID, keys: true }),
      ),
    );
    check(
      'LeaseTimeToLive lists the attached key',
      ttl.keys[0]?.toString() === 'interop/k0' && ttl.grantedTTL === 600n,
    );
    roundTrips('LeaseLeases', pb.LeaseLeasesResponse, await unary(lease, 'leaseLeases', {}));
    const missing = roundTrips(
      'LeaseTimeToLive of a missing lease',
      pb.LeaseTimeToLiveResponse,
      await unary(lease, 'leaseTimeToLive', pb.LeaseTimeToLiveRequest.fromPartial({ ID: 12345n })),
    );
    check('missing lease has TTL -1 (negative int64 on the wire)', missing.TTL === -1n, missing);

    // --- Lock / Election ---
    const { LockResponse, LockRequest, UnlockResponse } =
      await import('../src/gen/v3lockpb/v3lock');
    const locked = roundTrips(
      'Lock',
      LockResponse,
      await unary(
        lock,
        'lock',
        LockRequest.fromPartial({ name: Buffer.from('interop-lock'), lease: leaseGrant.ID }),
      ),
    );
    roundTrips('Unlock', UnlockResponse, await unary(lock, 'unlock', { key: locked.key }));
    const ev = await import('../src/gen/v3electionpb/v3election');
    const camp = roundTrips(
      'Campaign',
      ev.CampaignResponse,
      await unary(
        election,
        'campaign',
        ev.CampaignRequest.fromPartial({
          name: Buffer.from('interop-el'),
          lease: leaseGrant.ID,
          value: Buffer.from('me'),
        }),
      ),
    );
    check('Campaign returns a leader key with a revision', (camp.leader?.rev ?? 0n) > 0n);
    roundTrips(
      'Proclaim',
      ev.ProclaimResponse,
      await unary(
        election,
        'proclaim',
        ev.ProclaimRequest.fromPartial({ leader: camp.leader, value: Buffer.from('again') }),
      ),
    );
    const leader = roundTrips(
      'Leader',
      ev.LeaderResponse,
      await unary(election, 'leader', { name: Buffer.from('interop-el') }),
    );
    check('Leader shows the proclaimed value', leader.kv?.value.toString() === 'again');
    roundTrips(
      'Resign',
      ev.ResignResponse,
      await unary(election, 'resign', { leader: camp.leader }),
    );

    // --- Cluster / Maintenance ---
    const members = roundTrips(
      'MemberList',
      pb.MemberListResponse,
      await unary(cluster, 'memberList', pb.MemberListRequest.fromPartial({})),
    );
    const gwMembers = await gateway(clientUrl, '/v3/cluster/member/list', {});
    check(
      'gateway /v3/cluster/member/list JSON equals etcdJson output',
      isDeepStrictEqual(gwMembers, etcdJson.etcdserverpb.MemberListResponse.toJSON(members)),
      gwMembers,
    );
    roundTrips(
      'Alarm GET',
      pb.AlarmResponse,
      await unary(maint, 'alarm', pb.AlarmRequest.fromPartial({})),
    );
    roundTrips('Hash', pb.HashResponse, await unary(maint, 'hash', {}));
    roundTrips(
      'HashKV',
      pb.HashKVResponse,
      await unary(maint, 'hashKv', pb.HashKVRequest.fromPartial({})),
    );
    roundTrips('Defragment', pb.DefragmentResponse, await unary(maint, 'defragment', {}));
    const st = roundTrips('Status', pb.StatusResponse, await unary(maint, 'status', {}));
    const gwStatus = await gateway(clientUrl, '/v3/maintenance/status', {});
    check(
      'gateway /v3/maintenance/status JSON equals etcdJson output',
      isDeepStrictEqual(gwStatus, etcdJson.etcdserverpb.StatusResponse.toJSON(st)),
      gwStatus,
    );

    // Snapshot: a server stream of raw chunks, each re-encoded exactly.
    const snapBytes = await new Promise<Buffer[]>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = (maint.snapshot as (r: unknown) => NodeJS.ReadableStream).call(maint, {});
      s.on('data', (b: Buffer) => chunks.push(b));
      s.on('end', () => resolve(chunks));
      s.on('error', reject);
    });
    const snaps = snapBytes.map((b, i) =>
      roundTrips(`Snapshot chunk ${i}`, pb.SnapshotResponse, b),
    );
    check(
      'Snapshot ends with remaining_bytes 0',
      snaps.at(-1)?.remainingBytes === 0n && snaps.length > 0,
    );

    // --- Auth (without enabling it) ---
    roundTrips(
      'RoleAdd',
      pb.AuthRoleAddResponse,
      await unary(auth, 'roleAdd', { name: 'interop-role' }),
    );
    roundTrips(
      'RoleGrantPermission',
      pb.AuthRoleGrantPermissionResponse,
      await unary(
        auth,
        'roleGrantPermission',
        pb.AuthRoleGrantPermissionRequest.fromPartial({
          name: 'interop-role',
          perm: { permType: 2, key: Buffer.from('a'), rangeEnd: Buffer.from('b') },
        }),
      ),
    );
    const role = roundTrips(
      'RoleGet',
      pb.AuthRoleGetResponse,
      await unary(auth, 'roleGet', { role: 'interop-role' }),
    );
    check(
      'RoleGet returns the READWRITE permission',
      role.perm[0]?.permType === 2 && role.perm[0].rangeEnd.toString() === 'b',
    );
    roundTrips(
      'UserAdd',
      pb.AuthUserAddResponse,
      await unary(
        auth,
        'userAdd',
        pb.AuthUserAddRequest.fromPartial({ name: 'interop-user', password: 'pw' }),
      ),
    );
    roundTrips(
      'UserGrantRole',
      pb.AuthUserGrantRoleResponse,
      await unary(auth, 'userGrantRole', { user: 'interop-user', role: 'interop-role' }),
    );
    const user = roundTrips(
      'UserGet',
      pb.AuthUserGetResponse,
      await unary(auth, 'userGet', { name: 'interop-user' }),
    );
    check('UserGet shows the granted role', user.roles.includes('interop-role'));
    roundTrips('UserList', pb.AuthUserListResponse, await unary(auth, 'userList', {}));
    try {
      roundTrips('AuthStatus', pb.AuthStatusResponse, await unary(auth, 'authStatus', {}));
    } catch (e) {
      // etcd 3.4 predates AuthStatus; a 3.5+ binary answers it.
      check(
        'AuthStatus is Unimplemented on etcd 3.4',
        (e as ServiceError).code === status.UNIMPLEMENTED && status0.version.startsWith('3.4'),
        e,
      );
    }

    const compact = roundTrips(
      'Compact',
      pb.CompactionResponse,
      await unary(
        kv,
        'compact',
        pb.CompactionRequest.fromPartial({ revision: range.header!.revision, physical: true }),
      ),
    );
    check('Compact answered with a header', compact.header !== undefined);

    for (const c of [kv, lease, cluster, maint, auth, lock, election]) c.close();
  } finally {
    etcd.kill('SIGTERM');
    await new Promise((r) => etcd.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    failures === 0 ? '\nall interop checks passed' : `\n${failures} interop check(s) failed`,
  );
  process.exitCode = failures === 0 ? 0 : 1;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
