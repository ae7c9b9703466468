// Shared setup for the parity tests: a real etcd 3.4, our gateway in front of
// its gRPC port, and comparisons of the two gateways' answers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { credentials } from '@grpc/grpc-js';
import { expect } from 'vitest';
import { createGatewayHandler, grpcClientBackend } from '../src/index';
import type { GrpcClientBackend } from '../src/index';
import { startEtcd } from './etcd-process';
import type { EtcdProcess } from './etcd-process';
import { post } from './http-client';
import type { Reply } from './http-client';

export interface Rig {
  readonly etcd: EtcdProcess;
  /** etcd's own gateway. */
  readonly theirs: string;
  /** Our gateway, forwarding to the same etcd over gRPC. */
  readonly ours: string;
  close(): Promise<void>;
}

export async function startRig(): Promise<Rig> {
  const etcd = await startEtcd();
  let backend: GrpcClientBackend | undefined;
  let server: http.Server | undefined;
  try {
    backend = grpcClientBackend(etcd.grpcAddress, credentials.createInsecure());
    const srv = http.createServer(createGatewayHandler(backend));
    server = srv;
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const { port } = srv.address() as AddressInfo;
    const b = backend;
    return {
      etcd,
      theirs: etcd.clientUrl,
      ours: `http://127.0.0.1:${port}`,
      async close() {
        srv.closeAllConnections();
        await new Promise<void>((resolve) => srv.close(() => resolve()));
        b.close();
        await etcd.stop();
      },
    };
  } catch (err) {
    server?.close();
    backend?.close();
    await etcd.stop();
    throw err;
  }
}

export function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

/** Replaces the value of every listed key, at any depth, keeping the key. */
export function scrub(value: unknown, keys: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => scrub(v, keys));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = keys.includes(k) ? '<scrubbed>' : scrub(v, keys);
  return out;
}

/** Same status, same content type, and the same body (byte for byte, or after scrubbing). */
export function expectSameReply(
  theirs: Reply,
  ours: Reply,
  scrubKeys: readonly string[] = [],
): void {
  expect({ status: ours.status, contentType: ours.contentType }).toEqual({
    status: theirs.status,
    contentType: theirs.contentType,
  });
  if (scrubKeys.length === 0) {
    expect(ours.text).toBe(theirs.text);
    return;
  }
  // Stringifying keeps key order, so field order is still compared.
  const norm = (r: Reply): string => JSON.stringify(scrub(JSON.parse(r.text), scrubKeys));
  expect(norm(ours)).toBe(norm(theirs));
}

/** Sends the same request to both gateways (etcd's first) and compares the answers. */
export async function expectSame(
  rig: Rig,
  path: string,
  body?: string | object,
  options: { scrub?: readonly string[]; headers?: Record<string, string> } = {},
): Promise<{ theirs: Reply; ours: Reply }> {
  const theirs = await post(rig.theirs, path, body, options.headers);
  const ours = await post(rig.ours, path, body, options.headers);
  expectSameReply(theirs, ours, options.scrub);
  return { theirs, ours };
}

/**
 * For answers that drift on their own (database size, hash, raft index while
 * etcd commits in the background): asks etcd, us, etcd again, and compares
 * only when etcd's two answers agree, so ours was taken at a stable point.
 */
export async function expectSameWhenStable(
  rig: Rig,
  path: string,
  body: string | object,
  scrubKeys: readonly string[] = [],
): Promise<{ theirs: Reply; ours: Reply }> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const before = await post(rig.theirs, path, body);
    const ours = await post(rig.ours, path, body);
    const after = await post(rig.theirs, path, body);
    if (before.text === after.text) {
      expectSameReply(before, ours, scrubKeys);
      return { theirs: before, ours };
    }
  }
  throw new Error(`${path}: etcd's answer never settled`);
}

/**
 * For a mutation: runs `setup` then the request against etcd's gateway, then
 * `setup` and the request against ours, and compares after scrubbing.
 */
export async function expectSameMutation(
  rig: Rig,
  setup: () => Promise<unknown>,
  path: string,
  body: string | object,
  scrubKeys: readonly string[],
  headers?: Record<string, string>,
): Promise<{ theirs: Reply; ours: Reply }> {
  await setup();
  const theirs = await post(rig.theirs, path, body, headers);
  await setup();
  const ours = await post(rig.ours, path, body, headers);
  expectSameReply(theirs, ours, scrubKeys);
  return { theirs, ours };
}

/** Errors produced by each gateway's own JSON decoder differ in wording only. */
export function expectSameErrorCode(theirs: Reply, ours: Reply): void {
  expect(ours.status).toBe(theirs.status);
  const t = JSON.parse(theirs.text) as { error: string; message: string; code: number };
  const o = JSON.parse(ours.text) as { error: string; message: string; code: number };
  expect(Object.keys(o)).toEqual(Object.keys(t));
  expect(o.code).toBe(t.code);
  expect(o.message).toBe(o.error);
}

export const REV = ['revision'];
export const KV_REVS = ['revision', 'create_revision', 'mod_revision', 'version'];
