/**
 * Helpers for end-to-end tests across network namespaces: unique names, commands in a
 * namespace with a time bound, background processes that are ended by pid, and a
 * cleanup list that runs even when the test fails.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** A short unique prefix for namespaces and interfaces of one test run, e.g. `oi-t3f9a`. */
export function uniquePrefix(tag = 't'): string {
  return `oi-${tag}${randomBytes(2).toString('hex')}`;
}

export interface RunResult { readonly code: number; readonly stdout: string; readonly stderr: string }

/** Runs a command (optionally in a namespace) and resolves with its exit code and output; never rejects on exit code. */
export function sh(ns: string | null, cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
  const [file, argv] = ns ? ['ip', ['netns', 'exec', ns, cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve) => {
    execFile(file, argv, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Like `sh` but rejects unless the exit code is 0. */
export async function must(ns: string | null, cmd: string, args: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await sh(ns, cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${ns ? `[${ns}] ` : ''}${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/**
 * A background process in a namespace. `listening()` waits until a socket of the given
 * protocol and port is open in that namespace (readiness, instead of a fixed sleep);
 * `stop()` ends it by its pid (SIGTERM, then SIGKILL) and resolves once its output is read.
 */
export interface Background {
  readonly child: ChildProcess;
  output(): string;
  listening(proto: 'tcp' | 'udp', port: number, address?: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Whether `ss` in namespace `ns` sees a TCP listener, or a bound UDP socket, on local port
 * `port` (of local address `address` when given; any address otherwise).
 */
export async function isListening(ns: string | null, proto: 'tcp' | 'udp', port: number, address?: string): Promise<boolean> {
  const filter = address === undefined ? `sport = :${port}` : `src ${address}:${port}`;
  const r = await sh(ns, 'ss', ['-H', '-n', '-l', proto === 'tcp' ? '-t' : '-u', filter], 5000);
  return r.code === 0 && r.stdout.trim() !== '';
}

export function background(ns: string | null, cmd: string, args: readonly string[]): Background {
  const [file, argv] = ns ? ['ip', ['netns', 'exec', ns, cmd, ...args]] : [cmd, [...args]];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c) => { out += c; });
  child.stderr?.on('data', (c) => { out += c; });
  // 'close' comes after 'exit' once stdout and stderr are drained: all output is in `out`.
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  const ended = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    output: () => out,
    listening: (proto, port, address, timeoutMs = 10_000) => {
      const what = `${cmd} listening on ${proto} ${address ?? ''}:${port}${ns ? ` in ${ns}` : ''}`;
      return until(what, async () => {
        if (ended()) throw new Error(`${cmd} ended (${child.exitCode ?? child.signalCode}) before ${what}: ${out}`);
        return isListening(ns, proto, port, address);
      }, timeoutMs, 50).then(() => undefined);
    },
    stop: async () => {
      if (!ended()) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await closed;
        clearTimeout(t);
      }
      await closed;
    },
  };
}

/** Cleanup steps run in reverse order; errors are collected, not thrown half-way. */
export class Cleanup {
  private readonly steps: (() => Promise<unknown> | unknown)[] = [];
  add(step: () => Promise<unknown> | unknown): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    const errors: unknown[] = [];
    while (this.steps.length) {
      try {
        await this.steps.pop()!();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) throw new AggregateError(errors, 'cleanup failed');
  }
}

/** Polls `check` every `stepMs` until it returns a value, at most `timeoutMs`. */
export async function until<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 10_000, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
}

export const isRoot = (): boolean => process.getuid?.() === 0;
