/**
 * The client port's HTTP side on a running member: the JSON gateway
 * (unary and streamed watch), /health, /livez, /readyz, /version, /metrics
 * with etcd's metric names, and graceful shutdown on SIGTERM losing no
 * acknowledged write.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, etcdctl } from './harness';

let cluster: ProcessCluster;
let base: string;

beforeAll(async () => {
  cluster = await ProcessCluster.start({ kind: 'kv', size: 1 });
  base = `http://${cluster.members[0]!.endpoint}`;
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function post(
  path: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('JSON gateway on the client port', () => {
  it('puts and ranges with base64 bytes and int64 as strings', async () => {
    const put = await post('/v3/kv/put', { key: b64('gw'), value: b64('json') });
    expect(put.status).toBe(200);
    const range = await post('/v3/kv/range', { key: b64('gw') });
    const kvs = range.json.kvs as { key: string; value: string; version: string }[];
    expect(kvs[0]).toMatchObject({ key: b64('gw'), value: b64('json'), version: '1' });
    expect(typeof (range.json.header as { revision: unknown }).revision).toBe('string');
  });

  it('grants leases and reports errors as etcd does', async () => {
    const grant = await post('/v3/lease/grant', { TTL: '30' });
    expect(grant.json.TTL).toBe('30');
    const bad = await post('/v3/kv/put', { key: '', value: b64('x') });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: 'etcdserver: key is not provided', code: 3 });
  });

  it('streams watch events as one JSON object per line', async () => {
    const lines: string[] = [];
    const gotEvent = new Promise<void>((resolve, reject) => {
      const req = http.request(`${base}/v3/watch`, { method: 'POST' }, (res) => {
        let buf = '';
        res.on('data', (d: Buffer) => {
          buf += d.toString();
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            lines.push(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
            if (lines.some((l) => l.includes('"events"'))) {
              req.destroy();
              resolve();
            }
          }
        });
      });
      req.on('error', (e) => (lines.some((l) => l.includes('"events"')) ? resolve() : reject(e)));
      req.write(JSON.stringify({ create_request: { key: b64('watched') } }));
      // Write once the watcher exists: the created response comes first.
      const poll = setInterval(() => {
        if (lines.length > 0) {
          clearInterval(poll);
          void etcdctl([`--endpoints=${cluster.endpoints}`, 'put', 'watched', 'yes']);
        }
      }, 20);
    });
    await gotEvent;
    const created = JSON.parse(lines[0]!) as { result: { created: boolean } };
    expect(created.result.created).toBe(true);
    const event = JSON.parse(lines.find((l) => l.includes('"events"'))!) as {
      result: { events: { kv: { key: string; value: string } }[] };
    };
    expect(event.result.events[0]!.kv).toMatchObject({ key: b64('watched'), value: b64('yes') });
  });
});

describe('operations endpoints', () => {
  it('answers /health, /livez, /readyz and /version', async () => {
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ health: 'true', reason: '' });
    expect(await (await fetch(`${base}/health?serializable=true`)).json()).toEqual({
      health: 'true',
      reason: '',
    });
    expect(await (await fetch(`${base}/livez`)).text()).toBe('ok\n');
    const ready = await (await fetch(`${base}/readyz?verbose`)).text();
    expect(ready).toContain('[+]linearizable_read ok');
    expect(await (await fetch(`${base}/version`)).json()).toHaveProperty('etcdserver');
  });

  it("exposes etcd's metric names in Prometheus format", async () => {
    await etcdctl([`--endpoints=${cluster.endpoints}`, 'put', 'metric', 'x']);
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const name of [
      'etcd_server_has_leader 1',
      'etcd_server_is_leader 1',
      'etcd_server_leader_changes_seen_total',
      'etcd_server_proposals_committed_total',
      'etcd_server_proposals_applied_total',
      'etcd_server_proposals_pending',
      'etcd_server_proposals_failed_total',
      'etcd_disk_wal_fsync_duration_seconds_bucket',
      'etcd_disk_backend_commit_duration_seconds_bucket',
      'etcd_mvcc_db_total_size_in_bytes',
      'etcd_mvcc_db_total_size_in_use_in_bytes',
      'grpc_server_started_total{grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}',
      'grpc_server_handled_total{grpc_code="OK",grpc_method="Put"',
    ]) {
      expect(text, name).toContain(name);
    }
  });
});

describe('WAL syncs', () => {
  it('fsyncs once per write: a commit-only hard state is written without a sync', async () => {
    const fsyncs = async (): Promise<number> => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const m = /^etcd_disk_wal_fsync_duration_seconds_count (\d+)/m.exec(text);
      return Number(m?.[1]);
    };
    const before = await fsyncs();
    const writes = 20;
    for (let i = 0; i < writes; i++) {
      expect((await post('/v3/kv/put', { key: b64(`sync-${i}`), value: b64('v') })).status).toBe(
        200,
      );
    }
    // Each write saves its entry (synced) and then the commit index (not
    // synced); a server that synced both would count two per write.
    const delta = (await fsyncs()) - before;
    expect(delta).toBeGreaterThanOrEqual(writes);
    expect(delta).toBeLessThan(writes + writes / 2);
  });
});

describe('backend commits', () => {
  const commits = async (url: string): Promise<number> => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = /^etcd_disk_backend_commit_duration_seconds_count (\d+)/m.exec(text);
    // A histogram with no observation yet is not rendered at all.
    return Number(m?.[1] ?? 0);
  };
  /** One at a time: each write is applied (and its commit started) before the next. */
  const putMany = async (url: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${url}/v3/kv/put`, {
        method: 'POST',
        body: JSON.stringify({ key: b64(`batch-${i}`), value: b64('v') }),
      });
      expect(res.status).toBe(200);
    }
  };

  it('--backend-batch-limit and --backend-batch-interval decide when buffered writes commit', async () => {
    // A limit of one write: every applied entry commits on its own.
    const eager = await ProcessCluster.start({
      kind: 'kv',
      size: 1,
      extraFlags: ['--backend-batch-limit=1'],
    });
    // Nothing commits for a minute unless 10,000 writes pile up.
    const lazy = await ProcessCluster.start({
      kind: 'kv',
      size: 1,
      extraFlags: ['--backend-batch-interval=1m'],
    });
    try {
      const eagerUrl = `http://${eager.members[0]!.endpoint}`;
      const lazyUrl = `http://${lazy.members[0]!.endpoint}`;
      const eagerBefore = await commits(eagerUrl);
      const lazyBefore = await commits(lazyUrl);
      await putMany(eagerUrl, 30);
      await putMany(lazyUrl, 30);
      expect((await commits(eagerUrl)) - eagerBefore).toBeGreaterThanOrEqual(30);
      expect((await commits(lazyUrl)) - lazyBefore).toBe(0);
    } finally {
      await eager.close();
      await lazy.close();
    }
  }, 60_000);
});

describe('graceful shutdown', () => {
  it('loses no acknowledged write on SIGTERM during a write loop', async () => {
    const acked: string[] = [];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop && i < 500; i++) {
        const r = await etcdctl([
          `--endpoints=${cluster.endpoints}`,
          '--command-timeout=3s',
          'put',
          `g${i}`,
          'v',
        ]);
        if (r.code === 0) acked.push(`g${i}`);
        else break;
      }
    })();
    while (acked.length < 10) await new Promise((r) => setTimeout(r, 20));
    await cluster.stop(0);
    stop = true;
    await writer;
    expect(cluster.members[0]!.proc!.exitCode).toBe(0);
    await cluster.restart(0);
    const r = await etcdctl([
      `--endpoints=${cluster.endpoints}`,
      'get',
      'g',
      '--prefix',
      '--keys-only',
    ]);
    const present = new Set(r.stdout.split('\n').filter((l) => l.startsWith('g')));
    for (const k of acked) expect(present.has(k), k).toBe(true);
  }, 60_000);
});
