/**
 * Kernel counters for the forwarding benchmark's UDP test: the `Udp:` counters of
 * `/proc/net/snmp` in the server's namespace (how many datagrams reached its UDP layer,
 * read or dropped at a full socket buffer) and a process's CPU time from
 * `/proc/<pid>/stat` (how much the forwarder spent), with the arithmetic that turns two
 * readings of each into the benchmark's figures.
 *
 * The parsers are pure and never throw: malformed text becomes `{ ok: false, reason }`.
 * The readers only read (a file, or `cat` in a namespace); they change nothing.
 */
import { readFile } from 'node:fs/promises';
import { sh } from '../../lib/ns.js';
import type { Measured } from './iperf.js';

/** The two `Udp:` counters the benchmark needs, as the kernel counts them (namespace-wide, since boot of the namespace). */
export interface UdpCounters {
  /** Datagrams delivered to a socket and read by its owner. */
  readonly inDatagrams: number;
  /** Datagrams dropped because the receiving socket's buffer was full. */
  readonly rcvbufErrors: number;
}

/** A process's name and CPU time so far, in clock ticks (`CLK_TCK` per second), all its threads together. */
export interface ProcessCpu {
  /** Field 2 without its parentheses: the executable's name, at most 15 bytes. */
  readonly comm: string;
  readonly utimeTicks: number;
  readonly stimeTicks: number;
}

/** A counter: decimal digits only, and exact as a JavaScript number. */
function counter(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,16}$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * Reads InDatagrams and RcvbufErrors from the text of `/proc/net/snmp`: the first line
 * starting `Udp:` names the fields, the second carries their values in the same order
 * (`UdpLite:` lines are another protocol and are skipped).
 */
export function parseSnmpUdp(text: string): Measured<UdpCounters> {
  const lines = text.split('\n').filter((l) => l.startsWith('Udp:'));
  if (lines.length < 2) return { ok: false, reason: '/proc/net/snmp has no Udp: header and value lines' };
  const names = lines[0]!.trim().split(/\s+/).slice(1);
  const values = lines[1]!.trim().split(/\s+/).slice(1);
  if (names.length !== values.length) {
    return { ok: false, reason: `/proc/net/snmp Udp: ${names.length} names but ${values.length} values` };
  }
  const field = (name: string) => {
    const i = names.indexOf(name);
    return i < 0 ? null : counter(values[i]);
  };
  const inDatagrams = field('InDatagrams');
  const rcvbufErrors = field('RcvbufErrors');
  if (inDatagrams === null || rcvbufErrors === null) {
    return { ok: false, reason: '/proc/net/snmp Udp: lacks a numeric InDatagrams or RcvbufErrors' };
  }
  return { ok: true, value: { inDatagrams, rcvbufErrors } };
}

/**
 * Reads utime and stime (fields 14 and 15, clock ticks) from the text of
 * `/proc/<pid>/stat`. Field 2, the command name, is in parentheses and may itself hold
 * spaces and ')', so the fields are counted from the last ')': field 3 (state) is the
 * first after it.
 */
export function parseProcStatCpu(text: string): Measured<ProcessCpu> {
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (close < open || !/^\d+ \(/.test(text)) return { ok: false, reason: '/proc/<pid>/stat does not start with "pid (comm)"' };
  const fields = text.slice(close + 1).trim().split(/\s+/);
  // fields[0] is field 3; utime is field 14, stime field 15.
  const utimeTicks = counter(fields[14 - 3]);
  const stimeTicks = counter(fields[15 - 3]);
  if (utimeTicks === null || stimeTicks === null) return { ok: false, reason: '/proc/<pid>/stat lacks a numeric utime or stime' };
  return { ok: true, value: { comm: text.slice(open + 2, close), utimeTicks, stimeTicks } };
}

/** The output of `getconf CLK_TCK` as ticks per second; 100 (Linux's USER_HZ everywhere) when it is not a positive number. */
export function parseClockTicks(text: string): number {
  const n = counter(text.trim());
  return n !== null && n > 0 ? n : 100;
}

/** Datagrams that reached the UDP layer between two readings: the growth of InDatagrams + RcvbufErrors. */
export function udpArrivedBetween(before: UdpCounters, after: UdpCounters): Measured<number> {
  const arrived = after.inDatagrams + after.rcvbufErrors - (before.inDatagrams + before.rcvbufErrors);
  if (arrived < 0) return { ok: false, reason: `the Udp counters went down (${arrived}): not the same namespace?` };
  if (arrived === 0) return { ok: false, reason: 'no datagram reached the server\'s UDP layer' };
  return { ok: true, value: arrived };
}

/**
 * The CPU time a process spent between two readings, in microseconds per datagram.
 * `ticksPerSecond` is `CLK_TCK`; `datagrams` must be > 0. The tick (10 ms at 100 Hz)
 * bounds the precision: over a test of seconds it is a percent or less.
 */
export function cpuMicrosPerDatagram(before: ProcessCpu, after: ProcessCpu, ticksPerSecond: number, datagrams: number): Measured<number> {
  const ticks = after.utimeTicks + after.stimeTicks - (before.utimeTicks + before.stimeTicks);
  if (ticks < 0) return { ok: false, reason: `the process's CPU time went down (${ticks} ticks): not the same process?` };
  if (!(datagrams > 0) || !(ticksPerSecond > 0)) return { ok: false, reason: `no datagrams (${datagrams}) to divide by` };
  return { ok: true, value: (ticks / ticksPerSecond) * 1e6 / datagrams };
}

/** `CLK_TCK` of this machine (`getconf CLK_TCK`), 100 when getconf cannot say. */
export async function clockTicksPerSecond(): Promise<number> {
  const r = await sh(null, 'getconf', ['CLK_TCK'], 5_000);
  return parseClockTicks(r.code === 0 ? r.stdout : '');
}

/** The `Udp:` counters of namespace `ns`, read with `cat /proc/net/snmp` inside it. */
export async function readUdpCounters(ns: string): Promise<Measured<UdpCounters>> {
  const r = await sh(ns, 'cat', ['/proc/net/snmp'], 5_000);
  if (r.code !== 0) return { ok: false, reason: `cannot read /proc/net/snmp in ${ns}: ${r.stderr.trim() || `exit ${r.code}`}` };
  return parseSnmpUdp(r.stdout);
}

/**
 * The CPU time of several processes as one: ticks added, names joined with '+'
 * (a forwarder and the kernel threads that work for it).
 */
export function sumProcessCpu(readings: readonly ProcessCpu[]): ProcessCpu {
  return {
    comm: readings.map((r) => r.comm).join('+'),
    utimeTicks: readings.reduce((t, r) => t + r.utimeTicks, 0),
    stimeTicks: readings.reduce((t, r) => t + r.stimeTicks, 0),
  };
}

/** The CPU time of processes `pids` together (see `sumProcessCpu`); the first failure when one cannot be read. */
export async function readProcessesCpu(pids: readonly number[]): Promise<Measured<ProcessCpu>> {
  const readings: ProcessCpu[] = [];
  for (const pid of pids) {
    const r = await readProcessCpu(pid);
    if (!r.ok) return r;
    readings.push(r.value);
  }
  return { ok: true, value: sumProcessCpu(readings) };
}

/** The CPU time of process `pid` (all its threads), from `/proc/<pid>/stat`. */
export async function readProcessCpu(pid: number): Promise<Measured<ProcessCpu>> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (e) {
    return { ok: false, reason: `cannot read /proc/${pid}/stat: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
  return parseProcStatCpu(text);
}
