// The HTTP side of the gateway: route lookup, body decoding, and the three
// ways of answering (one JSON object, a stream of `{"result": ...}` lines, or
// grpc-gateway's error shapes).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GATEWAY_V3BETA_PREFIX, gatewayRoutes } from '@kv/api';
import type { GatewayRoute } from '@kv/api';
import type { CallMeta, GatewayBackend } from './backend';
import { BodyTooLargeError, bodyChunks, readBody } from './body';
import { codecsOf } from './codecs';
import type { MethodCodecs } from './codecs';
import {
  BadRequestError,
  BYTES_KEYS,
  BYTES_KEYS_WITH_NAME,
  decodeRequest,
  responseJson,
  stringifyGoStyle,
} from './json-codec';
import { JsonValueSplitter, ValueTooLargeError } from './json-stream';
import { GrpcCode, httpStatusFromGrpcCode, statusOf, statusText } from './status';
import type { GrpcStatus, StatusMapping } from './status';

/** Options of {@link createGatewayHandler}. */
export interface GatewayOptions {
  /**
   * Largest request body (unary routes) or single JSON request object
   * (streamed routes) accepted, in bytes. Larger ones are answered with
   * RESOURCE_EXHAUSTED (HTTP 429), as etcd answers messages over its gRPC
   * limit. Default 8 MiB.
   */
  readonly maxRequestBytes?: number;
  /** gRPC code → HTTP status table: `'v1'` (etcd 3.4/3.5, default) or `'v2'` (etcd 3.6). */
  readonly statusMapping?: StatusMapping;
  /** Also serve every route under `/v3beta` as etcd 3.4 does. Default true. */
  readonly v3beta?: boolean;
}

/**
 * An HTTP request listener serving etcd's JSON gateway. For a path that is
 * not a gateway route it calls `next` when given, and otherwise answers
 * 404 `Not Found` as etcd does.
 */
export interface GatewayHandler {
  (req: IncomingMessage, res: ServerResponse, next?: () => void): void;
  /** Whether `pathname` (no query string) is a gateway route. */
  handles(pathname: string): boolean;
  /** Every path served, `/v3beta` aliases included. */
  readonly paths: readonly string[];
}

const DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024;
const JSON_CONTENT_TYPE = 'application/json';

interface BoundRoute {
  readonly route: GatewayRoute;
  readonly codecs: MethodCodecs;
  /** JSON keys whose string values must be valid base64. */
  readonly bytesKeys: ReadonlySet<string>;
}

interface Context {
  readonly backend: GatewayBackend;
  readonly maxRequestBytes: number;
  readonly mapping: StatusMapping;
}

/**
 * Creates the gateway's HTTP handler over `backend`. Every route is POST with
 * a JSON body; see the package README for the exact wire behaviour.
 */
export function createGatewayHandler(
  backend: GatewayBackend,
  options: GatewayOptions = {},
): GatewayHandler {
  const table = new Map<string, BoundRoute>();
  for (const route of gatewayRoutes) {
    const codecs = codecsOf(route.service, route.method);
    if (codecs === undefined) {
      throw new Error(`@kv/grpc-gateway: no codecs for ${route.service}/${route.method}`);
    }
    const bytesKeys =
      route.service === 'Lock' || route.service === 'Election' ? BYTES_KEYS_WITH_NAME : BYTES_KEYS;
    const bound = { route, codecs, bytesKeys };
    table.set(route.path, bound);
    if (options.v3beta ?? true) {
      table.set(GATEWAY_V3BETA_PREFIX + route.path.slice('/v3'.length), bound);
    }
  }
  const ctx: Context = {
    backend,
    maxRequestBytes: options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    mapping: options.statusMapping ?? 'v1',
  };

  const handler = (req: IncomingMessage, res: ServerResponse, next?: () => void): void => {
    const bound = table.get(pathnameOf(req.url));
    if (bound === undefined) {
      if (next !== undefined) next();
      else plainText(res, 404, 'Not Found');
      return;
    }
    if (req.method !== 'POST') {
      plainText(res, 405, 'Method Not Allowed');
      return;
    }
    serve(ctx, bound, req, res).catch((err: unknown) => {
      // serve() answers every expected failure itself; this is a last resort.
      if (!res.headersSent) writeError(res, statusOf(err), ctx.mapping);
      else res.destroy();
    });
  };
  return Object.assign(handler, {
    handles: (pathname: string) => table.has(pathname),
    paths: Object.freeze([...table.keys()]),
  });
}

function pathnameOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function plainText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(`${text}\n`);
}

// grpc-gateway v1's body for a failed unary call (and for a streamed call
// that failed before it started): message twice, code once, in this order.
function writeError(res: ServerResponse, status: GrpcStatus, mapping: StatusMapping): void {
  if (res.headersSent || res.destroyed) return;
  const body = stringifyGoStyle({
    error: status.message,
    message: status.message,
    code: status.code,
  });
  res.writeHead(httpStatusFromGrpcCode(status.code, mapping), {
    'Content-Type': JSON_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

// The chunk grpc-gateway v1 writes when a stream fails; the HTTP status is
// only chosen from the code when no result line was written yet.
function streamErrorChunk(status: GrpcStatus, mapping: StatusMapping): string {
  const httpCode = httpStatusFromGrpcCode(status.code, mapping);
  return stringifyGoStyle({
    error: {
      grpc_code: status.code,
      http_code: httpCode,
      message: status.message,
      http_status: statusText(httpCode),
    },
  });
}

async function serve(
  ctx: Context,
  bound: BoundRoute,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const abort = new AbortController();
  // 'close' on the response fires after it finished or when the client went
  // away; only the latter matters, and then the backend call is cancelled.
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const meta: CallMeta = {
    ...(typeof req.headers.authorization === 'string'
      ? { authorization: req.headers.authorization }
      : {}),
    ...(typeof req.headers.accept === 'string' ? { accept: req.headers.accept } : {}),
    signal: abort.signal,
  };
  const { route, codecs, bytesKeys } = bound;

  if (route.streaming === 'bidi') {
    const splitter = new JsonValueSplitter(ctx.maxRequestBytes);
    const body = readJsonValues(req, splitter);
    // The first request is decoded before the call starts, so a malformed one
    // is answered like a unary error (grpc-gateway does the same).
    let first: IteratorResult<string>;
    let firstRequest: unknown;
    try {
      first = await body.next();
      if (!first.done) firstRequest = decodeRequest(codecs.request, first.value, bytesKeys);
    } catch (err) {
      // grpc-gateway v1 reports this decode error without a gRPC status, so
      // it goes out as UNKNOWN (500) rather than INVALID_ARGUMENT.
      const status = requestErrorStatus(err);
      closeIfUnread(req, res);
      writeError(
        res,
        status.code === GrpcCode.INVALID_ARGUMENT ? { ...status, code: GrpcCode.UNKNOWN } : status,
        ctx.mapping,
      );
      return;
    }
    const requests = first.done
      ? emptyRequests()
      : laterRequests(firstRequest, body, codecs, bytesKeys, abort.signal);
    const stream = ctx.backend.bidiStream(route.service, route.method, requests, meta);
    await pipeStream(ctx, stream, codecs, res, abort.signal);
    return;
  }

  let request: unknown;
  try {
    const body = await readFirstValue(req, ctx.maxRequestBytes);
    request = decodeRequest(codecs.request, body, bytesKeys);
  } catch (err) {
    closeIfUnread(req, res);
    writeError(res, requestErrorStatus(err), ctx.mapping);
    return;
  }

  if (route.streaming === 'server') {
    const stream = ctx.backend.serverStream(route.service, route.method, request, meta);
    await pipeStream(ctx, stream, codecs, res, abort.signal);
    return;
  }

  let response: unknown;
  try {
    response = await ctx.backend.unary(route.service, route.method, request, meta);
  } catch (err) {
    if (!abort.signal.aborted) writeError(res, statusOf(err), ctx.mapping);
    return;
  }
  if (abort.signal.aborted) return;
  const body = stringifyGoStyle(responseJson(codecs.response, response));
  res.writeHead(200, {
    'Content-Type': JSON_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function requestErrorStatus(err: unknown): GrpcStatus {
  if (err instanceof ValueTooLargeError || err instanceof BodyTooLargeError) {
    return { code: GrpcCode.RESOURCE_EXHAUSTED, message: err.message };
  }
  if (err instanceof BadRequestError || err instanceof Error) {
    return { code: GrpcCode.INVALID_ARGUMENT, message: err.message };
  }
  return { code: GrpcCode.INVALID_ARGUMENT, message: String(err) };
}

// Called before answering a request whose body was not read to the end: the
// rest is not worth receiving, so the connection closes after the answer
// (and the client is told, so it does not reuse it).
function closeIfUnread(req: IncomingMessage, res: ServerResponse): void {
  if (!req.complete) res.setHeader('Connection', 'close');
}

// Reads a unary body: the first JSON value, or undefined for an empty body.
// Like Go's json.Decoder, anything after the first value is ignored.
async function readFirstValue(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const body = await readBody(req, limit);
  const splitter = new JsonValueSplitter(limit);
  return splitter.push(body)[0] ?? splitter.end();
}

// Yields the text of each JSON value of a streamed body as it arrives.
async function* readJsonValues(
  req: IncomingMessage,
  splitter: JsonValueSplitter,
): AsyncGenerator<string, void, undefined> {
  for await (const chunk of bodyChunks(req)) {
    yield* splitter.push(chunk);
  }
  const last = splitter.end();
  if (last !== undefined) yield last;
}

async function* emptyRequests(): AsyncGenerator<unknown, void, undefined> {}

// Requests after the first: a body that turns malformed or oversized later
// just ends the request side (the call is half-closed, responses go on), as
// in grpc-gateway.
async function* laterRequests(
  first: unknown,
  body: AsyncGenerator<string, void, undefined>,
  codecs: MethodCodecs,
  bytesKeys: ReadonlySet<string>,
  signal: AbortSignal,
): AsyncGenerator<unknown, void, undefined> {
  yield first;
  try {
    for await (const text of body) {
      if (signal.aborted) return;
      yield decodeRequest(codecs.request, text, bytesKeys);
    }
  } catch {
    return;
  }
}

// Writes a response stream as `{"result": ...}` lines. HTTP 200 goes out with
// the first line; a stream that fails before it gets the error's status.
async function pipeStream(
  ctx: Context,
  stream: AsyncIterable<unknown>,
  codecs: MethodCodecs,
  res: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  const startStream = (status: number): void => {
    res.writeHead(status, { 'Content-Type': JSON_CONTENT_TYPE });
    res.flushHeaders();
  };
  try {
    for await (const message of stream) {
      if (signal.aborted) return;
      if (!res.headersSent) startStream(200);
      const line = stringifyGoStyle({ result: responseJson(codecs.response, message) });
      if (!res.write(`${line}\n`)) await drained(res);
    }
  } catch (err) {
    if (signal.aborted || res.destroyed) return;
    const status = statusOf(err);
    if (!res.headersSent) startStream(httpStatusFromGrpcCode(status.code, ctx.mapping));
    res.end(streamErrorChunk(status, ctx.mapping));
    return;
  }
  if (res.destroyed) return;
  if (!res.headersSent) startStream(200);
  res.end();
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
