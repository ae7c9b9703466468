// JSON shaped like etcdctl's `-w json` (Go's encoding/json over gogo-protobuf
// structs): int64/uint64 as bare numbers (bigints keep every digit), bytes
// as base64, zero fields dropped where the Go struct has omitempty.
import type { etcdserverpb, mvccpb } from '@kv/api';

/** A JSON value whose numbers may be bigints. */
export type GoValue =
  | bigint
  | number
  | string
  | boolean
  | null
  | Buffer
  | readonly GoValue[]
  | { readonly [k: string]: GoValue | undefined };

/** Serialises without spaces, like json.Marshal. */
export function stringify(v: GoValue | undefined): string {
  if (v === undefined || v === null) return 'null';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return goString(v);
  if (Buffer.isBuffer(v)) return `"${v.toString('base64')}"`;
  if (Array.isArray(v)) return `[${(v as readonly GoValue[]).map(stringify).join(',')}]`;
  const parts: string[] = [];
  for (const [k, val] of Object.entries(v as Record<string, GoValue | undefined>)) {
    if (val === undefined) continue;
    parts.push(`${goString(k)}:${stringify(val)}`);
  }
  return `{${parts.join(',')}}`;
}

// Go escapes <, > and & in strings as \u003c etc.
function goString(s: string): string {
  return JSON.stringify(s).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Drops omitempty zero values. */
function oe<T extends GoValue | undefined>(v: T): T | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 0n || v === 0 || v === '' || v === false) return undefined;
  if (Buffer.isBuffer(v) && v.length === 0) return undefined;
  if (Array.isArray(v) && v.length === 0) return undefined;
  return v;
}

/** ResponseHeader (snake_case tags). */
export function header(h: etcdserverpb.ResponseHeader | undefined): GoValue | undefined {
  if (!h) return undefined;
  return {
    cluster_id: oe(h.clusterId),
    member_id: oe(h.memberId),
    revision: oe(h.revision),
    raft_term: oe(h.raftTerm),
  };
}

/** The header's fields flattened into the parent (clientv3 embeds *ResponseHeader). */
export function flatHeader(
  h: etcdserverpb.ResponseHeader | undefined,
): Record<string, GoValue | undefined> {
  return {
    cluster_id: oe(h?.clusterId ?? 0n),
    member_id: oe(h?.memberId ?? 0n),
    revision: oe(h?.revision ?? 0n),
    raft_term: oe(h?.raftTerm ?? 0n),
  };
}

/** mvccpb.KeyValue. */
export function keyValue(kv: mvccpb.KeyValue | undefined): GoValue | undefined {
  if (!kv) return undefined;
  return {
    key: oe(kv.key),
    create_revision: oe(kv.createRevision),
    mod_revision: oe(kv.modRevision),
    version: oe(kv.version),
    value: oe(kv.value),
    lease: oe(kv.lease),
  };
}

export function rangeResponse(r: etcdserverpb.RangeResponse): GoValue {
  return {
    header: header(r.header),
    kvs: oe(r.kvs.map((k) => keyValue(k)!)),
    more: oe(r.more),
    count: oe(r.count),
  };
}
export function putResponse(r: etcdserverpb.PutResponse): GoValue {
  return { header: header(r.header), prev_kv: keyValue(r.prevKv) };
}
export function deleteResponse(r: etcdserverpb.DeleteRangeResponse): GoValue {
  return {
    header: header(r.header),
    deleted: oe(r.deleted),
    prev_kvs: oe(r.prevKvs.map((k) => keyValue(k)!)),
  };
}
export function txnResponse(r: etcdserverpb.TxnResponse): GoValue {
  return {
    header: header(r.header),
    succeeded: oe(r.succeeded),
    responses: oe(
      r.responses.map((op): GoValue => {
        const x = op.response;
        if (!x) return {};
        switch (x.$case) {
          case 'responseRange':
            return { Response: { ResponseRange: rangeResponse(x.value) } };
          case 'responsePut':
            return { Response: { ResponsePut: putResponse(x.value) } };
          case 'responseDeleteRange':
            return { Response: { ResponseDeleteRange: deleteResponse(x.value) } };
          case 'responseTxn':
            return { Response: { ResponseTxn: txnResponse(x.value) } };
        }
      }),
    ),
  };
}
export function event(e: mvccpb.Event): GoValue {
  return { type: oe(e.type), kv: keyValue(e.kv), prev_kv: keyValue(e.prevKv) };
}
export function member(m: etcdserverpb.Member): GoValue {
  return {
    ID: oe(m.ID),
    name: oe(m.name),
    peerURLs: oe(m.peerURLs),
    clientURLs: oe(m.clientURLs),
    isLearner: oe(m.isLearner),
  };
}
export function statusResponse(s: etcdserverpb.StatusResponse): GoValue {
  return {
    header: header(s.header),
    version: oe(s.version),
    dbSize: oe(s.dbSize),
    leader: oe(s.leader),
    raftIndex: oe(s.raftIndex),
    raftTerm: oe(s.raftTerm),
    raftAppliedIndex: oe(s.raftAppliedIndex),
    errors: oe(s.errors),
    dbSizeInUse: oe(s.dbSizeInUse),
    isLearner: oe(s.isLearner),
  };
}
