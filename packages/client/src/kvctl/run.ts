import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import type { etcdserverpb, mvccpb } from '@kv/api';
import { Client } from '../client';
import {
  DeadlineExceededError,
  EtcdError,
  PermissionDeniedError,
  UnavailableError,
} from '../errors';
import type { GetOptions } from '../kv';
import { compare, op } from '../kv';
import type { Args } from './args';
import {
  UsageError,
  ExitCodeError,
  formatDuration,
  humanizeBytes,
  parseArgs,
  parseDuration,
  splitLine,
} from './args';
import * as gj from './go-json';

/** Where kvctl reads and writes; the bin passes the process's streams. */
export interface KvctlIO {
  stdout: Writable;
  stderr: Writable;
  stdin?: Readable;
  /** Ends long-running commands (watch, keep-alive). */
  signal?: AbortSignal;
  /** Environment (ETCDCTL_ENDPOINTS ...); default process.env. */
  env?: Record<string, string | undefined>;
}

type Format = 'simple' | 'json';

interface Ctx {
  client: Client;
  args: Args;
  out: (s: string) => void;
  err: (s: string) => void;
  format: Format;
  hex: boolean;
  timeoutMs: number;
  io: KvctlIO;
  endpoints: string[];
}

const hex16 = (id: bigint): string => BigInt.asUintN(64, id).toString(16).padStart(16, '0');
const hexId = (id: bigint): string => BigInt.asUintN(64, id).toString(16);

function flag(a: Args, name: string): boolean {
  const v = a.flags.get(name);
  return v !== undefined && v !== 'false';
}

function bytesOut(ctx: Ctx, b: Buffer): string {
  return ctx.hex
    ? [...b].map((x) => `\\x${x.toString(16).padStart(2, '0')}`).join('')
    : b.toString('utf8');
}

function printKV(ctx: Ctx, kv: mvccpb.KeyValue | undefined, valueOnly: boolean): void {
  if (!kv) return;
  if (!valueOnly) ctx.out(`${bytesOut(ctx, kv.key)}\n`);
  ctx.out(`${bytesOut(ctx, kv.value)}\n`);
}

function rangeOpts(a: Args, pos: string[]): GetOptions {
  const o: GetOptions = {};
  if (pos[1] !== undefined) o.rangeEnd = pos[1];
  if (flag(a, 'prefix')) o.prefix = true;
  if (flag(a, 'from-key')) o.fromKey = true;
  if (o.prefix && o.fromKey)
    throw new UsageError('`--prefix` and `--from-key` cannot be set at the same time, choose one');
  if (flag(a, 'keys-only')) o.keysOnly = true;
  const limit = a.flags.get('limit');
  if (limit !== undefined) o.limit = BigInt(limit);
  const rev = a.flags.get('rev');
  if (rev !== undefined) o.revision = BigInt(rev);
  const cons = a.flags.get('consistency');
  if (cons === 's') o.serializable = true;
  else if (cons !== undefined && cons !== 'l')
    throw new UsageError(`unknown consistency flag "${cons}"`);
  const order = a.flags.get('order');
  const sortBy = a.flags.get('sort-by');
  if (order !== undefined) {
    const m = { ASCEND: 'ascend', DESCEND: 'descend', '': 'none' } as const;
    const v = m[order.toUpperCase() as keyof typeof m];
    if (v === undefined) throw new UsageError(`bad ordering "${order}"`);
    o.sortOrder = v;
  }
  if (sortBy !== undefined) {
    const m = {
      CREATE: 'create',
      KEY: 'key',
      MODIFY: 'mod',
      VALUE: 'value',
      VERSION: 'version',
    } as const;
    const v = m[sortBy.toUpperCase() as keyof typeof m];
    if (v === undefined) throw new UsageError(`bad sort target "${sortBy}"`);
    o.sortTarget = v;
    // etcdctl sorts ascending when only a target is given.
    o.sortOrder ??= 'ascend';
  }
  return o;
}

function printGet(ctx: Ctx, r: etcdserverpb.RangeResponse, valueOnly: boolean): void {
  if (ctx.format === 'json') ctx.out(`${gj.stringify(gj.rangeResponse(r))}\n`);
  else for (const kv of r.kvs) printKV(ctx, kv, valueOnly);
}
function printPut(ctx: Ctx, r: etcdserverpb.PutResponse): void {
  if (ctx.format === 'json') {
    ctx.out(`${gj.stringify(gj.putResponse(r))}\n`);
    return;
  }
  ctx.out('OK\n');
  if (r.prevKv) printKV(ctx, r.prevKv, false);
}
function printDel(ctx: Ctx, r: etcdserverpb.DeleteRangeResponse): void {
  if (ctx.format === 'json') {
    ctx.out(`${gj.stringify(gj.deleteResponse(r))}\n`);
    return;
  }
  ctx.out(`${r.deleted}\n`);
  for (const kv of r.prevKvs) printKV(ctx, kv, false);
}

async function cmdGet(ctx: Ctx): Promise<void> {
  const pos = ctx.args.positional.slice(1);
  if (pos.length < 1 || pos.length > 2)
    throw new UsageError(
      'get command needs one argument as key and an optional argument as range_end',
    );
  const r = await ctx.client.kv.get(pos[0]!, {
    ...rangeOpts(ctx.args, pos),
    deadlineMs: ctx.timeoutMs,
  });
  printGet(ctx, r, flag(ctx.args, 'print-value-only'));
}

async function cmdPut(ctx: Ctx): Promise<void> {
  const pos = ctx.args.positional.slice(1);
  let value = pos[1];
  if (pos.length < 1 || pos.length > 2)
    throw new UsageError('put command needs 1 argument and input from stdin or 2 arguments');
  if (value === undefined) {
    if (flag(ctx.args, 'ignore-value')) value = '';
    else value = (await readAll(ctx.io.stdin)).replace(/\n$/, '');
  }
  const lease = ctx.args.flags.get('lease');
  const r = await ctx.client.kv.put(pos[0]!, value, {
    ...(lease !== undefined ? { lease: BigInt(`0x${lease}`) } : {}),
    prevKv: flag(ctx.args, 'prev-kv'),
    ignoreValue: flag(ctx.args, 'ignore-value'),
    ignoreLease: flag(ctx.args, 'ignore-lease'),
    deadlineMs: ctx.timeoutMs,
  });
  printPut(ctx, r);
}

async function cmdDel(ctx: Ctx): Promise<void> {
  const pos = ctx.args.positional.slice(1);
  if (pos.length < 1 || pos.length > 2)
    throw new UsageError(
      'del command needs one argument as key and an optional argument as range_end',
    );
  const o = rangeOpts(ctx.args, pos);
  const r = await ctx.client.kv.delete(pos[0]!, {
    ...(o.rangeEnd !== undefined ? { rangeEnd: o.rangeEnd } : {}),
    prefix: o.prefix ?? false,
    fromKey: o.fromKey ?? false,
    prevKv: flag(ctx.args, 'prev-kv'),
    deadlineMs: ctx.timeoutMs,
  });
  printDel(ctx, r);
}

async function readAll(stdin: Readable | undefined): Promise<string> {
  if (!stdin) return '';
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

const COMPARE_RE = /^\s*(\w+)\("((?:[^"\\]|\\.)*)"\)\s*(=|!=|<|>)\s*"?((?:[^"\\]|\\.)*?)"?\s*$/;

function parseCompare(line: string): etcdserverpb.Compare {
  const m = COMPARE_RE.exec(line);
  if (!m) throw new UsageError(`malformed comparison: ${line}`);
  const [, target, rawKey, cmpOp, rawValue] = m as unknown as [
    string,
    string,
    string,
    '=' | '!=' | '<' | '>',
    string,
  ];
  const key = JSON.parse(`"${rawKey}"`) as string;
  const value = JSON.parse(`"${rawValue}"`) as string;
  const num = (): bigint => {
    if (!/^-?\d+$/.test(value)) throw new UsageError(`invalid txn compare request: ${line}`);
    return BigInt(value);
  };
  switch (target) {
    case 'ver':
    case 'version':
      return compare.version(key, cmpOp, num());
    case 'c':
    case 'create':
      return compare.createRevision(key, cmpOp, num());
    case 'm':
    case 'mod':
      return compare.modRevision(key, cmpOp, num());
    case 'val':
    case 'value':
      return compare.value(key, cmpOp, value);
    case 'lease':
      return compare.lease(key, cmpOp, BigInt(`0x${value}`));
    default:
      throw new UsageError(`malformed comparison: ${line}`);
  }
}

function parseOp(line: string): etcdserverpb.RequestOp {
  const a = parseArgs(splitLine(line));
  const [cmd, ...pos] = a.positional;
  switch (cmd) {
    case 'get':
      if (pos.length < 1) throw new UsageError(`invalid txn request: ${line}`);
      return op.get(pos[0]!, rangeOpts(a, pos));
    case 'put': {
      if (pos.length !== 2) throw new UsageError(`invalid txn request: ${line}`);
      const lease = a.flags.get('lease');
      return op.put(pos[0]!, pos[1]!, {
        ...(lease !== undefined ? { lease: BigInt(`0x${lease}`) } : {}),
        prevKv: flag(a, 'prev-kv'),
        ignoreValue: flag(a, 'ignore-value'),
        ignoreLease: flag(a, 'ignore-lease'),
      });
    }
    case 'del':
    case 'delete': {
      if (pos.length < 1) throw new UsageError(`invalid txn request: ${line}`);
      const o = rangeOpts(a, pos);
      return op.delete(pos[0]!, {
        ...(o.rangeEnd !== undefined ? { rangeEnd: o.rangeEnd } : {}),
        prefix: o.prefix ?? false,
        fromKey: o.fromKey ?? false,
        prevKv: flag(a, 'prev-kv'),
      });
    }
    default:
      throw new UsageError(`invalid txn request: ${line}`);
  }
}

async function cmdTxn(ctx: Ctx): Promise<void> {
  const interactive = flag(ctx.args, 'interactive');
  const lines = (await readAll(ctx.io.stdin)).split('\n');
  let i = 0;
  const section = (prompt: string): string[] => {
    if (interactive) ctx.out(`${prompt}\n`);
    const out: string[] = [];
    while (i < lines.length) {
      const l = lines[i++]!.trim();
      if (l === '') break;
      out.push(l);
    }
    return out;
  };
  const compares = section('compares:').map(parseCompare);
  const success = section('success requests (get, put, del):').map(parseOp);
  const failure = section('failure requests (get, put, del):').map(parseOp);
  const r = await ctx.client.kv.txnRequest(
    { compare: compares, success, failure },
    { deadlineMs: ctx.timeoutMs },
  );
  if (ctx.format === 'json') {
    ctx.out(`${gj.stringify(gj.txnResponse(r))}\n`);
    return;
  }
  ctx.out(r.succeeded ? 'SUCCESS\n' : 'FAILURE\n');
  for (const res of r.responses) {
    ctx.out('\n');
    const x = res.response;
    if (x?.$case === 'responseRange') printGet(ctx, x.value, false);
    else if (x?.$case === 'responsePut') printPut(ctx, x.value);
    else if (x?.$case === 'responseDeleteRange') printDel(ctx, x.value);
  }
}

async function cmdWatch(ctx: Ctx): Promise<void> {
  const pos = ctx.args.positional.slice(1);
  if (pos.length < 1 || pos.length > 2)
    throw new UsageError(
      'watch in non-interactive mode requires one or two arguments as key or prefix, with range end',
    );
  const o = rangeOpts(ctx.args, pos);
  const rev = ctx.args.flags.get('rev');
  const w = ctx.client.watch(pos[0]!, {
    ...(o.rangeEnd !== undefined ? { rangeEnd: o.rangeEnd } : {}),
    prefix: o.prefix ?? false,
    ...(rev !== undefined ? { startRevision: BigInt(rev) } : {}),
    prevKv: flag(ctx.args, 'prev-kv'),
    progressNotify: flag(ctx.args, 'progress-notify'),
    ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
  });
  try {
    for await (const b of w) {
      if (ctx.format === 'json') {
        ctx.out(
          `${gj.stringify({
            Header: gj.header(b.header) ?? {},
            Events: b.events.length ? b.events.map(gj.event) : null,
            CompactRevision: 0,
            Canceled: false,
            Created: false,
          })}\n`,
        );
        continue;
      }
      if (b.progressNotify) continue;
      for (const e of b.events) {
        ctx.out(e.type === 1 ? 'DELETE\n' : 'PUT\n');
        if (e.prevKv) printKV(ctx, e.prevKv, false);
        printKV(ctx, e.kv, false);
      }
    }
  } catch (e) {
    if (ctx.io.signal?.aborted) return;
    throw e;
  }
}

function parseLeaseId(s: string | undefined): bigint {
  if (s === undefined || !/^[0-9a-fA-F]+$/.test(s))
    throw new UsageError(
      `bad lease ID arg (strconv.ParseInt: parsing "${s ?? ''}": invalid syntax), expecting ID in Hex`,
    );
  return BigInt.asIntN(64, BigInt(`0x${s}`));
}

async function cmdLease(ctx: Ctx): Promise<void> {
  const [, sub, ...pos] = ctx.args.positional;
  const json = ctx.format === 'json';
  const d = { deadlineMs: ctx.timeoutMs };
  switch (sub) {
    case 'grant': {
      if (pos.length !== 1) throw new UsageError('lease grant command needs TTL argument');
      const r = await ctx.client.lease.grant(BigInt(pos[0]!), d);
      if (json)
        ctx.out(
          `${gj.stringify({ ...gj.flatHeader(r.header), ID: r.ID, TTL: r.TTL, Error: r.error })}\n`,
        );
      else ctx.out(`lease ${hex16(r.ID)} granted with TTL(${r.TTL}s)\n`);
      return;
    }
    case 'revoke': {
      const id = parseLeaseId(pos[0]);
      let r: etcdserverpb.LeaseRevokeResponse;
      try {
        r = await ctx.client.lease.revoke(id, d);
      } catch (e) {
        throw new Error(
          `failed to revoke lease (${e instanceof EtcdError ? e.details : String(e)})`,
          {
            cause: e,
          },
        );
      }
      if (json) ctx.out(`${gj.stringify({ header: gj.header(r.header) })}\n`);
      else ctx.out(`lease ${hex16(id)} revoked\n`);
      return;
    }
    case 'timetolive': {
      const id = parseLeaseId(pos[0]);
      const keys = flag(ctx.args, 'keys');
      const r = await ctx.client.lease.timeToLive(id, { keys, ...d });
      if (json) {
        ctx.out(
          `${gj.stringify({ ...gj.flatHeader(r.header), id: r.ID, ttl: r.TTL, 'granted-ttl': r.grantedTTL, keys: r.keys.length ? r.keys : null })}\n`,
        );
        return;
      }
      if (r.grantedTTL === 0n && r.TTL === -1n) {
        ctx.out(`lease ${hex16(r.ID)} already expired\n`);
        return;
      }
      let txt = `lease ${hex16(r.ID)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)`;
      if (keys) txt += `, attached keys([${r.keys.map((k) => k.toString('utf8')).join(' ')}])`;
      ctx.out(`${txt}\n`);
      return;
    }
    case 'list': {
      const r = await ctx.client.lease.leases(d);
      if (json) {
        ctx.out(
          `${gj.stringify({ ...gj.flatHeader(r.header), leases: r.leases.map((l) => ({ id: l.ID })) })}\n`,
        );
        return;
      }
      ctx.out(`found ${r.leases.length} leases\n`);
      for (const l of r.leases) ctx.out(`${hex16(l.ID)}\n`);
      return;
    }
    case 'keep-alive': {
      const id = parseLeaseId(pos[0]);
      const print = (r: etcdserverpb.LeaseKeepAliveResponse): void => {
        if (json)
          ctx.out(`${gj.stringify({ ...gj.flatHeader(r.header), ID: r.ID, TTL: r.TTL })}\n`);
        else ctx.out(`lease ${hex16(r.ID)} keepalived with TTL(${r.TTL})\n`);
      };
      if (flag(ctx.args, 'once')) {
        try {
          print(await ctx.client.lease.keepAliveOnce(id, d));
        } catch (e) {
          // etcdctl exits with ExitBadConnection here.
          throw new ExitCodeError(e instanceof EtcdError ? e.details : String(e), 2);
        }
        return;
      }
      const ka = ctx.client.lease.keepAlive(id);
      ka.on('keepalive', print);
      await new Promise<void>((resolve) => {
        ka.once('lost', () => {
          if (!json) ctx.out(`lease ${hex16(id)} expired or revoked.\n`);
          resolve();
        });
        ctx.io.signal?.addEventListener('abort', () => resolve(), { once: true });
      });
      ka.close();
      return;
    }
    default:
      throw new UsageError(`unknown lease command "${sub ?? ''}"`);
  }
}

async function cmdMember(ctx: Ctx): Promise<void> {
  const sub = ctx.args.positional[1];
  if (sub !== 'list') throw new UsageError(`unsupported member command "${sub ?? ''}"`);
  const r = await ctx.client.cluster.memberList({ deadlineMs: ctx.timeoutMs });
  if (ctx.format === 'json') {
    ctx.out(
      `${gj.stringify({ header: gj.header(r.header), members: r.members.map(gj.member) })}\n`,
    );
    return;
  }
  for (const m of r.members) {
    const status = m.name === '' ? 'unstarted' : 'started';
    ctx.out(
      `${hexId(m.ID)}, ${status}, ${m.name}, ${m.peerURLs.join(',')}, ${m.clientURLs.join(',')}, ${m.isLearner}\n`,
    );
  }
}

async function clusterEndpoints(ctx: Ctx): Promise<string[]> {
  if (!flag(ctx.args, 'cluster')) return ctx.endpoints;
  const r = await ctx.client.cluster.memberList({ deadlineMs: ctx.timeoutMs });
  return r.members.flatMap((m) => m.clientURLs);
}

async function cmdEndpoint(ctx: Ctx): Promise<number> {
  const sub = ctx.args.positional[1];
  const eps = await clusterEndpoints(ctx);
  if (sub === 'status') {
    const rows: { ep: string; st: etcdserverpb.StatusResponse }[] = [];
    let failed = false;
    for (const ep of eps) {
      const c = new Client({ endpoints: [ep] });
      try {
        rows.push({ ep, st: await c.maintenance.status({ deadlineMs: ctx.timeoutMs }) });
      } catch (e) {
        failed = true;
        ctx.err(
          `Failed to get the status of endpoint ${ep} (${e instanceof EtcdError ? e.details : String(e)})\n`,
        );
      } finally {
        c.close();
      }
    }
    if (ctx.format === 'json')
      ctx.out(
        `${gj.stringify(rows.map((r) => ({ Endpoint: r.ep, Status: gj.statusResponse(r.st) })))}\n`,
      );
    else
      for (const { ep, st } of rows) {
        const id = st.header?.memberId ?? 0n;
        ctx.out(
          `${ep}, ${hexId(id)}, ${st.version}, ${humanizeBytes(st.dbSize)}, ${st.leader === id}, ${st.isLearner}, ${st.raftTerm}, ${st.raftIndex}, ${st.raftAppliedIndex}, ${st.errors.join(', ')}\n`,
        );
      }
    return failed ? 1 : 0;
  }
  if (sub === 'health') {
    const results = await Promise.all(
      eps.map(async (ep) => {
        const c = new Client({ endpoints: [ep], retry: { maxAttempts: 1 } });
        const t0 = process.hrtime.bigint();
        try {
          // A linearizable read proves the member has a leader and a quorum.
          await c.kv.get('health', { deadlineMs: ctx.timeoutMs });
          return {
            ep,
            health: true,
            took: formatDuration(Number(process.hrtime.bigint() - t0)),
            error: '',
          };
        } catch (e) {
          const took = formatDuration(Number(process.hrtime.bigint() - t0));
          if (e instanceof PermissionDeniedError) return { ep, health: true, took, error: '' };
          return { ep, health: false, took, error: e instanceof EtcdError ? e.details : String(e) };
        } finally {
          c.close();
        }
      }),
    );
    if (ctx.format === 'json')
      ctx.out(
        `${gj.stringify(results.map((r) => ({ endpoint: r.ep, health: r.health, took: r.took, error: r.error || undefined })))}\n`,
      );
    else
      for (const r of results) {
        if (r.health)
          ctx.err(`${r.ep} is healthy: successfully committed proposal: took = ${r.took}\n`);
        else ctx.err(`${r.ep} is unhealthy: failed to commit proposal: ${r.error}\n`);
      }
    if (results.some((r) => !r.health)) {
      ctx.err('Error: unhealthy cluster\n');
      return 1;
    }
    return 0;
  }
  throw new UsageError(`unknown endpoint command "${sub ?? ''}"`);
}

async function cmdSnapshot(ctx: Ctx): Promise<void> {
  const [, sub, path] = ctx.args.positional;
  if (sub !== 'save') throw new UsageError(`unsupported snapshot command "${sub ?? ''}"`);
  if (path === undefined) throw new UsageError('snapshot save expects one argument');
  if (ctx.endpoints.length !== 1)
    throw new UsageError(
      `snapshot must be requested to one selected node, not multiple [${ctx.endpoints.join(' ')}]`,
    );
  const part = `${path}.part`;
  const file = createWriteStream(part);
  try {
    for await (const chunk of ctx.client.maintenance.snapshot()) {
      if (!file.write(chunk)) await new Promise<void>((r) => file.once('drain', () => r()));
    }
  } finally {
    await new Promise<void>((resolve, reject) =>
      file.end((e?: Error | null) => (e ? reject(e) : resolve())),
    );
  }
  await rename(part, path);
  ctx.out(`Snapshot saved at ${path}\n`);
}

async function cmdCompaction(ctx: Ctx): Promise<void> {
  const rev = ctx.args.positional[1];
  if (rev === undefined || !/^\d+$/.test(rev))
    throw new UsageError('compaction command needs 1 argument');
  const r = await ctx.client.kv.compact(BigInt(rev), {
    physical: flag(ctx.args, 'physical'),
    deadlineMs: ctx.timeoutMs,
  });
  if (ctx.format === 'json') ctx.out(`${gj.stringify({ header: gj.header(r.header) })}\n`);
  else ctx.out(`compacted revision ${rev}\n`);
}

async function cmdDefrag(ctx: Ctx): Promise<number> {
  let failed = false;
  for (const ep of await clusterEndpoints(ctx)) {
    const c = new Client({ endpoints: [ep] });
    try {
      await c.maintenance.defragment({ deadlineMs: ctx.timeoutMs });
      ctx.out(`Finished defragmenting etcd member[${ep.replace(/^https?:\/\//, '')}]\n`);
    } catch (e) {
      failed = true;
      ctx.err(
        `Failed to defragment etcd member[${ep}] (${e instanceof EtcdError ? e.details : String(e)})\n`,
      );
    } finally {
      c.close();
    }
  }
  return failed ? 1 : 0;
}

/**
 * Runs one kvctl command line and resolves to its exit code (0 ok, 1 error),
 * writing like etcdctl 3.4 to `io.stdout`/`io.stderr`.
 */
export async function runKvctl(argv: readonly string[], io: KvctlIO): Promise<number> {
  const out = (s: string): void => void io.stdout.write(s);
  const err = (s: string): void => void io.stderr.write(s);
  let client: Client | undefined;
  try {
    const args = parseArgs(argv);
    const env = io.env ?? process.env;
    const endpoints = (args.flags.get('endpoints') ?? env['ETCDCTL_ENDPOINTS'] ?? '127.0.0.1:2379')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const format = args.flags.get('write-out') ?? env['ETCDCTL_WRITE_OUT'] ?? 'simple';
    if (format !== 'simple' && format !== 'json')
      throw new UsageError(
        `unsupported output format "${format}" (kvctl supports simple and json)`,
      );
    const userFlag = args.flags.get('user') ?? env['ETCDCTL_USER'];
    let auth: { username: string; password: string } | undefined;
    if (userFlag !== undefined) {
      const colon = userFlag.indexOf(':');
      const password = args.flags.get('password') ?? env['ETCDCTL_PASSWORD'];
      if (colon >= 0)
        auth = { username: userFlag.slice(0, colon), password: userFlag.slice(colon + 1) };
      else if (password !== undefined) auth = { username: userFlag, password };
      else throw new UsageError('password is required: use --user=name:password or --password');
    }
    const dialTimeoutMs = parseDuration(args.flags.get('dial-timeout') ?? '2s');
    const timeoutMs = parseDuration(args.flags.get('command-timeout') ?? '5s');
    client = new Client({ endpoints, dialTimeoutMs, ...(auth ? { auth } : {}) });
    const ctx: Ctx = {
      client,
      args,
      out,
      err,
      format,
      hex: flag(args, 'hex'),
      timeoutMs,
      io,
      endpoints,
    };
    switch (args.positional[0]) {
      case 'get':
        await cmdGet(ctx);
        return 0;
      case 'put':
        await cmdPut(ctx);
        return 0;
      case 'del':
        await cmdDel(ctx);
        return 0;
      case 'txn':
        await cmdTxn(ctx);
        return 0;
      case 'watch':
        await cmdWatch(ctx);
        return 0;
      case 'lease':
        await cmdLease(ctx);
        return 0;
      case 'member':
        await cmdMember(ctx);
        return 0;
      case 'endpoint':
        return await cmdEndpoint(ctx);
      case 'snapshot':
        await cmdSnapshot(ctx);
        return 0;
      case 'compaction':
        await cmdCompaction(ctx);
        return 0;
      case 'defrag':
        return await cmdDefrag(ctx);
      case 'version':
        out('kvctl version: 0.1.0\nAPI version: 3.4\n');
        return 0;
      default:
        throw new UsageError(`unknown command "${args.positional[0] ?? ''}" for "kvctl"`);
    }
  } catch (e) {
    // etcdctl reports an unreachable cluster or an expired timeout as Go's
    // context error.
    const msg =
      e instanceof DeadlineExceededError ||
      (e instanceof UnavailableError && !e.details.startsWith('etcdserver:'))
        ? 'context deadline exceeded'
        : e instanceof EtcdError
          ? e.details
          : e instanceof Error
            ? e.message
            : String(e);
    err(`Error: ${msg}\n`);
    // etcdctl's exit codes: 128 for bad arguments, 1 for failed requests.
    return e instanceof UsageError ? 128 : e instanceof ExitCodeError ? e.exitCode : 1;
  } finally {
    client?.close();
  }
}
