/**
 * The forwarding benchmark's command line: `--json FILE`, `--seconds N` (per test),
 * `--paths` (a comma-separated subset, run in the fixed order kernel, slirp4netns,
 * pasta, openigd), and `--build NAME=DIR` (repeatable) with `--rounds N` for the OpenIGD
 * paths (lib/builds.ts). A bad command line is returned as a reason, never thrown.
 */
import { parseArgs } from 'node:util';
import { parseBuilds, type Build } from './builds.js';
import { PATH_NAMES, type PathName } from './peers.js';

export const MAX_SECONDS = 10;
export const DEFAULT_SECONDS = 5;

export const USAGE = `usage: node test/dist/bench/forwarding-bench.js [--json FILE] [--seconds 1..${MAX_SECONDS}] [--paths ${PATH_NAMES.join(',')}] [--build NAME=DIR]... [--rounds N]`;

export interface BenchOptions {
  /** Where to write the results as JSON, or null. */
  readonly jsonPath: string | null;
  /** Length of each iperf3 test in seconds. */
  readonly seconds: number;
  readonly paths: readonly PathName[];
  /** The OpenIGD builds; without `--build`, this checkout as "this". */
  readonly builds: readonly Build[];
  /** Runs of each OpenIGD path per build, in turn (the other paths run once). */
  readonly rounds: number;
}

export type ParsedOptions = { readonly ok: true; readonly options: BenchOptions } | { readonly ok: false; readonly reason: string };

/** Reads the arguments after the script name; `--build` directories are relative to `cwd`. */
export function parseBenchOptions(argv: readonly string[], cwd = process.cwd()): ParsedOptions {
  let values: { json?: string; seconds?: string; paths?: string; build?: string[]; rounds?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        json: { type: 'string' }, seconds: { type: 'string' }, paths: { type: 'string' },
        build: { type: 'string', multiple: true }, rounds: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
  if (values.json === '') return { ok: false, reason: '--json needs a file name' };
  const seconds = values.seconds === undefined ? DEFAULT_SECONDS : Number(values.seconds);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_SECONDS) {
    return { ok: false, reason: `--seconds must be an integer from 1 to ${MAX_SECONDS}` };
  }
  const names = values.paths === undefined ? [...PATH_NAMES] : values.paths.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(PATH_NAMES as readonly string[]).includes(n));
  if (unknown.length > 0) return { ok: false, reason: `unknown path ${unknown.join(', ')}; --paths takes ${PATH_NAMES.join(', ')}` };
  if (names.length === 0) return { ok: false, reason: `--paths is empty; it takes ${PATH_NAMES.join(', ')}` };
  const paths = PATH_NAMES.filter((n) => names.includes(n));
  const builds = parseBuilds(values.build, values.rounds, cwd);
  if (!builds.ok) return builds;
  return { ok: true, options: { jsonPath: values.json ?? null, seconds, paths, builds: builds.builds, rounds: builds.rounds } };
}
