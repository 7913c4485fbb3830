/**
 * NAT-PMP and PCP benchmark (issue 10, acceptance 7): MAP requests/s (RFC 6886 op 1, and
 * RFC 6887 MAP for UDP, each for a new internal port, so every request creates a mapping)
 * while the table grows to `--count` mappings, from 1 client and from `--clients` clients
 * (each its own LAN address, one request in flight each), timed per `--step` mappings, for
 * miniupnpd (Debian's nftables build with `enable_natpmp=yes`, which also answers PCP, in
 * namespaces of its own: lib/miniupnpd.ts) and for OpenIGD (the gateway's lab, whose every
 * answer waits for the journal's synchronous write), in one run; each phase starts from an empty
 * table; then the table and the ratios OpenIGD / miniupnpd per protocol.
 *
 *   node test/dist/bench/pmp-bench.js [--count 10000] [--step 1000] [--clients 8]
 *        [--phase-seconds 60] [--targets miniupnpd,openigd] [--protocols natpmp,pcp] [--json FILE]
 *
 * The clients run in a child Node process inside each gateway's LAN namespace
 * (lib/natpmp-load-worker.ts). Needs root. Every phase has a deadline (a phase cut short
 * says so). Everything it builds is removed in `finally`, also on SIGINT/SIGTERM; it ends
 * only processes it started, by pid.
 */
import { execFile } from 'node:child_process';
import { cpus, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Cleanup, must, uniquePrefix } from '../lib/ns.js';
import { debVersions, runBench, writeJsonReport } from './lib/bench-main.js';
import { MINIUPNPD_ADDRESSES, startMiniupnpd } from './lib/miniupnpd.js';
import type { NatPmpLoadJob, NatPmpLoadResult } from './lib/natpmp-load-worker.js';

const TARGETS = ['miniupnpd', 'openigd'] as const;
const PROTOCOLS = ['natpmp', 'pcp'] as const;
type ProtocolName = (typeof PROTOCOLS)[number];
const PROTOCOL_LABELS = { natpmp: 'NAT-PMP', pcp: 'PCP' } as const satisfies Record<ProtocolName, string>;
type TargetName = (typeof TARGETS)[number];
const LABELS = { miniupnpd: 'miniupnpd', openigd: 'OpenIGD' } as const satisfies Record<TargetName, string>;
const LAB_DIR = '/run/openigd-lab';
const WORKER_PATH = fileURLToPath(new URL('./lib/natpmp-load-worker.js', import.meta.url));
const FIRST_INTERNAL_PORT = 20_000;
/** Extra LAN addresses for the clients: .<base>+i on the client namespace's eth0. */
const CLIENT_ADDRESS_BASE = 210;
const TARGET_RATIO = 10;
const USAGE = 'usage: node test/dist/bench/pmp-bench.js [--count 1..40000] [--step N] [--clients 1..32] [--phase-seconds 5..300] [--targets miniupnpd,openigd] [--protocols natpmp,pcp] [--json FILE]';

interface Options {
  readonly count: number;
  readonly step: number;
  readonly clients: number;
  readonly phaseMs: number;
  readonly targets: readonly TargetName[];
  readonly protocols: readonly ProtocolName[];
  readonly jsonPath: string | null;
}

function parseOptions(argv: readonly string[]): { ok: true; options: Options } | { ok: false; reason: string } {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { count: { type: 'string' }, step: { type: 'string' }, clients: { type: 'string' }, 'phase-seconds': { type: 'string' }, targets: { type: 'string' }, protocols: { type: 'string' }, json: { type: 'string' } },
      strict: true, allowPositionals: false,
    }));
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
  const int = (v: string | undefined, dflt: number) => (v === undefined ? dflt : /^\d+$/.test(v) ? Number(v) : NaN);
  const count = int(values.count, 10_000);
  const step = int(values.step, 1000);
  const clients = int(values.clients, 8);
  const phaseSeconds = int(values['phase-seconds'], 60);
  if (!(count >= 1 && count <= 40_000)) return { ok: false, reason: '--count must be an integer from 1 to 40000' };
  if (!(step >= 1 && step <= count)) return { ok: false, reason: '--step must be an integer from 1 to --count' };
  if (!(clients >= 1 && clients <= 32)) return { ok: false, reason: '--clients must be an integer from 1 to 32' };
  if (!(phaseSeconds >= 5 && phaseSeconds <= 300)) return { ok: false, reason: '--phase-seconds must be an integer from 5 to 300' };
  const names = values.targets === undefined ? [...TARGETS] : values.targets.split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length || names.some((n) => !(TARGETS as readonly string[]).includes(n))) return { ok: false, reason: `--targets takes ${TARGETS.join(', ')}` };
  const protocols = values.protocols === undefined ? [...PROTOCOLS] : values.protocols.split(',').map((s) => s.trim()).filter(Boolean);
  if (!protocols.length || protocols.some((n) => !(PROTOCOLS as readonly string[]).includes(n))) return { ok: false, reason: `--protocols takes ${PROTOCOLS.join(', ')}` };
  if (values.json === '') return { ok: false, reason: '--json needs a file name' };
  return {
    ok: true,
    options: {
      count, step, clients, phaseMs: phaseSeconds * 1000, targets: TARGETS.filter((t) => names.includes(t)),
      protocols: PROTOCOLS.filter((p) => protocols.includes(p)), jsonPath: values.json ?? null,
    },
  };
}

/** A gateway under test: where its clients live and how to get an empty table. */
interface PmpTarget {
  readonly description: string;
  readonly clientNs: string;
  readonly server: string;
  /** The client addresses, `clients` of them, present on the client namespace's eth0. */
  readonly sources: readonly string[];
  /** Empties the mapping table (and puts the client addresses back). */
  reset(): Promise<void>;
}

type Setup = { ok: true; target: PmpTarget } | { ok: false; reason: string };

const abort = new AbortController();
const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

function clientAddresses(lanPrefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${lanPrefix}.${CLIENT_ADDRESS_BASE + i}`);
}

async function addAddresses(ns: string, addresses: readonly string[], prefixLength: number): Promise<void> {
  for (const a of addresses) await must(ns, 'ip', ['addr', 'add', `${a}/${prefixLength}`, 'dev', 'eth0']);
}

async function setUpMiniupnpd(prefix: string, clients: number, cleanup: Cleanup, log: (l: string) => void): Promise<Setup> {
  const setup = await startMiniupnpd({ prefix: `${prefix}m`, natpmp: true, log }, cleanup);
  if (!setup.ok) return setup;
  const h = setup.harness;
  const a = MINIUPNPD_ADDRESSES;
  const sources = clientAddresses(a.client.replace(/\.\d+$/, ''), clients);
  await addAddresses(h.clientNs, sources, a.lanPrefixLength);
  return {
    ok: true,
    target: {
      description: `${h.version}, enable_natpmp=yes, pid ${h.pid()} in ${h.namespaces.router}, external ${h.externalAddress} (STUN); mappings in memory and nftables, nothing on disk`,
      clientNs: h.clientNs, server: a.routerLan, sources, reset: () => h.restart(),
    },
  };
}

async function setUpOpenIgd(prefix: string, clients: number, count: number, cleanup: Cleanup, log: (l: string) => void): Promise<Setup> {
  const gateway = await import('@openigd/gateway');
  const labPrefix = `${prefix}o`;
  cleanup.add(() => gateway.labDown(labPrefix, LAB_DIR));
  const sources = clientAddresses('192.168.1', clients);
  const up = async (): Promise<{ pid: number; ns: string; h1: string }> => {
    const lab = await gateway.labUp({ prefix: labPrefix, dir: LAB_DIR, extraConfig: `igd: { maxMappings: ${Math.min(65_535, count + 100)} }\nnatpmp: { requestRate: { perSecond: 1000000, burst: 1000000 } }` });
    await addAddresses(lab.namespaces.h1, sources, 24);
    log(`OpenIGD: lab ${labPrefix}, daemon pid ${lab.daemonPid}`);
    return { pid: lab.daemonPid, ns: lab.namespaces.gw, h1: lab.namespaces.h1 };
  };
  let lab: Awaited<ReturnType<typeof up>>;
  try {
    lab = await up();
  } catch (e) {
    return { ok: false, reason: `lab up failed: ${firstLine(e)}` };
  }
  return {
    ok: true,
    target: {
      description: `OpenIGD lab, daemon pid ${lab.pid} in ${lab.ns}; every answer after the journal's synchronous write`,
      clientNs: lab.h1, server: '192.168.1.1', sources,
      reset: async () => {
        lab = await up();
      },
    },
  };
}

function runWorker(ns: string, job: NatPmpLoadJob, timeoutMs: number): Promise<NatPmpLoadResult> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, WORKER_PATH, JSON.stringify(job)], {
      timeout: timeoutMs, maxBuffer: 1 << 20, killSignal: 'SIGKILL', signal: abort.signal,
    }, (err, stdout, stderr) => {
      try {
        resolve(JSON.parse(String(stdout).trim().split('\n').pop() ?? '') as NatPmpLoadResult);
      } catch {
        resolve({ ok: false, reason: `worker: ${err ? err.message.split('\n')[0] : 'no result'} ${String(stderr).trim().split('\n').slice(-2).join(' | ')}` });
      }
    });
  });
}

interface Phase { readonly protocol: ProtocolName; readonly clients: number; readonly result: NatPmpLoadResult }
interface TargetReport { readonly target: TargetName; readonly description: string | null; readonly reason: string | null; readonly phases: readonly Phase[] }

const perSecond = (n: number, ms: number) => (ms > 0 ? (n * 1000) / ms : 0);

function describePhase(p: Phase, step: number): string {
  const r = p.result;
  if (!r.ok) return `${PROTOCOL_LABELS[p.protocol]}, ${p.clients} client(s): failed: ${r.reason}`;
  const rates = r.steps.map((s) => perSecond(step, s.ms).toFixed(0)).join(' ');
  const cut = r.stoppedByDeadline ? ' (stopped by its deadline)' : '';
  const fails = r.failed ? `, ${r.failed} failed (first: ${r.firstFailure})` : '';
  return `${PROTOCOL_LABELS[p.protocol]}, ${p.clients} client(s): ${r.granted} granted in ${(r.totalMs / 1000).toFixed(1)} s = ${perSecond(r.granted, r.totalMs).toFixed(0)}/s${cut}${fails}; `
    + `per ${step}: ${rates || '-'}/s; ${r.retransmissions} retransmissions`;
}

async function measure(name: TargetName, options: Options, prefix: string, cleanup: Cleanup): Promise<TargetReport> {
  const log = (l: string) => console.log(`  ${l}`);
  console.log(`${LABELS[name]}:`);
  const setup = name === 'miniupnpd'
    ? await setUpMiniupnpd(prefix, options.clients, cleanup, log)
    : await setUpOpenIgd(prefix, options.clients, options.count, cleanup, log);
  if (!setup.ok) {
    console.log(`  not available (${setup.reason})`);
    return { target: name, description: null, reason: setup.reason, phases: [] };
  }
  const t = setup.target;
  console.log(`  ${t.description}`);
  const phases: Phase[] = [];
  const plan = options.protocols.flatMap((protocol) => [1, options.clients].map((clients) => ({ protocol, clients })));
  for (const [i, { protocol, clients }] of plan.entries()) {
    if (abort.signal.aborted) break;
    if (i > 0) await t.reset();
    const job: NatPmpLoadJob = {
      server: t.server, sources: t.sources.slice(0, clients), count: options.count, firstInternalPort: FIRST_INTERNAL_PORT,
      step: options.step, lifetimeSeconds: 7200, deadlineMs: options.phaseMs, protocol,
    };
    const result = await runWorker(t.clientNs, job, options.phaseMs + 30_000);
    phases.push({ protocol, clients, result });
    console.log(`  ${describePhase({ protocol, clients, result }, options.step)}`);
  }
  return { target: name, description: t.description, reason: null, phases };
}

function summary(reports: readonly TargetReport[], options: Options): string[] {
  const rate = (r: TargetReport | undefined, protocol: ProtocolName, clients: number) => {
    const p = r?.phases.find((x) => x.protocol === protocol && x.clients === clients)?.result;
    return p?.ok ? perSecond(p.granted, p.totalMs) : null;
  };
  const counts = [1, options.clients];
  const lines = ['', `| gateway | protocol | ${counts.map((c) => `${c} client(s), MAP/s`).join(' | ')} |`, '|---|---|---|---|'];
  for (const r of reports) {
    for (const p of options.protocols) lines.push(`| ${LABELS[r.target]} | ${PROTOCOL_LABELS[p]} | ${counts.map((c) => rate(r, p, c)?.toFixed(0) ?? 'n/a').join(' | ')} |`);
  }
  const mu = reports.find((r) => r.target === 'miniupnpd');
  const oi = reports.find((r) => r.target === 'openigd');
  for (const p of options.protocols) {
    for (const c of counts) {
      const a = rate(oi, p, c);
      const b = rate(mu, p, c);
      if (a !== null && b !== null && b > 0) lines.push(`OpenIGD / miniupnpd, ${PROTOCOL_LABELS[p]}, ${c} client(s): ${(a / b).toFixed(1)}× (target ≥ ${TARGET_RATIO}×)`);
    }
  }
  return lines;
}

async function main(): Promise<number> {
  const parsed = parseOptions(process.argv.slice(2));
  if (!parsed.ok) {
    console.error(`${parsed.reason}\n${USAGE}`);
    return 2;
  }
  const options = parsed.options;
  if (process.getuid?.() !== 0) {
    console.log('pmp-bench: needs root (network namespaces); nothing measured');
    return 0;
  }
  const versions = await debVersions(['miniupnpd-nftables', 'miniupnpd']);
  console.log(`${options.protocols.map((p) => PROTOCOL_LABELS[p]).join(' and ')} MAP requests/s to ${options.count} mappings, 1 and ${options.clients} clients; ${cpus().length} cores, Linux ${release()}, Node ${process.version}; ${JSON.stringify(versions)}`);
  const cleanup = new Cleanup();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const prefix = uniquePrefix('pb');
  const reports: TargetReport[] = [];
  try {
    for (const name of options.targets) reports.push(await measure(name, options, prefix, cleanup));
  } finally {
    await cleanup.run();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  for (const l of summary(reports, options)) console.log(l);
  if (options.jsonPath) await writeJsonReport(options.jsonPath, { options, versions, reports });
  return 0;
}

void runBench('pmp-bench', main);
