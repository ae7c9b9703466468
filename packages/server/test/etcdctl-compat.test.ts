/**
 * Differential test against the reference: the same etcdctl 3.4 commands run
 * against a 3-member cluster of our server and a 3-member cluster of real
 * etcd 3.4, and the outputs must match once member/cluster IDs and Raft terms
 * are normalised.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, etcdctl } from './harness';
import type { ServerKind } from './harness';

interface Step {
  readonly args: readonly string[];
  readonly stdin?: string;
}

const TXN_SUCCESS = 'value("k1") = "v1"\n\nput k1 v1-new\nget k2\n\nput k1 never\n\n';
const TXN_FAILURE = 'mod("k1") < "2"\n\nput k1 never\n\nget k1\nget k3\n\n';

const steps: Step[] = [
  { args: ['put', 'foo', 'bar'] },
  { args: ['put', 'foo', 'baz', '--prev-kv'] },
  { args: ['get', 'foo'] },
  { args: ['get', 'foo', '-w', 'json'] },
  { args: ['put', 'k1', 'v1'] },
  { args: ['put', 'k2', 'v2'] },
  { args: ['put', 'k3', 'v3'] },
  { args: ['put', 'k4', 'v4'] },
  { args: ['put', 'k2', 'v2b'] },
  { args: ['get', 'k', '--prefix'] },
  { args: ['get', 'k', '--prefix', '--limit=2', '-w', 'json'] },
  { args: ['get', 'k', '--prefix', '--keys-only'] },
  { args: ['get', 'k', '--prefix', '--sort-by=MODIFY', '--order=DESCEND'] },
  { args: ['get', 'k', '--prefix', '--sort-by=VALUE', '--order=ASCEND', '--print-value-only'] },
  { args: ['get', 'k', '--prefix', '--count-only', '-w', 'json'] },
  { args: ['get', '--from-key', 'k3'] },
  { args: ['get', 'foo', '--rev=1'] },
  { args: ['get', 'k', '--prefix', '--rev=5'] },
  { args: ['get', 'nothing'] },
  { args: ['get', 'nothing', '-w', 'json'] },
  { args: ['txn', '-w', 'json'], stdin: TXN_SUCCESS },
  { args: ['txn'], stdin: TXN_FAILURE },
  { args: ['del', 'k1'] },
  { args: ['del', 'nothing'] },
  { args: ['del', 'k', '--prefix', '--prev-kv'] },
  { args: ['get', 'k', '--prefix', '--rev=6', '-w', 'json'] },
  { args: ['put', '', 'empty'] },
  { args: ['get', 'foo', '--rev=100'] },
  { args: ['compaction', '5'] },
  { args: ['get', 'foo', '--rev=2'] },
  { args: ['compaction', '3'] },
  { args: ['get', 'foo', '--rev=5', '-w', 'json'] },
  { args: ['put', 'after', 'compaction'] },
  { args: ['get', '', '--from-key', '--keys-only'] },
];

function normalise(text: string): string {
  return (
    text
      // clientv3's retry warnings carry times, ports and random IDs; keep the error.
      .replace(/^\{"level":"warn".*"error":"([^"]*)"\}$/gm, 'WARN $1')
      .replace(/"cluster_id":\d+/g, '"cluster_id":CID')
      .replace(/"member_id":\d+/g, '"member_id":MID')
      .replace(/"raft_term":\d+/g, '"raft_term":TERM')
  );
}

async function transcript(kind: ServerKind): Promise<string[]> {
  const cluster = await ProcessCluster.start({ kind, size: 3 });
  try {
    const out: string[] = [];
    for (const step of steps) {
      const r = await etcdctl([`--endpoints=${cluster.endpoints}`, ...step.args], step.stdin);
      out.push(
        `$ etcdctl ${step.args.join(' ')}\n[exit ${r.code}]\n${normalise(r.stdout)}${normalise(r.stderr)}`,
      );
    }
    return out;
  } finally {
    await cluster.close();
  }
}

describe('etcdctl 3.4 against our 3-member cluster and real etcd 3.4', () => {
  let ours: string[] = [];
  let reference: string[] = [];

  beforeAll(async () => {
    ours = await transcript('kv');
    reference = await transcript('etcd');
  }, 120_000);

  afterAll(() => undefined);

  it.each(steps.map((s, i) => [s.args.join(' '), i] as const))('etcdctl %s', (_name, i) => {
    expect(ours[i]).toBe(reference[i]);
  });
});
