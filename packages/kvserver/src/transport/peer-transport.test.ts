/**
 * The peer transport's send path: a Ready's messages reach the socket before
 * send returns (no extra turn of the event loop per replication hop), one
 * write per peer.
 */
import type net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MessageType } from '@kv/raft';
import type { Message } from '@kv/raft';
import { systemClock } from '../clock';
import { PeerTransport } from './peer-transport';

const CLUSTER = 0xc1n;
const A = 0xaan;
const B = 0xbbn;

const heartbeat = (commit: number): Message => ({
  type: MessageType.MsgHeartbeat,
  to: B,
  from: A,
  term: 1,
  logTerm: 0,
  index: 0,
  entries: [],
  commit,
  reject: false,
  rejectHint: 0,
  context: new Uint8Array(0),
});

/** Counts the writes made on its outbound sockets. */
class CountingTransport extends PeerTransport {
  readonly #spies: { readonly mock: { readonly calls: readonly unknown[] } }[] = [];
  get writes(): number {
    return this.#spies.reduce((n, s) => n + s.mock.calls.length, 0);
  }
  override connect(url: URL): net.Socket {
    const socket = super.connect(url);
    this.#spies.push(vi.spyOn(socket, 'write'));
    return socket;
  }
}

const transports: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

describe('peer transport: send', () => {
  it("writes a Ready's messages to each peer's socket before send returns, in one write", async () => {
    const received: Message[] = [];
    let arrived!: () => void;
    let expected = 1;
    const done = (): Promise<void> => new Promise((resolve) => (arrived = resolve));
    const handler = {
      onMessage: (m: Message) => {
        received.push(m);
        if (received.length === expected) arrived();
      },
      onSnapshot: async () => undefined,
      reportUnreachable: () => undefined,
      reportSnapshot: () => undefined,
    };
    const options = {
      clusterId: CLUSTER,
      snapshotSource: () => Promise.reject(new Error('no snapshots here')),
      clock: systemClock,
    };
    const a = new CountingTransport({ ...options, memberId: A, handler });
    const b = new PeerTransport({ ...options, memberId: B, handler });
    transports.push(a, b);
    const { port } = await b.listen('http://127.0.0.1:0');
    a.addPeer(B, [`http://127.0.0.1:${port}`]);
    // The first message waits for the connection (written with the hello).
    let first = done();
    a.send([heartbeat(1)]);
    await first;

    const before = a.writes;
    expected = 4;
    first = done();
    a.send([heartbeat(2), heartbeat(3), heartbeat(4)]);
    expect(a.writes - before).toBe(1);
    await first;
    expect(received.map((m) => m.commit)).toEqual([1, 2, 3, 4]);
  });
});
