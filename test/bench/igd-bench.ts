/**
 * IGD benchmark (issue 4, acceptance 7): for miniupnpd (Debian's nftables build, in
 * namespaces of its own, see lib/miniupnpd.ts) and for OpenIGD (the gateway's lab), in
 * one run:
 *   1. AddPortMapping requests/s from one client, one request at a time, while the table
 *      grows from 0 to `--count` mappings, timed per `--step` mappings;
 *   2. the time to list them all with GetGenericPortMappingEntry, index 0, 1, … until
 *      error 713 (IGD:1; miniupnpd crashes on IGD:2 GetListOfPortMappings past ≈ 132);
 *   3. the table emptied (miniupnpd restarted, the lab rebuilt), AddPortMapping requests/s
 *      from `--clients` concurrent clients over the same growth.
 * Then the table, and the ratios OpenIGD / miniupnpd.
 *
 *   node test/dist/bench/igd-bench.js [--count 3000] [--step 500] [--clients 4]
 *        [--targets miniupnpd,openigd] [--keep-alive] [--json FILE]
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
import { parseArgs } from 'node:util';
import { Cleanup, uniquePrefix } from '../lib/ns.js';
import { debVersions, runBench, writeJsonReport } from './lib/bench-main.js';
import { startMiniupnpd } from './lib/miniupnpd.js';
import { runSoapWorker, type ControlPoint, type StepTiming, type WorkerResult } from './lib/soap-worker.js';

const TARGETS = ['miniupnpd', 'openigd'] as const;
type TargetName = (typeof TARGETS)[number];
const LABELS = { miniupnpd: 'miniupnpd', openigd: 'OpenIGD' } as const satisfies Record<TargetName, string>;

/** Where the gateway's lab keeps its files. */
const LAB_DIR = '/run/openigd-lab';
/** The whole run's budget. */
const BUDGET_MS = 300_000;
/** Kept back for each target still to run when one starts (OpenIGD, run second, should need far less). */
const RESERVE_PER_LATER_TARGET_MS = 80_000;
/** Upper bounds per phase within a target's share. */
const ADD_PHASE_MAX_MS = 90_000;
const LIST_PHASE_MAX_MS = 20_000;
/** What a worker may take beyond its job's deadline (start-up, last requests in flight). */
const WORKER_MARGIN_MS = 15_000;
/** External ports used by the bench: FIRST_PORT … FIRST_PORT + count − 1. */
const FIRST_PORT = 20_000;
/** The issue's target: OpenIGD ≥ 10× miniupnpd. */
const TARGET_RATIO = 10;

const USAGE = 'usage: node test/dist/bench/igd-bench.js [--count 1..40000] [--step N] [--clients 1..16] [--targets miniupnpd,openigd] [--keep-alive] [--json FILE]';

interface Options {
  readonly count: number;
  readonly step: number;
  readonly clients: number;
  readonly targets: readonly TargetName[];
  readonly keepAlive: boolean;
  readonly jsonPath: string | null;
}

function parseOptions(argv: readonly string[]): { ok: true; options: Options } | { ok: false; reason: string } {
  let values: { count?: string; step?: string; clients?: string; targets?: string; 'keep-alive'?: boolean; json?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        count: { type: 'string' }, step: { type: 'string' }, clients: { type: 'string' },
        targets: { type: 'string' }, 'keep-alive': { type: 'boolean' }, json: { type: 'string' },
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
  if (!(count >= 1 && count <= 40_000)) return { ok: false, reason: '--count must be an integer from 1 to 40000' };
  if (!(step >= 1 && step <= count)) return { ok: false, reason: '--step must be an integer from 1 to --count' };
  if (!(clients >= 1 && clients <= 16)) return { ok: false, reason: '--clients must be an integer from 1 to 16' };
  const names = values.targets === undefined ? [...TARGETS] : values.targets.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(TARGETS as readonly string[]).includes(n));
  if (unknown.length || !names.length) return { ok: false, reason: `--targets takes ${TARGETS.join(', ')}` };
  if (values.json === '') return { ok: false, reason: '--json needs a file name' };
  return {
    ok: true,
    options: { count, step, clients, targets: TARGETS.filter((t) => names.includes(t)), keepAlive: values['keep-alive'] === true, jsonPath: values.json ?? null },
  };
}

type AddOutcome =
  | { readonly ok: true; readonly added: number; readonly failed: number; readonly firstFailure: string | null; readonly totalMs: number; readonly steps: readonly StepTiming[]; readonly stoppedByDeadline: boolean }
  | { readonly ok: false; readonly reason: string };
type ListOutcome = { readonly ok: true; readonly entries: number; readonly totalMs: number; readonly end: string } | { readonly ok: false; readonly reason: string };

interface TargetResult {
  readonly target: TargetName;
  readonly available: boolean;
  readonly reason: string | null;
  readonly description: string | null;
  readonly sequential: AddOutcome;
  readonly list: ListOutcome;
  readonly concurrent: AddOutcome;
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

async function setUpOpenIgd(prefix: string, cleanup: Cleanup, log: (l: string) => void): Promise<TargetSetup> {
  let gateway: typeof import('@openigd/gateway');
  try {
    gateway = await import('@openigd/gateway');
  } catch (e) {
    return { ok: false, reason: `cannot load @openigd/gateway: ${firstLine(e)}` };
  }
  const labPrefix = `${prefix}o`;
  cleanup.add(() => gateway.labDown(labPrefix, LAB_DIR));
  const up = async (): Promise<{ ok: true; igd: Omit<IgdUnderTest, 'reset'> } | { ok: false; reason: string }> => {
    let lab: Awaited<ReturnType<typeof gateway.labUp>>;
    try {
      // The per-source request limit is for floods; the bench is one client asking as fast as it can.
      lab = await gateway.labUp({ prefix: labPrefix, dir: LAB_DIR, extraConfig: 'igd: { requestRate: { perSecond: 1000000, burst: 1000000 } }' });
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
    log(`OpenIGD: lab ${labPrefix}, daemon pid ${lab.daemonPid}, ${d.control.controlUrl}`);
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

/** Sets one target up, runs the three phases within `shareMs`, and always tears it down. */
async function measureTarget(name: TargetName, prefix: string, options: Options, shareMs: number, log: (l: string) => void): Promise<TargetResult> {
  const cleanup = new Cleanup();
  const startMs = Date.now();
  const left = () => shareMs - (Date.now() - startMs);
  const unavailable = (reason: string): TargetResult => ({ target: name, available: false, reason, description: null, sequential: NOT_RUN, list: NOT_RUN, concurrent: NOT_RUN });
  try {
    const setup = await (name === 'miniupnpd' ? setUpMiniupnpd : setUpOpenIgd)(prefix, cleanup, log).catch((e: unknown) => ({ ok: false as const, reason: `setup failed: ${firstLine(e)}` }));
    if (!setup.ok) {
      log(`${LABELS[name]}: not available (${setup.reason})`);
      return unavailable(setup.reason);
    }
    const { igd } = setup;
    log(`${LABELS[name]}: ${igd.description}`);
    const add = async (clients: number, capMs: number): Promise<AddOutcome> => {
      const deadlineMs = Math.max(1_000, Math.min(capMs, left() - 5_000));
      return asAdd(await runSoapWorker(igd.clientNs, {
        mode: 'add', control: igd.control, internalClient: igd.internalClient, firstPort: FIRST_PORT, count: options.count,
        clients, stepSize: options.step, keepAlive: options.keepAlive, deadlineMs,
      }, deadlineMs + WORKER_MARGIN_MS, abort.signal));
    };

    const sequential = await add(1, ADD_PHASE_MAX_MS);
    log(`  sequential adds: ${describeAdd(sequential)}`);
    let list: ListOutcome = NOT_RUN;
    if (!abort.signal.aborted) {
      const deadlineMs = Math.max(1_000, Math.min(LIST_PHASE_MAX_MS, left() - 5_000));
      list = asList(await runSoapWorker(igd.clientNs, {
        mode: 'list', control: igd.control, maxEntries: options.count + 10, keepAlive: options.keepAlive, deadlineMs,
      }, deadlineMs + WORKER_MARGIN_MS, abort.signal));
      log(`  list: ${list.ok ? `${list.entries} entries in ${(list.totalMs / 1000).toFixed(2)} s, ended by ${list.end}` : `failed: ${list.reason}`}`);
    }
    let concurrent: AddOutcome = NOT_RUN;
    if (!abort.signal.aborted && left() > 10_000) {
      try {
        await igd.reset();
        concurrent = await add(options.clients, ADD_PHASE_MAX_MS);
      } catch (e) {
        concurrent = { ok: false, reason: `reset failed: ${firstLine(e)}` };
      }
      log(`  ${options.clients} concurrent clients: ${describeAdd(concurrent)}`);
    } else if (!abort.signal.aborted) {
      concurrent = { ok: false, reason: 'no time left in the budget' };
    }
    return { target: name, available: true, reason: null, description: igd.description, sequential, list, concurrent };
  } finally {
    await cleanup.run().catch((e: unknown) => {
      process.exitCode = 1;
      console.error(`${LABELS[name]}: cleanup failed: ${e instanceof AggregateError ? e.errors.map(String).join('; ') : String(e)}`);
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

function formatReport(results: readonly TargetResult[], options: Options): string {
  const bounds: number[] = [];
  for (let from = 0; from < options.count; from += options.step) bounds.push(from);
  const header = ['requests/s', ...bounds.map((f) => `${f}–${Math.min(f + options.step, options.count)}`), 'overall', 'last/first'];
  const rows: string[][] = [];
  const notes: string[] = [];
  const by = (t: TargetName) => results.find((r) => r.target === t && r.available);
  const phases = [['sequential', 'sequential'], ['concurrent', `${options.clients} clients`]] as const;
  for (const r of results) {
    if (!r.available) {
      notes.push(`${LABELS[r.target]}: not available (${r.reason})`);
      continue;
    }
    for (const [key, label] of phases) {
      const o = r[key];
      const rates = stepRates(o, bounds);
      const first = rates[0] ?? null;
      const last = [...rates].reverse().find((v) => v !== null) ?? null;
      rows.push([`${LABELS[r.target]} ${label}`, ...rates.map(fmt), fmt(overall(o)), first !== null && last !== null ? (last / first).toFixed(2) : 'n/a']);
      if (!o.ok) notes.push(`${LABELS[r.target]} ${label}: ${o.reason}`);
      else if (o.stoppedByDeadline || o.failed) notes.push(`${LABELS[r.target]} ${label}: ${describeAdd(o)}`);
    }
  }
  const m = by('miniupnpd');
  const oi = by('openigd');
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

  out.push('list all through GetGenericPortMappingEntry (index 0.. until 713):');
  for (const r of results) {
    if (!r.available) continue;
    const l = r.list;
    out.push(l.ok
      ? `  ${LABELS[r.target].padEnd(9)} ${l.entries} entries in ${(l.totalMs / 1000).toFixed(2)} s (${fmt(listRate(l))} entries/s), ended by ${l.end === '713' ? 'error 713' : l.end}`
      : `  ${LABELS[r.target].padEnd(9)} failed: ${l.reason}`);
  }
  if (m && oi) {
    const ratios = [div(overall(oi.sequential), overall(m.sequential)), div(overall(oi.concurrent), overall(m.concurrent)), div(listRate(oi.list), listRate(m.list))];
    out.push('', `OpenIGD / miniupnpd: sequential adds ${times(ratios[0]!)}, ${options.clients}-client adds ${times(ratios[1]!)}, listing ${times(ratios[2]!)}`);
    const verdict = ratios[0] === null || ratios[1] === null ? 'n/a' : ratios[0] >= TARGET_RATIO && ratios[1] >= TARGET_RATIO ? 'met' : 'NOT met';
    out.push(`target (issue 4): OpenIGD adds ≥ ${TARGET_RATIO}× miniupnpd: ${verdict}`);
  } else {
    out.push('', 'OpenIGD / miniupnpd: n/a (both are needed)');
  }
  return [...out, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

async function main(): Promise<number> {
  const parsed = parseOptions(process.argv.slice(2));
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
    + `${options.count} mappings, step ${options.step}, ${options.clients} concurrent clients, ${options.keepAlive ? 'keep-alive' : 'a connection per request'}, prefix ${prefix}`);

  const results: TargetResult[] = [];
  for (const [i, name] of options.targets.entries()) {
    if (abort.signal.aborted) return 130;
    const shareMs = BUDGET_MS - (Date.now() - startedMs) - RESERVE_PER_LATER_TARGET_MS * (options.targets.length - 1 - i);
    results.push(await measureTarget(name, prefix, options, shareMs, (l) => console.log(l)));
  }
  if (abort.signal.aborted) return 130;
  const elapsedSeconds = Math.round((Date.now() - startedMs) / 100) / 10;
  console.log('');
  console.log(formatReport(results, options));
  console.log(`(${elapsedSeconds} s)`);
  if (options.jsonPath) {
    const report = { date: new Date(startedMs).toISOString(), elapsedSeconds, options, environment, results };
    await writeJsonReport(options.jsonPath, report);
  }
  return results.some((r) => r.available) ? 0 : 1;
}

await runBench('igd-bench', main);
