/** JSON logs on stderr through pino, at etcd's level names. */
import pino from 'pino';
import type { Logger } from '@kv/kvserver';

export function createLogger(level: string): Logger {
  const pinoLevel = level === 'panic' || level === 'fatal' ? 'fatal' : level;
  const log = pino(
    {
      level: pinoLevel,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination(2),
  );
  return {
    debug: (f, m) => log.debug(f, m),
    info: (f, m) => log.info(f, m),
    warn: (f, m) => log.warn(f, m),
    error: (f, m) => log.error(f, m),
  };
}
