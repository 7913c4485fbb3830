/**
 * The SOAP load worker: a child process that the IGD benchmark starts inside a LAN
 * namespace (`ip netns exec <lan> node soap-load-worker.js '<job JSON>'`), because the
 * control point has to be a LAN host. It runs one job — find the control URL and the
 * external address, add a batch of port mappings with N concurrent clients timing every
 * step of the table's growth, or walk GetGenericPortMappingEntry until 713 — and prints
 * one JSON line (`WorkerResult`) on stdout.
 *
 * It must not run unbounded: every job has a deadline and a failure limit, and every
 * request a timeout. A bad job or a failing IGD is reported as `{ ok: false, reason }`
 * (exit code 0 with a report, 2 for an unreadable job), never as a stack trace.
 */
import { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  addPortMappingCall, findWanIpConnection, getExternalIpAddressCall, getGenericPortMappingEntryCall, httpGet, postSoap,
  SPECIFIED_ARRAY_INDEX_INVALID, type SoapOutcome,
} from '@openigd/conformance';
import type { AddJob, ListJob, StepTiming, WorkerJob, WorkerResult } from './soap-worker.js';

/** Consecutive failed requests after which a job gives up (the IGD is gone or refusing). */
const MAX_CONSECUTIVE_FAILURES = 20;
const REQUEST_TIMEOUT_MS = 10_000;
/** Upper bounds on what one job may ask for. */
const MAX_COUNT = 65_535;
const MAX_CLIENTS = 64;
const MAX_DEADLINE_MS = 600_000;

function failure(o: SoapOutcome): string {
  if (o.ok) return 'ok';
  return o.kind === 'fault' ? `UPnP error ${o.errorCode} ${o.errorDescription}` : `${o.kind}: ${o.reason}`;
}

const isInt = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/** Checks the job from the command line; returns a reason instead of throwing. */
export function readJob(text: string | undefined): { ok: true; job: WorkerJob } | { ok: false; reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(text ?? '');
  } catch {
    return { ok: false, reason: 'the job argument is not JSON' };
  }
  if (typeof v !== 'object' || v === null) return { ok: false, reason: 'the job is not an object' };
  const j = v as Record<string, unknown>;
  const control = j.control as Record<string, unknown> | undefined;
  const controlOk = typeof control === 'object' && control !== null && typeof control.controlUrl === 'string' && typeof control.serviceType === 'string';
  switch (j.mode) {
    case 'describe':
      if (typeof j.descriptionUrl === 'string') return { ok: true, job: j as unknown as WorkerJob };
      return { ok: false, reason: 'describe needs descriptionUrl' };
    case 'add':
      if (!controlOk || typeof j.internalClient !== 'string' || typeof j.keepAlive !== 'boolean'
        || !isInt(j.count, 0, MAX_COUNT) || !isInt(j.firstPort, 1, 65_535) || !isInt(j.clients, 1, MAX_CLIENTS)
        || !isInt(j.stepSize, 1, MAX_COUNT) || !isInt(j.deadlineMs, 1, MAX_DEADLINE_MS)) {
        return { ok: false, reason: 'add needs control, internalClient, keepAlive, count, firstPort, clients, stepSize, deadlineMs' };
      }
      if (j.firstPort + j.count - 1 > 65_535) return { ok: false, reason: 'firstPort + count passes 65535' };
      return { ok: true, job: j as unknown as WorkerJob };
    case 'list':
      if (!controlOk || typeof j.keepAlive !== 'boolean' || !isInt(j.maxEntries, 0, MAX_COUNT) || !isInt(j.deadlineMs, 1, MAX_DEADLINE_MS)) {
        return { ok: false, reason: 'list needs control, keepAlive, maxEntries, deadlineMs' };
      }
      return { ok: true, job: j as unknown as WorkerJob };
  }
  return { ok: false, reason: `unknown mode ${JSON.stringify(j.mode)}` };
}

async function describe(descriptionUrl: string): Promise<WorkerResult> {
  const r = await httpGet(descriptionUrl, 5_000);
  if (!r.ok) return { ok: false, reason: `GET ${descriptionUrl}: ${r.reason}` };
  if (r.status !== 200) return { ok: false, reason: `GET ${descriptionUrl}: HTTP ${r.status}` };
  const found = findWanIpConnection(r.body, descriptionUrl);
  if (!found.ok) return found;
  const ext = await postSoap(found.control.controlUrl, getExternalIpAddressCall(found.control.serviceType), { timeoutMs: REQUEST_TIMEOUT_MS });
  if (!ext.ok) return { ok: false, reason: `GetExternalIPAddress: ${failure(ext)}` };
  return { ok: true, mode: 'describe', control: found.control, externalAddress: ext.values.NewExternalIPAddress ?? '' };
}

const agentFor = (keepAlive: boolean) => (keepAlive ? new Agent({ keepAlive: true, maxSockets: 1 }) : undefined);

async function addMappings(job: AddJob): Promise<WorkerResult> {
  const startMs = performance.now();
  const steps: StepTiming[] = [];
  let stepStartMs = startMs;
  let stepFrom = 0;
  let next = 0;
  let added = 0;
  let failed = 0;
  let consecutiveFailures = 0;
  let firstFailure: string | null = null;
  let stoppedByDeadline = false;
  let gaveUp = false;

  const client = async (): Promise<void> => {
    const agent = agentFor(job.keepAlive);
    try {
      while (next < job.count && !gaveUp) {
        if (performance.now() - startMs > job.deadlineMs) {
          stoppedByDeadline = true;
          return;
        }
        const port = job.firstPort + next++;
        const o = await postSoap(job.control.controlUrl, addPortMappingCall(job.control.serviceType, {
          remoteHost: '', externalPort: port, protocol: 'TCP', internalPort: port,
          internalClient: job.internalClient, enabled: true, description: `bench ${port}`, leaseSeconds: 0,
        }), { agent, timeoutMs: REQUEST_TIMEOUT_MS });
        if (!o.ok) {
          failed++;
          firstFailure ??= `port ${port}: ${failure(o)}`;
          if (++consecutiveFailures >= MAX_CONSECUTIVE_FAILURES) gaveUp = true;
          continue;
        }
        consecutiveFailures = 0;
        added++;
        if (added - stepFrom === job.stepSize) {
          const nowMs = performance.now();
          steps.push({ from: stepFrom, to: added, ms: nowMs - stepStartMs, perSecond: (job.stepSize * 1000) / (nowMs - stepStartMs) });
          stepFrom = added;
          stepStartMs = nowMs;
        }
      }
    } finally {
      agent?.destroy();
    }
  };
  await Promise.all(Array.from({ length: job.clients }, () => client()));
  const endMs = performance.now();
  if (added > stepFrom) {
    steps.push({ from: stepFrom, to: added, ms: endMs - stepStartMs, perSecond: ((added - stepFrom) * 1000) / (endMs - stepStartMs) });
  }
  if (gaveUp && added === 0) return { ok: false, reason: `${MAX_CONSECUTIVE_FAILURES} adds failed in a row; first: ${firstFailure}` };
  return { ok: true, mode: 'add', added, failed, firstFailure, totalMs: endMs - startMs, steps, stoppedByDeadline };
}

async function listMappings(job: ListJob): Promise<WorkerResult> {
  const agent = agentFor(job.keepAlive);
  const startMs = performance.now();
  let entries = 0;
  let end = 'max';
  try {
    for (let index = 0; index < job.maxEntries; index++) {
      if (performance.now() - startMs > job.deadlineMs) {
        end = 'deadline';
        break;
      }
      const o = await postSoap(job.control.controlUrl, getGenericPortMappingEntryCall(job.control.serviceType, index), { agent, timeoutMs: REQUEST_TIMEOUT_MS });
      if (o.ok) {
        entries++;
        continue;
      }
      end = !o.ok && o.kind === 'fault' && o.errorCode === SPECIFIED_ARRAY_INDEX_INVALID ? '713' : `index ${index}: ${failure(o)}`;
      break;
    }
  } finally {
    agent?.destroy();
  }
  return { ok: true, mode: 'list', entries, totalMs: performance.now() - startMs, end };
}

async function main(): Promise<number> {
  const read = readJob(process.argv[2]);
  if (!read.ok) {
    process.stdout.write(`${JSON.stringify({ ok: false, reason: read.reason })}\n`);
    return 2;
  }
  const { job } = read;
  const result = job.mode === 'describe' ? await describe(job.descriptionUrl)
    : job.mode === 'add' ? await addMappings(job)
      : await listMappings(job);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}

/** True when this file is the program being run, not a module imported by a test. */
function isMain(): boolean {
  const argv1 = process.argv[1];
  if (argv1 === undefined) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  process.exitCode = await main().catch((e: unknown) => {
    process.stdout.write(`${JSON.stringify({ ok: false, reason: `worker crashed: ${e instanceof Error ? e.message : String(e)}` })}\n`);
    return 1;
  });
}
