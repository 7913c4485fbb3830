/**
 * IGD benchmark (issue 4, acceptance 7): for miniupnpd (Debian's nftables build, in
 * namespaces of its own, see lib/miniupnpd.ts) and for OpenIGD (the gateway's lab), in
 * one run:
 *   1. AddPortMapping requests/s from one client, one request at a time, while the table
 *      grows from 0 to `--count` mappings, timed per `--step` mappings;
 *   2. the time to list them all with GetGenericPortMappingEntry, index 0, 1, … until
 *      error 713 (IGD:1; miniupnpd crashes on IGD:2 GetListOfPortMappings past ≈ 132);
 *   3. the table emptied (miniupnpd restarted, the lab rebuilt), AddPortMapping requests/s
 *      from `--clients` concurrent clients over the same growth;
 *   4. the small-table figures again, so that each is taken `--repeats` times (default 3):
 *      the listing of step 2 is repeated at once, and the first `--step` sequential adds
 *      of step 1 are made again from an empty table (reset as in step 3).
 * Then the table, and the ratios OpenIGD / miniupnpd: overall, and of the small-table
 * figures' medians (issue 10's target: ≥ 4×). One run of a figure on this shared machine
 * can be off by a third either way; the median of several is what the verdict uses.
 *
 *   node test/dist/bench/igd-bench.js [--count 3000] [--step 500] [--clients 4]
 *        [--targets miniupnpd,openigd] [--keep-alive] [--repeats 3] [--json FILE]
 *        [--build NAME=DIR]... [--rounds N]
 *
 * Builds compared in one run: `--build NAME=DIR` (repeatable) names a checkout of OpenIGD
 * that has been `npm ci` + `npx tsc -b`-built; the bench imports that tree's
 * `gateway/dist/index.js` and brings its daemon up with that tree's `labUp`, with this
 * bench's client code for all. Without it the one build is this checkout ("this").
 * OpenIGD is then run `--rounds` times per build (default 3 with several builds, at least
 * 2; 1 with one), the builds in turn (A B A B …) so that drift in the machine's load hits
 * all alike; miniupnpd runs once. After the table of every run come the medians per build,
 * each later build over the first (the medians' ratio, and the median and range of the
 * round-by-round ratios), the run-to-run spread ((max − min) / median, the larger of the
 * two builds') and the figures that moved by more than it. The request-rate setting
 * below (`igd.requestRate`) goes only to builds whose config schema has the key (older
 * builds have no request limit); the run's header says which.
 *   node test/dist/bench/igd-bench.js --targets openigd --build base=../wt-base --build main=.
 *
 * The timed SOAP calls are made by a C client (lib/soap-load.c, compiled with the machine's
 * `cc` at the first run) inside each IGD's LAN namespace, the same client for both, so that
 * what is timed is the IGD: a connection per call as upnpc makes them, or with
 * `--keep-alive` one kept connection while the IGD keeps it (miniupnpd closes every one, so
 * its client connects again). The description is read by a Node worker
 * (lib/soap-load-worker.ts). Needs root. The whole run is bounded (≈ 5 minutes): every
 * phase has a deadline, and a phase cut short says so. Everything it builds is removed
 * in `finally`, also on SIGINT/SIGTERM; it ends only processes it started, by pid. A
 * target that cannot run is printed as "not available (reason)", never with a number.
 */
import { cpus, release } from 'node:os';
import { Cleanup, uniquePrefix } from '../lib/ns.js';
import { figureStats, formatAbTable, type AbFigure, type AbRow } from './lib/ab-report.js';
import { debVersions, runBench, writeJsonReport } from './lib/bench-main.js';
import { abSchedule, describeBuild, loadBuild, schemaAccepts, type LoadedBuild } from './lib/builds.js';
import { parseIgdOptions, USAGE, type IgdBenchOptions as Options, type TargetName } from './lib/igd-options.js';
import { startMiniupnpd } from './lib/miniupnpd.js';
import { runSoapWorker, type ControlPoint, type StepTiming, type WorkerResult } from './lib/soap-worker.js';

const LABELS = { miniupnpd: 'miniupnpd', openigd: 'OpenIGD' } as const satisfies Record<TargetName, string>;

/** Where the gateway's lab keeps its files. */
const LAB_DIR = '/run/openigd-lab';
/** The whole run's budget with one run per target; each further OpenIGD run (builds, rounds) adds a reserve. */
const BUDGET_MS = 300_000;
/** Kept back for each run still to come when one starts (OpenIGD, run after miniupnpd, should need far less). */
const RESERVE_PER_LATER_TARGET_MS = 80_000;
/** Upper bounds per phase within a target's share. */
const ADD_PHASE_MAX_MS = 90_000;
const LIST_PHASE_MAX_MS = 20_000;
/** What a worker may take beyond its job's deadline (start-up, last requests in flight). */
const WORKER_MARGIN_MS = 15_000;
/** External ports used by the bench: FIRST_PORT … FIRST_PORT + count − 1. */
const FIRST_PORT = 20_000;
/** Issue 4's target: OpenIGD's adds ≥ 10× miniupnpd's. */
const TARGET_RATIO = 10;
/** Issue 10's target for a small table: the first adds and the listing ≥ 4× miniupnpd's. */
const SMALL_TABLE_TARGET_RATIO = 4;
/** Upper bound for one repeat of the first step's adds from an empty table. */
const SMALL_ADD_PHASE_MAX_MS = 30_000;

/** The config key the bench sets to lift the request limit, in builds that have it. */
const REQUEST_RATE_KEY = ['igd', 'requestRate'] as const;
/** The per-source request limit is for floods; the bench is one client asking as fast as it can. */
const NO_REQUEST_LIMIT = 'igd: { requestRate: { perSecond: 1000000, burst: 1000000 } }';

type AddOutcome =
  | { readonly ok: true; readonly added: number; readonly failed: number; readonly firstFailure: string | null; readonly totalMs: number; readonly steps: readonly StepTiming[]; readonly stoppedByDeadline: boolean }
  | { readonly ok: false; readonly reason: string };
type ListOutcome = { readonly ok: true; readonly entries: number; readonly totalMs: number; readonly end: string } | { readonly ok: false; readonly reason: string };

interface TargetResult {
  readonly target: TargetName;
  /** How the run is named in the tables: "OpenIGD", or "OpenIGD (base) #2" when builds or rounds are compared. */
  readonly label: string;
  /** The OpenIGD build's name, null for miniupnpd. */
  readonly build: string | null;
  readonly round: number;
  readonly available: boolean;
  readonly reason: string | null;
  readonly description: string | null;
  readonly sequential: AddOutcome;
  /** The listing of the table `sequential` made, `--repeats` times in a row (fewer when one fails). */
  readonly lists: readonly ListOutcome[];
  readonly concurrent: AddOutcome;
  /** The first `--step` sequential adds from an empty table, made again `--repeats` − 1 times after the rest. */
  readonly emptyStarts: readonly AddOutcome[];
}

/** An IGD under test, as the phases need it. */
interface IgdUnderTest {
  readonly description: string;
  readonly clientNs: string;
  readonly internalClient: string;
  control: ControlPoint;
  /** Empties the mapping table; rejects when it cannot. */
  reset(): Promise<void>;
}

type TargetSetup = { ok: true; igd: IgdUnderTest } | { ok: false; reason: string };

/** Set by SIGINT/SIGTERM: the running worker is aborted and no new phase starts. */
const abort = new AbortController();

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

async function setUpMiniupnpd(prefix: string, cleanup: Cleanup, log: (l: string) => void): Promise<TargetSetup> {
  const setup = await startMiniupnpd({ prefix: `${prefix}m`, log }, cleanup);
  if (!setup.ok) return setup;
  const h = setup.harness;
  return {
    ok: true,
    igd: {
      description: `${h.version}, pid ${h.pid()} in ${h.namespaces.router}, external ${h.externalAddress ?? '?'} (STUN), client ${h.clientAddress} in ${h.clientNs}, ${h.control.controlUrl}`,
      clientNs: h.clientNs,
      internalClient: h.clientAddress,
      control: h.control,
      reset: () => h.restart(),
    },
  };
}

async function setUpOpenIgd(prefix: string, cleanup: Cleanup, log: (l: string) => void, build: LoadedBuild): Promise<TargetSetup> {
  const { gateway } = build;
  const extraConfig = schemaAccepts(gateway.CONFIG_SCHEMA, REQUEST_RATE_KEY) ? NO_REQUEST_LIMIT : undefined;
  const labPrefix = `${prefix}o`;
  cleanup.add(() => gateway.labDown(labPrefix, LAB_DIR));
  const up = async (): Promise<{ ok: true; igd: Omit<IgdUnderTest, 'reset'> } | { ok: false; reason: string }> => {
    let lab: Awaited<ReturnType<typeof gateway.labUp>>;
    try {
      lab = await gateway.labUp({ prefix: labPrefix, dir: LAB_DIR, ...(extraConfig === undefined ? {} : { extraConfig }) });
    } catch (e) {
      return { ok: false, reason: `lab up failed: ${firstLine(e)}` };
    }
    const h1 = lab.namespaces.h1;
    const client = lab.hostAddresses.h1;
    if (client === undefined) return { ok: false, reason: 'h1 got no DHCP address' };
    const descriptionUrl = `http://${lab.lanAddress}:5000/rootDesc.xml`;
    const d = await runSoapWorker(h1, { mode: 'describe', descriptionUrl }, 15_000, abort.signal);
    if (!d.ok) return { ok: false, reason: `description from h1: ${d.reason}` };
    if (d.mode !== 'describe') return { ok: false, reason: 'the worker answered another job' };
    log(`OpenIGD (${build.name}): lab ${labPrefix}, daemon pid ${lab.daemonPid}, ${d.control.controlUrl}`);
    return {
      ok: true,
      igd: { description: `OpenIGD lab, daemon pid ${lab.daemonPid} in ${lab.namespaces.gw}, external ${lab.wanAddress}, client ${client} in ${h1}, ${d.control.controlUrl}`, clientNs: h1, internalClient: client, control: d.control },
    };
  };
  const first = await up();
  if (!first.ok) return first;
  const igd: IgdUnderTest = {
    ...first.igd,
    reset: async () => {
      const again = await up();
      if (!again.ok) throw new Error(`lab rebuild: ${again.reason}`);
      igd.control = again.igd.control;
    },
  };
  return { ok: true, igd };
}

function asAdd(r: WorkerResult): AddOutcome {
  if (!r.ok) return r;
  if (r.mode !== 'add') return { ok: false, reason: `worker answered ${r.mode}` };
  const { added, failed, firstFailure, totalMs, steps, stoppedByDeadline } = r;
  return { ok: true, added, failed, firstFailure, totalMs, steps, stoppedByDeadline };
}

function asList(r: WorkerResult): ListOutcome {
  if (!r.ok) return r;
  if (r.mode !== 'list') return { ok: false, reason: `worker answered ${r.mode}` };
  return { ok: true, entries: r.entries, totalMs: r.totalMs, end: r.end };
}

const perSecond = (n: number, ms: number) => (ms > 0 ? (n * 1000) / ms : 0);

function describeAdd(o: AddOutcome): string {
  if (!o.ok) return `failed: ${o.reason}`;
  const cut = o.stoppedByDeadline ? ' (stopped by its deadline)' : '';
  const fails = o.failed ? `, ${o.failed} failed (first: ${o.firstFailure})` : '';
  return `${o.added} added in ${(o.totalMs / 1000).toFixed(1)} s = ${perSecond(o.added, o.totalMs).toFixed(1)}/s${cut}${fails}`;
}

const NOT_RUN = { ok: false, reason: 'not run' } as const;

/** One measurement: miniupnpd, or one round of one OpenIGD build. */
interface Run {
  readonly target: TargetName;
  /** The OpenIGD build (null for miniupnpd), or why it could not be loaded. */
  readonly build: { readonly ok: true; readonly build: LoadedBuild } | { readonly ok: false; readonly name: string; readonly reason: string } | null;
  readonly round: number;
  readonly label: string;
}

/** The runs in the order they are made: miniupnpd once, then OpenIGD round by round, the builds in turn. */
function planRuns(options: Options, builds: readonly NonNullable<Run['build']>[]): Run[] {
  const compared = builds.length > 1 || options.rounds > 1;
  const runs: Run[] = [];
  if (options.targets.includes('miniupnpd')) runs.push({ target: 'miniupnpd', build: null, round: 1, label: LABELS.miniupnpd });
  if (!options.targets.includes('openigd')) return runs;
  for (const { build, round } of abSchedule(builds.length, options.rounds)) {
    const b = builds[build]!;
    const name = b.ok ? b.build.name : b.name;
    runs.push({ target: 'openigd', build: b, round: round + 1, label: compared ? `${LABELS.openigd} (${name}) #${round + 1}` : LABELS.openigd });
  }
  return runs;
}

/** Sets one target up, runs the three phases within `shareMs`, and always tears it down. */
async function measureTarget(run: Run, prefix: string, options: Options, shareMs: number, log: (l: string) => void): Promise<TargetResult> {
  const { target: name, label } = run;
  const buildName = run.build === null ? null : run.build.ok ? run.build.build.name : run.build.name;
  const cleanup = new Cleanup();
  const startMs = Date.now();
  const left = () => shareMs - (Date.now() - startMs);
  const unavailable = (reason: string): TargetResult => ({
    target: name, label, build: buildName, round: run.round, available: false, reason, description: null, sequential: NOT_RUN, lists: [], concurrent: NOT_RUN, emptyStarts: [],
  });
  try {
    const setUp = (): Promise<TargetSetup> => {
      if (run.build === null) return setUpMiniupnpd(prefix, cleanup, log);
      if (!run.build.ok) return Promise.resolve({ ok: false, reason: run.build.reason });
      return setUpOpenIgd(prefix, cleanup, log, run.build.build);
    };
    const setup = await setUp().catch((e: unknown) => ({ ok: false as const, reason: `setup failed: ${firstLine(e)}` }));
    if (!setup.ok) {
      log(`${label}: not available (${setup.reason})`);
      return unavailable(setup.reason);
    }
    const { igd } = setup;
    log(`${label}: ${igd.description}`);
    const add = async (clients: number, count: number, capMs: number): Promise<AddOutcome> => {
      const deadlineMs = Math.max(1_000, Math.min(capMs, left() - 5_000));
      return asAdd(await runSoapWorker(igd.clientNs, {
        mode: 'add', control: igd.control, internalClient: igd.internalClient, firstPort: FIRST_PORT, count,
        clients, stepSize: options.step, keepAlive: options.keepAlive, deadlineMs,
      }, deadlineMs + WORKER_MARGIN_MS, abort.signal));
    };
    const listAll = async (): Promise<ListOutcome> => {
      const deadlineMs = Math.max(1_000, Math.min(LIST_PHASE_MAX_MS, left() - 5_000));
      return asList(await runSoapWorker(igd.clientNs, {
        mode: 'list', control: igd.control, maxEntries: options.count + 10, keepAlive: options.keepAlive, deadlineMs,
      }, deadlineMs + WORKER_MARGIN_MS, abort.signal));
    };

    const sequential = await add(1, options.count, ADD_PHASE_MAX_MS);
    log(`  sequential adds: ${describeAdd(sequential)}`);
    const lists: ListOutcome[] = [];
    while (lists.length < options.repeats && !abort.signal.aborted && (lists.length === 0 || left() > 10_000)) {
      const list = await listAll();
      lists.push(list);
      log(`  list #${lists.length}: ${list.ok ? `${list.entries} entries in ${(list.totalMs / 1000).toFixed(2)} s, ended by ${list.end}` : `failed: ${list.reason}`}`);
      if (!list.ok) break;
    }
    let concurrent: AddOutcome = NOT_RUN;
    if (!abort.signal.aborted && left() > 10_000) {
      try {
        await igd.reset();
        concurrent = await add(options.clients, options.count, ADD_PHASE_MAX_MS);
      } catch (e) {
        concurrent = { ok: false, reason: `reset failed: ${firstLine(e)}` };
      }
      log(`  ${options.clients} concurrent clients: ${describeAdd(concurrent)}`);
    } else if (!abort.signal.aborted) {
      concurrent = { ok: false, reason: 'no time left in the budget' };
    }
    const emptyStarts: AddOutcome[] = [];
    while (emptyStarts.length < options.repeats - 1 && !abort.signal.aborted && left() > 10_000) {
      let start: AddOutcome;
      try {
        await igd.reset();
        start = await add(1, options.step, SMALL_ADD_PHASE_MAX_MS);
      } catch (e) {
        start = { ok: false, reason: `reset failed: ${firstLine(e)}` };
      }
      emptyStarts.push(start);
      log(`  first ${options.step} sequential adds from empty, again (#${emptyStarts.length + 1}): ${describeAdd(start)}`);
      if (!start.ok) break;
    }
    return {
      target: name, label, build: buildName, round: run.round, available: true, reason: null, description: igd.description, sequential, lists, concurrent, emptyStarts,
    };
  } finally {
    await cleanup.run().catch((e: unknown) => {
      process.exitCode = 1;
      console.error(`${label}: cleanup failed: ${e instanceof AggregateError ? e.errors.map(String).join('; ') : String(e)}`);
    });
  }
}

/* ----------------------------------- report ----------------------------------- */

const fmt = (v: number | null) => (v === null ? 'n/a' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const times = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(1)}×`);

/** Requests/s of each full or partial step of `o`, aligned on the step boundaries of the run. */
function stepRates(o: AddOutcome, bounds: readonly number[]): (number | null)[] {
  return bounds.map((from) => (o.ok ? o.steps.find((s) => s.from === from)?.perSecond ?? null : null));
}

function overall(o: AddOutcome): number | null {
  return o.ok && o.added > 0 ? perSecond(o.added, o.totalMs) : null;
}

function listRate(l: ListOutcome): number | null {
  return l.ok && l.entries > 0 ? perSecond(l.entries, l.totalMs) : null;
}

const div = (a: number | null, b: number | null) => (a !== null && b !== null && b > 0 ? a / b : null);

/** The rates of a target's listings, in the order they were made. */
const listRates = (r: TargetResult): (number | null)[] => r.lists.map(listRate);

/** The first step's sequential adds/s from an empty table: the growth phase's, then each repeat's. */
const firstStepRates = (r: TargetResult): (number | null)[] => [stepRates(r.sequential, [0])[0] ?? null, ...r.emptyStarts.map(overall)];

/** The median of the runs that gave a figure; null when none did. */
const medianOf = (values: readonly (number | null)[]): number | null => figureStats(values).median;

/**
 * The small-table figures of miniupnpd and OpenIGD, each as its median and its runs, their
 * ratio of medians, and issue 10's verdict (≥ 4× on both).
 */
function formatSmallTable(m: TargetResult, oi: TargetResult, options: Options): string[] {
  const figures = [
    [`first ${options.step} sequential adds/s from empty`, firstStepRates],
    [`listing ${options.count} entries/s`, listRates],
  ] as const;
  const out = [`small table: each figure taken ${options.repeats} time${options.repeats === 1 ? '' : 's'}, its median (and every run)`];
  const ratios: (number | null)[] = [];
  for (const [label, rates] of figures) {
    const [a, b] = [rates(m), rates(oi)];
    const ratio = div(medianOf(b), medianOf(a));
    ratios.push(ratio);
    out.push(`  ${label}: miniupnpd ${fmt(medianOf(a))} (${a.map(fmt).join(', ')}), OpenIGD ${fmt(medianOf(b))} (${b.map(fmt).join(', ')}): ${times(ratio)}`);
  }
  const verdict = ratios.some((r) => r === null) ? 'n/a' : ratios.every((r) => r! >= SMALL_TABLE_TARGET_RATIO) ? 'met' : 'NOT met';
  out.push(`target (issue 10): OpenIGD ≥ ${SMALL_TABLE_TARGET_RATIO}× miniupnpd on both, by the medians: ${verdict}`);
  return out;
}

function formatReport(results: readonly TargetResult[], options: Options): string {
  const bounds: number[] = [];
  for (let from = 0; from < options.count; from += options.step) bounds.push(from);
  const header = ['requests/s', ...bounds.map((f) => `${f}–${Math.min(f + options.step, options.count)}`), 'overall', 'last/first'];
  const rows: string[][] = [];
  const notes: string[] = [];
  // The ratios to miniupnpd need one OpenIGD run; with builds compared, the A/B tables follow instead.
  const only = (t: TargetName) => {
    const runs = results.filter((r) => r.target === t);
    return runs.length === 1 && runs[0]!.available ? runs[0] : undefined;
  };
  const phases = [['sequential', 'sequential'], ['concurrent', `${options.clients} clients`]] as const;
  for (const r of results) {
    if (!r.available) {
      notes.push(`${r.label}: not available (${r.reason})`);
      continue;
    }
    for (const [key, label] of phases) {
      const o = r[key];
      const rates = stepRates(o, bounds);
      const first = rates[0] ?? null;
      const last = [...rates].reverse().find((v) => v !== null) ?? null;
      rows.push([`${r.label} ${label}`, ...rates.map(fmt), fmt(overall(o)), first !== null && last !== null ? (last / first).toFixed(2) : 'n/a']);
      if (!o.ok) notes.push(`${r.label} ${label}: ${o.reason}`);
      else if (o.stoppedByDeadline || o.failed) notes.push(`${r.label} ${label}: ${describeAdd(o)}`);
    }
  }
  const m = only('miniupnpd');
  const oi = only('openigd');
  if (m && oi) {
    for (const [key, label] of phases) {
      const a = stepRates(oi[key], bounds);
      const b = stepRates(m[key], bounds);
      rows.push([`OpenIGD/miniupnpd ${label}`, ...bounds.map((_, i) => times(div(a[i] ?? null, b[i] ?? null))), times(div(overall(oi[key]), overall(m[key]))), '']);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (row: readonly string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line), ''];

  out.push('list all through GetGenericPortMappingEntry (index 0.. until 713), each listing:');
  const labelWidth = Math.max(9, ...results.map((r) => r.label.length));
  for (const r of results) {
    if (!r.available) continue;
    r.lists.forEach((l, i) => out.push(l.ok
      ? `  ${r.label.padEnd(labelWidth)} #${i + 1} ${l.entries} entries in ${(l.totalMs / 1000).toFixed(2)} s (${fmt(listRate(l))} entries/s), ended by ${l.end === '713' ? 'error 713' : l.end}`
      : `  ${r.label.padEnd(labelWidth)} #${i + 1} failed: ${l.reason}`));
  }
  if (m && oi) {
    const ratios = [div(overall(oi.sequential), overall(m.sequential)), div(overall(oi.concurrent), overall(m.concurrent))];
    out.push('', `OpenIGD / miniupnpd overall: sequential adds ${times(ratios[0]!)}, ${options.clients}-client adds ${times(ratios[1]!)}`);
    const verdict = ratios[0] === null || ratios[1] === null ? 'n/a' : ratios[0] >= TARGET_RATIO && ratios[1] >= TARGET_RATIO ? 'met' : 'NOT met';
    out.push(`target (issue 4): OpenIGD adds ≥ ${TARGET_RATIO}× miniupnpd: ${verdict}`, '', ...formatSmallTable(m, oi, options));
  } else {
    out.push('', `OpenIGD / miniupnpd: n/a (${results.filter((r) => r.target === 'openigd').length > 1 ? 'several OpenIGD runs: see the builds compared below' : 'both are needed'})`);
  }
  return [...out, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

/** A rate: higher is better. */
const rateFigure = (label: string): AbFigure => ({ label, better: 'higher', format: fmt });

/**
 * The OpenIGD runs per build as medians over the rounds: the overall rates (adds with one
 * client and with `--clients`, listing), then the adds per step of the table's growth.
 */
function formatBuilds(results: readonly TargetResult[], builds: readonly string[], options: Options): string {
  const bounds: number[] = [];
  for (let from = 0; from < options.count; from += options.step) bounds.push(from);
  const steps = bounds.map((f) => `${f}–${Math.min(f + options.step, options.count)}`);
  const rowsOf = (figures: (r: TargetResult) => (number | null)[]): AbRow[] => builds.map((name) => ({
    label: `${LABELS.openigd} (${name})`,
    name,
    rounds: results.filter((r) => r.target === 'openigd' && r.build === name).map((r) => (r.available ? figures(r) : [])),
  }));
  const clients = `${options.clients} clients`;
  const overallFigures = ['sequential adds/s', `${clients} adds/s`, 'list entries/s, median', `first ${options.step} adds/s, median`].map(rateFigure);
  const perStep = (key: 'sequential' | 'concurrent') => (r: TargetResult) => [...stepRates(r[key], bounds), overall(r[key])];
  const stepFigures = [...steps, 'overall'].map(rateFigure);
  const rounds = Math.max(...builds.map((b) => results.filter((r) => r.target === 'openigd' && r.build === b).length));
  return [
    `OpenIGD builds compared: medians of ${rounds} round${rounds === 1 ? '' : 's'} per build, made in turn`,
    formatAbTable('requests/s, median', overallFigures, rowsOf((r) => [overall(r.sequential), overall(r.concurrent), medianOf(listRates(r)), medianOf(firstStepRates(r))])),
    '',
    formatAbTable('sequential adds/s', stepFigures, rowsOf(perStep('sequential'))),
    '',
    formatAbTable(`${clients} adds/s`, stepFigures, rowsOf(perStep('concurrent'))),
  ].join('\n');
}

/** Loads each build and says, for the run's header, where it is and whether it takes the request-rate setting. */
async function loadBuilds(options: Options): Promise<NonNullable<Run['build']>[]> {
  const out: NonNullable<Run['build']>[] = [];
  for (const b of options.builds) {
    const loaded = await loadBuild(b);
    if (!loaded.ok) {
      console.log(`  build ${b.name}: not available (${loaded.reason})`);
      out.push({ ok: false, name: b.name, reason: loaded.reason });
      continue;
    }
    const limit = schemaAccepts(loaded.build.gateway.CONFIG_SCHEMA, REQUEST_RATE_KEY)
      ? `its config has ${REQUEST_RATE_KEY.join('.')}: run with the request limit lifted (${NO_REQUEST_LIMIT})`
      : `its config has no ${REQUEST_RATE_KEY.join('.')} (no request limit): run without it`;
    console.log(`  build ${describeBuild(loaded.build)}; ${limit}`);
    out.push(loaded);
  }
  return out;
}

async function main(): Promise<number> {
  const parsed = parseIgdOptions(process.argv.slice(2));
  if (!parsed.ok) {
    console.error(`igd-bench: ${parsed.reason}\n${USAGE}`);
    return 2;
  }
  const { options } = parsed;
  const prefix = uniquePrefix('mu');
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) return;
    console.error(`igd-bench: ${signal}: stopping; removing the namespaces of ${prefix}`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const startedMs = Date.now();
  const debs = await debVersions(['miniupnpd-nftables', 'stun-server']);
  const environment = {
    node: process.version, kernel: release(), cpus: cpus().length,
    miniupnpd: debs['miniupnpd-nftables'] ?? null, stund: debs['stun-server'] ?? null,
  };
  console.log(`IGD bench: node ${environment.node}, kernel ${environment.kernel}, ${environment.cpus} CPUs; `
    + `miniupnpd-nftables ${environment.miniupnpd ?? 'not installed'}, stun-server ${environment.stund ?? 'not installed'}; `
    + `${options.count} mappings, step ${options.step}, ${options.clients} concurrent clients, ${options.keepAlive ? 'keep-alive' : 'a connection per request'}, `
    + `${options.rounds} round${options.rounds === 1 ? '' : 's'} of OpenIGD per build, prefix ${prefix}`);

  const builds = options.targets.includes('openigd') ? await loadBuilds(options) : [];
  const runs = planRuns(options, builds);
  const budgetMs = BUDGET_MS + RESERVE_PER_LATER_TARGET_MS * (runs.length - options.targets.length);
  const results: TargetResult[] = [];
  for (const [i, run] of runs.entries()) {
    if (abort.signal.aborted) return 130;
    const shareMs = budgetMs - (Date.now() - startedMs) - RESERVE_PER_LATER_TARGET_MS * (runs.length - 1 - i);
    results.push(await measureTarget(run, prefix, options, shareMs, (l) => console.log(l)));
  }
  if (abort.signal.aborted) return 130;
  const elapsedSeconds = Math.round((Date.now() - startedMs) / 100) / 10;
  console.log('');
  console.log(formatReport(results, options));
  if (runs.filter((r) => r.target === 'openigd').length > 1) console.log(`\n${formatBuilds(results, options.builds.map((b) => b.name), options)}`);
  console.log(`(${elapsedSeconds} s)`);
  if (options.jsonPath) {
    const buildInfo = builds.map((b) => (b.ok ? { name: b.build.name, dir: b.build.dir, commit: b.build.commit } : b));
    const report = { date: new Date(startedMs).toISOString(), elapsedSeconds, options, environment, builds: buildInfo, results };
    await writeJsonReport(options.jsonPath, report);
  }
  return results.some((r) => r.available) ? 0 : 1;
}

await runBench('igd-bench', main);
