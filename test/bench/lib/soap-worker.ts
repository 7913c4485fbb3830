/**
 * The IGD benchmark's SOAP jobs and results, and how the bench runs them inside a namespace
 * (`runSoapWorker`), since the client must live in the LAN: the description in a Node worker
 * (soap-load-worker.ts, with @openigd/conformance's SOAP client), the timed adds and listings
 * in a C client (soap-load.c), whose own cost per call is far below an IGD's.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ControlPoint } from '@openigd/conformance';

export type { ControlPoint };

/* ---------------------------------------------------------------------------------
 * The load worker's jobs and results, and how the bench starts it in a namespace.
 * --------------------------------------------------------------------------------- */

/** Fetch the description, find the control URL, and ask GetExternalIPAddress. */
export interface DescribeJob { readonly mode: 'describe'; readonly descriptionUrl: string }

/**
 * Add `count` TCP mappings with external ports `firstPort`, `firstPort + 1`, … (internal
 * port equal, internal client `internalClient`, lease 0), shared by `clients` concurrent
 * clients each sending one request at a time, and time every `stepSize` completed adds.
 * Stops starting new requests after `deadlineMs` from its start.
 */
export interface AddJob {
  readonly mode: 'add';
  readonly control: ControlPoint;
  readonly internalClient: string;
  readonly firstPort: number;
  readonly count: number;
  readonly clients: number;
  readonly stepSize: number;
  readonly keepAlive: boolean;
  readonly deadlineMs: number;
}

/** GetGenericPortMappingEntry from index 0 until 713 (or `maxEntries`, or the deadline). */
export interface ListJob {
  readonly mode: 'list';
  readonly control: ControlPoint;
  readonly maxEntries: number;
  readonly keepAlive: boolean;
  readonly deadlineMs: number;
}

export type WorkerJob = DescribeJob | AddJob | ListJob;

export interface StepTiming {
  /** Table size before and after the step (mappings added by this run). */
  readonly from: number;
  readonly to: number;
  readonly ms: number;
  readonly perSecond: number;
}

export type WorkerResult =
  | { readonly ok: true; readonly mode: 'describe'; readonly control: ControlPoint; readonly externalAddress: string }
  | {
    readonly ok: true; readonly mode: 'add'; readonly added: number; readonly failed: number;
    readonly firstFailure: string | null; readonly totalMs: number; readonly steps: readonly StepTiming[];
    readonly stoppedByDeadline: boolean;
  }
  | {
    readonly ok: true; readonly mode: 'list'; readonly entries: number; readonly totalMs: number;
    /** How the walk ended: `713`, `max`, `deadline`, or another failure's reason. */
    readonly end: string;
  }
  | { readonly ok: false; readonly reason: string };

/** The compiled worker beside this file. */
export const WORKER_PATH = fileURLToPath(new URL('./soap-load-worker.js', import.meta.url));

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** Checks the worker's last stdout line; a malformed report becomes a reason. */
export function parseWorkerOutput(stdout: string): WorkerResult {
  const line = stdout.trim().split('\n').pop() ?? '';
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { ok: false, reason: `worker printed no JSON: ${line.slice(0, 200)}` };
  }
  if (!isObject(v) || typeof v.ok !== 'boolean') return { ok: false, reason: 'worker report has no ok field' };
  if (!v.ok) return { ok: false, reason: typeof v.reason === 'string' ? v.reason : 'worker failed without a reason' };
  switch (v.mode) {
    case 'describe':
      if (isObject(v.control) && typeof v.control.serviceType === 'string' && typeof v.control.controlUrl === 'string' && typeof v.externalAddress === 'string') {
        return { ok: true, mode: 'describe', control: { serviceType: v.control.serviceType, controlUrl: v.control.controlUrl }, externalAddress: v.externalAddress };
      }
      break;
    case 'add':
      if (typeof v.added === 'number' && typeof v.failed === 'number' && typeof v.totalMs === 'number' && Array.isArray(v.steps)
        && v.steps.every((s) => isObject(s) && ['from', 'to', 'ms', 'perSecond'].every((k) => typeof s[k] === 'number'))) {
        return {
          ok: true, mode: 'add', added: v.added, failed: v.failed, totalMs: v.totalMs,
          firstFailure: typeof v.firstFailure === 'string' ? v.firstFailure : null,
          steps: v.steps as StepTiming[], stoppedByDeadline: v.stoppedByDeadline === true,
        };
      }
      break;
    case 'list':
      if (typeof v.entries === 'number' && typeof v.totalMs === 'number' && typeof v.end === 'string') {
        return { ok: true, mode: 'list', entries: v.entries, totalMs: v.totalMs, end: v.end };
      }
      break;
  }
  return { ok: false, reason: `worker report malformed: ${line.slice(0, 200)}` };
}

/** Runs `file args` inside namespace `ns`, killed after `timeoutMs` or on `signal`, and reads its report. */
function runReporter(ns: string | null, file: string, args: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<WorkerResult> {
  const [command, argv] = ns === null ? [file, [...args]] : ['ip', ['netns', 'exec', ns, file, ...args]];
  return new Promise((resolve) => {
    execFile(command, argv, {
      timeout: timeoutMs, maxBuffer: 4 << 20, killSignal: 'SIGKILL', ...(signal ? { signal } : {}),
    }, (err, stdout, stderr) => {
      const out = String(stdout);
      if (err && out.trim() === '') {
        const why = signal?.aborted ? 'aborted' : (err as { killed?: boolean }).killed ? `killed after ${timeoutMs} ms` : `exited ${String((err as { code?: unknown }).code ?? err.message)}`;
        resolve({ ok: false, reason: `worker ${why}: ${String(stderr).trim().split('\n').slice(-3).join(' | ')}` });
        return;
      }
      resolve(parseWorkerOutput(out));
    });
  });
}

/** The load client's C source (soap-load.c), read from the source tree beside this file's. */
const LOAD_CLIENT_SOURCE = fileURLToPath(new URL('../../../bench/lib/soap-load.c', import.meta.url));

let loadClient: Promise<{ ok: true; path: string } | { ok: false; reason: string }> | undefined;

/**
 * Compiles soap-load.c with the machine's `cc` (once per process; the binary is named after
 * the source's hash in the temporary directory, so a run reuses an earlier run's), and
 * resolves with its path, or a reason when there is no compiler.
 */
export function buildLoadClient(): Promise<{ ok: true; path: string } | { ok: false; reason: string }> {
  loadClient ??= (async () => {
    let source: Buffer;
    try {
      source = await readFile(LOAD_CLIENT_SOURCE);
    } catch (e) {
      return { ok: false as const, reason: `cannot read ${LOAD_CLIENT_SOURCE}: ${e instanceof Error ? e.message : String(e)}` };
    }
    const path = join(tmpdir(), `openigd-soap-load-${createHash('sha256').update(source).digest('hex').slice(0, 16)}`);
    if (await access(path, constants.X_OK).then(() => true, () => false)) return { ok: true as const, path };
    const partial = `${path}.${process.pid}.tmp`;
    const built = await new Promise<string | null>((resolve) => {
      execFile('cc', ['-O2', '-Wall', '-pthread', '-o', partial, LOAD_CLIENT_SOURCE], { timeout: 60_000 }, (err, _out, stderr) =>
        resolve(err ? `cc failed: ${String(stderr).trim().split('\n').slice(0, 3).join(' | ') || err.message}` : null));
    });
    if (built !== null) {
      await rm(partial, { force: true });
      return { ok: false as const, reason: built };
    }
    await rename(partial, path); // atomic: a concurrent run sees the whole binary or none
    return { ok: true as const, path };
  })();
  return loadClient;
}

/**
 * The load client's arguments for an add or list job (usage in soap-load.c), or a reason:
 * the control URL must be `http://` with an IPv4 address, and the numbers in range.
 */
export function loadClientArgs(job: AddJob | ListJob): readonly string[] | string {
  let url: URL;
  try {
    url = new URL(job.control.controlUrl);
  } catch {
    return `bad control URL ${JSON.stringify(job.control.controlUrl)}`;
  }
  if (url.protocol !== 'http:' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(url.hostname)) return `the load client needs http://IPv4 URLs, not ${job.control.controlUrl}`;
  const int = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  if (!int(job.deadlineMs, 1, MAX_JOB_DEADLINE_MS)) return `deadlineMs must be 1..${MAX_JOB_DEADLINE_MS}`;
  const target = [url.hostname, url.port === '' ? '80' : url.port, `${url.pathname}${url.search}`, job.control.serviceType];
  const keepAlive = job.keepAlive ? '1' : '0';
  if (job.mode === 'list') {
    if (!int(job.maxEntries, 0, 65_535)) return 'maxEntries must be 0..65535';
    return ['list', ...target, String(job.maxEntries), keepAlive, String(job.deadlineMs)];
  }
  if (!int(job.count, 0, 65_535) || !int(job.firstPort, 1, 65_535) || job.firstPort + job.count - 1 > 65_535) return 'firstPort..firstPort + count − 1 must be ports';
  if (!int(job.clients, 1, 64) || !int(job.stepSize, 1, 65_535)) return 'clients must be 1..64 and stepSize ≥ 1';
  if (!/^[\d.]+$/.test(job.internalClient)) return `internalClient must be an IPv4 address, not ${JSON.stringify(job.internalClient)}`;
  return ['add', ...target, job.internalClient, String(job.firstPort), String(job.count), String(job.clients), String(job.stepSize), keepAlive, String(job.deadlineMs)];
}

/** The longest deadline a job may have. */
const MAX_JOB_DEADLINE_MS = 600_000;

/**
 * Runs one job inside namespace `ns` (null: here, for tests): a description in the Node
 * worker (`node soap-load-worker.js job`), adds and listings in the C load client
 * (soap-load.c, built by `buildLoadClient`), so that what is timed is the IGD. The process is
 * killed after `timeoutMs` (give it the job's deadline plus a margin) or when `signal`
 * aborts. Never rejects.
 */
export async function runSoapWorker(ns: string | null, job: WorkerJob, timeoutMs: number, signal?: AbortSignal): Promise<WorkerResult> {
  if (job.mode === 'describe') return runReporter(ns, process.execPath, [WORKER_PATH, JSON.stringify(job)], timeoutMs, signal);
  const args = loadClientArgs(job);
  if (typeof args === 'string') return { ok: false, reason: args };
  const client = await buildLoadClient();
  if (!client.ok) return client;
  return runReporter(ns, client.path, args, timeoutMs, signal);
}
