/**
 * The daemon's entry points: `startDaemon` builds a Gateway (gateway.ts) from the config
 * with the real clock and starts it; `runDaemon` (`openigd run`) then waits for
 * SIGTERM/SIGINT and stops it, which removes what it created (the TAPs vanish with their
 * fds; the admin socket is unlinked).
 */
import type { GatewayConfig } from './config/config.js';
import { createLogger, openLogger, type LogFormat, type Logger } from './log.js';
import { monotonicClock } from './clock.js';
import { Gateway, type RunningDaemon } from './gateway.js';

export { derivedMac, type RunningDaemon } from './gateway.js';

/** Starts everything; resolves once the gateway forwards. A failed start leaves nothing open. */
export async function startDaemon(config: GatewayConfig, log: Logger = createLogger(config.log.level)): Promise<RunningDaemon> {
  const gateway = new Gateway({ config, log, clock: monotonicClock() });
  await gateway.start();
  return gateway;
}

/**
 * `openigd run`: starts, then waits for SIGTERM/SIGINT and stops cleanly; resolves with the
 * exit status: 0, or 1 when the gateway could not go on (a TAP removed) and stopped as
 * cleanly. Logs in `format` (JSON lines by default).
 */
export async function runDaemon(config: GatewayConfig, format: LogFormat = 'json'): Promise<number> {
  const log = await openLogger(config.log.level, format);
  const d = await startDaemon(config, log);
  let status = 0;
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ why }, 'stopping');
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      void d.stop().then(resolve, (e: unknown) => { log.error({ error: String(e) }, 'error while stopping'); resolve(); });
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    void d.failed.then((e) => {
      status = 1;
      stop(e.message);
    });
  });
  log.info({ status }, 'stopped');
  return status;
}
