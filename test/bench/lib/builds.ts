/**
 * Builds of OpenIGD to benchmark side by side (`--build NAME=DIR`, repeatable; `--rounds N`):
 * the same bench client code brings up each build's own daemon through that tree's
 * `gateway/dist/index.js` (its `labUp` spawns the daemon of the tree it is loaded from).
 * DIR is the root of a checkout that has been `npm ci` + `npx tsc -b`-built. Without
 * `--build` the one build is this checkout, named "this".
 *
 * The parsing and the run order are pure; `loadBuild` imports a tree and reads its commit.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { LabOptions, LabRecord } from '@openigd/gateway';
import { sh } from '../../lib/ns.js';

export interface Build {
  /** What the rows say: "OpenIGD (NAME)". */
  readonly name: string;
  /** The checkout's root, absolute. */
  readonly dir: string;
}

/** This checkout's root (test/dist/bench/lib → four levels up). */
export const THIS_CHECKOUT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

export const MAX_BUILDS = 4;
export const MAX_ROUNDS = 10;
/** Rounds when several builds are compared: enough for a median and a spread. */
export const DEFAULT_AB_ROUNDS = 3;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

export type BuildsParse =
  | { readonly ok: true; readonly builds: readonly Build[]; readonly rounds: number }
  | { readonly ok: false; readonly reason: string };

/**
 * Reads the `--build` values (each NAME=DIR; DIR relative to `cwd`) and `--rounds`.
 * No `--build`: this checkout as "this", one round. Several builds: at least 2 rounds
 * each (default 3), so that each figure has a median and a run-to-run spread.
 */
export function parseBuilds(values: readonly string[] | undefined, rounds: string | undefined, cwd: string): BuildsParse {
  const builds: Build[] = [];
  for (const v of values ?? []) {
    const eq = v.indexOf('=');
    const name = eq < 0 ? '' : v.slice(0, eq);
    const dir = eq < 0 ? '' : v.slice(eq + 1);
    if (!NAME.test(name) || dir === '') return { ok: false, reason: `--build takes NAME=DIR (NAME: letters, digits, . _ -, up to 32), not "${v}"` };
    if (builds.some((b) => b.name === name)) return { ok: false, reason: `--build: the name "${name}" is given twice` };
    builds.push({ name, dir: resolve(cwd, dir) });
  }
  if (builds.length > MAX_BUILDS) return { ok: false, reason: `--build: at most ${MAX_BUILDS} builds` };
  if (builds.length === 0) builds.push({ name: 'this', dir: THIS_CHECKOUT });
  const several = builds.length > 1;
  const min = several ? 2 : 1;
  const n = rounds === undefined ? (several ? DEFAULT_AB_ROUNDS : 1) : /^\d+$/.test(rounds) ? Number(rounds) : NaN;
  if (!(n >= min && n <= MAX_ROUNDS)) return { ok: false, reason: `--rounds must be an integer from ${min} to ${MAX_ROUNDS}${several ? ' when builds are compared' : ''}` };
  return { ok: true, builds, rounds: n };
}

/** The order the runs are made in: round by round, the builds in turn (A B A B …), so drift in the machine's load hits all alike. */
export function abSchedule(builds: number, rounds: number): { readonly build: number; readonly round: number }[] {
  const out: { build: number; round: number }[] = [];
  for (let round = 0; round < rounds; round++) for (let build = 0; build < builds; build++) out.push({ build, round });
  return out;
}

/**
 * True when a config with the nested key `path` (e.g. ['igd', 'requestRate']) passes
 * the JSON schema's key checks: each level either declares the key under `properties`
 * or does not forbid other keys (`additionalProperties: false`). Used to pass a setting
 * only to the builds whose config knows it.
 */
export function schemaAccepts(schema: unknown, path: readonly string[]): boolean {
  let level: unknown = schema;
  for (const key of path) {
    if (typeof level !== 'object' || level === null) return false;
    const { properties, additionalProperties } = level as { properties?: Record<string, unknown>; additionalProperties?: unknown };
    const next = properties !== undefined && Object.hasOwn(properties, key) ? properties[key] : undefined;
    if (next === undefined) return additionalProperties !== false;
    level = next;
  }
  return true;
}

/** What the benches use of a build's gateway package; the same in every build since the lab exists. */
export interface GatewayApi {
  labUp(opts: LabOptions): Promise<LabRecord>;
  labDown(prefix: string, baseDir: string): Promise<void>;
  readonly CONFIG_SCHEMA: unknown;
}

export interface LoadedBuild extends Build {
  /** `git log -1 --format=%h` of the tree, "+ changes" when it has uncommitted ones; null outside git. */
  readonly commit: string | null;
  readonly gateway: GatewayApi;
}

export type BuildLoad = { readonly ok: true; readonly build: LoadedBuild } | { readonly ok: false; readonly reason: string };

/** A build's short commit, with "+ changes" when its tracked files differ from it. */
async function commitOf(dir: string): Promise<string | null> {
  const head = await sh(null, 'git', ['-C', dir, 'log', '-1', '--format=%h'], 5_000);
  if (head.code !== 0 || head.stdout.trim() === '') return null;
  const dirty = await sh(null, 'git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], 10_000);
  return `${head.stdout.trim()}${dirty.code === 0 && dirty.stdout.trim() !== '' ? ' + changes' : ''}`;
}

/** Imports the build's `gateway/dist/index.js` and checks it has what the benches call. */
export async function loadBuild(build: Build): Promise<BuildLoad> {
  const entry = join(build.dir, 'gateway', 'dist', 'index.js');
  if (!existsSync(entry)) return { ok: false, reason: `${entry} not found (run npm ci and npx tsc -b in ${build.dir})` };
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
  } catch (e) {
    return { ok: false, reason: `cannot load ${entry}: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` };
  }
  if (typeof mod.labUp !== 'function' || typeof mod.labDown !== 'function' || typeof mod.CONFIG_SCHEMA !== 'object') {
    return { ok: false, reason: `${entry} has no labUp, labDown and CONFIG_SCHEMA` };
  }
  return { ok: true, build: { ...build, commit: await commitOf(build.dir), gateway: mod as unknown as GatewayApi } };
}

/** "base = /work/wt (7cae5ae)" for the run's header. */
export function describeBuild(b: LoadedBuild): string {
  return `${b.name} = ${b.dir} (${b.commit ?? 'not a git checkout'})`;
}
