/** etcdserverpb.Cluster over an EtcdServer: membership changes through Raft. */
import { ConfChangeType } from '@kv/raft';
import type { ClusterServer, etcdserverpb } from '@kv/api';
import type { EtcdServer } from '../etcd-server';
import { Errors } from '../errors';
import type { Member } from '../membership/cluster';
import { computeMemberId } from '../membership/member-id';
import type { Interceptors } from './interceptors';

const SERVICE = 'etcdserverpb.Cluster';
/** etcd's default limit on learners in a cluster. */
const MAX_LEARNERS = 1;

export function toPbMember(m: Member): etcdserverpb.Member {
  return {
    ID: m.id,
    name: m.name,
    peerURLs: [...m.peerURLs],
    clientURLs: [...m.clientURLs],
    isLearner: m.isLearner,
  };
}

function validUrls(urls: readonly string[]): boolean {
  if (urls.length === 0) return false;
  return urls.every((u) => {
    try {
      const p = new URL(u);
      return (p.protocol === 'http:' || p.protocol === 'https:') && p.port !== '';
    } catch {
      return false;
    }
  });
}

/** etcd's Cluster service answers with a header that carries no revision. */
function clusterHeader(server: EtcdServer): etcdserverpb.ResponseHeader {
  return { ...server.header(), revision: 0n };
}

export function clusterService(server: EtcdServer, ic: Interceptors): ClusterServer {
  return {
    memberAdd: ic.unary(
      SERVICE,
      'MemberAdd',
      'forbidden',
      async (r: etcdserverpb.MemberAddRequest, call) => {
        if (!validUrls(r.peerURLs)) throw Errors.memberBadURLs();
        // etcd's checkMembershipOperationPermission: root only when auth is on.
        ic.requireAdmin(call);
        // --strict-reconfig-check comes before what the apply step validates.
        server.mayAddMember(r.isLearner);
        // etcd's order of checks: the ID (from the URLs and the time in
        // seconds), then the peer URLs, then the number of learners.
        const id = computeMemberId(r.peerURLs, '', Math.floor(Date.now() / 1000));
        if (server.cluster.member(id) !== undefined) throw Errors.memberExist();
        const members = server.cluster.members();
        const taken = new Set(members.flatMap((m) => m.peerURLs));
        if (r.peerURLs.some((u) => taken.has(u))) throw Errors.peerURLExist();
        if (r.isLearner && members.filter((m) => m.isLearner).length >= MAX_LEARNERS) {
          throw Errors.tooManyLearners();
        }
        const after = await server.proposeConfChange(
          r.isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode,
          id,
          { name: '', peerURLs: [...r.peerURLs], clientURLs: [] },
        );
        const added = after.find((m) => m.id === id);
        return {
          header: clusterHeader(server),
          member: added !== undefined ? toPbMember(added) : undefined,
          members: after.map(toPbMember),
        };
      },
    ),
    memberRemove: ic.unary(
      SERVICE,
      'MemberRemove',
      'forbidden',
      async (r: etcdserverpb.MemberRemoveRequest, call) => {
        ic.requireAdmin(call);
        server.mayRemoveMember(r.ID);
        if (server.cluster.member(r.ID) === undefined) throw Errors.memberNotFound();
        const after = await server.proposeConfChange(ConfChangeType.RemoveNode, r.ID, undefined);
        return { header: clusterHeader(server), members: after.map(toPbMember) };
      },
    ),
    memberUpdate: ic.unary(
      SERVICE,
      'MemberUpdate',
      'forbidden',
      async (r: etcdserverpb.MemberUpdateRequest, call) => {
        ic.requireAdmin(call);
        const m = server.cluster.member(r.ID);
        if (m === undefined) throw Errors.memberNotFound();
        if (!validUrls(r.peerURLs)) throw Errors.memberBadURLs();
        const others = server.cluster.members().filter((x) => x.id !== r.ID);
        const taken = new Set(others.flatMap((x) => x.peerURLs));
        if (r.peerURLs.some((u) => taken.has(u))) throw Errors.peerURLExist();
        const after = await server.proposeConfChange(ConfChangeType.UpdateNode, r.ID, {
          name: m.name,
          peerURLs: [...r.peerURLs],
          clientURLs: m.clientURLs,
        });
        return { header: clusterHeader(server), members: after.map(toPbMember) };
      },
    ),
    memberList: ic.unary(
      SERVICE,
      'MemberList',
      'allowed',
      async (r: etcdserverpb.MemberListRequest) => {
        if (r.linearizable) await server.linearizableReadBarrier();
        return { header: clusterHeader(server), members: server.cluster.members().map(toPbMember) };
      },
    ),
    memberPromote: ic.unary(
      SERVICE,
      'MemberPromote',
      'forbidden',
      async (r: etcdserverpb.MemberPromoteRequest, call) => {
        ic.requireAdmin(call);
        // On a follower, forwarded to the leader (only it knows whether the
        // learner has caught up).
        const after = await server.promoteMember(r.ID);
        return { header: clusterHeader(server), members: after.map(toPbMember) };
      },
    ),
  };
}
