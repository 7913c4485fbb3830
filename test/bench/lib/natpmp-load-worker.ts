/**
 * The NAT-PMP / PCP load worker: a child process that the port-mapping benchmark starts
 * inside a LAN namespace (`ip netns exec <lan> node natpmp-load-worker.js '<job JSON>'`).
 * Each client is one UDP socket on its own LAN address; every client keeps one MAP request
 * in flight (as RFC 6886 §3.7 asks a client to: serially), each for a new internal UDP port,
 * until `count` mappings were granted; it times every `step` granted mappings and prints
 * one JSON line. `protocol: 'pcp'` sends RFC 6887 MAP requests instead (version 2, one
 * random nonce per client, the client's address in the header, the port suggested).
 *
 * The requests and answers are encoded from the RFCs' figures (RFC 6886 §3.3 here, RFC 6887
 * in test/lib/pcp-client.ts), not with the server's code. A request unanswered after 250 ms
 * is sent again, the wait doubling (RFC 6886 §3.1; used for PCP too, so both protocols are
 * timed alike), four times at most. Must not run unbounded: the job has a deadline and a
 * failure limit.
 */
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { PCP, encodeClientRequest } from '@openigd/conformance';
import { parseJobArgument } from './job-argument.js';

export interface NatPmpLoadJob {
  /** The gateway's LAN address. */
  readonly server: string;
  /** Its NAT-PMP port; default 5351. */
  readonly port?: number;
  /** One client per address; each must be an address of this namespace. */
  readonly sources: readonly string[];
  readonly count: number;
  readonly firstInternalPort: number;
  readonly step: number;
  readonly lifetimeSeconds: number;
  readonly deadlineMs: number;
  /** Default 'natpmp'. */
  readonly protocol?: 'natpmp' | 'pcp';
}

export interface NatPmpStep {
  /** Granted mappings so far. */
  readonly upTo: number;
  /** Time since the previous step, ms. */
  readonly ms: number;
}

export type NatPmpLoadResult =
  | { readonly ok: true; readonly granted: number; readonly failed: number; readonly firstFailure: string | null; readonly totalMs: number;
    readonly steps: readonly NatPmpStep[]; readonly stoppedByDeadline: boolean; readonly retransmissions: number }
  | { readonly ok: false; readonly reason: string };

const NATPMP_PORT = 5351;
const FIRST_WAIT_MS = 250;
const SENDS = 4;
const MAX_CONSECUTIVE_FAILURES = 20;

const isInt = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
const QUAD = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Checks the job from the command line; returns a reason instead of throwing. */
export function readNatPmpJob(text: string | undefined): { ok: true; job: NatPmpLoadJob } | { ok: false; reason: string } {
  const parsed = parseJobArgument(text);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  const j = v as Partial<NatPmpLoadJob>;
  if (typeof j.server !== 'string' || !QUAD.test(j.server)) return { ok: false, reason: 'server must be an IPv4 address' };
  if (!Array.isArray(j.sources) || j.sources.length < 1 || j.sources.length > 64 || !j.sources.every((s) => typeof s === 'string' && QUAD.test(s))) {
    return { ok: false, reason: 'sources must be 1–64 IPv4 addresses' };
  }
  if (!isInt(j.count, 1, 60_000) || !isInt(j.step, 1, j.count)) return { ok: false, reason: 'count 1..60000 and step 1..count' };
  if (!isInt(j.firstInternalPort, 1, 65_535) || j.firstInternalPort + j.count - 1 > 65_535) return { ok: false, reason: 'internal ports out of range' };
  if (j.port !== undefined && !isInt(j.port, 1, 65_535)) return { ok: false, reason: 'port must be 1..65535' };
  if (!isInt(j.lifetimeSeconds, 1, 0xffffffff) || !isInt(j.deadlineMs, 1, 600_000)) return { ok: false, reason: 'bad lifetime or deadline' };
  if (j.protocol !== undefined && j.protocol !== 'natpmp' && j.protocol !== 'pcp') return { ok: false, reason: 'protocol must be natpmp or pcp' };
  return { ok: true, job: j as NatPmpLoadJob };
}

/** RFC 6886 §3.3's request: version 0, op 1 (UDP), reserved, internal port, suggested external port, lifetime. */
function mapUdpRequest(internalPort: number, suggestedPort: number, lifetimeSeconds: number): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint8(0, 0);
  v.setUint8(1, 1);
  v.setUint16(4, internalPort);
  v.setUint16(6, suggestedPort);
  v.setUint32(8, lifetimeSeconds);
  return b;
}

/** The §3.3 response's result code for `internalPort`, or undefined when it is not that answer. */
function answerFor(b: Buffer, internalPort: number): number | undefined {
  if (b.length !== 16 || b[0] !== 0 || b[1] !== 129 || b.readUInt16BE(8) !== internalPort) return undefined;
  return b.readUInt16BE(2);
}

/** How one client asks for a UDP mapping of `internalPort` and recognises the answer. */
interface MapDialect {
  request(internalPort: number, lifetimeSeconds: number): Uint8Array;
  /** The answer's result code (0: granted), or undefined when `b` is not the answer to that request. */
  answer(b: Buffer, internalPort: number): number | undefined;
}

const NATPMP_DIALECT: MapDialect = {
  request: (internalPort, lifetimeSeconds) => mapUdpRequest(internalPort, internalPort, lifetimeSeconds),
  answer: answerFor,
};

/** PCP MAP (RFC 6887 Figures 2 and 9) from `clientIp` with one nonce for all its mappings. */
function pcpDialect(clientIp: string): MapDialect {
  const nonce = Uint8Array.from(randomBytes(12));
  return {
    request: (internalPort, lifetimeSeconds) => encodeClientRequest({
      opcode: 'map', lifetime: lifetimeSeconds, clientIp,
      map: { nonce, protocol: 17, internalPort, externalPort: internalPort, externalIp: '' },
    }),
    // Figure 3 header and Figure 10: R bit and MAP opcode, result in octet 3, the nonce and internal port echoed.
    answer: (b, internalPort) => {
      if (b.length < 60 || b[0] !== PCP.version || b[1] !== (0x80 | PCP.opcode.map)) return undefined;
      if (b.readUInt16BE(40) !== internalPort || !b.subarray(24, 36).equals(nonce)) return undefined;
      return b[3];
    },
  };
}

async function bindClient(address: string): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, address, () => {
      s.off('error', reject);
      resolve();
    });
  });
  return s;
}

/** Sends one request and waits for its answer, resending on the §3.1 schedule; resolves with the result code or a reason. */
function exchange(s: Socket, server: string, port: number, request: Uint8Array, internalPort: number, counters: { retransmissions: number },
  answer: MapDialect['answer']): Promise<number | string> {
  return new Promise((resolve) => {
    let sends = 0;
    let timer: NodeJS.Timeout | undefined;
    const onMessage = (b: Buffer): void => {
      const result = answer(b, internalPort);
      if (result === undefined) return;
      finish(result);
    };
    const finish = (outcome: number | string): void => {
      clearTimeout(timer);
      s.off('message', onMessage);
      resolve(outcome);
    };
    const send = (): void => {
      if (sends === SENDS) return finish(`no answer after ${SENDS} sends`);
      if (sends > 0) counters.retransmissions++;
      s.send(request, port, server);
      timer = setTimeout(send, FIRST_WAIT_MS * 2 ** sends);
      sends++;
    };
    s.on('message', onMessage);
    send();
  });
}

export async function runNatPmpJob(job: NatPmpLoadJob): Promise<NatPmpLoadResult> {
  const sockets: Socket[] = [];
  try {
    for (const a of job.sources) sockets.push(await bindClient(a));
  } catch (e) {
    for (const s of sockets) s.close();
    return { ok: false, reason: `bind: ${e instanceof Error ? e.message : String(e)}` };
  }
  const start = performance.now();
  const deadline = start + job.deadlineMs;
  const counters = { retransmissions: 0 };
  const steps: NatPmpStep[] = [];
  let next = 0;
  let granted = 0;
  let failed = 0;
  let consecutiveFailures = 0;
  let firstFailure: string | null = null;
  let lastStepAt = start;
  const client = async (s: Socket, source: string): Promise<void> => {
    const dialect = job.protocol === 'pcp' ? pcpDialect(source) : NATPMP_DIALECT;
    while (next < job.count && performance.now() < deadline && consecutiveFailures < MAX_CONSECUTIVE_FAILURES) {
      const port = job.firstInternalPort + next++;
      const outcome = await exchange(s, job.server, job.port ?? NATPMP_PORT, dialect.request(port, job.lifetimeSeconds), port, counters, dialect.answer);
      if (outcome === 0) {
        consecutiveFailures = 0;
        granted++;
        if (granted % job.step === 0) {
          const now = performance.now();
          steps.push({ upTo: granted, ms: now - lastStepAt });
          lastStepAt = now;
        }
      } else {
        failed++;
        consecutiveFailures++;
        firstFailure ??= typeof outcome === 'number' ? `result ${outcome}` : outcome;
      }
    }
  };
  await Promise.all(sockets.map((s, i) => client(s, job.sources[i]!)));
  for (const s of sockets) s.close();
  const totalMs = performance.now() - start;
  return { ok: true, granted, failed, firstFailure, totalMs, steps, stoppedByDeadline: granted + failed < job.count && performance.now() >= deadline, retransmissions: counters.retransmissions };
}

/** Runs as a script: `node natpmp-load-worker.js '<job JSON>'` prints one NatPmpLoadResult line. */
async function main(): Promise<void> {
  const read = readNatPmpJob(process.argv[2]);
  if (!read.ok) {
    console.log(JSON.stringify(read));
    process.exitCode = 2;
    return;
  }
  console.log(JSON.stringify(await runNatPmpJob(read.job)));
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) void main();
