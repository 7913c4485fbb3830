/**
 * The lab's own command helpers, over the gateway's exec helper (exec.ts): running a
 * tool inside a namespace, and listing namespaces.
 */
import { run } from '../exec.js';

/** Runs a command inside a network namespace. */
export function inNs(ns: string, file: string, args: readonly string[], timeoutMs?: number): Promise<string> {
  return run('ip', ['netns', 'exec', ns, file, ...args], timeoutMs);
}

export async function listNetns(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  return out.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}
