import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthorityRepairStream } from './h2-authority';
import { sniffH2, type H2Path } from './h2-sniff';

interface Rig {
  readonly port: number;
  /** The path chosen for each accepted connection, in order. */
  readonly paths: H2Path[];
  /** Resolves when the next connection's path is chosen. */
  nextPath(): Promise<H2Path>;
  close(): Promise<void>;
}

/** An HTTP/2 server behind sniffH2, answering each request with its authority. */
async function startRig(): Promise<Rig> {
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    stream.respond({ ':status': 200 });
    stream.end(String(headers[':authority']));
  });
  const paths: H2Path[] = [];
  const waiters: ((path: H2Path) => void)[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    sniffH2(socket).then(
      (path) => {
        paths.push(path);
        waiters.shift()?.(path);
        h2.emit('connection', path === 'native' ? socket : new AuthorityRepairStream(socket));
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    paths,
    nextPath: () => new Promise<H2Path>((resolve) => waiters.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Two requests on one connection with the given authority; resolves with the bodies. */
async function twoRequests(port: number, authority: string): Promise<string[]> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const one = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = session.request({ ':path': '/x', ':authority': authority });
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d: string) => (body += d));
        req.on('end', () => resolve(body));
        req.on('error', reject);
        req.end();
      });
    return [await one(), await one()];
  } finally {
    session.close();
  }
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('sniffH2', () => {
  it('hands a connection with a valid authority to the server natively', async () => {
    rig = await startRig();
    expect(await twoRequests(rig.port, `127.0.0.1:${rig.port}`)).toEqual([
      `127.0.0.1:${rig.port}`,
      `127.0.0.1:${rig.port}`,
    ]);
    expect(rig.paths).toEqual(['native']);
  });

  it('routes a connection whose first request has a scheme in its authority through the repair', async () => {
    rig = await startRig();
    const bad = `http://127.0.0.1:${rig.port}`;
    expect(await twoRequests(rig.port, bad)).toEqual([
      `127.0.0.1:${rig.port}`,
      `127.0.0.1:${rig.port}`,
    ]);
    expect(rig.paths).toEqual(['repair']);
  });

  it('chooses the repair path when a client sends no request after the SETTINGS exchange', async () => {
    rig = await startRig();
    const chosen = rig.nextPath();
    const session = http2.connect(`http://127.0.0.1:${rig.port}`);
    // The idle timer (1 s after the client's SETTINGS ACK) decides.
    expect(await chosen).toBe('repair');
    session.close();
  });
});
