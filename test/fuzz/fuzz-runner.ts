/**
 * Runs the parsers' fuzz properties, for the suite and for long runs. The properties live
 * beside the code they fuzz, one `*.fuzz.ts` module per parser, each exporting `FUZZ`: an
 * object of property factories by name. They are found in the packages' compiled `dist/`
 * by that file name, so a new `*.fuzz.ts` joins both runs without being listed anywhere.
 *
 * The suite (fuzz.test.ts) runs each property SUITE_RUNS times from a fixed seed; `npm
 * run fuzz` (fuzz.ts) runs them for a time budget from a random seed. A failure names the
 * property, its seed and its shrink path: `npm run fuzz -- --only NAME --seed S --path P`
 * replays exactly that case.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';

export const REPO = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
export const PACKAGES = ['nat-table', 'igd-service', 'gateway'] as const;
/** Cases per property in `npm test`. */
export const SUITE_RUNS = 10_000;
/** The suite's seed: the same cases on every run. */
export const SUITE_SEED = 14;

export type FuzzProperty = () => fc.IRawProperty<unknown, boolean>;

export interface FuzzEntry {
  /** The module's path inside the repository (dist/…fuzz.js). */
  readonly module: string;
  readonly name: string;
  readonly make: FuzzProperty;
}

function walk(dir: string, out: string[]): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.fuzz.js')) out.push(p);
  }
  return out;
}

/** Every property of every `*.fuzz.js` in the packages' dist/, sorted by module then as declared. */
export async function findFuzzProperties(): Promise<FuzzEntry[]> {
  const files = PACKAGES.flatMap((p) => walk(join(REPO, p, 'dist'), [])).sort();
  const entries: FuzzEntry[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(file).href)) as { FUZZ?: Record<string, unknown> };
    const module = relative(REPO, file);
    if (typeof mod.FUZZ !== 'object' || mod.FUZZ === null) throw new Error(`${module} exports no FUZZ object`);
    for (const [name, make] of Object.entries(mod.FUZZ)) {
      if (typeof make !== 'function') throw new Error(`${module}: FUZZ[${JSON.stringify(name)}] is not a property factory`);
      entries.push({ module, name, make: make as FuzzProperty });
    }
  }
  return entries;
}

export interface FuzzOutcome {
  readonly name: string;
  readonly numRuns: number;
  readonly ms: number;
  readonly failed: boolean;
  readonly seed: number;
  /** The shrunk counterexample and its replay path, when it failed. */
  readonly counterexample: string | null;
  readonly path: string | null;
  readonly error: string | null;
}

export interface RunLimits {
  /** Stop after this many cases… */
  readonly numRuns: number;
  /** …or after this long, whichever comes first. */
  readonly timeLimitMs?: number;
  readonly seed: number;
  /** Replay one case (from a failure's report). */
  readonly path?: string;
}

/** Runs one property within `limits`; never throws for a failing property (it is reported). */
export async function runProperty(entry: FuzzEntry, limits: RunLimits): Promise<FuzzOutcome> {
  const started = performance.now();
  const details = await fc.check(entry.make(), {
    numRuns: limits.numRuns, seed: limits.seed,
    ...(limits.timeLimitMs !== undefined ? { interruptAfterTimeLimit: limits.timeLimitMs, markInterruptAsFailure: false } : {}),
    ...(limits.path !== undefined ? { path: limits.path } : {}),
  });
  const ms = performance.now() - started;
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : details.errorInstance === undefined ? null : String(details.errorInstance);
  return {
    name: entry.name, numRuns: details.numRuns, ms, failed: details.failed, seed: details.seed,
    counterexample: details.failed && details.counterexample !== null ? fc.stringify(details.counterexample) : null,
    path: details.failed ? details.counterexamplePath : null,
    error: details.failed ? error : null,
  };
}

/** A failure as the suite and the long runner print it, with the command that replays it. */
export function describeFailure(o: FuzzOutcome): string {
  return `${o.name}: failed after ${o.numRuns} cases\n  counterexample: ${o.counterexample}\n  error: ${o.error}\n`
    + `  replay: npm run fuzz -- --only ${JSON.stringify(o.name)} --seed ${o.seed} --path ${JSON.stringify(o.path)}`;
}
