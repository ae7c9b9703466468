/**
 * Ports for servers that tests and tools start as separate processes.
 *
 * Asking the kernel for port 0 and closing the socket hands out a port from
 * the ephemeral range, where it can be taken again at any moment: by another
 * test process asking the same way, or as the source port of any outgoing
 * connection. A member that is stopped and restarted on its port then finds
 * it taken, and a client may silently reach another test's server. So ports
 * come from below the ephemeral range, and each is reserved for the life of
 * the reserving process with a lock file that every harness in the repository
 * honours.
 */
import os from 'node:os';
import path from 'node:path';
import { PortReserver } from './reserver';

/** Below Linux's default ephemeral range (32768–60999), above well-known services. */
const shared = new PortReserver({
  low: 20_000,
  high: 32_000,
  lockDir: path.join(os.tmpdir(), 'kv-test-ports'),
});

/**
 * A port on 127.0.0.1 that nobody listens on now and that no other process
 * using this module will be given while this process lives. Reservations
 * end when the process exits.
 */
export function reservePort(): Promise<number> {
  return shared.reserve();
}

/** `n` distinct reserved ports. */
export async function reservePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await shared.reserve());
  return ports;
}
