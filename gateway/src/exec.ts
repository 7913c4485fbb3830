/**
 * Runs the system tools the daemon (the TAP link's `ip` set-up) and the lab drive,
 * without a shell: arguments are passed as a list, output captured, failures thrown as
 * `CommandError` with the command line and the first line of its stderr.
 */
import { execFile } from 'node:child_process';

export class CommandError extends Error {
  readonly code = 'ERR_OPENIGD_COMMAND';
  constructor(readonly command: string, readonly stderr: string, options?: { cause?: unknown }) {
    super(`${command}: ${stderr.trim().split('\n')[0] || 'failed'}`, options);
    this.name = 'CommandError';
  }
}

/** Runs `file args...`; resolves with stdout. `timeoutMs` bounds it (default 20 s). */
export function run(file: string, args: readonly string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new CommandError([file, ...args].join(' '), String(stderr || err.message), { cause: err }));
      else resolve(String(stdout));
    });
  });
}

/** `ip ...`, or `ip -n NS ...` when a namespace is given. */
export function ip(ns: string | undefined, ...args: string[]): Promise<string> {
  return run('ip', ns ? ['-n', ns, ...args] : args);
}
