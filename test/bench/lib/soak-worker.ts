/**
 * The soak's control-point churn: a child process that the soak starts inside a LAN
 * host's namespace (`ip netns exec <h1> node soak-worker.js '<job JSON>'`). Every step
 * (every 250 ms) it
 *   - deletes and adds again one of 200 static TCP mappings (a ring of ports), the add timed;
 *   - every 2nd step adds a UDP mapping with a short lease (10–20 s) on a ring of 2000
 *     ports, timed, and leaves it to expire;
 *   - every 8th step asks NAT-PMP for a 10 s UDP mapping with natpmpc (a real client),
 *     every 32nd step deletes one (lifetime 0);
 *   - every 40th step walks the table with GetGenericPortMappingEntry until 713.
 * Every 5 s it prints one JSON line (`SoakReport`) of what happened since the last one.
 * Bounded: it stops at the job's deadline or on SIGTERM (after a last report), and each
 * request has a timeout.
 */
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  addPortMappingCall, deletePortMappingCall, getGenericPortMappingEntryCall, postSoap,
  SPECIFIED_ARRAY_INDEX_INVALID, type ControlPoint, type SoapOutcome,
} from '@openigd/conformance';
import { parseJobArgument } from './job-argument.js';

export interface SoakJob {
  readonly control: ControlPoint;
  readonly internalClient: string;
  /** The gateway's LAN address (NAT-PMP server). */
  readonly gateway: string;
  /** `Date.now()` of the run's start: report times are seconds since then. */
  readonly startEpochMs: number;
  readonly durationMs: number;
}

/** What happened in one report interval. */
export interface SoakReport {
  /** [seconds since the run's start, milliseconds] per timed add. */
  readonly adds: readonly (readonly [number, number])[];
  readonly addFailures: number;
  readonly deletes: number;
  readonly lists: number;
  /** Entries the last walk found. */
  readonly listed: number;
  readonly pmpOk: number;
  readonly pmpFailures: number;
  readonly firstFailure: string | null;
}

const STEP_MS = 250;
const REPORT_EVERY_MS = 5_000;
// The rings lie below 32768, the start of Linux's ephemeral ports: the NAT keeps a LAN
// host's source port for a flow when it can, so a port in that range may be held by the
// traffic's flows, and an add on it is rightly refused (718). The first hour-long run
// used 30000–30199, 40000–41999 and 50000–50499 and met that 4 times.
const STATIC_RING = 200;
const STATIC_FIRST = 20_000;
const LEASED_RING = 2_000;
const LEASED_FIRST = 21_000;
const PMP_FIRST = 24_000;
const PMP_RING = 500;
const MAX_LIST = 5_000;
const TIMEOUT_MS = 10_000;

const describe = (o: SoapOutcome): string => (o.ok ? 'ok' : o.kind === 'fault' ? `UPnP error ${o.errorCode}` : `${o.kind}: ${o.reason}`);

export function readSoakJob(text: string | undefined): { ok: true; job: SoakJob } | { ok: false; reason: string } {
  const parsed = parseJobArgument(text);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  const j = v as Partial<SoakJob>;
  if (typeof j.control?.controlUrl !== 'string' || typeof j.control.serviceType !== 'string') return { ok: false, reason: 'control missing' };
  if (typeof j.internalClient !== 'string' || typeof j.gateway !== 'string') return { ok: false, reason: 'internalClient and gateway needed' };
  if (typeof j.startEpochMs !== 'number' || typeof j.durationMs !== 'number' || !(j.durationMs > 0 && j.durationMs <= 24 * 3_600_000)) {
    return { ok: false, reason: 'startEpochMs and durationMs (≤ 24 h) needed' };
  }
  return { ok: true, job: j as SoakJob };
}

/** natpmpc's `-a` request in the LAN; resolves true when it printed a granted mapping. */
function natpmpc(gateway: string, port: number, lifetime: number): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('natpmpc', ['-g', gateway, '-a', String(port), String(port), 'udp', String(lifetime)], { timeout: TIMEOUT_MS },
      (err, stdout) => resolve(!err && /Mapped public port \d+ protocol UDP to local port \d+/.test(String(stdout))));
  });
}

/** A report interval's counts, all zero. */
const noCounts = () => ({ addFailures: 0, deletes: 0, lists: 0, listed: 0, pmpOk: 0, pmpFailures: 0, firstFailure: null as string | null });

class Churn {
  private adds: [number, number][] = [];
  private counts = noCounts();

  constructor(private readonly job: SoakJob) {}

  private fail(what: string): void {
    this.counts.firstFailure ??= what;
  }

  private async timedAdd(port: number, protocol: 'TCP' | 'UDP', leaseSeconds: number): Promise<void> {
    const t = (Date.now() - this.job.startEpochMs) / 1000;
    const started = performance.now();
    const o = await postSoap(this.job.control.controlUrl, addPortMappingCall(this.job.control.serviceType, {
      remoteHost: '', externalPort: port, protocol, internalPort: port, internalClient: this.job.internalClient,
      enabled: true, description: 'soak', leaseSeconds,
    }), { timeoutMs: TIMEOUT_MS });
    if (o.ok) this.adds.push([t, performance.now() - started]);
    else {
      this.counts.addFailures++;
      this.fail(`add ${protocol} ${port}: ${describe(o)}`);
    }
  }

  private async remove(port: number, protocol: 'TCP' | 'UDP'): Promise<void> {
    const o = await postSoap(this.job.control.controlUrl, deletePortMappingCall(this.job.control.serviceType, '', port, protocol), { timeoutMs: TIMEOUT_MS });
    if (o.ok) this.counts.deletes++;
    else this.fail(`delete ${protocol} ${port}: ${describe(o)}`);
  }

  private async walk(): Promise<void> {
    let i = 0;
    for (; i < MAX_LIST; i++) {
      const o = await postSoap(this.job.control.controlUrl, getGenericPortMappingEntryCall(this.job.control.serviceType, i), { timeoutMs: TIMEOUT_MS });
      if (o.ok) continue;
      if (!(o.kind === 'fault' && o.errorCode === SPECIFIED_ARRAY_INDEX_INVALID)) this.fail(`list at ${i}: ${describe(o)}`);
      break;
    }
    this.counts.lists++;
    this.counts.listed = i;
  }

  private async pmp(port: number, lifetime: number): Promise<void> {
    if (await natpmpc(this.job.gateway, port, lifetime)) this.counts.pmpOk++;
    else {
      this.counts.pmpFailures++;
      this.fail(`natpmpc ${port} lifetime ${lifetime}`);
    }
  }

  async step(i: number): Promise<void> {
    const staticPort = STATIC_FIRST + (i % STATIC_RING);
    if (i >= STATIC_RING) await this.remove(staticPort, 'TCP');
    await this.timedAdd(staticPort, 'TCP', 0);
    if (i % 2 === 0) await this.timedAdd(LEASED_FIRST + ((i / 2) % LEASED_RING), 'UDP', 10 + (i % 11));
    if (i % 8 === 0) await this.pmp(PMP_FIRST + ((i / 8) % PMP_RING), 10);
    if (i % 32 === 16) await this.pmp(PMP_FIRST + (((i - 8) / 8) % PMP_RING), 0);
    if (i % 40 === 39) await this.walk();
  }

  /** The interval's report; the counters start again. */
  take(): SoakReport {
    const r: SoakReport = { adds: this.adds, ...this.counts };
    this.adds = [];
    this.counts = noCounts();
    return r;
  }
}

/** Runs the churn until the job's end or until `stop` is aborted; the last report comes either way. */
export async function runSoakJob(job: SoakJob, print: (line: string) => void, stop?: AbortSignal): Promise<void> {
  const churn = new Churn(job);
  const start = performance.now();
  const end = start + job.durationMs;
  let lastReport = start;
  const maxSteps = Math.ceil(job.durationMs / STEP_MS) + 1;
  for (let i = 0; i < maxSteps && performance.now() < end && !stop?.aborted; i++) {
    await churn.step(i);
    const now = performance.now();
    if (now - lastReport >= REPORT_EVERY_MS) {
      print(JSON.stringify(churn.take()));
      lastReport = now;
    }
    // Paced: the next step starts on the next 250 ms tick (none is skipped when one ran long).
    const wait = start + (i + 1) * STEP_MS - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, Math.max(0, Math.min(wait, end - performance.now()))));
  }
  print(JSON.stringify(churn.take()));
}

async function main(): Promise<void> {
  const read = readSoakJob(process.argv[2]);
  if (!read.ok) {
    console.error(`soak-worker: ${read.reason}`);
    process.exitCode = 2;
    return;
  }
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  await runSoakJob(read.job, (l) => console.log(l), stop.signal);
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) void main();
