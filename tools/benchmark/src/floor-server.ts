// The "floor" server of the comparison: a Node.js HTTP/2 server that answers
// every unary gRPC call at once with an empty message, and does nothing else.
// It writes each answer the way our server's lean unary path does (headers,
// one DATA frame, trailers), so a row measured against it shows what
// node:http2 and gRPC framing alone cost on this machine with this load
// generator: the ceiling of any server built on them. Not a server to use.
//
// With --floor-http2=own it runs on the client port's own HTTP/2 server
// connection (@kv/server's H2Connection) instead: the ceiling of our server.
//
// Accepts etcd's flags; only --listen-client-urls is read (one http URL).

import http2 from 'node:http2';
import net from 'node:net';
import { H2Connection } from '@kv/server';

// The streaming methods of etcd's services (Campaign, though long, is unary).
const STREAMING = /\/(Watch|LeaseKeepAlive|Snapshot|Observe)$/;
const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc+proto' };
const OK_TRAILERS = { 'grpc-status': 0, 'grpc-message': 'OK' };
// A gRPC frame holding an empty message: any response type decodes it as all defaults.
const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);
// Maintenance.Status: a StatusResponse saying member 1 answers and member 1
// leads (header = field 1 { member_id = field 2: 1 }, leader = field 4: 1),
// so that --target-leader finds the floor.
const STATUS_MESSAGE = Buffer.from([0, 0, 0, 0, 6, 0x0a, 0x02, 0x10, 0x01, 0x20, 0x01]);
const STATUS_PATH = '/etcdserverpb.Maintenance/Status';

/** The host and port of the first --listen-client-urls URL. */
export function floorListenAddress(argv: readonly string[]): { host: string; port: number } {
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    let value: string | undefined;
    if (tok.startsWith('--listen-client-urls=')) value = tok.slice(tok.indexOf('=') + 1);
    else if (tok === '--listen-client-urls') value = argv[i + 1];
    if (value === undefined) continue;
    const url = new URL(value.split(',')[0]!);
    if (url.protocol !== 'http:') throw new Error(`floor server: only http URLs (${value})`);
    return { host: url.hostname, port: Number(url.port) };
  }
  throw new Error('floor server: --listen-client-urls is required');
}

/** Which HTTP/2 the floor runs on: --floor-http2=own or node (the default). */
export function floorHttp2(argv: readonly string[]): 'own' | 'node' {
  const flag = argv.find((a) => a.startsWith('--floor-http2='));
  const value = flag?.slice('--floor-http2='.length) ?? 'node';
  if (value !== 'own' && value !== 'node') {
    throw new Error(`floor server: --floor-http2 must be own or node, not "${value}"`);
  }
  return value;
}

const OWN_HEADERS = Object.entries(RESPONSE_HEADERS).map(([k, v]) => [k, String(v)] as const);
const OWN_TRAILERS = Object.entries(OK_TRAILERS).map(([k, v]) => [k, String(v)] as const);
const OWN_REFUSED = [
  ...OWN_HEADERS,
  ['grpc-status', '12'],
  ['grpc-message', 'floor%20server:%20unary%20only'],
] as const;

/** The floor on @kv/server's own HTTP/2 connection; resolves once it listens. */
export async function startOwnFloorServer(host: string, port: number): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    new H2Connection(socket, {
      onStream: (stream) => {
        const path = stream.headers[':path'];
        if (typeof path === 'string' && STREAMING.test(path)) {
          stream.respond(OWN_REFUSED, true);
          return;
        }
        stream.onEnd = () =>
          stream.respondUnary(
            OWN_HEADERS,
            path === STATUS_PATH ? STATUS_MESSAGE : EMPTY_MESSAGE,
            OWN_TRAILERS,
          );
      },
      // As the real server: repeated response fields are indexed.
      indexable: () => true,
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** Starts the floor server; resolves once it listens. */
export async function startFloorServer(host: string, port: number): Promise<http2.Http2Server> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const path = headers[':path'] ?? '';
    if (STREAMING.test(path)) {
      stream.respond(
        { ...RESPONSE_HEADERS, 'grpc-status': 12, 'grpc-message': 'floor server: unary only' },
        { endStream: true },
      );
      return;
    }
    stream.resume();
    stream.on('end', () => {
      if (stream.destroyed) return;
      stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
      stream.end(path === STATUS_PATH ? STATUS_MESSAGE : EMPTY_MESSAGE);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1]);
if (isMain) {
  const argv = process.argv.slice(2);
  const { host, port } = floorListenAddress(argv);
  if (floorHttp2(argv) === 'own') await startOwnFloorServer(host, port);
  else await startFloorServer(host, port);
  // Nothing to flush or close cleanly: it holds no data.
  process.on('SIGTERM', () => process.exit(0));
}
