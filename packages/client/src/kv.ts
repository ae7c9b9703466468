import type { etcdserverpb } from '@kv/api';
import { KVService } from '@kv/api';
import type { Bytes } from './bytes';
import { FROM_KEY_END, prefixEnd, toBuffer } from './bytes';
import type { CallOptions, Transport } from './transport';

type RangeRequest = etcdserverpb.RangeRequest;
type RequestOp = etcdserverpb.RequestOp;
type Compare = etcdserverpb.Compare;

/** An int64 given as a bigint or a safe integer number. */
export type Int64 = bigint | number;

/** Which keys a request selects besides `key` itself. */
export interface RangeSelector {
  /** Every key starting with `key`. */
  prefix?: boolean;
  /** Every key >= `key`. */
  fromKey?: boolean;
  /** Explicit exclusive end of the range. */
  rangeEnd?: Bytes;
}

/** Every Range option of etcd. */
export interface GetOptions extends RangeSelector {
  limit?: Int64;
  /** Read at this revision (<= 0: latest). */
  revision?: Int64;
  sortOrder?: 'none' | 'ascend' | 'descend';
  sortTarget?: 'key' | 'version' | 'create' | 'mod' | 'value';
  /** Local read without the linearizability round-trip. */
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: Int64;
  maxModRevision?: Int64;
  minCreateRevision?: Int64;
  maxCreateRevision?: Int64;
}

/** Put options. */
export interface PutOptions {
  /** Lease ID to attach. */
  lease?: Int64;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

/** Delete options. */
export interface DeleteOptions extends RangeSelector {
  prevKv?: boolean;
}

const sortOrders = { none: 0, ascend: 1, descend: 2 } as const;
const sortTargets = { key: 0, version: 1, create: 2, mod: 3, value: 4 } as const;

function big(v: Int64 | undefined): bigint {
  return v === undefined ? 0n : BigInt(v);
}

/** The range end for a selector (empty Buffer: the single key). */
export function rangeEndOf(key: Buffer, sel: RangeSelector): Buffer {
  if (sel.rangeEnd !== undefined) return toBuffer(sel.rangeEnd);
  if (sel.prefix) return key.length === 0 ? FROM_KEY_END : prefixEnd(key);
  if (sel.fromKey) return FROM_KEY_END;
  return Buffer.alloc(0);
}

/** Builds a RangeRequest from options. */
export function rangeRequest(key: Bytes, o: GetOptions = {}): RangeRequest {
  // etcdctl sends "\0" as the key for `--from-key ''` and `--prefix ''`.
  let k = toBuffer(key);
  if (k.length === 0 && (o.prefix || o.fromKey)) k = FROM_KEY_END;
  return {
    key: k,
    rangeEnd: rangeEndOf(k, o),
    limit: big(o.limit),
    revision: big(o.revision),
    sortOrder: sortOrders[o.sortOrder ?? 'none'],
    sortTarget: sortTargets[o.sortTarget ?? 'key'],
    serializable: o.serializable ?? false,
    keysOnly: o.keysOnly ?? false,
    countOnly: o.countOnly ?? false,
    minModRevision: big(o.minModRevision),
    maxModRevision: big(o.maxModRevision),
    minCreateRevision: big(o.minCreateRevision),
    maxCreateRevision: big(o.maxCreateRevision),
  };
}

function putRequest(key: Bytes, value: Bytes, o: PutOptions = {}): etcdserverpb.PutRequest {
  return {
    key: toBuffer(key),
    value: toBuffer(value),
    lease: big(o.lease),
    prevKv: o.prevKv ?? false,
    ignoreValue: o.ignoreValue ?? false,
    ignoreLease: o.ignoreLease ?? false,
  };
}

function deleteRequest(key: Bytes, o: DeleteOptions = {}): etcdserverpb.DeleteRangeRequest {
  let k = toBuffer(key);
  if (k.length === 0 && (o.prefix || o.fromKey)) k = FROM_KEY_END;
  return { key: k, rangeEnd: rangeEndOf(k, o), prevKv: o.prevKv ?? false };
}

/** A comparison operator of a transaction guard. */
export type CompareOp = '=' | '!=' | '>' | '<';
const compareResults = { '=': 0, '>': 1, '<': 2, '!=': 3 } as const;

function cmp(
  key: Bytes,
  op: CompareOp,
  union: Compare['targetUnion'],
  target: Compare['target'],
  sel?: RangeSelector,
): Compare {
  const k = toBuffer(key);
  return {
    key: k,
    result: compareResults[op],
    target,
    targetUnion: union,
    rangeEnd: sel ? rangeEndOf(k, sel) : Buffer.alloc(0),
  };
}

/** Transaction guards, e.g. `compare.value('k', '=', 'v')`. */
export const compare = {
  /** Compares the key's value. */
  value: (key: Bytes, op: CompareOp, value: Bytes, sel?: RangeSelector): Compare =>
    cmp(key, op, { $case: 'value', value: toBuffer(value) }, 3, sel),
  /** Compares the key's version (0: the key does not exist). */
  version: (key: Bytes, op: CompareOp, version: Int64, sel?: RangeSelector): Compare =>
    cmp(key, op, { $case: 'version', value: BigInt(version) }, 0, sel),
  /** Compares the key's create revision. */
  createRevision: (key: Bytes, op: CompareOp, rev: Int64, sel?: RangeSelector): Compare =>
    cmp(key, op, { $case: 'createRevision', value: BigInt(rev) }, 1, sel),
  /** Compares the key's mod revision. */
  modRevision: (key: Bytes, op: CompareOp, rev: Int64, sel?: RangeSelector): Compare =>
    cmp(key, op, { $case: 'modRevision', value: BigInt(rev) }, 2, sel),
  /** Compares the key's lease ID. */
  lease: (key: Bytes, op: CompareOp, lease: Int64, sel?: RangeSelector): Compare =>
    cmp(key, op, { $case: 'lease', value: BigInt(lease) }, 4, sel),
} as const;

/** Transaction operations, e.g. `op.put('k', 'v')`. */
export const op = {
  /** A Range inside a transaction. */
  get: (key: Bytes, o?: GetOptions): RequestOp => ({
    request: { $case: 'requestRange', value: rangeRequest(key, o) },
  }),
  /** A Put inside a transaction. */
  put: (key: Bytes, value: Bytes, o?: PutOptions): RequestOp => ({
    request: { $case: 'requestPut', value: putRequest(key, value, o) },
  }),
  /** A DeleteRange inside a transaction. */
  delete: (key: Bytes, o?: DeleteOptions): RequestOp => ({
    request: { $case: 'requestDeleteRange', value: deleteRequest(key, o) },
  }),
  /** A nested transaction. */
  txn: (compares: Compare[], success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({
    request: { $case: 'requestTxn', value: { compare: compares, success, failure } },
  }),
} as const;

function readOnly(ops: readonly RequestOp[]): boolean {
  return ops.every((o) => {
    const r = o.request;
    if (!r) return true;
    if (r.$case === 'requestRange') return true;
    if (r.$case === 'requestTxn') return readOnly(r.value.success) && readOnly(r.value.failure);
    return false;
  });
}

/** Builds and commits one transaction: `if(...).then(...).else(...).commit()`. */
export class TxnBuilder {
  private readonly compares: Compare[] = [];
  private readonly success: RequestOp[] = [];
  private readonly failure: RequestOp[] = [];
  private readonly transport: Transport;
  /** @internal */
  constructor(transport: Transport) {
    this.transport = transport;
  }
  /** Adds guards; all must hold for the `then` branch. */
  if(...compares: Compare[]): this {
    this.compares.push(...compares);
    return this;
  }
  /** Operations run when every guard holds. */
  then(...ops: RequestOp[]): this {
    this.success.push(...ops);
    return this;
  }
  /** Operations run otherwise. */
  else(...ops: RequestOp[]): this {
    this.failure.push(...ops);
    return this;
  }
  /** The request as built so far. */
  request(): etcdserverpb.TxnRequest {
    return { compare: [...this.compares], success: [...this.success], failure: [...this.failure] };
  }
  /** Sends the transaction; read-only ones are retried like reads. */
  commit(opts: CallOptions = {}): Promise<etcdserverpb.TxnResponse> {
    const req = this.request();
    const kind = readOnly(req.success) && readOnly(req.failure) ? 'read' : 'write';
    return this.transport.unary(KVService.txn, req, opts, kind);
  }
}

/** The KV service: get, put, delete, txn and compact. */
export class KV {
  private readonly transport: Transport;
  /** @internal */
  constructor(transport: Transport) {
    this.transport = transport;
  }
  /** Reads one key or a range, with every Range option. */
  get(key: Bytes, opts: GetOptions & CallOptions = {}): Promise<etcdserverpb.RangeResponse> {
    return this.transport.unary(KVService.range, rangeRequest(key, opts), opts, 'read');
  }
  /** Writes one key. */
  put(
    key: Bytes,
    value: Bytes,
    opts: PutOptions & CallOptions = {},
  ): Promise<etcdserverpb.PutResponse> {
    return this.transport.unary(KVService.put, putRequest(key, value, opts), opts, 'write');
  }
  /** Deletes one key or a range. */
  delete(
    key: Bytes,
    opts: DeleteOptions & CallOptions = {},
  ): Promise<etcdserverpb.DeleteRangeResponse> {
    return this.transport.unary(KVService.deleteRange, deleteRequest(key, opts), opts, 'write');
  }
  /** Starts a transaction builder. */
  txn(): TxnBuilder {
    return new TxnBuilder(this.transport);
  }
  /** Sends a prebuilt TxnRequest (kvctl's interactive txn). */
  txnRequest(
    req: etcdserverpb.TxnRequest,
    opts: CallOptions = {},
  ): Promise<etcdserverpb.TxnResponse> {
    const kind = readOnly(req.success) && readOnly(req.failure) ? 'read' : 'write';
    return this.transport.unary(KVService.txn, req, opts, kind);
  }
  /** Discards history before `revision`; `physical` waits until it is removed from disk. */
  compact(
    revision: Int64,
    opts: { physical?: boolean } & CallOptions = {},
  ): Promise<etcdserverpb.CompactionResponse> {
    return this.transport.unary(
      KVService.compact,
      { revision: BigInt(revision), physical: opts.physical ?? false },
      opts,
      'write',
    );
  }
}
