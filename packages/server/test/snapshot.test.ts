/**
 * `etcdctl snapshot save` and `snapshot status` (the real etcdctl 3.4)
 * against a 3-member cluster of our server, and the same steps against real
 * etcd 3.4 so that every expectation below is shown to describe etcd.
 *
 * The saved file is checked three ways: its trailing SHA-256 (what
 * `snapshot restore` verifies, and restore itself is run), the status JSON
 * against an independent walk of the bbolt file written here, and, for our
 * server, totalKey against the entries the member's LevelDB backend holds.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LevelBackend } from '@kv/backend-level';
import { BUCKETS, crc32cUpdate } from '@kv/mvcc';
import { ProcessCluster, etcdctl, freePort } from './harness';
import type { ServerKind } from './harness';

type Op =
  | { readonly put: string; readonly value: string }
  | { readonly del: string }
  | { readonly compact: number };

const big = (seed: string, n: number): string =>
  seed.repeat(Math.ceil(n / seed.length)).slice(0, n);

// Every put and delete adds one revision; `compact` counts from the
// revision the store had before the first operation (1 in etcd).
const OPS: readonly Op[] = [
  ...Array.from({ length: 10 }, (_, i) => ({ put: `k${i}`, value: `v${i}` })),
  { put: 'big-a', value: big('abcdefghij', 200_000) },
  { put: 'big-b', value: big('0123456789', 60_000) },
  { put: 'k0', value: 'v0b' },
  { del: 'k1' },
  { del: 'k2' },
  { compact: 13 },
  { put: 'k3', value: 'v3b' },
  { put: 'big-a', value: big('xyz', 100_000) },
];

/**
 * Entries etcd keeps in its 'key' bucket after OPS: every revision above the
 * compaction point, and below it each key's newest revision unless that one
 * is a deletion (tombstone).
 */
function expectedKeyBucketEntries(base: number): number {
  const history = new Map<string, { rev: number; tombstone: boolean }[]>();
  let rev = base;
  let compactAt = 0;
  for (const op of OPS) {
    if ('compact' in op) {
      compactAt = base + op.compact;
      continue;
    }
    rev++;
    const key = 'put' in op ? op.put : op.del;
    history.set(key, [...(history.get(key) ?? []), { rev, tombstone: 'del' in op }]);
  }
  let n = 0;
  for (const revs of history.values()) {
    n += revs.filter((r) => r.rev > compactAt).length;
    const below = revs.filter((r) => r.rev <= compactAt).at(-1);
    if (below !== undefined && !below.tombstone) n++;
  }
  return n;
}

/** What an independent walk of a bbolt file finds: entries per bucket and etcd's status hash. */
interface BboltSummary {
  readonly counts: Map<string, number>;
  readonly hash: number;
  readonly newestKey: Buffer | undefined;
}

/** Reads just enough of bbolt's layout (meta, branch, leaf, inline buckets) to count and hash. */
function summariseBbolt(file: Buffer): BboltSummary {
  const pageSize = file.readUInt32LE(16 + 8);
  const meta = [0, pageSize]
    .map((at) => ({ root: file.readBigUInt64LE(at + 32), txid: file.readBigUInt64LE(at + 64) }))
    .sort((a, b) => (a.txid > b.txid ? -1 : 1))[0]!;
  type El = { flags: number; key: Buffer; value: Buffer };
  const leaf = (buf: Buffer, at: number, count: number): El[] =>
    Array.from({ length: count }, (_, i) => {
      const el = at + 16 + i * 16;
      const pos = el + buf.readUInt32LE(el + 4);
      const ks = buf.readUInt32LE(el + 8);
      const vs = buf.readUInt32LE(el + 12);
      return {
        flags: buf.readUInt32LE(el),
        key: buf.subarray(pos, pos + ks),
        value: buf.subarray(pos + ks, pos + ks + vs),
      };
    });
  const walk = (pgid: bigint): El[] => {
    const at = Number(pgid) * pageSize;
    const flags = file.readUInt16LE(at + 8);
    const count = file.readUInt16LE(at + 10);
    if (flags === 0x02) return leaf(file, at, count);
    expect(flags).toBe(0x01);
    return Array.from({ length: count }, (_, i) => {
      const el = at + 16 + i * 16;
      const pos = el + file.readUInt32LE(el);
      const child = walk(file.readBigUInt64LE(el + 8));
      // bbolt finds keys by these: each must be its child's first key.
      expect(child[0]?.key.equals(file.subarray(pos, pos + file.readUInt32LE(el + 4)))).toBe(true);
      return child;
    }).flat();
  };
  const counts = new Map<string, number>();
  let hash = 0;
  let newestKey: Buffer | undefined;
  for (const b of walk(meta.root)) {
    expect(b.flags & 1).toBe(1);
    const root = b.value.readBigUInt64LE(0);
    const els = root === 0n ? leaf(b.value, 16, b.value.readUInt16LE(16 + 10)) : walk(root);
    hash = crc32cUpdate(hash, b.key);
    for (const e of els) {
      hash = crc32cUpdate(crc32cUpdate(hash, e.key), e.value);
    }
    const name = b.key.toString();
    counts.set(name, els.length);
    if (name === 'key') newestKey = els.at(-1)?.key;
  }
  return { counts, hash, newestKey };
}

interface LiveKeys {
  readonly revision: number;
  readonly kvs: readonly unknown[];
}

/** Every live key with its revisions, version and value, and the store's revision. */
async function liveKeys(endpoints: string): Promise<LiveKeys> {
  const r = await etcdctl([endpoints, 'get', '', '--from-key', '-w', 'json']);
  expect(r.code, r.stderr).toBe(0);
  const parsed = JSON.parse(r.stdout) as { header: { revision?: number }; kvs?: unknown[] };
  return { revision: Number(parsed.header.revision ?? 0), kvs: parsed.kvs ?? [] };
}

/**
 * `etcdctl snapshot restore` (which verifies the SHA-256 and rebuilds etcd's
 * index from the key bucket), then a real single-member etcd 3.4 started on
 * the restored data directory, read back.
 */
async function restoreAndRead(
  file: string,
  dataDir: string,
): Promise<{ code: number; stderr: string; live: LiveKeys | undefined }> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const peer = `http://127.0.0.1:${peerPort}`;
  const client = `http://127.0.0.1:${clientPort}`;
  const restore = await etcdctl([
    'snapshot',
    'restore',
    file,
    `--data-dir=${dataDir}`,
    '--name=restored',
    `--initial-cluster=restored=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
  ]);
  if (restore.code !== 0) return { code: restore.code, stderr: restore.stderr, live: undefined };
  const proc = spawn(
    'etcd',
    [
      '--name=restored',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=restored=${peer}`,
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    // Polled with a bounded number of attempts: etcd offers no readiness event to await.
    for (let attempt = 0; attempt < 100; attempt++) {
      const r = await etcdctl([`--endpoints=${client}`, '--dial-timeout=1s', 'get', 'probe']);
      if (r.code === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { code: 0, stderr: '', live: await liveKeys(`--endpoints=${client}`) };
  } finally {
    proc.kill('SIGKILL');
    await exited;
  }
}

interface Outcome {
  /** Revision before the first operation. */
  readonly base: number;
  readonly revision: number;
  readonly save: { code: number; stdout: string; stderr: string };
  readonly shaMatches: boolean;
  readonly fileSize: number;
  readonly status: { hash: number; revision: number; totalKey: number; totalSize: number };
  readonly summary: BboltSummary;
  readonly restoreCode: number;
  readonly restoreErr: string;
  /** `get --from-key ''` on the saved member, and on real etcd started from the restored snapshot. */
  readonly liveBefore: LiveKeys;
  readonly liveRestored: LiveKeys | undefined;
  /** Entries the saved member's backend holds over all buckets (our server only). */
  readonly backendEntries: number | undefined;
}

async function run(kind: ServerKind): Promise<Outcome> {
  const cluster = await ProcessCluster.start({ kind, size: 3 });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `snapshot-${kind}-`));
  try {
    const all = `--endpoints=${cluster.endpoints}`;
    const revisionOf = async (endpoints: string): Promise<number> => {
      const r = await etcdctl([endpoints, 'get', 'k0', '-w', 'json']);
      expect(r.code, r.stderr).toBe(0);
      // etcdctl's JSON omits a zero revision.
      const h = (JSON.parse(r.stdout) as { header: { revision?: number | string } }).header;
      return Number(h.revision ?? 0);
    };
    const base = await revisionOf(all);
    for (const op of OPS) {
      // Values go through stdin: one command-line argument is limited to 128 KiB.
      const args =
        'put' in op
          ? ['put', op.put]
          : 'del' in op
            ? ['del', op.del]
            : ['compaction', '--physical', String(base + op.compact)];
      const r = await etcdctl([all, ...args], 'put' in op ? op.value : undefined);
      expect(r.code, `${args[0]} ${args[1]}: ${r.stderr}`).toBe(0);
    }
    const member = cluster.members[0]!;
    const one = `--endpoints=${member.endpoint}`;
    // A linearizable read through member 0: it has applied everything written.
    const revision = await revisionOf(one);

    const liveBefore = await liveKeys(one);

    const file = path.join(work, 'snap.db');
    const save = await etcdctl([one, 'snapshot', 'save', file]);
    const bytes = fs.readFileSync(file);
    const body = bytes.subarray(0, bytes.length - 32);
    const shaMatches = createHash('sha256').update(body).digest().equals(bytes.subarray(-32));
    const st = await etcdctl(['snapshot', 'status', file, '-w', 'json']);
    expect(st.code, st.stderr).toBe(0);
    const restored = await restoreAndRead(file, path.join(work, 'restored'));
    let backendEntries: number | undefined;
    if (kind === 'kv') {
      await cluster.stop(0);
      const be = await LevelBackend.open(path.join(member.dataDir, 'member', 'db'));
      try {
        backendEntries = 0;
        for (const b of BUCKETS)
          backendEntries += (await be.range(b, new Uint8Array(0), undefined)).length;
      } finally {
        await be.close();
      }
    }
    return {
      base,
      revision,
      save,
      shaMatches,
      fileSize: body.length,
      status: JSON.parse(st.stdout) as Outcome['status'],
      summary: summariseBbolt(body),
      restoreCode: restored.code,
      restoreErr: restored.stderr,
      liveBefore,
      liveRestored: restored.live,
      backendEntries,
    };
  } finally {
    await cluster.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

describe.each(['kv', 'etcd'] as const)('etcdctl snapshot save/status against %s', (kind) => {
  let out: Outcome;
  beforeAll(async () => {
    out = await run(kind);
  }, 60_000);
  afterAll(() => undefined);

  it('saves the stream, whose trailing SHA-256 matches the file, and restore accepts it', () => {
    expect(out.save.code, out.save.stderr).toBe(0);
    expect(out.save.stdout).toMatch(/^Snapshot saved at /m);
    expect(out.shaMatches).toBe(true);
    expect(out.restoreCode, out.restoreErr).toBe(0);
  });

  it('real etcd started from the restored snapshot serves the same keys at the same revision', () => {
    // k0..k9 less the deleted k1 and k2, plus big-a and big-b.
    expect(out.liveBefore.kvs.length).toBe(10);
    expect(out.liveRestored).toEqual(out.liveBefore);
  });

  it('status reports the current revision, taken from the newest key-bucket entry', () => {
    expect(out.revision).toBe(out.base + OPS.filter((o) => !('compact' in o)).length);
    expect(out.status.revision).toBe(out.revision);
    expect(Number(out.summary.newestKey!.readBigUInt64BE(0))).toBe(out.revision);
  });

  it('status counts every entry of every bucket and hashes them as etcd does', () => {
    const total = [...out.summary.counts.values()].reduce((a, b) => a + b, 0);
    expect(out.status.totalKey).toBe(total);
    expect(out.status.hash).toBe(out.summary.hash);
    expect(out.status.totalSize).toBe(out.fileSize);
    // Compaction removed the superseded revision below the compaction point.
    expect(out.summary.counts.get('key')).toBe(expectedKeyBucketEntries(out.base));
    for (const b of ['key', 'meta', 'lease', 'members', 'cluster', 'auth']) {
      expect(out.summary.counts.has(b), b).toBe(true);
    }
    if (kind === 'kv') expect(out.status.totalKey).toBe(out.backendEntries);
  });
});
