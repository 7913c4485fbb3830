/**
 * The SOAP describe worker: a child process that the IGD benchmark starts inside a LAN
 * namespace (`ip netns exec <lan> node soap-load-worker.js '<job JSON>'`), because the
 * control point has to be a LAN host. Its one job: fetch the device description, find
 * the WANIPConnection control URL and ask GetExternalIPAddress; it prints one JSON line
 * (`WorkerResult`) on stdout. The timed jobs (adds, listings) run in the C load client
 * (soap-load.c) instead, whose own cost per call is far below an IGD's.
 *
 * A bad job or a failing IGD is reported as `{ ok: false, reason }` (exit code 0 with a
 * report, 2 for an unreadable job), never as a stack trace; every request has a timeout.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findWanIpConnection, getExternalIpAddressCall, httpGet, postSoap, type SoapOutcome } from '@openigd/conformance';
import type { DescribeJob, WorkerResult } from './soap-worker.js';
import { parseJobArgument } from './job-argument.js';

const REQUEST_TIMEOUT_MS = 10_000;

function failure(o: SoapOutcome): string {
  if (o.ok) return 'ok';
  return o.kind === 'fault' ? `UPnP error ${o.errorCode} ${o.errorDescription}` : `${o.kind}: ${o.reason}`;
}

/** Checks the job from the command line; returns a reason instead of throwing. */
export function readJob(text: string | undefined): { ok: true; job: DescribeJob } | { ok: false; reason: string } {
  const parsed = parseJobArgument(text);
  if (!parsed.ok) return parsed;
  const j = parsed.value;
  if (j.mode !== 'describe') return { ok: false, reason: `this worker only describes; ${JSON.stringify(j.mode)} runs in the C load client` };
  if (typeof j.descriptionUrl !== 'string') return { ok: false, reason: 'describe needs descriptionUrl' };
  return { ok: true, job: { mode: 'describe', descriptionUrl: j.descriptionUrl } };
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

async function main(): Promise<number> {
  const read = readJob(process.argv[2]);
  if (!read.ok) {
    process.stdout.write(`${JSON.stringify({ ok: false, reason: read.reason })}\n`);
    return 2;
  }
  const result = await describe(read.job.descriptionUrl);
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
