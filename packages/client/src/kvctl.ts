#!/usr/bin/env node
// The kvctl command: etcdctl's common commands over @kv/client.
import { runKvctl } from './kvctl/run';

const ac = new AbortController();
// Ctrl-C ends watch and keep-alive cleanly.
process.once('SIGINT', () => ac.abort());
process.once('SIGTERM', () => ac.abort());
runKvctl(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  signal: ac.signal,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`Error: ${String(e)}\n`);
    process.exitCode = 1;
  },
);
