/**
 * Long fuzz runs: every parser's properties (the suite's, found by fuzz-runner.ts) for a
 * time budget instead of a case count, from a random seed (or the one given).
 *
 *   npm run fuzz -- [--minutes N] [--only TEXT] [--seed S] [--path P]
 *
 * The budget is shared evenly by the properties, run one after another. Prints the cases
 * run per property, and for a failure its counterexample with the seed and path that
 * replay it (`--only NAME --seed S --path P`). Exits 1 when a property failed.
 */
import { parseArgs } from 'node:util';
import { describeFailure, findFuzzProperties, runProperty, type FuzzOutcome } from './fuzz-runner.js';

const USAGE = 'usage: npm run fuzz -- [--minutes N (default 1)] [--only TEXT] [--seed S] [--path P]';
/** A case count no budget reaches: the time limit ends each run. */
const UNBOUNDED_RUNS = 2 ** 31 - 1;

interface Options { readonly minutes: number; readonly only: string | null; readonly seed: number | null; readonly path: string | null }

function parseOptions(argv: readonly string[]): Options | string {
  let values: { minutes?: string; only?: string; seed?: string; path?: string };
  try {
    ({ values } = parseArgs({ args: [...argv], options: { minutes: { type: 'string' }, only: { type: 'string' }, seed: { type: 'string' }, path: { type: 'string' } }, strict: true }));
  } catch (e) {
    return (e as Error).message;
  }
  const minutes = values.minutes === undefined ? 1 : Number(values.minutes);
  if (!(minutes > 0 && minutes <= 24 * 60)) return '--minutes must be a number above 0, at most 1440';
  const seed = values.seed === undefined ? null : Number(values.seed);
  if (seed !== null && !Number.isInteger(seed)) return '--seed must be an integer';
  if (values.path !== undefined && values.only === undefined) return '--path replays one property: give its name with --only';
  return { minutes, only: values.only ?? null, seed, path: values.path ?? null };
}

function table(outcomes: readonly FuzzOutcome[]): string {
  const rows = [['property', 'cases', 'seconds', 'cases/s', 'result'], ...outcomes.map((o) => [
    o.name, String(o.numRuns), (o.ms / 1000).toFixed(1), (o.numRuns / Math.max(o.ms / 1000, 0.001)).toFixed(0), o.failed ? 'FAILED' : 'ok',
  ])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (typeof opts === 'string') {
    console.error(`${opts}\n${USAGE}`);
    return 2;
  }
  const all = await findFuzzProperties();
  // A replay names one property exactly; otherwise --only is a substring.
  const entries = all.filter((e) => opts.only === null || (opts.path !== null ? e.name === opts.only : e.name.includes(opts.only)));
  if (entries.length === 0) {
    console.error(`no property ${opts.only === null ? '' : `matching ${JSON.stringify(opts.only)} `}found; there are:\n  ${all.map((e) => e.name).join('\n  ')}`);
    return 2;
  }
  const perProperty = (opts.minutes * 60_000) / entries.length;
  console.log(`fuzz: ${entries.length} properties, ${(perProperty / 1000).toFixed(1)} s each`);
  const outcomes: FuzzOutcome[] = [];
  for (const entry of entries) {
    const seed = opts.seed ?? (Math.random() * 2 ** 31) | 0;
    const o = await runProperty(entry, {
      numRuns: opts.path !== null ? 1 : UNBOUNDED_RUNS, timeLimitMs: perProperty, seed, ...(opts.path !== null ? { path: opts.path } : {}),
    });
    console.log(`${o.failed ? 'FAILED' : 'ok    '} ${o.name}: ${o.numRuns} cases in ${(o.ms / 1000).toFixed(1)} s (seed ${o.seed})`);
    if (o.failed) console.log(describeFailure(o));
    outcomes.push(o);
  }
  console.log(`\n${table(outcomes)}`);
  const failed = outcomes.filter((o) => o.failed).length;
  console.log(`\n${failed === 0 ? 'no failure' : `${failed} properties failed`}; ${outcomes.reduce((n, o) => n + o.numRuns, 0)} cases in all`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main().catch((e: unknown) => {
  console.error(`fuzz: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  return 1;
});
