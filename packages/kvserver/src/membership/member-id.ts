/**
 * Member and cluster IDs derived the way etcd derives them, so that a cluster
 * bootstrapped with the same --initial-cluster and --initial-cluster-token gets
 * the same IDs as etcd would and keeps them across restarts:
 * - member ID: the first 8 bytes (big-endian) of SHA-1 over the member's sorted
 *   peer URLs joined with no separator, followed by the cluster token (and, for
 *   members added at run time, the Unix time in seconds as decimal text);
 * - cluster ID: the first 8 bytes of SHA-1 over the sorted member IDs, each as
 *   8 big-endian bytes.
 */
import { createHash } from 'node:crypto';

function first8(hash: Buffer): bigint {
  return hash.readBigUInt64BE(0);
}

/** Normalises a URL the way Go's url.URL.String() prints a scheme://host:port URL. */
export function normalizeUrl(url: string): string {
  const u = new URL(url);
  const path = u.pathname === '/' && !url.endsWith('/') ? '' : u.pathname;
  return `${u.protocol}//${u.host}${path}`;
}

export function computeMemberId(
  peerUrls: readonly string[],
  clusterToken: string,
  addedAtUnixSeconds?: number,
): bigint {
  const sorted = peerUrls.map(normalizeUrl).sort();
  let text = sorted.join('') + clusterToken;
  if (addedAtUnixSeconds !== undefined) text += String(addedAtUnixSeconds);
  return first8(createHash('sha1').update(text, 'utf8').digest());
}

export function computeClusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return first8(createHash('sha1').update(buf).digest());
}

/** Parses etcd's --initial-cluster value: "name=url,name=url2,other=url3". */
export function parseInitialCluster(value: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of value.split(',')) {
    const trimmed = part.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) throw new Error(`invalid initial cluster entry ${JSON.stringify(trimmed)}`);
    const name = trimmed.slice(0, eq);
    const url = trimmed.slice(eq + 1);
    try {
      new URL(url);
    } catch {
      throw new Error(`invalid URL ${JSON.stringify(url)} in initial cluster`);
    }
    const urls = out.get(name) ?? [];
    urls.push(url);
    out.set(name, urls);
  }
  return out;
}

/** Formats an ID as etcd prints it: lower-case hex without leading zeros. */
export function formatId(id: bigint): string {
  return id.toString(16);
}
