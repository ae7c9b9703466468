// A complete single-process example: three nodes, an in-memory "network" and
// "disk", running the usage loop until a proposal is applied everywhere.
import { MemoryStorage, RawNode, EntryType, decodeConfChange } from '../src/index';
import type { Message } from '../src/index';

export function main(): string[] {
  const ids = [1n, 2n, 3n];
  let seed = 42;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const nodes = new Map(
    ids.map((id) => {
      const storage = new MemoryStorage(); // the durable view: append here only after persisting
      const node = new RawNode({
        id,
        electionTick: 10,
        heartbeatTick: 1,
        storage,
        random,
        preVote: true,
        checkQuorum: true,
      });
      node.bootstrap(ids.map((p) => ({ id: p }))); // brand-new cluster only; on restart, skip this
      return [id, { node, storage, applied: [] as string[] }];
    }),
  );
  let inbox: Message[] = [];

  const processReady = (id: bigint): void => {
    const n = nodes.get(id)!;
    if (!n.node.hasReady()) return;
    const rd = n.node.ready();
    // 1. Persist: snapshot, entries, hard state (a real system writes a WAL and fsyncs if rd.mustSync).
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    // 2. Send messages (after persisting; see "Storage contract" for what may go earlier).
    inbox.push(...rd.messages);
    // 3. Apply committed entries; conf changes go back to Raft.
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.Normal) {
        if (e.data.length > 0) n.applied.push(new TextDecoder().decode(e.data));
      } else {
        n.node.applyConfChange(decodeConfChange(e.data));
      }
    }
    // 4. Tell Raft the batch is done.
    n.node.advance(rd);
  };

  for (let tick = 0; tick < 1000; tick++) {
    for (const id of ids) nodes.get(id)!.node.tick(); // a real system ticks on a timer, e.g. every 100 ms
    for (let round = 0; round < 10; round++) {
      for (const id of ids) processReady(id);
      const batch = inbox;
      inbox = [];
      for (const m of batch) nodes.get(m.to)!.node.step(m); // a real transport encodes with encodeMessage
    }
    const leader = ids.find((id) => nodes.get(id)!.node.basicStatus().softState.role === 'Leader');
    if (leader !== undefined && nodes.get(leader)!.applied.length === 0 && tick % 10 === 0) {
      nodes.get(leader)!.node.propose(new TextEncoder().encode('hello'));
    }
    if (ids.every((id) => nodes.get(id)!.applied.length > 0)) break;
  }
  return ids.map((id) => `${id}: ${nodes.get(id)!.applied.join(',')}`);
}
