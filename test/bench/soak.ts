/**
 * The soak (issue 14): one lab of the gateway (a prefix of its own) under everything at
 * once for `--minutes` minutes, while the daemon is sampled every second.
 *
 *   npm run soak -- --minutes 60 [--json FILE]
 *   npm run soak -- --judge FILE      (the verdicts again, from a run saved with --json)
 *
 * Traffic through the NAT, from LAN host h2 to the internet namespace, each a loop
 * bounded in count and time: TCP (iperf3, 20 s runs at 20 Mbit/s, then HTTP fetches of a
 * 64 KiB file with curl, 5 a second: a new flow each), UDP (iperf3 -u, 20 s runs at
 * 5 Mbit/s) and ICMP (ping, 5 a second). Control-point churn from h1 (lib/soak-worker.ts):
 * SOAP adds and deletes of static mappings, adds with 10–20 s leases left to expire,
 * table walks, NAT-PMP adds and deletes with natpmpc.
 *
 * Every second: the daemon's RSS (/proc/<pid>/status), heap in use and the event loop's
 * largest delay since the last scrape (the admin socket's /metrics, prom-client's process
 * metrics). At the end the table of lib/soak-stats.ts (warm-up and verdict rules there)
 * and the exit code: 0 when memory is flat and latency bounded, 1 otherwise or on any
 * failure. Needs root. Everything it builds is removed in `finally`, also on SIGINT/SIGTERM
 * (the run then ends early and reports what it has).
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { background, Cleanup, isRoot, uniquePrefix, type Background } from '../lib/ns.js';
import { runBench, writeJsonReport } from './lib/bench-main.js';
import { runSoapWorker } from './lib/soap-worker.js';
import {
  formatSoakTable, latencyVerdict, memoryVerdict, promValue, vmRssBytes, warmupSeconds,
  type LatencyVerdict, type SoakSample, type TimedAdd,
} from './lib/soak-stats.js';
import { type SoakJob, type SoakReport } from './lib/soak-worker.js';

const LAB_DIR = '/run/openigd-lab';
const USAGE = 'usage: npm run soak -- --minutes 1..1440 [--json FILE] | --judge FILE';
const SERVER = '198.51.100.10';
const HTTP_SERVER = '198.51.100.11';
const SOAK_WORKER = new URL('./lib/soak-worker.js', import.meta.url).pathname;

const abort = new AbortController();

type Options = { ok: true; minutes: number; json: string | null; judge: string | null } | { ok: false; reason: string };

function parseOptions(argv: readonly string[]): Options {
  try {
    const { values } = parseArgs({ args: [...argv], options: { minutes: { type: 'string' }, json: { type: 'string' }, judge: { type: 'string' } }, strict: true });
    if (values.judge !== undefined && (values.minutes !== undefined || values.json !== undefined)) return { ok: false, reason: '--judge reads a saved run: it takes no --minutes or --json' };
    const minutes = values.minutes === undefined ? 60 : Number(values.minutes);
    if (!(minutes > 0 && minutes <= 1440)) return { ok: false, reason: '--minutes must be a number from 1 to 1440 (fractions allowed)' };
    return { ok: true, minutes, json: values.json ?? null, judge: values.judge ?? null };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/** What `--json` saves; `adds` ([t, ms] pairs) is missing from files of runs before it was added. */
interface SavedRun {
  readonly minutes: number;
  readonly samples: SoakSample[];
  readonly adds?: [number, number][];
  readonly churn: { readonly addFailures: number };
  readonly latency: LatencyVerdict;
}

/**
 * `--judge FILE`: the verdicts of a saved run, by today's rules (lib/soak-stats.ts). A file
 * without the adds keeps the latency verdict it was saved with.
 */
async function judgeSaved(path: string): Promise<number> {
  const run = JSON.parse(await readFile(path, 'utf8')) as SavedRun;
  const ran = run.minutes * 60;
  const memory = [
    memoryVerdict('RSS', run.samples, (s) => s.rssBytes, ran),
    memoryVerdict('heap used', run.samples, (s) => s.heapUsedBytes, ran),
  ];
  const latency = run.adds
    ? latencyVerdict(run.adds.map(([t, ms]) => ({ t, ms })), run.churn.addFailures, run.samples, ran)
    : run.latency;
  console.log(`soak (saved): ${path}, ${run.minutes.toFixed(1)} min, ${run.samples.length} samples${run.adds ? '' : ' (no adds saved: the latency verdict is the one the run made)'}`);
  console.log(formatSoakTable(memory, latency, warmupSeconds(ran)));
  return memory.every((m) => m.flat) && latency.bounded ? 0 : 1;
}

/** GET over the admin Unix socket, the body as text. */
function adminText(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${path}: HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * A shell loop in `ns` that runs `cmd` until `seconds` pass or `max` runs are done; prints
 * `ok`/`fail` per run. Stopped (SIGTERM), it ends the run in progress too.
 */
function loop(ns: string, cmd: string, seconds: number, max: number, pause: string): Background {
  const script = `c=; trap '[ -n "$c" ] && kill "$c" 2>/dev/null; exit 0' TERM; `
    + `end=$(( $(date +%s) + ${Math.ceil(seconds)} )); n=0; `
    + `while [ "$(date +%s)" -lt "$end" ] && [ "$n" -lt ${max} ]; do `
    + `${cmd} >/dev/null 2>&1 & c=$!; if wait "$c"; then echo ok; else echo fail; fi; c=; n=$((n+1)); sleep ${pause}; done`;
  return background(ns, 'sh', ['-c', script]);
}

function countRuns(out: string): { ok: number; fail: number } {
  const lines = out.split('\n');
  return { ok: lines.filter((l) => l === 'ok').length, fail: lines.filter((l) => l === 'fail').length };
}

async function startTraffic(ns: { h2: string; inet: string }, seconds: number, dir: string, cleanup: Cleanup): Promise<Record<string, Background>> {
  const keep = (b: Background): Background => {
    cleanup.add(() => b.stop());
    return b;
  };
  const www = join(dir, 'www');
  await mkdir(www, { recursive: true });
  await writeFile(join(www, 'f'), Buffer.alloc(64 << 10, 0x61));
  const tcpServer = keep(background(ns.inet, 'iperf3', ['-s', '-B', SERVER, '-p', '5201']));
  const udpServer = keep(background(ns.inet, 'iperf3', ['-s', '-B', SERVER, '-p', '5202']));
  const httpd = keep(background(ns.inet, 'busybox', ['httpd', '-f', '-p', `${HTTP_SERVER}:8080`, '-h', www]));
  await tcpServer.listening('tcp', 5201);
  await udpServer.listening('tcp', 5202);
  await httpd.listening('tcp', 8080);
  const runs = Math.ceil(seconds / 20) + 5;
  return {
    'TCP iperf3 20 s runs': keep(loop(ns.h2, `iperf3 -c ${SERVER} -p 5201 -t 20 -b 20M`, seconds, runs, '1')),
    'UDP iperf3 20 s runs': keep(loop(ns.h2, `iperf3 -u -c ${SERVER} -p 5202 -t 20 -b 5M`, seconds, runs, '1')),
    'TCP curl fetches': keep(loop(ns.h2, `curl -s -o /dev/null --max-time 5 http://${HTTP_SERVER}:8080/f`, seconds, Math.ceil(seconds * 5), '0.2')),
    'ICMP ping': keep(background(ns.h2, 'ping', ['-q', '-i', '0.2', '-w', String(Math.ceil(seconds)), SERVER])),
  };
}

/**
 * Starts the churn worker in `ns`; its reports are handed to `onReport` as they come.
 * It ends at the job's end by itself, or early when the run is aborted (SIGTERM: it
 * sends its last report and exits).
 */
function startChurn(ns: string, job: SoakJob, onReport: (r: SoakReport) => void, cleanup: Cleanup): Promise<number | null> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, SOAK_WORKER, JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  abort.signal.addEventListener('abort', stop, { once: true });
  cleanup.add(async () => {
    stop();
    await exited;
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      onReport(JSON.parse(line) as SoakReport);
    } catch {
      console.error(`soak: worker said ${line.slice(0, 200)}`);
    }
  });
  return exited;
}

/** Waits `ms`, or less when the run is aborted. */
const sleep = (ms: number) => new Promise<void>((r) => {
  const done = () => {
    clearTimeout(t);
    abort.signal.removeEventListener('abort', done);
    r();
  };
  const t = setTimeout(done, Math.max(0, ms));
  abort.signal.addEventListener('abort', done);
});

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (!opts.ok) {
    console.error(`${opts.reason}\n${USAGE}`);
    return 2;
  }
  if (opts.judge) return judgeSaved(opts.judge);
  if (!isRoot()) {
    console.error('soak: needs root (network namespaces)');
    return 2;
  }
  const gateway = await import('@openigd/gateway');
  const seconds = opts.minutes * 60;
  const prefix = uniquePrefix('soak');
  const cleanup = new Cleanup();
  cleanup.add(() => gateway.labDown(prefix, LAB_DIR));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { console.log(`soak: ${sig}, stopping`); abort.abort(); });
  try {
    const lab = await gateway.labUp({ prefix, dir: LAB_DIR, log: (l) => console.log(`lab: ${l}`) });
    const client = lab.hostAddresses.h1;
    if (!client) throw new Error('h1 got no address');
    const d = await runSoapWorker(lab.namespaces.h1, { mode: 'describe', descriptionUrl: `http://${lab.lanAddress}:5000/rootDesc.xml` }, 15_000, abort.signal);
    if (!d.ok || d.mode !== 'describe') throw new Error(`description: ${d.ok ? 'wrong answer' : d.reason}`);
    const start = Date.now();
    const at = () => (Date.now() - start) / 1000;
    console.log(`soak: lab ${prefix}, daemon pid ${lab.daemonPid}, ${opts.minutes} min from ${new Date(start).toISOString()}, warm-up ${warmupSeconds(seconds).toFixed(0)} s`);
    const traffic = await startTraffic(lab.namespaces, seconds, lab.dir, cleanup);
    const adds: TimedAdd[] = [];
    const churn = { addFailures: 0, deletes: 0, lists: 0, maxListedAfterWarmup: 0, pmpOk: 0, pmpFailures: 0, failures: [] as string[] };
    const worker = startChurn(lab.namespaces.h1, {
      control: d.control, internalClient: client, gateway: lab.lanAddress, startEpochMs: start, durationMs: seconds * 1000,
    }, (r) => {
      for (const [t, ms] of r.adds) adds.push({ t, ms });
      churn.addFailures += r.addFailures;
      churn.deletes += r.deletes;
      churn.lists += r.lists;
      if (r.lists && at() >= warmupSeconds(seconds)) churn.maxListedAfterWarmup = Math.max(churn.maxListedAfterWarmup, r.listed);
      churn.pmpOk += r.pmpOk;
      churn.pmpFailures += r.pmpFailures;
      if (r.firstFailure && churn.failures.length < 10) churn.failures.push(`${at().toFixed(0)} s: ${r.firstFailure}`);
    }, cleanup);

    const samples: SoakSample[] = [];
    const loads: number[] = [];
    let sampleErrors = 0;
    let daemonGone = false;
    for (let i = 1; i <= seconds && !abort.signal.aborted; i++) {
      await sleep(start + i * 1000 - Date.now());
      try {
        const [procStatus, metrics] = await Promise.all([readFile(`/proc/${lab.daemonPid}/status`, 'utf8'), adminText(lab.adminSocket, '/metrics')]);
        const rss = vmRssBytes(procStatus);
        const heap = promValue(metrics, 'openigd_nodejs_heap_size_used_bytes');
        const lag = promValue(metrics, 'openigd_nodejs_eventloop_lag_max_seconds');
        if (rss === null || heap === null || lag === null) throw new Error('a value is missing');
        samples.push({ t: at(), rssBytes: rss, heapUsedBytes: heap, lagMaxSeconds: lag });
      } catch (e) {
        sampleErrors++;
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          daemonGone = true;
          console.error(`soak: the daemon (pid ${lab.daemonPid}) is gone at ${at().toFixed(0)} s`);
          break;
        }
      }
      if (i % 60 === 0) {
        loads.push(loadavg()[0]!);
        const s = samples.at(-1);
        const recent = adds.filter((a) => a.t >= at() - 60).map((a) => a.ms);
        console.log(`soak: ${(i / 60).toFixed(0)} min, RSS ${((s?.rssBytes ?? 0) / 1048576).toFixed(1)} MiB, heap ${((s?.heapUsedBytes ?? 0) / 1048576).toFixed(1)} MiB, `
          + `adds ${recent.length} in the last minute (max ${recent.length ? Math.max(...recent).toFixed(1) : '-'} ms), load ${loadavg()[0]!.toFixed(2)}`);
      }
    }
    const workerCode = await worker;
    abort.abort();
    const ran = Math.min(seconds, at());
    const memory = [
      memoryVerdict('RSS', samples, (s) => s.rssBytes, ran),
      memoryVerdict('heap used', samples, (s) => s.heapUsedBytes, ran),
    ];
    const latency = latencyVerdict(adds, churn.addFailures, samples, ran);
    console.log(`\nsoak: ${(ran / 60).toFixed(1)} min, ${samples.length} samples (${sampleErrors} failed), from ${new Date(start).toISOString()}`);
    console.log(formatSoakTable(memory, latency, warmupSeconds(ran)));
    const trafficRuns = Object.fromEntries(Object.entries(traffic).map(([name, b]) => [name, countRuns(b.output())]));
    for (const [name, b] of Object.entries(traffic)) {
      console.log(`traffic ${name}: ${name === 'ICMP ping' ? b.output().split('\n').filter((l) => /packets transmitted/.test(l)).join(' ') || 'still running' : JSON.stringify(trafficRuns[name])}`);
    }
    console.log(`churn: ${adds.length} adds timed, ${churn.addFailures} failed, ${churn.deletes} deletes, ${churn.lists} table walks `
      + `(largest after warm-up ${churn.maxListedAfterWarmup} entries), NAT-PMP ${churn.pmpOk} ok / ${churn.pmpFailures} failed; worker exit ${workerCode}`);
    if (churn.failures.length) console.log(`churn failures (first per 5 s, up to 10):\n  ${churn.failures.join('\n  ')}`);
    const loadText = loads.length ? `min ${Math.min(...loads).toFixed(2)}, mean ${(loads.reduce((a, b) => a + b, 0) / loads.length).toFixed(2)}, max ${Math.max(...loads).toFixed(2)}` : 'not sampled';
    console.log(`load average (1 min, sampled each minute): ${loadText}`);
    if (opts.json) {
      await writeJsonReport(opts.json, {
        start: new Date(start).toISOString(), minutes: ran / 60, memory, latency, churn, traffic: trafficRuns, loads, samples,
        adds: adds.map((a) => [a.t, a.ms]),
      });
    }
    const flat = memory.every((m) => m.flat);
    return flat && latency.bounded && !daemonGone ? 0 : 1;
  } finally {
    await cleanup.run();
  }
}

void runBench('soak', main);
