#!/usr/bin/env node
/**
 * kv-server: the command. Parses etcd's flags, starts a member and shuts it
 * down gracefully on SIGTERM/SIGINT (a second signal exits at once).
 */
import { ConfigError, parseArgs, usage } from './config';
import { startServer } from './start-server';
import { createLogger } from './logger';
import { SERVER_VERSION } from '@kv/kvserver';
import { applyV8Flags } from './v8-flags';

// Before any request garbage exists; flags the user gave node win (v8-flags.ts).
applyV8Flags();

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`kv-server: ${(err as Error).message}\n`);
    process.stderr.write("Try 'kv-server --help' for more information.\n");
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(usage());
    return;
  }
  if (parsed.version) {
    process.stdout.write(
      `kv-server Version: 0.1.0\netcd API Version: ${SERVER_VERSION}\nNode Version: ${process.version}\n`,
    );
    return;
  }
  const logger = createLogger(parsed.config.logLevel);
  let handle;
  try {
    handle = await startServer(parsed.config, { logger });
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : (err as Error).message;
    process.stderr.write(`kv-server: ${message}\n`);
    process.exit(1);
  }
  let signals = 0;
  const onSignal = (sig: string): void => {
    signals++;
    if (signals > 1) process.exit(1);
    logger.info({ signal: sig }, 'received signal; shutting down');
    handle.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  void handle.selfStopped.then((reason) => {
    // As etcd: a removed member shuts down and exits 0; a fatal error exits 1.
    handle.close().then(
      () => process.exit(reason === 'removed' ? 0 : 1),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

void main();
