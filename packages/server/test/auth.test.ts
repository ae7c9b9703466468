/**
 * Auth with the real etcdctl 3.4, compared with real etcd 3.4: users, roles,
 * key-range permissions, enabling auth (only with a root user holding the
 * root role), permission denials, token use and disabling.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, etcdctl } from './harness';
import type { ServerKind } from './harness';

interface Step {
  readonly args: readonly string[];
  readonly stdin?: string;
}

const asRoot = ['--user=root:rootpw'];
const asAlice = ['--user=alice:alicepw'];

const steps: Step[] = [
  { args: ['auth', 'enable'] },
  { args: ['user', 'add', 'root:rootpw'] },
  { args: ['role', 'add', 'root'] },
  { args: ['user', 'grant-role', 'root', 'root'] },
  { args: ['user', 'add', 'alice:alicepw'] },
  { args: ['role', 'add', 'app'] },
  { args: ['role', 'add', 'app'] },
  { args: ['role', 'grant-permission', 'app', 'readwrite', 'app/', '--prefix'] },
  { args: ['role', 'grant-permission', 'app', 'read', 'shared'] },
  { args: ['user', 'grant-role', 'alice', 'app'] },
  { args: ['user', 'grant-role', 'alice', 'nosuchrole'] },
  { args: ['role', 'get', 'app'] },
  { args: ['user', 'get', 'alice'] },
  { args: ['user', 'list'] },
  { args: ['role', 'list'] },
  { args: ['put', 'shared', 'before-auth'] },
  { args: ['auth', 'enable'] },
  { args: ['put', 'x', 'no-credentials'] },
  { args: [...asAlice, 'put', 'app/one', '1'] },
  { args: [...asAlice, 'get', 'app/', '--prefix'] },
  { args: [...asAlice, 'get', 'shared'] },
  { args: [...asAlice, 'put', 'shared', 'nope'] },
  { args: [...asAlice, 'get', 'other'] },
  { args: [...asAlice, 'user', 'list'] },
  { args: ['--user=alice:wrong', 'get', 'shared'] },
  { args: [...asRoot, 'get', 'app/one'] },
  { args: [...asRoot, 'role', 'revoke-permission', 'app', 'shared'] },
  { args: [...asAlice, 'get', 'shared'] },
  { args: [...asRoot, 'user', 'revoke-role', 'root', 'root'] },
  { args: [...asRoot, 'user', 'delete', 'alice'] },
  { args: [...asRoot, 'auth', 'disable'] },
  { args: ['get', 'app/one', '--print-value-only'] },
  { args: ['user', 'list'] },
];

function normalise(text: string): string {
  return text
    .replace(/^\{"level":"warn".*"error":"([^"]*)"\}$/gm, 'WARN $1')
    .replace(/"cluster_id":\d+/g, '"cluster_id":CID')
    .replace(/"member_id":\d+/g, '"member_id":MID')
    .replace(/"raft_term":\d+/g, '"raft_term":TERM');
}

async function transcript(kind: ServerKind): Promise<string[]> {
  const cluster = await ProcessCluster.start({ kind, size: 1 });
  try {
    const out: string[] = [];
    for (const step of steps) {
      const r = await etcdctl(
        [`--endpoints=${cluster.endpoints}`, '--command-timeout=10s', ...step.args],
        step.stdin,
      );
      out.push(
        `$ etcdctl ${step.args.join(' ')}\n[exit ${r.code}]\n${normalise(r.stdout)}${normalise(r.stderr)}`,
      );
    }
    return out;
  } finally {
    await cluster.close();
  }
}

describe('auth commands of etcdctl 3.4 against our server and real etcd 3.4', () => {
  let ours: string[] = [];
  let reference: string[] = [];

  beforeAll(async () => {
    ours = await transcript('kv');
    if (process.env.SHOW_TRANSCRIPT) console.log(ours.join('\n'));
    reference = await transcript('etcd');
  }, 120_000);

  afterAll(() => undefined);

  it.each(steps.map((s, i) => [s.args.join(' '), i] as const))('etcdctl %s', (_name, i) => {
    expect(ours[i]).toBe(reference[i]);
  });
});
