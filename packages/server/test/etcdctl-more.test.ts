/**
 * More etcdctl 3.4 commands compared with real etcd 3.4 on 3-member clusters:
 * watch (from a past revision, with --prev-kv, and live), leases (grant,
 * keep-alive --once, timetolive --keys, list, revoke), endpoint
 * status/health/hashkv, defrag and alarms.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, etcdctl } from './harness';
import type { ServerKind } from './harness';

interface Transcript {
  readonly lines: string[];
}

function normalise(text: string): string {
  return text
    .replace(/^\{"level":"warn".*"error":"([^"]*)"\}$/gm, 'WARN $1')
    .replace(/"cluster_id":\d+/g, '"cluster_id":CID')
    .replace(/"member_id":\d+/g, '"member_id":MID')
    .replace(/"raft_term":\d+/g, '"raft_term":TERM')
    .replace(/\b[0-9a-f]{16}\b/g, 'ID')
    .replace(/lease [0-9a-f]+/g, 'lease ID')
    .replace(/remaining\(\d+s\)/g, 'remaining(N)')
    .replace(/took = [0-9.]+[µm]?s/g, 'took = T')
    .replace(/127\.0\.0\.1:\d+/g, 'ENDPOINT');
}

/** Runs `etcdctl watch` until `lines` lines arrived (or a timeout), returning them. */
function watch(
  endpoints: string,
  args: readonly string[],
  lines: number,
  whileRunning?: () => Promise<void>,
): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('etcdctl', [`--endpoints=${endpoints}`, 'watch', ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').length > lines) child.kill('SIGTERM');
    });
    child.on('exit', () => {
      clearTimeout(timer);
      // How many lines arrive before the kill depends on how the pipe
      // coalesced etcdctl's writes: compare exactly the first `lines`.
      resolve(out.split('\n').slice(0, lines).join('\n'));
    });
    if (whileRunning !== undefined) setTimeout(() => void whileRunning(), 500);
  });
}

async function transcript(kind: ServerKind): Promise<Transcript> {
  const cluster = await ProcessCluster.start({ kind, size: 3 });
  const ep = cluster.endpoints;
  const run = async (args: readonly string[]): Promise<string> => {
    const r = await etcdctl([`--endpoints=${ep}`, ...args]);
    return normalise(`$ etcdctl ${args.join(' ')}\n[exit ${r.code}]\n${r.stdout}${r.stderr}`);
  };
  try {
    const lines: string[] = [];
    for (const [k, v] of [
      ['w', '1'],
      ['w', '2'],
      ['x', '1'],
      ['w', '3'],
    ] as const) {
      await etcdctl([`--endpoints=${ep}`, 'put', k, v]);
    }
    lines.push(`past watch:\n${normalise(await watch(ep, ['w', '--rev=1', '--prev-kv'], 9))}`);
    lines.push(
      `live watch:\n${normalise(
        await watch(ep, ['--prefix', 'live/'], 6, async () => {
          await etcdctl([`--endpoints=${ep}`, 'put', 'live/a', 'A']);
          await etcdctl([`--endpoints=${ep}`, 'del', 'live/a']);
        }),
      )}`,
    );
    const grant = await etcdctl([`--endpoints=${ep}`, 'lease', 'grant', '100']);
    lines.push(`$ etcdctl lease grant 100\n${normalise(grant.stdout)}`);
    const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)![1]!;
    lines.push(await run(['put', 'leased', 'v', `--lease=${id}`]));
    lines.push(await run(['lease', 'timetolive', id, '--keys']));
    lines.push(await run(['lease', 'keep-alive', '--once', id]));
    lines.push(await run(['lease', 'list']));
    lines.push(await run(['lease', 'revoke', id]));
    lines.push(await run(['get', 'leased']));
    lines.push(await run(['lease', 'timetolive', id]));
    lines.push(await run(['lease', 'revoke', id]));
    lines.push(await run(['endpoint', 'health']));
    const status = await etcdctl([
      `--endpoints=${cluster.members[0]!.endpoint}`,
      'endpoint',
      'status',
      '-w',
      'json',
    ]);
    const st = JSON.parse(status.stdout) as {
      Status: { version: string; leader: unknown; raftIndex: unknown };
    }[];
    lines.push(`status fields: ${Object.keys(st[0]!.Status).sort().join(',')}`);
    const hashkv = await etcdctl([`--endpoints=${ep}`, 'endpoint', 'hashkv', '-w', 'json']);
    const hashes = (JSON.parse(hashkv.stdout) as { HashKV: { hash: number } }[]).map(
      (h) => h.HashKV.hash,
    );
    lines.push(`hashkv equal on all members: ${new Set(hashes).size === 1 && hashes.length === 3}`);
    lines.push(await run(['defrag']));
    lines.push(await run(['alarm', 'list']));
    lines.push(await run(['alarm', 'disarm']));
    lines.push(await run(['get', 'w', '--print-value-only']));
    return { lines };
  } finally {
    await cluster.close();
  }
}

describe('etcdctl watch, lease, endpoint, defrag and alarm against our cluster and etcd 3.4', () => {
  let ours: Transcript = { lines: [] };
  let reference: Transcript = { lines: [] };

  beforeAll(async () => {
    ours = await transcript('kv');
    reference = await transcript('etcd');
  }, 180_000);

  afterAll(() => undefined);

  it('gives the same transcript', () => {
    expect(reference.lines.length).toBeGreaterThan(10);
    expect(ours.lines).toEqual(reference.lines);
  });
});
