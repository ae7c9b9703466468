/**
 * A member removed from the cluster is refused by its peers (etcd's rafthttp
 * answers it 410 Gone) and learns it: a member that missed its own removal
 * (cut off at the time, or wiped and restarted under its old ID) stops
 * instead of running on unnoticed at an old revision.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType } from '@kv/raft';
import type { Message } from '@kv/raft';
import { systemClock } from '../clock';
import { PeerTransport } from './peer-transport';
import type { TransportHandler } from './peer-transport';

const CLUSTER = 0xc1n;
const A = 0xaan;
const B = 0xbbn;

const heartbeat = (from: bigint, to: bigint): Message => ({
  type: MessageType.MsgHeartbeat,
  to,
  from,
  term: 1,
  logTerm: 0,
  index: 0,
  entries: [],
  commit: 0,
  reject: false,
  rejectHint: 0,
  context: new Uint8Array(0),
});

function handler(extra: Partial<TransportHandler>): TransportHandler {
  return {
    onMessage: () => undefined,
    onSnapshot: async () => undefined,
    reportUnreachable: () => undefined,
    reportSnapshot: () => undefined,
    ...extra,
  };
}

const transports: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

async function pair(
  a: Partial<TransportHandler>,
  b: Partial<TransportHandler>,
): Promise<{ a: PeerTransport; b: PeerTransport }> {
  const make = (id: bigint, h: Partial<TransportHandler>): PeerTransport => {
    const t = new PeerTransport({
      clusterId: CLUSTER,
      memberId: id,
      handler: handler(h),
      snapshotSource: () => Promise.reject(new Error('no snapshots here')),
      clock: systemClock,
    });
    transports.push(t);
    return t;
  };
  const ta = make(A, a);
  const tb = make(B, b);
  const { port } = await tb.listen('http://127.0.0.1:0');
  ta.addPeer(B, [`http://127.0.0.1:${port}`]);
  return { a: ta, b: tb };
}

describe('peer transport: removed members', () => {
  it('a peer that has removed this member refuses it, and this member is told', async () => {
    let delivered = 0;
    let told!: () => void;
    const removed = new Promise<void>((resolve) => (told = resolve));
    const { a } = await pair(
      { onRemovedFromCluster: () => told() },
      { isRemovedMember: (id) => id === A, onMessage: () => delivered++ },
    );
    a.send([heartbeat(A, B)]);
    await removed;
    expect(delivered).toBe(0);
  });

  it('removing a member cuts its connections, so a member that missed its removal is told when it dials again', async () => {
    let removedA = false;
    let got!: () => void;
    const first = new Promise<void>((resolve) => (got = resolve));
    let told!: () => void;
    const toldA = new Promise<void>((resolve) => (told = resolve));
    const { a, b } = await pair(
      { onRemovedFromCluster: () => told() },
      { isRemovedMember: (id) => removedA && id === A, onMessage: () => got() },
    );
    a.send([heartbeat(A, B)]);
    await first;
    // B applies A's removal; A knows nothing of it and keeps sending.
    removedA = true;
    b.removePeer(A);
    a.send([heartbeat(A, B)]);
    await toldA;
  });

  it('a member that is not removed is served as before', async () => {
    let told = false;
    let got!: (m: Message) => void;
    const received = new Promise<Message>((resolve) => (got = resolve));
    const { a } = await pair(
      { onRemovedFromCluster: () => (told = true) },
      { isRemovedMember: (id) => id === 0x99n, onMessage: (m) => got(m) },
    );
    a.send([heartbeat(A, B)]);
    expect((await received).from).toBe(A);
    expect(told).toBe(false);
  });
});
