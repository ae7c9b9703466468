/**
 * startServer: turns a ServerConfig into running objects — backend, WAL,
 * peer transport, EtcdServer, gRPC services, client and metrics listeners —
 * and returns a handle. No business logic lives here.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Server as GrpcServer, credentials as grpcCredentials } from '@grpc/grpc-js';
import { createGatewayHandler, grpcClientBackend } from '@kv/grpc-gateway';
import type { GatewayHandler, GrpcClientBackend } from '@kv/grpc-gateway';
import { LevelBackend } from '@kv/backend-level';
import {
  Compactor,
  EtcdServer,
  parseRetention,
  MetricsRegistry,
  PeerTransport,
  WalMemberStorage,
  computeClusterId,
  computeMemberId,
  exponentialBuckets,
  formatId,
  memberPaths,
  normalizeUrl,
  queryMembers,
  parseInitialCluster,
  registerEtcdServices,
  systemClock,
} from '@kv/kvserver';
import type { Logger, Member, MemberStorage } from '@kv/kvserver';
import { listenClient } from './client-listener';
import { GrpcH2Server } from './h2/grpc-server';
import type { ClientListener } from './client-listener';
import { ConfigError, defaultConfig } from './config';
import type { ServerConfig } from './config';
import { corsAndPreflight, opsHandler, subtreeRedirect } from './http-endpoints';
import { parseFailpoints, parseUnsafeModes } from './failpoints';
import { clientOptions, loadTls, refuseGatewayCommonName, serverOptions } from './tls';
import type { TlsMaterial } from './tls';
import { createLogger } from './logger';

/** A running member. */
export interface ServerHandle {
  readonly name: string;
  readonly memberId: string;
  readonly clusterId: string;
  /** Client URLs actually listened on (ports resolved). */
  readonly clientUrls: readonly string[];
  readonly peerUrls: readonly string[];
  readonly etcd: EtcdServer;
  readonly metrics: MetricsRegistry;
  /** Stops accepting, fails in-flight requests cleanly, flushes and closes storage. */
  close(): Promise<void>;
  /**
   * Resolves if the member stops on its own: removed from the cluster, or a
   * fatal error. The caller should then close() and, as etcd does, exit
   * (status 0 after a removal).
   */
  readonly selfStopped: Promise<'removed' | 'fatal'>;
}

export interface StartOptions {
  /** Logger (pino-compatible); defaults to JSON logs on stderr at config.logLevel. */
  readonly logger?: Logger;
}

function resolveId(
  initial: Map<string, string[]>,
  name: string,
  token: string,
): { members: Member[]; self: Member } {
  const members: Member[] = [...initial].map(([n, urls]) => ({
    id: computeMemberId(urls, token),
    name: n,
    peerURLs: urls,
    clientURLs: [],
    isLearner: false,
  }));
  const self = members.find((m) => m.name === name);
  if (self === undefined) {
    throw new ConfigError(
      `couldn't find local name "${name}" in the initial cluster configuration`,
    );
  }
  return { members, self };
}

async function ensureDataDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.access(dir, fs.constants.W_OK);
  } catch (err) {
    throw new ConfigError(`cannot access data directory: ${dir}: ${(err as Error).message}`);
  }
}

/** Starts one member from a (partial) configuration; missing fields take etcd's defaults. */
export async function startServer(
  partial: Partial<ServerConfig> = {},
  options: StartOptions = {},
): Promise<ServerHandle> {
  const config: ServerConfig = { ...defaultConfig(), ...partial };
  if (config.dataDir === '') config.dataDir = `${config.name}.etcd`;
  if (config.initialCluster === '') {
    config.initialCluster = config.initialAdvertisePeerUrls
      .map((u) => `${config.name}=${u}`)
      .join(',');
  }
  const logger = options.logger ?? createLogger(config.logLevel);
  let retention: number;
  try {
    retention = parseRetention(config.autoCompactionMode, config.autoCompactionRetention);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  let initial: Map<string, string[]>;
  try {
    initial = parseInitialCluster(config.initialCluster);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const resolved = resolveId(initial, config.name, config.initialClusterToken);
  let members = resolved.members;
  let self = resolved.self;
  let clusterId = computeClusterId(members.map((m) => m.id));
  const dataDir = path.resolve(config.dataDir);
  await ensureDataDir(dataDir);
  const paths = memberPaths(
    dataDir,
    config.walDir === '' ? undefined : path.resolve(config.walDir),
  );

  await fs.mkdir(path.dirname(paths.backendDir), { recursive: true, mode: 0o700 });
  const hostsOf = (urls: readonly string[]): string[] =>
    urls.map((u) => new URL(u).hostname.replace(/^\[(.*)\]$/, '$1'));
  const clientTls = loadTls(
    {
      certFile: config.certFile,
      keyFile: config.keyFile,
      trustedCaFile: config.trustedCaFile,
      clientCertAuth: config.clientCertAuth,
      autoTls: config.autoTls,
    },
    path.join(dataDir, 'fixtures', 'client'),
    // etcd names the hosts of the listen URLs only in a self-signed certificate.
    hostsOf(config.listenClientUrls),
    'client',
  );
  const peerTls = loadTls(
    {
      certFile: config.peerCertFile,
      keyFile: config.peerKeyFile,
      trustedCaFile: config.peerTrustedCaFile,
      clientCertAuth: config.peerClientCertAuth,
      autoTls: config.peerAutoTls,
    },
    path.join(dataDir, 'fixtures', 'peer'),
    hostsOf(config.listenPeerUrls),
    'peer',
  );
  requireTlsFor(config.listenClientUrls, clientTls, 'client');
  requireTlsFor(config.listenPeerUrls, peerTls, 'peer');

  if (await WalMemberStorage.exists(paths.walDir)) {
    // A restart: the member and cluster IDs are the ones recorded at creation
    // (a member added at run time has an ID the flags cannot reproduce).
    const stored = JSON.parse(
      Buffer.from(await WalMemberStorage.readMetadata(paths.walDir)).toString('utf8'),
    ) as {
      memberId: string;
      clusterId: string;
    };
    self = { ...self, id: BigInt(`0x${stored.memberId}`) };
    clusterId = BigInt(`0x${stored.clusterId}`);
  } else if (config.initialClusterState === 'existing') {
    // Joining a running cluster: learn its membership from the other members
    // and find this member among them by its advertised peer URLs.
    const own = new Set(config.initialAdvertisePeerUrls.map(normalizeUrl));
    const others = [...initial.entries()]
      .filter(([n]) => n !== config.name)
      .flatMap(([, urls]) => urls);
    let info;
    try {
      info = await queryMembers(
        others,
        peerTls !== undefined ? { tls: clientOptions(peerTls) } : {},
      );
    } catch (err) {
      throw new ConfigError(
        `cannot fetch the cluster's membership from ${others.join(',')}: ${(err as Error).message}`,
      );
    }
    const me = info.members.find((m) => m.peerURLs.some((u) => own.has(normalizeUrl(u))));
    if (me === undefined) {
      throw new ConfigError(
        `member with peer URLs ${config.initialAdvertisePeerUrls.join(',')} is not in the cluster; add it first (etcdctl member add)`,
      );
    }
    members = info.members.map((m) => ({
      ...m,
      peerURLs: [...m.peerURLs],
      clientURLs: [...m.clientURLs],
    }));
    self = { ...me, name: config.name, peerURLs: [...me.peerURLs], clientURLs: [...me.clientURLs] };
    clusterId = info.clusterId;
  }
  const metadata = Buffer.from(
    JSON.stringify({ memberId: formatId(self.id), clusterId: formatId(clusterId) }),
  );
  const failpoint = parseFailpoints(
    process.env.KV_FAILPOINTS,
    Number(process.env.KV_FAILPOINT_SEED ?? 1),
  );
  const unsafeTestModes = parseUnsafeModes(process.env.KV_UNSAFE_TEST_MODES);
  if (unsafeTestModes !== undefined) {
    logger.warn(
      { modes: process.env.KV_UNSAFE_TEST_MODES },
      'UNSAFE TEST MODES ENABLED: this server is deliberately broken',
    );
  }
  // KV_WAL_SYNC_ON_LOOP=on|off forces where a lone writer's fdatasync runs
  // (A/B of write latency); unset or 'auto' lets the WAL choose.
  const syncOnLoop = walSyncOnLoop(process.env['KV_WAL_SYNC_ON_LOOP']);
  const metrics = new MetricsRegistry();
  const commitSeconds = metrics.histogram(
    'etcd_disk_backend_commit_duration_seconds',
    'The latency distributions of commit called by backend.',
    exponentialBuckets(0.001, 2, 14),
  );
  // etcd's 0 means its default (100 ms, 10,000 writes): so does the backend's.
  const backend = await LevelBackend.open(paths.backendDir, {
    ...(config.backendBatchInterval > 0
      ? { batchInterval: Math.max(1, Math.round(config.backendBatchInterval)) }
      : {}),
    ...(config.backendBatchLimit > 0 ? { batchLimit: config.backendBatchLimit } : {}),
    onCommit: (ms) => commitSeconds.observe(ms / 1000),
  });
  let memberStorage: MemberStorage;
  let boot;
  try {
    const opened = await WalMemberStorage.open({
      walDir: paths.walDir,
      snapDir: paths.snapDir,
      metadata,
      sync: !config.unsafeNoFsync,
      syncOnLoop,
    });
    memberStorage = opened.storage;
    boot = opened.boot;
  } catch (err) {
    await backend.close();
    throw err;
  }

  const fsyncSeconds = metrics.histogram(
    'etcd_disk_wal_fsync_duration_seconds',
    'The latency distributions of fsync called by WAL.',
    exponentialBuckets(0.001, 2, 14),
  );
  const fsyncSeries = fsyncSeconds.series();
  const timedStorage: MemberStorage = {
    // The options carry the MustSync decision: dropping them would fsync
    // commit-only hard states too (a second fdatasync per write).
    // Not an async function: one per Raft Ready, and a second promise and
    // frame around the WAL's would be garbage per write.
    save: (hs, entries, options) => {
      if (options?.sync === false) return memberStorage.save(hs, entries, options);
      const start = performance.now();
      return memberStorage
        .save(hs, entries, options)
        .then(() => fsyncSeries.observe((performance.now() - start) / 1000));
    },
    saveSnapshot: (s) => memberStorage.saveSnapshot(s),
    releaseTo: (i) => memberStorage.releaseTo(i),
    saveSnapshotData: (i, chunks) => memberStorage.saveSnapshotData(i, chunks),
    snapshotData: (i) => memberStorage.snapshotData(i),
    releaseSnapshotData: (i) => memberStorage.releaseSnapshotData(i),
    close: () => memberStorage.close(),
  };

  const peerRtt = metrics.histogram(
    'etcd_network_peer_round_trip_time_seconds',
    'Round-Trip-Time histogram between peers',
    exponentialBuckets(0.0001, 2, 16),
  );
  const transports: PeerTransport[] = [];
  let selfStop: (reason: 'removed' | 'fatal') => void = () => undefined;
  const selfStopped = new Promise<'removed' | 'fatal'>((resolve) => (selfStop = resolve));
  const etcd = await EtcdServer.start({
    name: config.name,
    memberId: self.id,
    clusterId,
    initialMembers: members,
    initialClusterState: config.initialClusterState,
    clientURLs: config.advertiseClientUrls,
    backend,
    memberStorage: timedStorage,
    boot,
    createTransport: (handler, snapshotSource) => {
      const t = new PeerTransport({
        clusterId,
        memberId: self.id,
        handler,
        snapshotSource,
        clock: systemClock,
        ...(peerTls !== undefined ? { tls: clientOptions(peerTls) } : {}),
      });
      transports.push(t);
      return t;
    },
    clock: systemClock,
    random: Math.random,
    heartbeatMs: config.heartbeatInterval,
    electionMs: config.electionTimeout,
    snapshotCount: config.snapshotCount,
    snapshotCatchUpEntries: config.experimentalSnapshotCatchupEntries,
    logger,
    onPeerRoundTrip: (peer, seconds) => peerRtt.observe(seconds, { To: formatId(peer) }),
    ...(failpoint !== undefined ? { failpoint } : {}),
    ...(unsafeTestModes !== undefined ? { unsafeTestModes } : {}),
    maxRequestBytes: config.maxRequestBytes,
    maxTxnOps: config.maxTxnOps,
    ...(config.quotaBackendBytes > 0 ? { quotaBackendBytes: config.quotaBackendBytes } : {}),
    preVote: config.preVote,
    strictReconfigCheck: config.strictReconfigCheck,
    initialCorruptCheck: config.experimentalInitialCorruptCheck,
    corruptCheckTimeMs: config.experimentalCorruptCheckTime,
    onFatal: (err) => {
      logger.error({ err }, 'member stopped on a fatal error');
      selfStop('fatal');
    },
    onRemoved: () => selfStop('removed'),
  });
  const peerListen = await Promise.all(
    config.listenPeerUrls.map((u) =>
      transports[0]!.listen(
        u,
        u.startsWith('https:') && peerTls !== undefined ? serverOptions(peerTls) : undefined,
      ),
    ),
  );
  registerServerMetrics(metrics, etcd, backend);
  const compactor = new Compactor(
    {
      get isLeader() {
        return etcd.isLeader;
      },
      currentRevision: () => etcd.mvcc.currentRevision(),
      compactedRevision: () => etcd.mvcc.compactedRevision(),
      compact: (revision) => etcd.compact({ revision: BigInt(revision), physical: false }),
    },
    systemClock,
    config.autoCompactionMode,
    retention,
  );
  compactor.start();

  const maxReceiveMessageLength = config.maxRequestBytes + 512 * 1024;
  const maxSendMessageLength = 2 ** 31 - 1;
  // KV_CLIENT_HTTP2=node serves gRPC with grpc-js on node:http2, as before
  // our own HTTP/2 (h2/) took over (A/B measurements; a way back should a
  // client need it). KV_GRPC_LEAN_UNARY=off then leaves every method to
  // grpc-js, lean path included.
  const transport = clientHttp2(process.env['KV_CLIENT_HTTP2']);
  const grpc: { own: GrpcH2Server } | { node: GrpcServer } =
    transport === 'own'
      ? {
          own: new GrpcH2Server({
            maxReceiveMessageLength,
            maxSendMessageLength,
            onConnectionError: (err) =>
              logger.debug({ error: err.message }, 'client HTTP/2 connection closed on error'),
            keepalive: { intervalMs: 2 * 60 * 60 * 1000, timeoutMs: 20 * 1000 },
          }),
        }
      : {
          node: new GrpcServer({
            'grpc.max_receive_message_length': maxReceiveMessageLength,
            'grpc.max_send_message_length': maxSendMessageLength,
            'grpc.keepalive_time_ms': 2 * 60 * 60 * 1000,
            'grpc.keepalive_timeout_ms': 20 * 1000,
          }),
        };
  const services = registerEtcdServices('own' in grpc ? grpc.own : grpc.node, etcd, {
    logger,
    metrics,
    clock: systemClock,
  });
  const leanUnary =
    'own' in grpc || process.env['KV_GRPC_LEAN_UNARY'] === 'off'
      ? undefined
      : { routes: services.hotUnary, maxReceiveMessageLength, maxSendMessageLength };

  const ops = opsHandler({ server: () => etcd, metrics });
  // The JSON gateway forwards to this member's own gRPC listener, as etcd's does.
  const gw: { handler?: GatewayHandler; backend?: GrpcClientBackend } = {};
  const httpServer = http.createServer((req, res) => {
    if (
      clientTls?.clientCertAuth === true &&
      etcd.auth.enabled &&
      refuseGatewayCommonName(req, res)
    )
      return;
    // The metrics listeners (--listen-metrics-urls) have no access controller in etcd.
    if (!metricsPorts.has(req.socket.localPort ?? 0) && corsAndPreflight(req, res)) return;
    if (ops(req, res)) return;
    // etcd mounts its gateway under /v3/ (and /v3beta/); elsewhere Go's mux answers 404.
    if (gw.handler !== undefined && /^\/v3(beta)?\//.test(req.url ?? '')) {
      gw.handler(req, res);
      return;
    }
    if (subtreeRedirect(req, res)) return;
    res.statusCode = 404;
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end('404 page not found\n');
  });
  const listeners: ClientListener[] = [];
  const metricsPorts = new Set<number>();
  try {
    for (const url of config.listenClientUrls) {
      listeners.push(
        await listenClient({
          url,
          grpc,
          http: httpServer,
          ...(leanUnary !== undefined ? { leanUnary } : {}),
          ...(clientTls !== undefined ? { tls: serverOptions(clientTls) } : {}),
        }),
      );
    }
    for (const url of config.listenMetricsUrls) {
      const l = await listenClient({
        url,
        grpc,
        http: httpServer,
        ...(leanUnary !== undefined ? { leanUnary } : {}),
      });
      listeners.push(l);
      metricsPorts.add(l.port);
    }
  } catch (err) {
    for (const l of listeners) await l.close();
    await etcd.stop();
    throw new ConfigError(`cannot listen for client traffic: ${(err as Error).message}`);
  }
  if (leanUnary !== undefined && listeners.some((l) => !l.leanUnary)) {
    // Only a grpc-js whose internals differ from the pinned version's gets here.
    logger.warn({}, 'lean unary gRPC path not installed: every method goes through grpc-js');
  }
  const clientUrls = listeners.slice(0, config.listenClientUrls.length).map((l) => {
    if (l.dialTarget.startsWith('unix:')) return l.url;
    const u = new URL(l.url);
    u.port = String(l.port);
    return `${u.protocol}//${u.host}`;
  });
  const first = listeners[0]!;
  gw.backend = grpcClientBackend(
    first.dialTarget,
    /^(https|unixs):/.test(first.url) && clientTls !== undefined
      ? grpcCredentials.createSsl(clientTls.ca ?? clientTls.cert, clientTls.key, clientTls.cert, {
          // The gateway dials this very member by address: its name is not in question.
          checkServerIdentity: () => undefined,
        })
      : grpcCredentials.createInsecure(),
  );
  gw.handler = createGatewayHandler(gw.backend, { maxRequestBytes: config.maxRequestBytes });
  logger.info(
    {
      name: config.name,
      'member-id': formatId(self.id),
      'cluster-id': formatId(clusterId),
      'data-dir': dataDir,
      'listen-client-urls': clientUrls,
      'listen-peer-urls': config.listenPeerUrls,
      'peer-ports': peerListen.map((p) => p.port),
    },
    'ready to serve client requests',
  );

  let closing: Promise<void> | undefined;
  return {
    name: config.name,
    memberId: formatId(self.id),
    clusterId: formatId(clusterId),
    clientUrls,
    peerUrls: config.listenPeerUrls,
    etcd,
    metrics,
    selfStopped,
    close: () => {
      closing ??= (async () => {
        compactor.stop();
        // Hand leadership over first, so clients of the cluster see no election gap.
        const moved = await etcd.transferLeadershipForShutdown().catch(() => false);
        if (moved) logger.info({ name: config.name }, 'transferred leadership before shutdown');
        // Let in-flight calls finish (bounded), then stop the member: the backend
        // is committed and the WAL closed by etcd.stop().
        if ('own' in grpc) await grpc.own.shutdown(2000);
        else {
          const node = grpc.node;
          await new Promise<void>((resolve) => {
            const force = setTimeout(() => {
              node.forceShutdown();
              resolve();
            }, 2000);
            node.tryShutdown(() => {
              clearTimeout(force);
              resolve();
            });
          });
        }
        gw.backend?.close();
        await Promise.all(listeners.map((l) => l.close()));
        await etcd.stop();
        httpServer.close();
        logger.info({ name: config.name }, 'stopped');
      })();
      return closing;
    },
  };
}

function registerServerMetrics(
  metrics: MetricsRegistry,
  etcd: EtcdServer,
  backend: LevelBackend,
): void {
  metrics
    .gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.')
    .set(() => (etcd.leader !== 0n ? 1 : 0));
  metrics
    .gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.')
    .set(() => (etcd.isLeader ? 1 : 0));
  metrics
    .gauge('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.')
    .set(() => etcd.counters.leaderChanges);
  metrics
    .gauge(
      'etcd_server_proposals_committed_total',
      'The total number of consensus proposals committed.',
    )
    .set(() => etcd.counters.proposalsCommitted);
  metrics
    .gauge(
      'etcd_server_proposals_applied_total',
      'The total number of consensus proposals applied.',
    )
    .set(() => etcd.counters.proposalsApplied);
  metrics
    .gauge('etcd_server_proposals_pending', 'The current number of pending proposals to commit.')
    .set(() => etcd.counters.proposalsPending);
  metrics
    .gauge('etcd_server_proposals_failed_total', 'The total number of failed proposals seen.')
    .set(() => etcd.counters.proposalsFailed);
  let sizes = { total: 0, inUse: 0 };
  const refresh = (): void => {
    backend.size().then(
      (s) => {
        sizes = { total: s.total, inUse: s.inUse };
      },
      () => undefined,
    );
  };
  refresh();
  const t = setInterval(refresh, 5000);
  t.unref();
  metrics
    .gauge(
      'etcd_mvcc_db_total_size_in_bytes',
      'Total size of the underlying database physically allocated in bytes.',
    )
    .set(() => sizes.total);
  metrics
    .gauge(
      'etcd_mvcc_db_total_size_in_use_in_bytes',
      'Total size of the underlying database logically in use in bytes.',
    )
    .set(() => sizes.inUse);
}

function requireTlsFor(
  urls: readonly string[],
  material: TlsMaterial | undefined,
  side: 'client' | 'peer',
): void {
  for (const u of urls) {
    if (u.startsWith('https:') && material === undefined) {
      const flags =
        side === 'client'
          ? '--cert-file, --key-file or --auto-tls'
          : '--peer-cert-file, --peer-key-file or --peer-auto-tls';
      throw new ConfigError(
        `TLS key/cert (${flags}) must be provided for ${side} url ${u} with HTTPS scheme`,
      );
    }
  }
}

/** `KV_WAL_SYNC_ON_LOOP`: on, off or auto (the default); anything else is refused. */
export function walSyncOnLoop(value: string | undefined): boolean | 'auto' {
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new Error(`KV_WAL_SYNC_ON_LOOP must be on, off or auto, not "${value}"`);
}

/** `KV_CLIENT_HTTP2`: own (the default) or node; anything else is refused. */
export function clientHttp2(value: string | undefined): 'own' | 'node' {
  if (value === undefined || value === '' || value === 'own') return 'own';
  if (value === 'node') return 'node';
  throw new Error(`KV_CLIENT_HTTP2 must be own or node, not "${value}"`);
}
