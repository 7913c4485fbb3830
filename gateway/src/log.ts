/**
 * The daemon's log, with pino. Two forms:
 *   json   (the default) one JSON object per line on stdout: `level` (a name), `ts` (ISO
 *          time), the call's fields, then `msg`; for `jq` and log shippers.
 *   pretty (`--log pretty`) one coloured line per entry for a person at a terminal, with
 *          pino-pretty, loaded only then.
 * Calls are pino's: `log.warn({ field }, 'message')`. A call below the level is pino's
 * no-op function (≈ 10 ns with its fields, measured; cheaper than asking
 * `log.isLevelEnabled` first, ≈ 30 ns). Nothing logs per packet.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];
export type Logger = PinoLogger;

/** pino's options for the JSON form: no pid/hostname, the level by name, `ts` in ISO time. */
function jsonOptions(level: LogLevel): pino.LoggerOptions {
  return {
    level,
    base: null,
    timestamp: () => `,"ts":"${new Date().toISOString()}"`,
    formatters: { level: (label) => ({ level: label }) },
  };
}

/**
 * A JSON-lines logger: each line to `write` (tests), else to stdout, synchronously, so
 * the last lines before an exit are not lost.
 */
export function createLogger(level: LogLevel = 'info', write?: (line: string) => void): Logger {
  return pino(jsonOptions(level), write ? { write } : pino.destination({ fd: 1, sync: true }));
}

/** The logger of `format`: JSON lines, or pino-pretty's lines on stdout. */
export async function openLogger(level: LogLevel, format: LogFormat): Promise<Logger> {
  if (format === 'json') return createLogger(level);
  const { default: pretty } = await import('pino-pretty');
  const stream = pretty({
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    sync: true,
  });
  return pino({ level }, stream);
}
