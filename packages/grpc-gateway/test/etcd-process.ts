// Starts a throwaway single-member etcd (the real binary) for parity tests:
// temp data dir, free ports, readiness taken from its log, stopped by PID.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reservePort as freePort } from '@kv-tools/test-ports';

export const ETCD_BIN = process.env['KV_ETCD_BIN'] ?? '/usr/bin/etcd';

/** Whether the etcd binary the parity tests need is installed. */
export const etcdAvailable = existsSync(ETCD_BIN);

export interface EtcdProcess {
  readonly pid: number;
  /** `http://127.0.0.1:port`: etcd's own gateway. */
  readonly clientUrl: string;
  /** `127.0.0.1:port`: the same port, for gRPC. */
  readonly grpcAddress: string;
  stop(): Promise<void>;
}

export async function startEtcd(): Promise<EtcdProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'kv-gateway-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const child = spawn(
    ETCD_BIN,
    [
      '--name=gw',
      `--data-dir=${join(dir, 'data')}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=gw=${peerUrl}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.includes('ready to serve client requests')) {
        child.stderr.off('data', onData);
        // Keep draining so etcd never blocks on a full pipe.
        child.stderr.resume();
        resolve();
      }
    };
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`etcd exited (${code}):\n${log.slice(-2000)}`)));
  });
  const pid = child.pid!;
  return {
    pid,
    clientUrl,
    grpcAddress: `127.0.0.1:${clientPort}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
