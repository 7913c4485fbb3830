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

/** A background process in a namespace; `stop()` ends it by its pid (SIGTERM, then SIGKILL). */
export interface Background {
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export function background(ns: string | null, cmd: string, args: readonly string[]): Background {
  const [file, argv] = ns ? ['ip', ['netns', 'exec', ns, cmd, ...args]] : [cmd, [...args]];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c) => { out += c; });
  child.stderr?.on('data', (c) => { out += c; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
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
