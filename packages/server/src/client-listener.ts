/**
 * The client port serves gRPC and plain HTTP (gateway, health, metrics) on
 * the same address, as etcd does: each accepted connection is routed by its
 * first bytes — the HTTP/2 connection preface goes to the gRPC server (our
 * own HTTP/2, `h2/`, by default), anything else to a Node HTTP/1.1 server.
 * With TLS, the TLS handshake comes first and ALPN decides.
 *
 * With `KV_CLIENT_HTTP2=node`, gRPC is grpc-js's on node:http2 (through its
 * connection injector). Then a plain-text HTTP/2 connection whose first
 * request carries an authority nghttp2 rejects (Go's gRPC sends
 * `:authority: http://host:port` for scheme-prefixed endpoints; over TLS it
 * sends the host name) passes through an AuthorityRepairStream
 * (h2-authority.ts); every other one goes to the server natively
 * (h2-sniff.ts decides). Our own HTTP/2 takes any authority.
 */
import type http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Server as GrpcServer, ConnectionInjector } from '@grpc/grpc-js';
import { ServerCredentials } from '@grpc/grpc-js';
import { AuthorityRepairStream } from './h2-authority';
import { sniffH2 } from './h2-sniff';
import { installLeanUnary } from './grpc-lean-unary';
import type { LeanUnaryOptions } from './grpc-lean-unary';
import type { GrpcH2Server } from './h2/grpc-server';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export interface ClientListener {
  readonly url: string;
  /** The TCP port (0 for a unix socket). */
  readonly port: number;
  /** A grpc-js target that reaches this listener: `127.0.0.1:port` or `unix:path`. */
  readonly dialTarget: string;
  /** Whether the lean unary path serves this listener (asked for and installed). */
  readonly leanUnary: boolean;
  close(): Promise<void>;
}

/**
 * The socket path of a `unix://` / `unixs://` URL, as etcd takes it: host
 * plus path, so `unix://localhost:2379` is the file `localhost:2379` in the
 * working directory and `unix:///run/etcd.sock` an absolute path.
 */
export function unixSocketPath(url: URL): string | undefined {
  if (url.protocol !== 'unix:' && url.protocol !== 'unixs:') return undefined;
  return decodeURIComponent(url.host + url.pathname);
}

export interface ClientListenerOptions {
  readonly url: string;
  /**
   * Who serves gRPC: our own HTTP/2 server (`h2/`), or grpc-js on
   * node:http2 (`KV_CLIENT_HTTP2=node`).
   */
  readonly grpc: { readonly own: GrpcH2Server } | { readonly node: GrpcServer };
  readonly http: http.Server;
  readonly tls?: tls.TlsOptions;
  /** Serve these unary methods on the lean HTTP/2 path (grpc-lean-unary.ts). */
  readonly leanUnary?: LeanUnaryOptions;
}

/** Hostnames we bind as loopback addresses. */
export function bindHost(hostname: string): string {
  if (hostname === 'localhost') return '127.0.0.1';
  return hostname.replace(/^\[(.*)\]$/, '$1');
}

export async function listenClient(options: ClientListenerOptions): Promise<ClientListener> {
  const url = new URL(options.url);
  const own = 'own' in options.grpc ? options.grpc.own : undefined;
  const node = 'node' in options.grpc ? options.grpc.node : undefined;
  const injector: ConnectionInjector | undefined = node?.createConnectionInjector(
    ServerCredentials.createInsecure(),
  );
  const leanUnary =
    node !== undefined &&
    options.leanUnary !== undefined &&
    installLeanUnary(node, options.leanUnary);
  const serveH2 = (socket: Duplex, native: boolean): void => {
    if (own !== undefined) own.handleConnection(socket);
    else if (native) injector!.injectConnection(socket);
    else injector!.injectConnection(new AuthorityRepairStream(socket as net.Socket));
  };
  const sockets = new Set<Duplex>();
  const route = (socket: Duplex & { unshift(chunk: Buffer): void }): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('readable', () => {
      const head = (socket as net.Socket).read(
        Math.min(H2_PREFACE.length, (socket as net.Socket).readableLength),
      ) as Buffer | null;
      if (head === null) {
        // Not enough yet (or closed): wait for more.
        socket.once('readable', () => route(socket));
        return;
      }
      socket.unshift(head);
      const isH2 =
        head.length >= 3 &&
        head
          .subarray(0, Math.min(head.length, H2_PREFACE.length))
          .equals(H2_PREFACE.subarray(0, Math.min(head.length, H2_PREFACE.length)));
      if (isH2 && own !== undefined) serveH2(socket, true);
      else if (isH2) {
        // nghttp2 refuses some authorities Go's gRPC sends (see h2-sniff.ts).
        sniffH2(socket as net.Socket).then(
          (path) => serveH2(socket, path === 'native'),
          () => socket.destroy(),
        );
      } else options.http.emit('connection', socket);
    });
  };
  const unixPath = unixSocketPath(url);
  const secure =
    (url.protocol === 'https:' || url.protocol === 'unixs:') && options.tls !== undefined;
  const server = secure
    ? tls.createServer({ ...options.tls, ALPNProtocols: ['h2', 'http/1.1'] }, (socket) => {
        if (socket.alpnProtocol === 'h2') {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          serveH2(socket, true);
        } else {
          route(socket);
        }
      })
    : net.createServer((socket) => {
        socket.setNoDelay(true);
        route(socket);
      });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (unixPath !== undefined) server.listen(unixPath, listening);
    else server.listen(Number(url.port || (secure ? 443 : 80)), bindHost(url.hostname), listening);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: options.url,
    port,
    dialTarget: unixPath !== undefined ? `unix:${unixPath}` : `127.0.0.1:${port}`,
    leanUnary,
    close: async () => {
      injector?.drain(0);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      injector?.destroy();
    },
  };
}
