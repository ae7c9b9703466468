// kvctl against the real etcdctl 3.4: the same commands on the same cluster
// must print the same thing (IDs are the same; revisions and TTLs normalised
// where the two runs necessarily differ).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKvctl } from '../src/kvctl/run';
import { Client } from '../src/index';
import type { TestCluster } from './cluster';
import { startCluster } from './cluster';

const ETCDCTL = process.env['ETCDCTL_BIN'] ?? '/usr/bin/etcdctl';

let cluster: TestCluster;
let client: Client;
let ep: string;

beforeAll(async () => {
  cluster = await startCluster(1);
  client = new Client({ endpoints: cluster.endpoints });
  ep = cluster.endpoints[0]!.replace('http://', '');
});
afterAll(async () => {
  client?.close();
  await cluster?.stop();
});

interface Result {
  code: number;
  stdout: string;
  /** stderr without etcdctl's JSON log lines. */
  stderr: string;
}

function dropLogs(s: string): string {
  return s
    .split('\n')
    .filter((l) => !l.startsWith('{"level"'))
    .join('\n');
}

function etcdctl(args: string[], stdin?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      ETCDCTL,
      [`--endpoints=${ep}`, ...args],
      { env: { ...process.env, ETCDCTL_API: '3' } },
      (error, stdout, stderr) => {
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
          stdout,
          stderr: dropLogs(stderr),
        });
      },
    );
    child.stdin?.end(stdin ?? '');
  });
}

async function kvctl(args: string[], stdin?: string, signal?: AbortSignal): Promise<Result> {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on('data', (c: Buffer) => o.push(c));
  err.on('data', (c: Buffer) => e.push(c));
  const code = await runKvctl([`--endpoints=${ep}`, ...args], {
    stdout: out,
    stderr: err,
    stdin: Readable.from([Buffer.from(stdin ?? '')]),
    env: {},
    ...(signal ? { signal } : {}),
  });
  return { code, stdout: Buffer.concat(o).toString(), stderr: Buffer.concat(e).toString() };
}

/** Runs both and expects identical exit code, stdout and error lines. */
async function same(
  args: string[],
  opts: { stdin?: string; normalise?: (s: string) => string; setup?: () => Promise<void> } = {},
): Promise<Result> {
  const n = opts.normalise ?? ((s: string) => s);
  await opts.setup?.();
  const want = await etcdctl(args, opts.stdin);
  await opts.setup?.();
  const got = await kvctl(args, opts.stdin);
  expect({ code: got.code, stdout: n(got.stdout), stderr: n(got.stderr) }).toEqual({
    code: want.code,
    stdout: n(want.stdout),
    stderr: n(want.stderr),
  });
  return got;
}

const revs = (s: string): string =>
  s
    .replace(/"(revision|create_revision|mod_revision|raft_term)":\d+/g, '"$1":N')
    .replace(/"(ttl|TTL)":\d+/g, '"$1":T');
const ttls = (s: string): string =>
  s.replace(/remaining\(\d+s\)/g, 'remaining(Ts)').replace(/"ttl":\d+/g, '"ttl":T');

describe('kvctl matches etcdctl 3.4', () => {
  it('get with its flags, simple and json', async () => {
    await client.kv.put('foo', 'bar');
    const r = await client.kv.put('foo', 'baz');
    for (const k of ['k1', 'k2', 'k3']) await client.kv.put(k, `v-${k}`);
    await client.kv.put('a<&>', 'x\ny');
    for (const args of [
      ['get', 'foo'],
      ['get', 'foo', '-w', 'json'],
      ['get', '--prefix', 'k'],
      ['get', '--prefix', 'k', '--write-out=json'],
      ['get', '--keys-only', '--prefix', 'k'],
      ['get', '--print-value-only', 'foo'],
      ['get', '--from-key', 'k2'],
      ['get', 'k1', 'k3'],
      ['get', '--limit=1', '--prefix', 'k', '-w', 'json'],
      ['get', '--order=DESCEND', '--sort-by=KEY', '--prefix', 'k'],
      ['get', '--sort-by=VALUE', '--prefix', 'k'],
      ['get', `--rev=${r.header!.revision - 1n}`, 'foo'],
      ['get', '--consistency=s', 'foo'],
      ['get', 'nothing', '-w', 'json'],
      ['get', 'nothing'],
      ['get', 'a<&>', '-w', 'json'],
      ['get', '--hex', 'foo'],
      ['get', '--rev=99999', 'foo'],
      ['get'],
      ['--endpoints=127.0.0.1:1', '--dial-timeout=300ms', 'get', 'foo'],
    ])
      await same(args);
  });

  it('reports an unreachable cluster like etcdctl', async () => {
    const args = ['--endpoints=127.0.0.1:1', '--dial-timeout=300ms', 'get', 'foo'];
    const theirs = await new Promise<Result>((resolve) =>
      execFile(
        ETCDCTL,
        args,
        { env: { ...process.env, ETCDCTL_API: '3' } },
        (error, stdout, stderr) =>
          resolve({
            code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
            stdout,
            stderr: dropLogs(stderr),
          }),
      ),
    );
    const out = new PassThrough();
    const err = new PassThrough();
    let e = '';
    err.setEncoding('utf8').on('data', (c: string) => (e += c));
    const code = await runKvctl(args, { stdout: out, stderr: err, env: {} });
    expect({ code, stderr: e }).toEqual({ code: theirs.code, stderr: theirs.stderr });
  });

  it('put, del and txn (revisions normalised)', async () => {
    const reset = async (): Promise<void> => {
      await client.kv.delete('p/', { prefix: true });
      await client.kv.put('p/a', 'old');
      await client.kv.put('p/b', 'bee');
    };
    for (const args of [
      ['put', 'p/a', 'new'],
      ['put', '--prev-kv', 'p/a', 'new'],
      ['put', 'p/a', 'new', '-w', 'json'],
      ['put', '--prev-kv', 'p/a', 'new', '-w', 'json'],
      ['put', '--ignore-value', 'p/a'],
      ['del', 'p/a'],
      ['del', '--prev-kv', '--prefix', 'p/'],
      ['del', '--prefix', 'p/', '-w', 'json'],
      ['del', '--prev-kv', 'p/a', '-w', 'json'],
      ['del', 'p/none'],
    ])
      await same(args, { setup: reset, normalise: revs });
    const txns = [
      'val("p/a") = "old"\nmod("p/b") > "0"\n\nput p/a v2\nget p/a\ndel p/b\n\nget p/a\n\n',
      'val("p/a") = "nope"\n\nput p/a v2\n\nget --prefix p/\nput p/c "with space"\n\n',
      'ver("p/a") != "0"\ncreate("p/a") > "1"\n\ndel --prev-kv p/a\n\n\n',
    ];
    for (const stdin of txns) {
      await same(['txn'], { stdin, setup: reset, normalise: revs });
      await same(['txn', '-w', 'json'], { stdin, setup: reset, normalise: revs });
      await same(['txn', '-i'], { stdin, setup: reset, normalise: revs });
    }
  });

  it('lease grant, timetolive, list, keep-alive and revoke', async () => {
    const g = await kvctl(['lease', 'grant', '100']);
    expect(g.stdout).toMatch(/^lease [0-9a-f]{16} granted with TTL\(100s\)\n$/);
    const id = g.stdout.split(' ')[1]!;
    const theirs = await etcdctl(['lease', 'grant', '100']);
    expect(theirs.stdout).toMatch(/^lease [0-9a-f]{16} granted with TTL\(100s\)\n$/);
    const gj = await kvctl(['lease', 'grant', '100', '-w', 'json']);
    const ej = await etcdctl(['lease', 'grant', '100', '-w', 'json']);
    const ids = (s: string): string => revs(s).replace(/"ID":\d+/, '"ID":I');
    expect(ids(gj.stdout)).toBe(ids(ej.stdout));
    await client.kv.put('lk', 'lv', { lease: BigInt(`0x${id}`) });
    await same(['lease', 'timetolive', id], { normalise: ttls });
    await same(['lease', 'timetolive', '--keys', id], { normalise: ttls });
    await same(['lease', 'timetolive', id, '-w', 'json'], { normalise: ttls });
    await same(['lease', 'timetolive', '--keys', id, '-w', 'json'], { normalise: ttls });
    await same(['lease', 'list']);
    await same(['lease', 'list', '-w', 'json']);
    await same(['lease', 'keep-alive', '--once', id]);
    await same(['lease', 'keep-alive', '--once', id, '-w', 'json']);
    await same(['lease', 'revoke', 'zz']);
    expect((await kvctl(['lease', 'revoke', id])).stdout).toBe(`lease ${id} revoked\n`);
    await same(['lease', 'revoke', id]);
    await same(['lease', 'timetolive', id]);
    await same(['lease', 'keep-alive', '--once', id]);
  });

  it('member list, endpoint status and health, compaction, defrag, snapshot save', async () => {
    await same(['member', 'list']);
    await same(['member', 'list', '-w', 'json']);
    await same(['endpoint', 'status']);
    await same(['endpoint', 'status', '-w', 'json'], {
      normalise: (s) => s.replace(/"dbSizeInUse":\d+/, '"dbSizeInUse":D'),
    });
    await same(['endpoint', 'status', '--cluster']);
    const took = (s: string): string =>
      s.replace(/took = [\d.]+[µmn]?s/g, 'took = X').replace(/"took":"[^"]*"/g, '"took":"X"');
    await same(['endpoint', 'health'], { normalise: took });
    await same(['endpoint', 'health', '-w', 'json'], { normalise: took });
    const rev = (await client.kv.put('compact-me', 'x')).header!.revision;
    const theirs0 = await etcdctl(['compaction', String(rev - 1n)]);
    const mine0 = await kvctl(['compaction', String(rev)]);
    expect(theirs0.stdout).toBe(`compacted revision ${rev - 1n}\n`);
    expect(mine0.stdout).toBe(`compacted revision ${rev}\n`);
    await same(['compaction', '1']);
    await same(['compaction', '--physical', String(rev + 2n)], {
      normalise: (s) => s.replace(/revision \d+/, 'revision N'),
    });
    await same(['defrag']);
    const dir = mkdtempSync(join(tmpdir(), 'kvctl-snap-'));
    const mine = await kvctl(['snapshot', 'save', join(dir, 'a.db')]);
    const theirs = await etcdctl(['snapshot', 'save', join(dir, 'b.db')]);
    expect(mine.stdout).toBe(`Snapshot saved at ${join(dir, 'a.db')}\n`);
    expect(theirs.stdout).toBe(`Snapshot saved at ${join(dir, 'b.db')}\n`);
    expect(statSync(join(dir, 'a.db')).size).toBe(statSync(join(dir, 'b.db')).size);
    // bbolt page header magic at offset 16 of the meta page.
    expect(readFileSync(join(dir, 'a.db')).readUInt32LE(16)).toBe(0xed0cdaed);
  });

  it('watch prints events like etcdctl', async () => {
    for (const fmt of ['simple', 'json']) {
      const their = spawn(ETCDCTL, [`--endpoints=${ep}`, 'watch', '--prev-kv', 'wk', '-w', fmt], {
        env: { ...process.env, ETCDCTL_API: '3' },
      });
      let theirOut = '';
      their.stdout.setEncoding('utf8').on('data', (c: string) => (theirOut += c));
      const ac = new AbortController();
      const outStream = new PassThrough();
      let myOut = '';
      outStream.setEncoding('utf8').on('data', (c: string) => (myOut += c));
      const mine = runKvctl([`--endpoints=${ep}`, 'watch', '--prev-kv', 'wk', '-w', fmt], {
        stdout: outStream,
        stderr: new PassThrough(),
        signal: ac.signal,
        env: {},
      });
      // Both watchers are live once each has printed a sentinel put.
      const marker = `sentinel-${fmt}`;
      const sentinelSeen = (s: string): boolean =>
        s.includes(marker) || s.includes(Buffer.from(marker).toString('base64'));
      while (!sentinelSeen(theirOut) || !sentinelSeen(myOut)) {
        await client.kv.put('wk', marker);
        await new Promise((r) => setTimeout(r, 100));
      }
      const start = (s: string): number => s.length;
      const [t0, m0] = [start(theirOut), start(myOut)];
      await client.kv.put('wk', '1');
      await client.kv.put('wk', '2');
      await client.kv.delete('wk');
      await client.kv.put('wk', 'end');
      const done = (s: string): boolean =>
        s.includes(fmt === 'json' ? Buffer.from('end').toString('base64') : 'end\n');
      while (!done(theirOut.slice(t0)) || !done(myOut.slice(m0)))
        await new Promise((r) => setTimeout(r, 50));
      their.kill();
      ac.abort();
      expect(await mine).toBe(0);
      expect(revs(myOut.slice(m0))).toBe(revs(theirOut.slice(t0)));
    }
  });

  it('runs as a command (src/kvctl.ts through tsx) with exit codes', async () => {
    await client.kv.put('bin-key', 'bin-value');
    const run = (args: string[]): Promise<Result> =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [
            '--conditions=@kv/source',
            '--import',
            'tsx',
            join(import.meta.dirname, '../src/kvctl.ts'),
            `--endpoints=${ep}`,
            ...args,
          ],
          (error, stdout, stderr) =>
            resolve({
              code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
              stdout,
              stderr,
            }),
        );
      });
    expect(await run(['get', 'bin-key'])).toEqual({
      code: 0,
      stdout: 'bin-key\nbin-value\n',
      stderr: '',
    });
    const bad = await run(['frobnicate']);
    expect(bad.code).toBe(128);
    expect(bad.stderr).toBe('Error: unknown command "frobnicate" for "kvctl"\n');
  });
});
