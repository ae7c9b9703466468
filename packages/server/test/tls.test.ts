/**
 * TLS for clients and peers, with certificates made by the test: a CA, a
 * server certificate for 127.0.0.1 and a client certificate. Peers talk TLS
 * to each other; clients must present a certificate signed by the CA.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, etcdctl, makeTestCa } from './harness';

function makePki(dir: string): {
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
} {
  const ca = makeTestCa(dir);
  const server = ca.issue(
    'server',
    '/CN=server',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  const client = ca.issue('client', '/CN=root', 'extendedKeyUsage=clientAuth\n');
  return {
    ca: ca.ca,
    cert: server.cert,
    key: server.key,
    clientCert: client.cert,
    clientKey: client.key,
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
