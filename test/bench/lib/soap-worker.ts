/**
 * The IGD benchmark's SOAP load worker: its jobs and results, and how the bench starts it
 * inside a namespace (`runSoapWorker`), since the client must live in the LAN. The SOAP
 * client itself is @openigd/conformance's.
 */
import { execFile } from 'node:child_process';
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

/**
 * Runs one job in the worker inside namespace `ns` (`ip netns exec ns node worker job`).
 * The worker is killed after `timeoutMs` (give it the job's deadline plus a margin) or
 * when `signal` aborts. Never rejects.
 */
export function runSoapWorker(ns: string, job: WorkerJob, timeoutMs: number, signal?: AbortSignal): Promise<WorkerResult> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, WORKER_PATH, JSON.stringify(job)], {
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
