import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { DescMessage } from '@bufbuild/protobuf';
import { authpb, etcdJson, etcdserverpb, mvccpb, v3electionpb, v3lockpb } from './index';
import { messageArb, messageDescs } from '../test/schema';

interface JsonCodecs {
  toJSON(m: unknown): unknown;
}
interface FullCodecs extends JsonCodecs {
  fromJSON(j: unknown): unknown;
}

const json: Record<string, Record<string, unknown>> = { ...etcdJson };
const full: Record<string, Record<string, unknown>> = {
  etcdserverpb,
  mvccpb,
  authpb,
  v3lockpb,
  v3electionpb,
};

function lookup<T>(mods: Record<string, Record<string, unknown>>, desc: DescMessage): T {
  const pkg = desc.file.proto.package;
  return mods[pkg]![desc.typeName.slice(pkg.length + 1).replaceAll('.', '_')] as T;
}

describe('etcdJson (gateway JSON names)', () => {
  describe.each(messageDescs.map((d) => [d.typeName, d] as const))('%s', (_n, desc) => {
    const out = lookup<JsonCodecs>(json, desc);
    const codec = lookup<FullCodecs>(full, desc);
    it('writes the .proto field names and reads back through fromJSON', () => {
      const names = new Set(desc.fields.map((f) => f.name));
      fc.assert(
        fc.property(messageArb(desc), (msg) => {
          const j = out.toJSON(msg) as Record<string, unknown>;
          for (const key of Object.keys(j)) expect(names.has(key), key).toBe(true);
          expect(codec.fromJSON(JSON.parse(JSON.stringify(j)))).toEqual(msg);
        }),
        { numRuns: 25 },
      );
    });
  });

  // The following bodies were captured from etcd 3.4.23 (curl -X POST).
  it('matches etcd on /v3/kv/range', () => {
    const etcd = {
      header: {
        cluster_id: '15118495548433857066',
        member_id: '13668033151171901709',
        revision: '2',
        raft_term: '2',
      },
      kvs: [{ key: 'Zm9v', create_revision: '2', mod_revision: '2', version: '1', value: 'YmFy' }],
      count: '1',
    };
    const msg = etcdserverpb.RangeResponse.fromJSON(etcd);
    expect(msg.header?.clusterId).toBe(15118495548433857066n);
    expect(etcdJson.etcdserverpb.RangeResponse.toJSON(msg)).toEqual(etcd);
  });

  it('matches etcd on /v3/cluster/member/list (ID, peerURLs stay as spelled)', () => {
    const etcd = {
      header: {
        cluster_id: '15118495548433857066',
        member_id: '13668033151171901709',
        raft_term: '2',
      },
      members: [
        {
          ID: '13668033151171901709',
          name: 'default',
          peerURLs: ['http://127.0.0.1:23801'],
          clientURLs: ['http://127.0.0.1:23791'],
        },
      ],
    };
    const msg = etcdserverpb.MemberListResponse.fromJSON(etcd);
    expect(msg.members[0]?.ID).toBe(13668033151171901709n);
    expect(etcdJson.etcdserverpb.MemberListResponse.toJSON(msg)).toEqual(etcd);
  });

  it('matches etcd on /v3/maintenance/status (raftTerm here, raft_term in the header)', () => {
    const etcd = {
      header: {
        cluster_id: '15118495548433857066',
        member_id: '13668033151171901709',
        revision: '2',
        raft_term: '2',
      },
      version: '3.4.23',
      dbSize: '20480',
      leader: '13668033151171901709',
      raftIndex: '5',
      raftTerm: '2',
      raftAppliedIndex: '5',
      dbSizeInUse: '16384',
    };
    const msg = etcdserverpb.StatusResponse.fromJSON(etcd);
    expect(etcdJson.etcdserverpb.StatusResponse.toJSON(msg)).toEqual(etcd);
  });
});
