/**
 * TLS for clients and peers, with certificates made by the test: a CA, a
 * server certificate for 127.0.0.1 and a client certificate. Peers talk TLS
 * to each other; clients must present a certificate signed by the CA.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, etcdctl } from './harness';

function makePki(dir: string): {
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
} {
  const f = (n: string): string => path.join(dir, n);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  ssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=test-ca',
  );
  fs.writeFileSync(
    f('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  ssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
    '-subj',
    '/CN=server',
  );
  ssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.pem'),
    '-days',
    '2',
    '-extfile',
    f('server.ext'),
  );
  fs.writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  ssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    f('client.key'),
    '-out',
    f('client.csr'),
    '-subj',
    '/CN=root',
  );
  ssl(
    'x509',
    '-req',
    '-in',
    f('client.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('client.pem'),
    '-days',
    '2',
    '-extfile',
    f('client.ext'),
  );
  return {
    ca: f('ca.pem'),
    cert: f('server.pem'),
    key: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
  };
}

describe('TLS between clients and members, and between peers', () => {
  let cluster: ProcessCluster | undefined;
  let pki: ReturnType<typeof makePki>;
  let clientFlags: string[];

  beforeAll(async () => {
    pki = makePki(fs.mkdtempSync(path.join(os.tmpdir(), 'kv-pki-')));
    clientFlags = [`--cacert=${pki.ca}`, `--cert=${pki.clientCert}`, `--key=${pki.clientKey}`];
    cluster = await ProcessCluster.start({
      kind: 'kv',
      size: 3,
      clientScheme: 'https',
      peerScheme: 'https',
      etcdctlFlags: clientFlags,
      extraFlags: [
        `--cert-file=${pki.cert}`,
        `--key-file=${pki.key}`,
        `--trusted-ca-file=${pki.ca}`,
        '--client-cert-auth',
        `--peer-cert-file=${pki.cert}`,
        `--peer-key-file=${pki.key}`,
        `--peer-trusted-ca-file=${pki.ca}`,
        '--peer-client-cert-auth',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
  });

  it('replicates over TLS peer links and serves TLS clients with certificates', async () => {
    const put = await etcdctl([
      ...clientFlags,
      `--endpoints=${cluster!.members[0]!.endpoint}`,
      'put',
      'secure',
      'yes',
    ]);
    expect(put.stdout.trim()).toBe('OK');
    // A linearizable read on another member needs the TLS peer links.
    const get = await etcdctl([
      ...clientFlags,
      `--endpoints=${cluster!.members[2]!.endpoint}`,
      'get',
      'secure',
      '--print-value-only',
    ]);
    expect(get.stdout.trim()).toBe('yes');
  });

  it('refuses a client without a certificate', async () => {
    const r = await etcdctl([
      `--cacert=${pki.ca}`,
      `--endpoints=${cluster!.members[0]!.endpoint}`,
      '--dial-timeout=2s',
      '--command-timeout=3s',
      'get',
      'secure',
    ]);
    expect(r.code).not.toBe(0);
  });

  it('refuses a client that does not trust the server', async () => {
    const r = await etcdctl([
      `--endpoints=${cluster!.members[0]!.endpoint}`,
      '--dial-timeout=2s',
      '--command-timeout=3s',
      'get',
      'secure',
    ]);
    expect(r.code).not.toBe(0);
  });
});
