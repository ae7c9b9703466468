/**
 * --auto-tls and --peer-auto-tls: a three-member cluster with https:// client
 * and peer URLs and no certificate files. The same checks run against real
 * etcd 3.4 and against our server, so what they assert is etcd's behaviour:
 * the self-signed certificates (their place under <data-dir>/fixtures, their
 * shape, their reuse after a restart), replication over the TLS peer links,
 * etcdctl with --insecure-skip-tls-verify, and plain-text clients refused.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, etcdctl } from './harness';
import type { ServerKind } from './harness';

const SKIP_VERIFY = ['--insecure-transport=false', '--insecure-skip-tls-verify'];

/** The certificate a TLS listener presents, accepted without verification. */
function presentedCertificate(port: number): Promise<crypto.X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert === undefined) reject(new Error('no certificate presented'));
      else resolve(cert);
    });
    socket.once('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('TLS handshake timed out')));
  });
}

/** Sends plain-text bytes and collects whatever comes back until the server closes. */
function plainExchange(port: number, payload: string): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(payload));
    socket.on('data', (d: Buffer) => chunks.push(d));
    const done = (closed: boolean): void => {
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks).toString('latin1'), closed });
    };
    socket.once('close', () => done(true));
    socket.once('error', () => done(true));
    socket.setTimeout(5000, () => done(false));
  });
}

/** A plain HTTP/1.1 GET; resolves with the status or the client-side error code. */
function plainHttpGet(port: number, pathName: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName, timeout: 5000 }, (res) => {
      res.resume();
      resolve(`status ${res.statusCode}`);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
  });
}

function expectEtcdShapedCertificate(certFile: string, keyFile: string): crypto.X509Certificate {
  const cert = new crypto.X509Certificate(fs.readFileSync(certFile));
  expect(cert.subject).toBe('O=etcd');
  expect(cert.issuer).toBe('O=etcd');
  expect(cert.ca).toBe(false);
  expect(cert.subjectAltName).toBe('IP Address:127.0.0.1');
  // Extended key usage: TLS server authentication only.
  expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  expect(cert.publicKey.asymmetricKeyType).toBe('ec');
  expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp521r1');
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
  expect(days).toBe(365);
  expect(cert.verify(cert.publicKey)).toBe(true);
  const keyPem = fs.readFileSync(keyFile, 'utf8');
  expect(keyPem.startsWith('-----BEGIN EC PRIVATE KEY-----\n')).toBe(true);
  expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
  expect(cert.checkPrivateKey(crypto.createPrivateKey(keyPem))).toBe(true);
  return cert;
}

describe.each<ServerKind>(['etcd', 'kv'])('--auto-tls and --peer-auto-tls (%s)', (kind) => {
  let cluster: ProcessCluster;

  beforeAll(async () => {
    cluster = await ProcessCluster.start({
      kind,
      size: 3,
      clientScheme: 'https',
      peerScheme: 'https',
      etcdctlFlags: SKIP_VERIFY,
      extraFlags: ['--auto-tls', '--peer-auto-tls'],
    });
  }, 90_000);

  afterAll(async () => {
    await cluster?.close();
  });

  const ctl = (i: number, ...args: string[]): ReturnType<typeof etcdctl> =>
    etcdctl([
      ...SKIP_VERIFY,
      `--endpoints=${cluster.members[i]!.endpoint}`,
      '--command-timeout=10s',
      ...args,
    ]);

  it('writes self-signed certificates under <data-dir>/fixtures/{client,peer}, as etcd 3.4 shapes them', async () => {
    for (const m of cluster.members) {
      const fixtures = path.join(m.dataDir, 'fixtures');
      expect(fs.readdirSync(fixtures).sort()).toEqual(['client', 'peer']);
      for (const side of ['client', 'peer']) {
        const dir = path.join(fixtures, side);
        expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
        expect(fs.readdirSync(dir).sort()).toEqual(['cert.pem', 'key.pem']);
        expectEtcdShapedCertificate(path.join(dir, 'cert.pem'), path.join(dir, 'key.pem'));
      }
      // Each listener presents its own certificate.
      const client = new crypto.X509Certificate(
        fs.readFileSync(path.join(fixtures, 'client/cert.pem')),
      );
      const peer = new crypto.X509Certificate(
        fs.readFileSync(path.join(fixtures, 'peer/cert.pem')),
      );
      expect(client.fingerprint256).not.toBe(peer.fingerprint256);
      expect((await presentedCertificate(m.clientPort)).fingerprint256).toBe(client.fingerprint256);
      expect((await presentedCertificate(m.peerPort)).fingerprint256).toBe(peer.fingerprint256);
    }
  });

  it('replicates over the TLS peer links: a write on one member is read on another', async () => {
    expect((await ctl(0, 'put', 'auto-tls', 'yes')).stdout).toBe('OK\n');
    // Linearizable reads on followers need the peer links (ReadIndex).
    for (const i of [1, 2]) {
      const got = await ctl(i, 'get', 'auto-tls', '--print-value-only');
      expect(got, `member ${i}`).toMatchObject({ code: 0, stdout: 'yes\n' });
    }
    const list = await ctl(2, 'member', 'list', '-w', 'json');
    const members = (
      JSON.parse(list.stdout) as { members: { peerURLs: string[]; clientURLs: string[] }[] }
    ).members;
    expect(members).toHaveLength(3);
    for (const m of members) {
      expect(m.peerURLs[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(m.clientURLs[0]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    }
  });

  it('refuses plain-text clients and clients that verify the self-signed certificate', async () => {
    const m = cluster.members[0]!;
    const plain = await etcdctl([
      `--endpoints=127.0.0.1:${m.clientPort}`,
      '--dial-timeout=2s',
      '--command-timeout=3s',
      'get',
      'auto-tls',
    ]);
    expect(plain.code).not.toBe(0);
    expect(plain.stdout).toBe('');
    const verifying = await etcdctl([
      `--endpoints=${m.endpoint}`,
      '--dial-timeout=2s',
      '--command-timeout=3s',
      'get',
      'auto-tls',
    ]);
    expect(verifying.code).not.toBe(0);
    expect(verifying.stdout).toBe('');
    // Plain HTTP/1.1 on the TLS ports: the connection is closed without a reply.
    expect(await plainHttpGet(m.clientPort, '/version')).toBe('error ECONNRESET');
    for (const port of [m.clientPort, m.peerPort]) {
      expect(await plainExchange(port, 'GET /version HTTP/1.1\r\nHost: x\r\n\r\n')).toEqual({
        reply: '',
        closed: true,
      });
    }
  });

  it('keeps its certificates across a restart', async () => {
    const fingerprint = (side: string): string =>
      new crypto.X509Certificate(
        fs.readFileSync(path.join(cluster.members[1]!.dataDir, 'fixtures', side, 'cert.pem')),
      ).fingerprint256;
    const before = [fingerprint('client'), fingerprint('peer')];
    await cluster.stop(1);
    await cluster.restart(1);
    expect([fingerprint('client'), fingerprint('peer')]).toEqual(before);
    const got = await ctl(1, 'get', 'auto-tls', '--print-value-only');
    expect(got).toMatchObject({ code: 0, stdout: 'yes\n' });
  }, 60_000);
});
