/**
 * The cluster's membership as the state machine knows it: members with their
 * peer and client URLs, names and learner flag, and the IDs of removed
 * members (which may never come back). Changes arrive through applied Raft
 * configuration changes and are stored in the backend's 'members' and
 * 'members_removed' buckets, in the same batch as the consistent index.
 */
import type { Backend } from '@kv/mvcc';

export interface Member {
  readonly id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

interface StoredMember {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

function idKey(id: bigint): Uint8Array {
  return Buffer.from(id.toString(16), 'utf8');
}

export class Cluster {
  readonly #members = new Map<bigint, Member>();
  readonly #removed = new Set<bigint>();

  constructor(readonly clusterId: bigint) {}

  static async load(backend: Backend, clusterId: bigint): Promise<Cluster> {
    const c = new Cluster(clusterId);
    for (const { value } of await backend.range('members', new Uint8Array(0), undefined)) {
      const s = JSON.parse(Buffer.from(value).toString('utf8')) as StoredMember;
      c.#members.set(BigInt(`0x${s.id}`), {
        id: BigInt(`0x${s.id}`),
        name: s.name,
        peerURLs: s.peerURLs,
        clientURLs: s.clientURLs,
        isLearner: s.isLearner,
      });
    }
    for (const { key } of await backend.range('members_removed', new Uint8Array(0), undefined)) {
      c.#removed.add(BigInt(`0x${Buffer.from(key).toString('utf8')}`));
    }
    return c;
  }

  members(): Member[] {
    return [...this.#members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  member(id: bigint): Member | undefined {
    return this.#members.get(id);
  }

  isRemoved(id: bigint): boolean {
    return this.#removed.has(id);
  }

  get size(): number {
    return this.#members.size;
  }

  add(backend: Backend | undefined, member: Member): void {
    this.#members.set(member.id, member);
    this.#store(backend, member);
  }

  remove(backend: Backend | undefined, id: bigint): void {
    this.#members.delete(id);
    this.#removed.add(id);
    if (backend !== undefined) {
      backend.delete('members', idKey(id));
      backend.put('members_removed', idKey(id), Buffer.from('removed'));
    }
  }

  update(backend: Backend | undefined, id: bigint, change: Partial<Omit<Member, 'id'>>): void {
    const m = this.#members.get(id);
    if (m === undefined) return;
    Object.assign(m, change);
    this.#store(backend, m);
  }

  #store(backend: Backend | undefined, m: Member): void {
    if (backend === undefined) return;
    const stored: StoredMember = {
      id: m.id.toString(16),
      name: m.name,
      peerURLs: m.peerURLs,
      clientURLs: m.clientURLs,
      isLearner: m.isLearner,
    };
    backend.put('members', idKey(m.id), Buffer.from(JSON.stringify(stored)));
  }
}
