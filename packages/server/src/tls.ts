/**
 * TLS material for the client and peer listeners, from etcd's flags:
 * --cert-file/--key-file/--trusted-ca-file/--client-cert-auth (and the peer
 * equivalents), or --auto-tls/--peer-auto-tls, which generate a self-signed
 * certificate under <data-dir>/fixtures/{client,peer} as etcd does (with the
 * system's openssl).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
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

/** Generates (once) a self-signed certificate valid for localhost and 127.0.0.1. */
export function selfSigned(dir: string, hosts: readonly string[]): { cert: Buffer; key: Buffer } {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  if (!fs.existsSync(certFile) || !fs.existsSync(keyFile)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const san = [...new Set(['localhost', '127.0.0.1', ...hosts])]
      .map((h) => (/^[\d.]+$/.test(h) || h.includes(':') ? `IP:${h}` : `DNS:${h}`))
      .join(',');
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          keyFile,
          '-out',
          certFile,
          '-days',
          '365',
          '-subj',
          '/O=kv/CN=kv-auto-tls',
          '-addext',
          `subjectAltName=${san}`,
          '-addext',
          'extendedKeyUsage=serverAuth,clientAuth',
        ],
        { stdio: 'ignore' },
      );
    } catch (err) {
      throw new ConfigError(
        `cannot generate a self-signed certificate (openssl): ${(err as Error).message}`,
      );
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
