/**
 * iperf3 for the forwarding benchmark: a one-shot server and a client, each in a
 * namespace and bounded in time, and parsers that read the numbers out of iperf3's
 * JSON output (`-J`): TCP goodput as the receiver measured it, and UDP datagrams the
 * receiver got per second.
 *
 * The parsers never throw: malformed output or an iperf3 error becomes
 * `{ ok: false, reason }`. This module must not leave a process behind: the server it
 * starts is ended by its pid when the measurement is over, whatever happened.
 */
import { background, sh, until, type Background } from '../../lib/ns.js';

export type Measured<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

export interface TcpResult {
  /** Goodput as the receiving side counted it, bits per second. */
  readonly bitsPerSecond: number;
  readonly bytes: number;
  readonly seconds: number;
  /** Sender's retransmitted segments, when iperf3 reports them. */
  readonly retransmits: number | null;
}

export interface UdpResult {
  /** Datagrams the server received, per second of the test. */
  readonly packetsPerSecond: number;
  readonly packetsReceived: number;
  /** Datagrams the client sent (the receiver's highest sequence number when it is the one reporting). */
  readonly packetsSent: number;
  readonly seconds: number;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (o: Json, k: string): number | null => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : null);

/** Parses iperf3's `-J` text into its `end` object, or the reason it has none. */
function endOf(text: string): Measured<Json> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    const head = text.trim().split('\n')[0] ?? '';
    return { ok: false, reason: `iperf3 output is not JSON: ${head.slice(0, 120) || '(empty)'}` };
  }
  if (!isObject(doc)) return { ok: false, reason: 'iperf3 output is not a JSON object' };
  if (typeof doc.error === 'string') return { ok: false, reason: `iperf3: ${doc.error}` };
  if (!isObject(doc.end)) return { ok: false, reason: 'iperf3 output has no "end" section' };
  return { ok: true, value: doc.end };
}

/** Reads a TCP test (either direction) from the client's `-J` output. */
export function parseTcpJson(text: string): Measured<TcpResult> {
  const end = endOf(text);
  if (!end.ok) return end;
  const received = end.value.sum_received;
  if (!isObject(received)) return { ok: false, reason: 'iperf3 output has no end.sum_received (not a TCP test?)' };
  const bitsPerSecond = num(received, 'bits_per_second');
  const bytes = num(received, 'bytes');
  const seconds = num(received, 'seconds');
  if (bitsPerSecond === null || bytes === null || seconds === null) return { ok: false, reason: 'end.sum_received lacks bits_per_second, bytes or seconds' };
  if (seconds <= 0 || bytes <= 0) return { ok: false, reason: `no data received (${bytes} bytes in ${seconds} s)` };
  const sent = end.value.sum_sent;
  const retransmits = isObject(sent) ? num(sent, 'retransmits') : null;
  return { ok: true, value: { bitsPerSecond, bytes, seconds, retransmits } };
}

/**
 * Reads a UDP test from the client's `-J` output: what the server received, from
 * `end.sum_received` (iperf3 ≥ 3.11), else from `end.sum`, as packets − lost_packets.
 */
export function parseUdpJson(text: string): Measured<UdpResult> {
  const end = endOf(text);
  if (!end.ok) return end;
  const sum = isObject(end.value.sum_received) ? end.value.sum_received : end.value.sum;
  if (!isObject(sum)) return { ok: false, reason: 'iperf3 output has no end.sum_received or end.sum' };
  const packets = num(sum, 'packets');
  const lost = num(sum, 'lost_packets');
  const seconds = num(sum, 'seconds');
  if (packets === null || lost === null || seconds === null) return { ok: false, reason: 'the UDP summary lacks packets, lost_packets or seconds (not a UDP test?)' };
  const packetsReceived = packets - lost;
  if (seconds <= 0) return { ok: false, reason: `the UDP test lasted ${seconds} s` };
  if (packetsReceived <= 0) return { ok: false, reason: `the server received no datagrams (${packets} sent, ${lost} lost)` };
  const sent = isObject(end.value.sum_sent) ? num(end.value.sum_sent, 'packets') : null;
  return { ok: true, value: { packetsPerSecond: packetsReceived / seconds, packetsReceived, packetsSent: sent ?? packets, seconds } };
}

export const IPERF_PORT = 5201;

/** iperf3 processes started and not yet ended, so an interrupted run can end them. */
const live = new Set<Background>();
let closed = false;

/**
 * Ends every iperf3 process this module started that is still running (by pid), and
 * makes every later `runIperf` return at once without starting one. For SIGINT/SIGTERM.
 */
export async function shutdownIperf(): Promise<void> {
  closed = true;
  await Promise.all([...live].map((p) => p.stop()));
}

/** Resolves with the exit code once the process has exited and its output is all read. */
function closedWith(p: Background): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve(p.child.exitCode);
  return new Promise((resolve) => p.child.once('close', (code: number | null) => resolve(code)));
}

export interface IperfTest {
  /** Namespace and address the server listens on (`-B`). */
  readonly serverNs: string;
  readonly serverAddr: string;
  /** Namespace the client runs in. */
  readonly clientNs: string;
  /** Test length in seconds (`-t`). */
  readonly seconds: number;
}

/**
 * Runs one client test against a fresh one-shot server (`-s -1`) and returns the
 * client's JSON text, or the reason there is none. `clientArgs` are the test's own
 * options (`-R`, `-u -l 64 -b 0`, `-O 1`). Bounded: the server must listen within 5 s,
 * the client is ended after the test length plus 20 s. Both are ended by pid before
 * this returns.
 */
export async function runIperf(test: IperfTest, clientArgs: readonly string[]): Promise<Measured<string>> {
  if (closed) return { ok: false, reason: 'interrupted' };
  const server = background(test.serverNs, 'iperf3', ['-s', '-1', '-B', test.serverAddr, '-p', String(IPERF_PORT)]);
  live.add(server);
  try {
    const listening = await until('iperf3 server listening', async () => {
      if (closed || server.child.exitCode !== null || server.child.signalCode !== null) return 'exited';
      const r = await sh(test.serverNs, 'ss', ['-Hltn', `sport = :${IPERF_PORT}`], 5_000);
      return r.stdout.trim() !== '' ? 'listening' : null;
    }, 5_000, 50).catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
    if (closed) return { ok: false, reason: 'interrupted' };
    if (listening !== 'listening') {
      return { ok: false, reason: `iperf3 server did not start: ${listening === 'exited' ? server.output().trim() : listening}` };
    }
    const args = ['-c', test.serverAddr, '-p', String(IPERF_PORT), '-J', '-t', String(test.seconds), '--connect-timeout', '3000', ...clientArgs];
    const client = background(test.clientNs, 'iperf3', args);
    live.add(client);
    let stdout = '';
    client.child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    const limit = setTimeout(() => void client.stop(), (test.seconds + 20) * 1000);
    try {
      const code = await closedWith(client);
      if (closed) return { ok: false, reason: 'interrupted' };
      if (!stdout.trim().startsWith('{')) {
        return { ok: false, reason: `iperf3 client exited ${code ?? client.child.signalCode}: ${client.output().trim() || 'no output'}` };
      }
      return { ok: true, value: stdout };
    } finally {
      clearTimeout(limit);
      await client.stop();
      live.delete(client);
    }
  } finally {
    await server.stop();
    live.delete(server);
  }
}
