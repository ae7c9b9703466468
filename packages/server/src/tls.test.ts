import crypto from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { refuseGatewayCommonName, selfSigned } from './tls';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('selfSigned (--auto-tls)', () => {
  it("names DNS hosts first, then IP addresses, in the listen URLs' order, as Go writes SANs", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-selfsigned-'));
    dirs.push(dir);
    const { cert } = selfSigned(path.join(dir, 'client'), [
      '10.0.0.1',
      'b.example',
      '::1',
      'a.local',
    ]);
    const x = new crypto.X509Certificate(cert);
    expect(x.subjectAltName).toBe(
      'DNS:b.example, DNS:a.local, IP Address:10.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(x.subject).toBe('O=etcd');
    // Leaves nothing but the pair behind.
    expect(fs.readdirSync(path.join(dir, 'client')).sort()).toEqual(['cert.pem', 'key.pem']);
  });

  it('reuses an existing pair', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-selfsigned-'));
    dirs.push(dir);
    const first = selfSigned(dir, ['127.0.0.1']);
    const second = selfSigned(dir, ['192.0.2.1']);
    expect(second.cert.equals(first.cert)).toBe(true);
    expect(second.key.equals(first.key)).toBe(true);
  });
});

describe('refuseGatewayCommonName', () => {
  const answer = (
    url: string,
    socket: object,
  ): { refused: boolean; status?: number; body?: string } => {
    let status: number | undefined;
    let body: string | undefined;
    const res = {
      writeHead: (s: number) => {
        status = s;
      },
      end: (b: string) => {
        body = b;
      },
    } as unknown as ServerResponse;
    const refused = refuseGatewayCommonName({ url, socket } as unknown as IncomingMessage, res);
    return {
      refused,
      ...(status !== undefined ? { status } : {}),
      ...(body !== undefined ? { body } : {}),
    };
  };
  const withCn = (cn: string | undefined): object => ({
    authorized: true,
    getPeerCertificate: () => ({ subject: cn === undefined ? {} : { CN: cn } }),
  });

  it('refuses /v3/ and /v3beta/ requests whose verified certificate has a CN', () => {
    for (const url of ['/v3/kv/range', '/v3beta/kv/range?x=1', '/v3/anything']) {
      expect(answer(url, withCn('alice'))).toEqual({
        refused: true,
        status: 400,
        body: 'CommonName of client sending a request against gateway will be ignored and not used as expected\n',
      });
    }
  });

  it('lets through other paths, certificates without a CN, and plain connections', () => {
    expect(answer('/version', withCn('alice')).refused).toBe(false);
    expect(answer('/v3alpha/kv/range', withCn('alice')).refused).toBe(false);
    expect(answer('/v3/kv/range', withCn(undefined)).refused).toBe(false);
    expect(answer('/v3/kv/range', withCn('')).refused).toBe(false);
    expect(answer('/v3/kv/range', {}).refused).toBe(false);
  });
});
