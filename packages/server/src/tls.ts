/**
 * TLS material for the client and peer listeners, from etcd's flags:
 * --cert-file/--key-file/--trusted-ca-file/--client-cert-auth (and the peer
 * equivalents), or --auto-tls/--peer-auto-tls, which generate a self-signed
 * certificate under <data-dir>/fixtures/{client,peer} as etcd does (the key
 * from node:crypto, the certificate signed by the system's openssl).
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type tls from 'node:tls';
import { ConfigError } from './config';

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** CA to verify the other side; absent = do not verify client certificates. */
  readonly ca?: Buffer;
  /** Require and verify client certificates. */
  readonly clientCertAuth: boolean;
  readonly selfSigned: boolean;
}

function read(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

/**
 * Generates (once) a self-signed certificate shaped as etcd 3.4's
 * transport.SelfCert makes it: an ECDSA P-521 key (SEC1 "EC PRIVATE KEY",
 * mode 0600), subject and issuer O=etcd, one year of validity, a random
 * 128-bit serial, signed with ecdsa-with-SHA512, key usage (critical)
 * digitalSignature + keyEncipherment, extended key usage serverAuth, basic
 * constraints (critical) CA:FALSE, and the given hosts — those of the listen
 * URLs, in order — as SANs (DNS names first, then IP addresses, as Go writes
 * them). An existing cert.pem/key.pem pair is reused, as etcd does.
 */
export function selfSigned(dir: string, hosts: readonly string[]): { cert: Buffer; key: Buffer } {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  if (!fs.existsSync(certFile) || !fs.existsSync(keyFile)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const isIp = (h: string): boolean => net.isIP(h) !== 0;
    const san = [
      ...hosts.filter((h) => !isIp(h)).map((h) => `DNS:${h}`),
      ...hosts.filter(isIp).map((h) => `IP:${h}`),
    ];
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' });
    const keyPem = privateKey.export({ type: 'sec1', format: 'pem' });
    const configFile = path.join(dir, `openssl-${process.pid}.cnf`);
    fs.writeFileSync(
      configFile,
      [
        '[req]',
        'distinguished_name = dn',
        'x509_extensions = ext',
        'prompt = no',
        '[dn]',
        'O = etcd',
        '[ext]',
        'keyUsage = critical, digitalSignature, keyEncipherment',
        'extendedKeyUsage = serverAuth',
        'basicConstraints = critical, CA:FALSE',
        'subjectKeyIdentifier = none',
        'authorityKeyIdentifier = none',
        ...(san.length > 0 ? [`subjectAltName = ${san.join(', ')}`] : []),
        '',
      ].join('\n'),
    );
    const keyTmp = `${keyFile}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(keyTmp, keyPem, { mode: 0o600 });
      // Go draws the serial below 2^128; a leading zero bit keeps it positive.
      const serial = crypto.randomBytes(16);
      serial[0]! &= 0x7f;
      execFileSync(
        'openssl',
        [
          'req',
          '-new',
          '-x509',
          '-key',
          keyTmp,
          '-sha512',
          '-days',
          '365',
          '-set_serial',
          `0x${serial.toString('hex')}`,
          '-config',
          configFile,
          '-out',
          certFile,
        ],
        { stdio: 'ignore' },
      );
      fs.renameSync(keyTmp, keyFile);
    } catch (err) {
      throw new ConfigError(
        `cannot generate a self-signed certificate (openssl): ${(err as Error).message}`,
      );
    } finally {
      fs.rmSync(configFile, { force: true });
      fs.rmSync(keyTmp, { force: true });
    }
  }
  return { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) };
}

export interface TlsFlags {
  readonly certFile: string;
  readonly keyFile: string;
  readonly trustedCaFile: string;
  readonly clientCertAuth: boolean;
  readonly autoTls: boolean;
}

/** TLS material for one side (client or peer), or undefined if none is configured. */
export function loadTls(
  flags: TlsFlags,
  autoDir: string,
  hosts: readonly string[],
  side: string,
): TlsMaterial | undefined {
  if (flags.certFile !== '' || flags.keyFile !== '') {
    if (flags.certFile === '' || flags.keyFile === '') {
      throw new ConfigError(`${side} TLS needs both a cert file and a key file`);
    }
    return {
      cert: read(flags.certFile, `${side} cert file`),
      key: read(flags.keyFile, `${side} key file`),
      ...(flags.trustedCaFile !== ''
        ? { ca: read(flags.trustedCaFile, `${side} trusted CA file`) }
        : {}),
      clientCertAuth: flags.clientCertAuth,
      selfSigned: false,
    };
  }
  if (flags.autoTls) {
    const { cert, key } = selfSigned(autoDir, hosts);
    // With auto TLS, etcd does not verify client certificates (nothing to verify against).
    return { cert, key, clientCertAuth: false, selfSigned: true };
  }
  return undefined;
}

export function serverOptions(m: TlsMaterial): tls.TlsOptions {
  return {
    cert: m.cert,
    key: m.key,
    ...(m.ca !== undefined ? { ca: m.ca } : {}),
    requestCert: m.clientCertAuth,
    rejectUnauthorized: m.clientCertAuth,
  };
}

/** Options for connecting to a peer with this material (our cert as client cert). */
export function clientOptions(m: TlsMaterial): tls.ConnectionOptions {
  return {
    cert: m.cert,
    key: m.key,
    // Self-signed peers cannot be verified against a CA, as with etcd's --peer-auto-tls.
    ...(m.ca !== undefined ? { ca: m.ca } : { rejectUnauthorized: !m.selfSigned }),
  };
}

/**
 * etcd's guard in front of its JSON gateway: with --client-cert-auth and auth
 * enabled, a /v3/ (or /v3beta/) request whose verified client certificate
 * has a Common Name is refused with 400 — the gateway calls the member with
 * its own certificate, so that CN could not be the caller's identity. Answers
 * the request and returns true when it refuses it.
 */
export function refuseGatewayCommonName(req: IncomingMessage, res: ServerResponse): boolean {
  const pathname = (req.url ?? '/').split('?')[0]!.replace(/^\/v3beta\//, '/v3/');
  if (!pathname.startsWith('/v3/')) return false;
  const socket = req.socket as Partial<tls.TLSSocket>;
  if (socket.authorized !== true || socket.getPeerCertificate === undefined) return false;
  const cn: unknown = socket.getPeerCertificate().subject?.CN;
  const name = Array.isArray(cn) ? (cn.at(-1) as unknown) : cn;
  if (typeof name !== 'string' || name === '') return false;
  res.writeHead(400, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(
    'CommonName of client sending a request against gateway will be ignored and not used as expected\n',
  );
  return true;
}
