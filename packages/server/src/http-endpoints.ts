/**
 * Operations endpoints on the client port (and on --listen-metrics-urls):
 * /health (etcd 3.5 semantics, with ?serializable=true and a reason),
 * /livez and /readyz (etcd 3.5.11+ semantics, ?verbose and ?exclude=),
 * /version and /metrics (Prometheus text).
 */
import type http from 'node:http';
import type { EtcdServer, MetricsRegistry } from '@kv/kvserver';
import { CLUSTER_VERSION, SERVER_VERSION } from '@kv/kvserver';

const CORRUPT = 2;

interface Check {
  readonly name: string;
  run(): Promise<string | undefined>;
}

export interface OpsHandlerOptions {
  readonly server: () => EtcdServer;
  readonly metrics: MetricsRegistry;
  /** How long a health check's linearizable read may take. */
  readonly healthTimeoutMs?: number;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Returns a handler for the ops paths, or undefined for paths it does not own. */
export function opsHandler(
  options: OpsHandlerOptions,
): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  const timeoutMs = options.healthTimeoutMs ?? 1000;
  const serializableRead: Check = {
    name: 'serializable_read',
    run: async () => {
      const s = options.server();
      await s.range({
        key: Buffer.from('health'),
        rangeEnd: Buffer.alloc(0),
        limit: 0n,
        revision: 0n,
        sortOrder: 0,
        sortTarget: 0,
        serializable: true,
        keysOnly: false,
        countOnly: true,
        minModRevision: 0n,
        maxModRevision: 0n,
        minCreateRevision: 0n,
        maxCreateRevision: 0n,
      });
      return undefined;
    },
  };
  const linearizableRead: Check = {
    name: 'linearizable_read',
    run: async () => {
      await withTimeout(options.server().linearizableReadBarrier(), timeoutMs);
      return undefined;
    },
  };
  const dataCorruption: Check = {
    name: 'data_corruption',
    run: async () => (options.server().alarms.has(CORRUPT) ? 'CORRUPT alarm active' : undefined),
  };

  const runChecks = async (
    checks: readonly Check[],
    url: URL,
    res: http.ServerResponse,
    failText: string,
  ): Promise<void> => {
    const exclude = new Set(url.searchParams.getAll('exclude'));
    const verbose = url.searchParams.has('verbose');
    const lines: string[] = [];
    let ok = true;
    for (const c of checks) {
      if (exclude.has(c.name)) {
        lines.push(`[+]${c.name} excluded: ok`);
        continue;
      }
      let reason: string | undefined;
      try {
        reason = await c.run();
      } catch (err) {
        reason = (err as Error).message;
      }
      if (reason === undefined) lines.push(`[+]${c.name} ok`);
      else {
        ok = false;
        lines.push(`[-]${c.name} failed: reason withheld`);
      }
    }
    res.statusCode = ok ? 200 : 503;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    if (ok) res.end(verbose ? `${lines.join('\n')}\nok\n` : 'ok\n');
    else res.end(`${lines.join('\n')}\n${failText}\n`);
  };

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // etcd serves /version and /health to GET only (allowMethod).
    if ((url.pathname === '/version' || url.pathname === '/health') && req.method !== 'GET') {
      res.writeHead(405, {
        Allow: 'GET',
        'Content-Type': 'text/plain; charset=utf-8',
        'X-Content-Type-Options': 'nosniff',
      });
      res.end('Method Not Allowed\n');
      return true;
    }
    switch (url.pathname) {
      case '/version':
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ etcdserver: SERVER_VERSION, etcdcluster: CLUSTER_VERSION }));
        return true;
      case '/metrics':
        res.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
        res.end(options.metrics.render());
        return true;
      case '/health': {
        const serializable = url.searchParams.get('serializable') === 'true';
        void (async () => {
          const s = options.server();
          let reason = '';
          if (s.leader === 0n) reason = 'RAFT NO LEADER';
          else if (s.alarms.list().length > 0) {
            const active = s.alarms.list().filter((a) => a.type !== 1 || !serializable);
            if (active.some((a) => a.type === CORRUPT)) reason = 'ALARM CORRUPT';
            else if (active.length > 0) reason = 'ALARM NOSPACE';
          }
          if (reason === '') {
            try {
              if (serializable) await serializableRead.run();
              else await linearizableRead.run();
            } catch {
              reason = serializable ? 'SERIALIZABLE READ FAILED' : 'QGET ERROR';
            }
          }
          res.statusCode = reason === '' ? 200 : 503;
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify({ health: reason === '' ? 'true' : 'false', reason }));
        })();
        return true;
      }
      case '/livez':
        void runChecks([serializableRead], url, res, 'livez check failed');
        return true;
      case '/readyz':
        void runChecks(
          [dataCorruption, serializableRead, linearizableRead],
          url,
          res,
          'readyz check failed',
        );
        return true;
      default:
        return false;
    }
  };
}

/**
 * etcd's access controller on the client port, with its default --cors '*':
 * every answer carries the CORS headers, and a preflight (OPTIONS) is
 * answered 200 with an empty body. Returns true when it answered.
 */
export function corsAndPreflight(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  res.setHeader('Access-Control-Allow-Methods', 'POST, GET, OPTIONS, PUT, DELETE');
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Headers', 'accept, content-type, authorization');
  if (req.method !== 'OPTIONS') return false;
  res.writeHead(200, { 'Content-Length': '0' });
  res.end();
  return true;
}

/**
 * Go's ServeMux answer for "/v3" (etcd registers the gateway's subtree
 * "/v3/"): 301 to "/v3/", with a small HTML body for GET and HEAD.
 * Returns true when it answered.
 */
export function subtreeRedirect(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  if ((q < 0 ? url : url.slice(0, q)) !== '/v3') return false;
  const target = `/v3/${q < 0 ? '' : url.slice(q)}`;
  res.statusCode = 301;
  res.setHeader('Location', target);
  if (req.method === 'GET' || req.method === 'HEAD') {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(`<a href="${target.replace(/&/g, '&amp;')}">Moved Permanently</a>.\n\n`);
  } else {
    res.end();
  }
  return true;
}
