// One gRPC connection per `--conns`: each gets its own HTTP/2 session (a
// local subchannel pool stops grpc-js from sharing one socket between
// channels to the same address), and the KV, Watch and Lease clients of a
// connection share its channel.

import { credentials, makeGenericClientConstructor, status } from '@grpc/grpc-js';
import type { ChannelOptions, Client, ClientDuplexStream } from '@grpc/grpc-js';
import { FastKVClient, KVService, LeaseClient, WatchClient, WatchService } from '@kv/api';
import type { KVClient, etcdserverpb } from '@kv/api';
import { Http2UnaryKV } from './http2-unary';
import { RawH2UnaryKV } from './raw-h2-unary';
import type { UnaryKV } from './http2-unary';

/** How the load loop's unary KV calls travel. */
export type Transport = 'grpc' | 'http2' | 'raw';

export interface Connection {
  /** The load loop's Put/Range/Txn calls, on the chosen transport. */
  unary: UnaryKV;
  kv: KVClient;
  watch: WatchClient;
  /** Watch streams whose responses arrive as bytes (see watch-scan.ts). */
  watchBytes: UndecodedWatchClient;
  lease: LeaseClient;
}

/** A Watch client that leaves responses encoded. */
export interface UndecodedWatchClient extends Client {
  watch(): ClientDuplexStream<etcdserverpb.WatchRequest, Buffer>;
}

const CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
  // Per-call bookkeeping the generator never uses; off, each call is cheaper.
  'grpc.enable_retries': 0,
  'grpc.enable_channelz': 0,
};

const keepBytes = (b: Buffer): Buffer => b;

/**
 * The generated KV service with its response decoders replaced by the
 * identity: the load loop only needs each call's status, and decoding a
 * 1,000-key range costs the generator more than etcd spends serving it.
 * Its callbacks receive the undecoded bytes, so it is typed loosely on
 * purpose and used only where responses are ignored.
 */
const UndecodedKVService = {
  ...KVService,
  range: { ...KVService.range, responseDeserialize: keepBytes },
  put: { ...KVService.put, responseDeserialize: keepBytes },
  deleteRange: { ...KVService.deleteRange, responseDeserialize: keepBytes },
  txn: { ...KVService.txn, responseDeserialize: keepBytes },
};
const UndecodedKVClient = makeGenericClientConstructor(
  UndecodedKVService,
  'etcdserverpb.KV',
) as unknown as typeof FastKVClient;

/** The Watch service with responses left as bytes, for the same reason. */
const UndecodedWatchService = {
  ...WatchService,
  watch: { ...WatchService.watch, responseDeserialize: keepBytes },
};
const UndecodedWatchClientCtor = makeGenericClientConstructor(
  UndecodedWatchService,
  'etcdserverpb.Watch',
) as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options: ChannelOptions & { channelOverride: ReturnType<Client['getChannel']> },
) => UndecodedWatchClient;

/**
 * Opens one connection. With `decode`, KV responses are decoded (Range with
 * @kv/api's hand-written codec); without, they are left as bytes.
 */
export function connect(
  endpoint: string,
  decode = false,
  transport: Transport = 'grpc',
): Connection {
  const Kv = decode ? FastKVClient : UndecodedKVClient;
  const kv = new Kv(endpoint, credentials.createInsecure(), CHANNEL_OPTIONS);
  const channelOverride = kv.getChannel();
  const unary: UnaryKV =
    transport === 'http2' && !decode
      ? new Http2UnaryKV(endpoint)
      : transport === 'raw' && !decode
        ? new RawH2UnaryKV(endpoint)
        : {
            put: (req, cb) => kv.put(req, cb),
            range: (req, cb) => kv.range(req, cb),
            txn: (req, cb) => kv.txn(req, cb),
            close: () => undefined,
          };
  return {
    unary,
    kv,
    watch: new WatchClient(endpoint, credentials.createInsecure(), { channelOverride }),
    watchBytes: new UndecodedWatchClientCtor(endpoint, credentials.createInsecure(), {
      channelOverride,
    }),
    lease: new LeaseClient(endpoint, credentials.createInsecure(), { channelOverride }),
  };
}

/** Opens `n` connections round-robin over the endpoints, from `offset`. */
export function connectAll(
  endpoints: readonly string[],
  n: number,
  offset = 0,
  decode = false,
  transport: Transport = 'grpc',
): Connection[] {
  return Array.from({ length: n }, (_, i) =>
    connect(endpoints[(i + offset) % endpoints.length]!, decode, transport),
  );
}

export function closeAll(conns: readonly Connection[]): void {
  for (const c of conns) {
    c.unary.close();
    c.kv.close();
  }
}

const CODE_NAMES = new Map<number, string>(
  Object.entries(status)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([name, code]) => [code, name]),
);

/** gRPC status name of an error ("UNAVAILABLE"), or "UNKNOWN". */
export function errorCode(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    if (typeof code === 'number') return CODE_NAMES.get(code) ?? `CODE_${code}`;
  }
  return 'UNKNOWN';
}

/** Resolves once every connection's channel is READY, or rejects at the deadline. */
export async function waitReady(conns: readonly Connection[], timeoutMs: number): Promise<void> {
  const deadline = new Date(Date.now() + timeoutMs);
  await Promise.all(
    conns.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          c.kv.waitForReady(deadline, (err) => (err ? reject(err) : resolve()));
        }),
    ),
  );
  await Promise.all(
    conns.flatMap((c) =>
      c.unary instanceof Http2UnaryKV || c.unary instanceof RawH2UnaryKV ? [c.unary.ready()] : [],
    ),
  );
}
