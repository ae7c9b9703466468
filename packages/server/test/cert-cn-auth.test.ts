/**
 * With --client-cert-auth and auth enabled, the Common Name of a verified
 * client certificate is the user a request acts for when it carries no
 * token. The same steps — etcdctl with certificates made here for CN=alice,
 * CN=root, CN=bob (no such user) and no CN at all, with and without --user,
 * and the JSON gateway on the same port — run against real etcd 3.4 and
 * against our server, and the transcripts must match.
 */
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, etcdctl, makeTestCa } from './harness';
import type { CertPair, ServerKind } from './harness';

type Pair = CertPair;

interface Pki {
  readonly ca: string;
  readonly server: Pair;
  readonly clients: Readonly<Record<Identity, Pair>>;
}

type Identity = 'alice' | 'root' | 'bob' | 'nocn';

const SUBJECTS: Readonly<Record<Identity, string>> = {
  alice: '/CN=alice',
  root: '/CN=root',
  bob: '/CN=bob',
  nocn: '/O=no-common-name',
};

function makePki(dir: string): Pki {
  const ca = makeTestCa(dir);
  const server = ca.issue(
    'server',
    '/CN=server',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  const clients = Object.fromEntries(
    Object.entries(SUBJECTS).map(([id, subject]) => [
      id,
      ca.issue(`client-${id}`, subject, 'extendedKeyUsage=clientAuth\n'),
    ]),
  ) as Record<Identity, Pair>;
  return { ca: ca.ca, server, clients };
}

type Step =
  | { readonly as: Identity; readonly args: readonly string[] }
  | {
      readonly as: Identity;
      readonly http: string;
      readonly body: object;
      readonly headers?: Readonly<Record<string, string>>;
    };

const b64 = (s: string): string => Buffer.from(s).toString('base64');

const steps: Step[] = [
  // Set up while auth is off: any verified certificate may do this.
  { as: 'root', args: ['user', 'add', 'root:rootpw'] },
  { as: 'root', args: ['role', 'add', 'root'] },
  { as: 'root', args: ['user', 'grant-role', 'root', 'root'] },
  { as: 'root', args: ['user', 'add', 'alice:alicepw'] },
  { as: 'root', args: ['role', 'add', 'app'] },
  { as: 'root', args: ['role', 'grant-permission', 'app', 'readwrite', 'app/', '--prefix'] },
  { as: 'root', args: ['user', 'grant-role', 'alice', 'app'] },
  { as: 'root', args: ['put', 'other', 'before-auth'] },
  { as: 'alice', args: ['auth', 'enable'] },
  // The certificate's CN is the user.
  { as: 'alice', args: ['put', 'app/one', '1'] },
  { as: 'alice', args: ['get', 'app/', '--prefix'] },
  { as: 'alice', args: ['put', 'other', 'nope'] },
  { as: 'alice', args: ['get', 'other'] },
  { as: 'alice', args: ['del', 'other'] },
  { as: 'alice', args: ['txn'] },
  { as: 'alice', args: ['user', 'list'] },
  { as: 'alice', args: ['lease', 'grant', '60'] },
  { as: 'alice', args: ['compaction', '1'] },
  { as: 'root', args: ['put', 'other', 'by-root-cert'] },
  { as: 'root', args: ['get', 'other', '--print-value-only'] },
  { as: 'root', args: ['user', 'list'] },
  { as: 'root', args: ['role', 'get', 'app'] },
  { as: 'root', args: ['get', 'app/one', '-w', 'json'] },
  // A user the store does not know, and a certificate without a CN.
  { as: 'bob', args: ['get', 'app/one'] },
  { as: 'bob', args: ['put', 'app/two', '2'] },
  { as: 'nocn', args: ['get', 'app/one'] },
  { as: 'nocn', args: ['put', 'app/two', '2'] },
  { as: 'nocn', args: ['user', 'list'] },
  { as: 'nocn', args: ['user', 'get', 'alice'] },
  { as: 'bob', args: ['user', 'get', 'bob'] },
  { as: 'bob', args: ['user', 'list'] },
  // A token (from --user) wins over the certificate.
  { as: 'alice', args: ['--user=root:rootpw', 'put', 'other', 'root-by-password'] },
  { as: 'root', args: ['--user=alice:alicepw', 'put', 'other', 'alice-by-password'] },
  { as: 'root', args: ['--user=alice:wrong', 'get', 'app/one'] },
  // The gateway on the same port.
  {
    as: 'alice',
    http: '/v3/kv/range',
    body: { key: b64('app/one') },
    headers: { accept: 'application/json' },
  },
  { as: 'root', http: '/v3/kv/range', body: { key: b64('app/one') } },
  { as: 'alice', http: '/v3/kv/range', body: { key: b64('app/one') } },
  { as: 'alice', http: '/v3beta/kv/range', body: { key: b64('app/one') } },
  { as: 'alice', http: '/v3/no/such/route', body: {} },
  { as: 'alice', http: '/version', body: {} },
  { as: 'alice', http: '/health', body: {} },
  // Without a CN the request reaches the gateway, which calls the member with
  // the server's own certificate; etcd ignores that certificate's CN only when
  // the call carries the gateway's Accept metadata (grpcgateway-accept).
  {
    as: 'nocn',
    http: '/v3/kv/range',
    body: { key: b64('app/one') },
    headers: { accept: 'application/json' },
  },
  { as: 'nocn', http: '/v3/kv/range', body: { key: b64('app/one') } },
  { as: 'nocn', http: '/v3/auth/user/list', body: {}, headers: { accept: '*/*' } },
  { as: 'root', args: ['role', 'revoke-permission', 'app', 'app/', '--prefix'] },
  { as: 'alice', args: ['get', 'app/one'] },
  { as: 'root', args: ['auth', 'disable'] },
  { as: 'bob', args: ['get', 'other', '--print-value-only'] },
  // With auth off, the gateway serves certificates with a CN again.
  { as: 'alice', http: '/v3/kv/range', body: { key: b64('app/one') } },
];

function normalise(text: string): string {
  return text
    .replace(/^\{"level":"warn".*"error":"([^"]*)"\}$/gm, 'WARN $1')
    .replace(/"cluster_id":"?\d+"?/g, '"cluster_id":CID')
    .replace(/"member_id":"?\d+"?/g, '"member_id":MID')
    .replace(/"raft_term":"?\d+"?/g, '"raft_term":TERM')
    .replace(/^lease [0-9a-f]+ granted/gm, 'lease ID granted');
}

function httpsPost(
  port: number,
  ca: string,
  client: Pair,
  pathName: string,
  body: object,
  headers: Readonly<Record<string, string>>,
): Promise<string> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: pathName,
        method: 'POST',
        ca: fs.readFileSync(ca),
        cert: fs.readFileSync(client.cert),
        key: fs.readFileSync(client.key),
        headers: { 'content-type': 'application/json', ...headers },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () =>
          resolve(`[HTTP ${res.statusCode} ${res.headers['content-type']}]\n${text}\n`),
        );
      },
    );
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', (err) => resolve(`[error ${err.message}]\n`));
    req.end(JSON.stringify(body));
  });
}

async function transcript(kind: ServerKind, pki: Pki): Promise<string[]> {
  const certFlags = (id: Identity): string[] => [
    `--cacert=${pki.ca}`,
    `--cert=${pki.clients[id].cert}`,
    `--key=${pki.clients[id].key}`,
  ];
  const cluster = await ProcessCluster.start({
    kind,
    size: 1,
    clientScheme: 'https',
    etcdctlFlags: certFlags('root'),
    extraFlags: [
      `--cert-file=${pki.server.cert}`,
      `--key-file=${pki.server.key}`,
      `--trusted-ca-file=${pki.ca}`,
      '--client-cert-auth',
    ],
  });
  try {
    const out: string[] = [];
    for (const step of steps) {
      if ('http' in step) {
        const reply = await httpsPost(
          cluster.members[0]!.clientPort,
          pki.ca,
          pki.clients[step.as],
          step.http,
          step.body,
          step.headers ?? {},
        );
        out.push(
          `$ [${step.as}] POST ${step.http} ${JSON.stringify(step.headers ?? {})}\n${normalise(reply)}`,
        );
        continue;
      }
      const r = await etcdctl([
        ...certFlags(step.as),
        `--endpoints=${cluster.endpoints}`,
        '--command-timeout=10s',
        ...step.args,
      ]);
      out.push(
        `$ [${step.as}] etcdctl ${step.args.join(' ')}\n[exit ${r.code}]\n${normalise(r.stdout)}${normalise(r.stderr)}`,
      );
    }
    return out;
  } finally {
    await cluster.close();
  }
}

const stepName = (s: Step): string =>
  'http' in s
    ? `[${s.as}] POST ${s.http} ${JSON.stringify(s.headers ?? {})}`
    : `[${s.as}] ${s.args.join(' ')}`;

describe('client-certificate CN as the user name (--client-cert-auth), ours against etcd 3.4', () => {
  let ours: string[] = [];
  let reference: string[] = [];
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-cn-pki-'));
    const pki = makePki(dir);
    reference = await transcript('etcd', pki);
    ours = await transcript('kv', pki);
    if (process.env.SHOW_TRANSCRIPT)
      console.log(`${reference.join('\n')}\n=====\n${ours.join('\n')}`);
  }, 120_000);

  afterAll(() => {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('etcd acts on the CN as this test expects (guards the reference itself)', () => {
    const at = (name: string): string => reference[steps.findIndex((s) => stepName(s) === name)]!;
    expect(at('[alice] put app/one 1')).toContain('[exit 0]\nOK\n');
    expect(at('[alice] put other nope')).toContain('etcdserver: permission denied');
    expect(at('[root] put other by-root-cert')).toContain('[exit 0]\nOK\n');
    expect(at('[root] user list')).toContain('alice\nroot\n');
  });

  it.each(steps.map((s, i) => [stepName(s), i] as const))('%s', (_name, i) => {
    expect(ours[i]).toBe(reference[i]);
  });
});
