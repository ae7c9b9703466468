/**
 * `pnpm cluster`: a local 3-member cluster on 127.0.0.1, laid out like etcd's
 * Procfile (clients on 2379, 22379, 32379; peers on 2380, 22380, 32380), with
 * data in ./cluster-data/infra{1,2,3}. Ctrl-C stops every member gracefully.
 *
 * Options: --data <dir> (default ./cluster-data), --fresh (wipe it first).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const tsx = path.join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs');
const cli = path.join(repoRoot, 'packages/server/src/cli.ts');

const args = process.argv.slice(2);
const dataRoot = path.resolve(
  args.includes('--data') ? (args[args.indexOf('--data') + 1] ?? 'cluster-data') : 'cluster-data',
);
if (args.includes('--fresh')) fs.rmSync(dataRoot, { recursive: true, force: true });

const members = [1, 2, 3].map((n) => ({
  name: `infra${n}`,
  client: n === 1 ? 2379 : n * 10000 + 2379,
  peer: n === 1 ? 2380 : n * 10000 + 2380,
}));
const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');

const children: ChildProcess[] = members.map((m) => {
  const child = spawn(
    process.execPath,
    [
      '--conditions=@kv/source',
      '--import',
      tsx,
      cli,
      `--name=${m.name}`,
      `--data-dir=${path.join(dataRoot, m.name)}`,
      `--listen-client-urls=http://127.0.0.1:${m.client}`,
      `--advertise-client-urls=http://127.0.0.1:${m.client}`,
      `--listen-peer-urls=http://127.0.0.1:${m.peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${m.peer}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-token=kv-local-cluster',
      '--log-level=warn',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  child.on('exit', (code, signal) => {
    process.stdout.write(`${m.name} exited (${signal ?? code})\n`);
  });
  return child;
});

const endpoints = members.map((m) => `127.0.0.1:${m.client}`).join(',');
process.stdout.write(
  `3-member cluster starting; data in ${dataRoot}\n` +
    `endpoints: ${endpoints}\n` +
    `try: ETCDCTL_API=3 etcdctl --endpoints=${endpoints} member list -w table\n` +
    'Ctrl-C stops it.\n',
);

let stopping = false;
const stop = (): void => {
  if (stopping) {
    for (const c of children) c.kill('SIGKILL');
    return;
  }
  stopping = true;
  process.stdout.write('stopping members...\n');
  let left = children.filter((c) => c.exitCode === null).length;
  if (left === 0) process.exit(0);
  for (const c of children) {
    c.once('exit', () => {
      left--;
      if (left === 0) process.exit(0);
    });
    c.kill('SIGTERM');
  }
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
