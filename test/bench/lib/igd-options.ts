/**
 * The IGD benchmark's command line: `--count`, `--step`, `--clients`, `--targets`,
 * `--keep-alive`, `--repeats N`, `--json FILE`, and `--build NAME=DIR` (repeatable) with
 * `--rounds N` for the OpenIGD target (lib/builds.ts). A bad command line is returned as a reason, never thrown.
 */
import { parseArgs } from 'node:util';
import { parseBuilds, type Build } from './builds.js';

export const TARGETS = ['miniupnpd', 'openigd'] as const;
export type TargetName = (typeof TARGETS)[number];

export const USAGE = 'usage: node test/dist/bench/igd-bench.js [--count 1..40000] [--step N] [--clients 1..16] [--targets miniupnpd,openigd] '
  + '[--keep-alive] [--repeats 1..10] [--json FILE] [--build NAME=DIR]... [--rounds N]';

export interface IgdBenchOptions {
  readonly count: number;
  readonly step: number;
  readonly clients: number;
  readonly targets: readonly TargetName[];
  readonly keepAlive: boolean;
  /**
   * How many times each target's small-table figures are taken: the first `step` sequential
   * adds from an empty table (the growth phase's first step, then again after a reset) and
   * the listing of the whole table.
   */
  readonly repeats: number;
  readonly jsonPath: string | null;
  /** The OpenIGD builds; without `--build`, this checkout as "this". */
  readonly builds: readonly Build[];
  /** Runs of OpenIGD per build, in turn (miniupnpd runs once). */
  readonly rounds: number;
}

export type ParsedIgdOptions = { readonly ok: true; readonly options: IgdBenchOptions } | { readonly ok: false; readonly reason: string };

/** Reads the arguments after the script name; `--build` directories are relative to `cwd`. */
export function parseIgdOptions(argv: readonly string[], cwd = process.cwd()): ParsedIgdOptions {
  let values: { count?: string; step?: string; clients?: string; targets?: string; 'keep-alive'?: boolean; json?: string; build?: string[]; rounds?: string; repeats?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        count: { type: 'string' }, step: { type: 'string' }, clients: { type: 'string' },
        targets: { type: 'string' }, 'keep-alive': { type: 'boolean' }, json: { type: 'string' },
        build: { type: 'string', multiple: true }, rounds: { type: 'string' }, repeats: { type: 'string' },
      },
      strict: true, allowPositionals: false,
    }));
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
  const int = (v: string | undefined, dflt: number) => (v === undefined ? dflt : /^\d+$/.test(v) ? Number(v) : NaN);
  const count = int(values.count, 3000);
  const step = int(values.step, 500);
  const clients = int(values.clients, 4);
  const repeats = int(values.repeats, 3);
  if (!(count >= 1 && count <= 40_000)) return { ok: false, reason: '--count must be an integer from 1 to 40000' };
  if (!(step >= 1 && step <= count)) return { ok: false, reason: '--step must be an integer from 1 to --count' };
  if (!(clients >= 1 && clients <= 16)) return { ok: false, reason: '--clients must be an integer from 1 to 16' };
  if (!(repeats >= 1 && repeats <= 10)) return { ok: false, reason: '--repeats must be an integer from 1 to 10' };
  const names = values.targets === undefined ? [...TARGETS] : values.targets.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(TARGETS as readonly string[]).includes(n));
  if (unknown.length || !names.length) return { ok: false, reason: `--targets takes ${TARGETS.join(', ')}` };
  if (values.json === '') return { ok: false, reason: '--json needs a file name' };
  const builds = parseBuilds(values.build, values.rounds, cwd);
  if (!builds.ok) return builds;
  return {
    ok: true,
    options: {
      count, step, clients, targets: TARGETS.filter((t) => names.includes(t)), keepAlive: values['keep-alive'] === true, repeats, jsonPath: values.json ?? null,
      builds: builds.builds, rounds: builds.rounds,
    },
  };
}
