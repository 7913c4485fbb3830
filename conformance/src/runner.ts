/**
 * Runs the checks in order against one device, each with its own trace, and removes the
 * mappings the run made at the end, also when `signal` aborts (Ctrl-C): the check under
 * way is let finish its current request, the rest are skipped, then the cleanup runs.
 */
import { RunContext, type ConformanceOptions } from './context.js';
import { CheckFailed, CheckSkipped, Trace, type CheckResult, type Exchange } from './registry.js';
import { ALL_CHECKS } from './checks/all.js';
import type { Check } from './checks/check.js';

export interface RunReport {
  readonly target: string;
  readonly version: number;
  readonly startedAt: string;
  readonly ms: number;
  readonly results: readonly CheckResult[];
  /** What the cleanup sent, and what it could not remove. */
  readonly cleanup: { readonly exchanges: readonly Exchange[]; readonly left: readonly string[] };
  readonly interrupted: boolean;
}

/** The checks selected by `only` (ids, or groups such as `soap` / `soap.`), all when empty. */
export function selectChecks(only: readonly string[] | undefined, checks: readonly Check[] = ALL_CHECKS): Check[] {
  if (!only || only.length === 0) return [...checks];
  return checks.filter((c) => only.some((p) => c.info.id === p || c.info.id.startsWith(p.endsWith('.') ? p : `${p}.`)));
}

async function runOne(check: Check, ctx: RunContext, signal?: AbortSignal): Promise<CheckResult> {
  const t = new Trace();
  const started = Date.now();
  const result = (status: CheckResult['status'], detail: string): CheckResult =>
    ({ check: check.info, status, detail, exchanges: t.exchanges, ms: Date.now() - started });
  if (signal?.aborted) return result('skip', 'interrupted');
  if (check.info.versions && !check.info.versions.includes(ctx.version)) return result('skip', `applies to IGD:${check.info.versions.join('/')} only`);
  try {
    await check.run(ctx, t);
    return result('pass', t.note);
  } catch (e) {
    if (e instanceof CheckSkipped) return result('skip', e.message);
    if (e instanceof CheckFailed) return result('fail', e.message);
    return result('fail', `the check itself failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  }
}

export async function runChecks(options: ConformanceOptions, signal?: AbortSignal, checks: readonly Check[] = selectChecks(options.only)): Promise<RunReport> {
  const ctx = new RunContext(options);
  const started = Date.now();
  const results: CheckResult[] = [];
  const cleanupTrace = new Trace();
  let left: string[] = [];
  try {
    // The description checks come first and always run: every other check needs what they learn.
    const needed = new Set(checks.map((c) => c.info.id));
    for (const c of ALL_CHECKS.filter((x) => x.info.group === 'description' && !needed.has(x.info.id))) await runOne(c, ctx, signal);
    let prepared = false;
    for (const c of checks) {
      if (!prepared && c.info.group !== 'description') {
        prepared = true;
        for (const p of checks) p.prepare?.(ctx, signal);
      }
      results.push(await runOne(c, ctx, signal));
    }
  } finally {
    left = await ctx.removeOwnMappings(cleanupTrace);
    ctx.close();
  }
  return {
    target: options.url, version: ctx.version, startedAt: new Date(started).toISOString(), ms: Date.now() - started,
    results, cleanup: { exchanges: cleanupTrace.exchanges, left }, interrupted: signal?.aborted ?? false,
  };
}
