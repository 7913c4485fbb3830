/**
 * The forwarding benchmark's results as data, and their presentation: the table
 * (path | TCP up | TCP down | UDP 64 B packets/s read by iperf3 | UDP arrived at the
 * server | forwarder CPU per datagram), the ratios of OpenIGD (offload off and on) to
 * slirp4netns and to the kernel, the target (OpenIGD ≥ slirp4netns in TCP, ≥ 2×
 * its UDP packet rate read by iperf3), and, apart from the target, the two forwarder
 * figures against slirp4netns. Pure: no I/O, and a missing or failed number is shown
 * with its reason, never replaced by a made-up one.
 */
import type { AbFigure } from './ab-report.js';
import { OPENIGD_PATHS, PATH_LABELS, type PathName } from './peers.js';

export type Metric =
  | { readonly ok: true; readonly value: number }
  /** No number: it failed (`reason` says why), or with `notApplicable` it has no meaning for the path, shown "n/a (reason)". */
  | { readonly ok: false; readonly reason: string; readonly notApplicable?: true };

export interface PathResult {
  readonly path: PathName;
  /** The row's label when not the path's own (PATH_LABELS), e.g. "OpenIGD, offload on (base) #2" when builds are compared. */
  readonly label?: string;
  /** False when the path cannot exist here; `reason` says why and the metrics are absent. */
  readonly available: boolean;
  readonly reason: string | null;
  readonly description: string | null;
  readonly tcpUpBitsPerSecond: Metric;
  readonly tcpDownBitsPerSecond: Metric;
  /** 64-byte datagrams the iperf3 server read, per second: the figure the target is judged on. */
  readonly udpPacketsPerSecond: Metric;
  /**
   * Datagrams per second that reached the server's UDP layer during the same test, read
   * or dropped at its full socket buffer (Δ InDatagrams + RcvbufErrors of its namespace).
   */
  readonly udpArrivedPerSecond: Metric;
  /** The forwarding process's CPU time in the same test per datagram arrived, µs; not applicable in-kernel. */
  readonly udpForwarderMicrosPerPacket: Metric;
  /** Extra figures worth keeping (retransmits, datagrams sent), by name. */
  readonly details: Readonly<Record<string, number | null>>;
}

export interface RatioSet {
  readonly tcpUp: number | null;
  readonly tcpDown: number | null;
  readonly udp: number | null;
}

/** The ratios of one OpenIGD path (offload off or on) to the peers. */
export interface Ratios {
  readonly path: PathName;
  readonly overSlirp4netns: RatioSet;
  readonly overKernel: RatioSet;
  /** The target; null when a number it needs is missing. */
  readonly target: { readonly tcpAtLeastSlirp: boolean | null; readonly udpAtLeastTwiceSlirp: boolean | null };
  /**
   * Not part of the target: the forwarder itself against slirp4netns, apart from the
   * iperf3 reader it shares the CPUs with. Datagrams arrived (higher is better) and CPU
   * per datagram (lower is better), as ratios, or the reason there is none.
   */
  readonly forwarderOverSlirp4netns: { readonly udpArrived: Metric; readonly cpuPerDatagram: Metric };
}

function value(m: Metric | undefined): number | null {
  return m?.ok ? m.value : null;
}

function ratio(a: Metric | undefined, b: Metric | undefined): number | null {
  const x = value(a);
  const y = value(b);
  return x !== null && y !== null && y > 0 ? x / y : null;
}

/** `a`'s metric over `b`'s as a Metric: the ratio, or which side has no number and why. */
function ratioMetric(a: PathResult | undefined, aName: PathName, b: PathResult | undefined, bName: PathName, pick: (r: PathResult) => Metric): Metric {
  const side = (r: PathResult | undefined, name: PathName): Metric => {
    if (r === undefined) return { ok: false, reason: `${PATH_LABELS[name]} not available` };
    const m = pick(r);
    return m.ok ? m : { ok: false, reason: `${PATH_LABELS[name]}: ${m.reason}` };
  };
  const x = side(a, aName);
  if (!x.ok) return x;
  const y = side(b, bName);
  if (!y.ok) return y;
  return y.value > 0 ? { ok: true, value: x.value / y.value } : { ok: false, reason: `${PATH_LABELS[bName]} measured 0` };
}

/**
 * For each OpenIGD path in `results` (offload off, on), its ratios to slirp4netns and
 * to the kernel, and the target verdict; null where either number is missing.
 */
export function computeRatios(results: readonly PathResult[]): Ratios[] {
  const by = (name: PathName) => results.find((r) => r.path === name && r.available);
  const slirp = by('slirp4netns');
  const kernel = by('kernel');
  const out: Ratios[] = [];
  for (const name of OPENIGD_PATHS) {
    if (!results.some((r) => r.path === name)) continue;
    const oi = by(name);
    const set = (other: PathResult | undefined): RatioSet => ({
      tcpUp: ratio(oi?.tcpUpBitsPerSecond, other?.tcpUpBitsPerSecond),
      tcpDown: ratio(oi?.tcpDownBitsPerSecond, other?.tcpDownBitsPerSecond),
      udp: ratio(oi?.udpPacketsPerSecond, other?.udpPacketsPerSecond),
    });
    const overSlirp = set(slirp);
    const tcpAtLeastSlirp = overSlirp.tcpUp === null || overSlirp.tcpDown === null ? null : overSlirp.tcpUp >= 1 && overSlirp.tcpDown >= 1;
    const udpAtLeastTwiceSlirp = overSlirp.udp === null ? null : overSlirp.udp >= 2;
    const forwarderOverSlirp4netns = {
      udpArrived: ratioMetric(oi, name, slirp, 'slirp4netns', (r) => r.udpArrivedPerSecond),
      cpuPerDatagram: ratioMetric(oi, name, slirp, 'slirp4netns', (r) => r.udpForwarderMicrosPerPacket),
    };
    out.push({ path: name, overSlirp4netns: overSlirp, overKernel: set(kernel), target: { tcpAtLeastSlirp, udpAtLeastTwiceSlirp }, forwarderOverSlirp4netns });
  }
  return out;
}

const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function cell(m: Metric, format: (v: number) => string): string {
  return m.ok ? format(m.value) : m.notApplicable ? `n/a (${m.reason})` : 'failed';
}

const gbit = (bps: number) => (bps / 1e9).toFixed(2);
const pps = (n: number) => grouped.format(Math.round(n));
const micros = (us: number) => us.toFixed(2);
const times = (r: number | null) => (r === null ? 'n/a' : `${r.toFixed(2)}×`);
const timesSlirp = (m: Metric) => (m.ok ? `${m.value.toFixed(2)}× slirp4netns` : `n/a (${m.reason})`);

/** The table's five figures for builds compared (lib/ab-report.ts), in the table's order. */
export const PATH_FIGURES: readonly AbFigure[] = [
  { label: 'TCP up Gbit/s', better: 'higher', format: gbit },
  { label: 'TCP down Gbit/s', better: 'higher', format: gbit },
  { label: 'UDP 64B pkts/s', better: 'higher', format: pps },
  { label: 'UDP arrived pkts/s', better: 'higher', format: pps },
  { label: 'fwd CPU µs/pkt', better: 'lower', format: micros },
];

/** A run's values of PATH_FIGURES; null where it has no number (a path not available has none). */
export function pathFigures(r: PathResult): (number | null)[] {
  return [r.tcpUpBitsPerSecond, r.tcpDownBitsPerSecond, r.udpPacketsPerSecond, r.udpArrivedPerSecond, r.udpForwarderMicrosPerPacket].map((m) => value(m));
}

/** Says what the three UDP columns count; printed under the table. */
const UDP_LEGEND = [
  'UDP 64B pkts/s: datagrams the iperf3 server read (the target\'s figure); UDP arrived: datagrams that reached',
  'its UDP layer, read or dropped at its full socket buffer; fwd CPU: the forwarding process\'s CPU time per arrived datagram',
  '(for OpenIGD with its lab\'s LAN NAPI threads, which do the GRO).',
];

/** The results table, one row per path, with the reasons for anything missing listed below it. */
export function formatTable(results: readonly PathResult[]): string {
  const header = ['path', 'TCP up Gbit/s', 'TCP down Gbit/s', 'UDP 64B pkts/s', 'UDP arrived pkts/s', 'fwd CPU µs/pkt'];
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const r of results) {
    const label = r.label ?? PATH_LABELS[r.path];
    if (!r.available) {
      rows.push([label, `not available (${r.reason ?? 'unknown'})`]);
      continue;
    }
    rows.push([
      label, cell(r.tcpUpBitsPerSecond, gbit), cell(r.tcpDownBitsPerSecond, gbit), cell(r.udpPacketsPerSecond, pps),
      cell(r.udpArrivedPerSecond, pps), cell(r.udpForwarderMicrosPerPacket, micros),
    ]);
    const metrics: [string, Metric][] = [
      ['TCP up', r.tcpUpBitsPerSecond], ['TCP down', r.tcpDownBitsPerSecond], ['UDP', r.udpPacketsPerSecond],
      ['UDP arrived', r.udpArrivedPerSecond], ['forwarder CPU', r.udpForwarderMicrosPerPacket],
    ];
    for (const [what, m] of metrics) if (!m.ok && !m.notApplicable) notes.push(`${label} ${what} failed: ${m.reason}`);
  }
  const full = rows.filter((row) => row.length === header.length);
  const widths = header.map((h, i) => Math.max(h.length, ...(i === 0 ? rows : full).map((row) => row[i]!.length)));
  const line = (row: string[]) => (row.length === header.length
    ? row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')
    : `${row[0]!.padEnd(widths[0]!)} | ${row[1]}`);
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)];
  return [...out, ...notes, ...UDP_LEGEND].join('\n');
}

/** The ratio and target lines under the table, and the informational forwarder line, for each OpenIGD path. */
export function formatRatios(ratios: readonly Ratios[]): string {
  const verdict = (v: boolean | null) => (v === null ? 'n/a' : v ? 'met' : 'NOT met');
  const lines: string[] = [];
  for (const r of ratios) {
    const s = r.overSlirp4netns;
    const k = r.overKernel;
    const f = r.forwarderOverSlirp4netns;
    const label = PATH_LABELS[r.path];
    lines.push(
      `${label} / slirp4netns: TCP up ${times(s.tcpUp)}, TCP down ${times(s.tcpDown)}, UDP ${times(s.udp)}`,
      `${label} / kernel NAT:  TCP up ${times(k.tcpUp)}, TCP down ${times(k.tcpDown)}, UDP ${times(k.udp)}`,
      `  target (issue 3): TCP ≥ slirp4netns both ways: ${verdict(r.target.tcpAtLeastSlirp)}; UDP ≥ 2× slirp4netns: ${verdict(r.target.udpAtLeastTwiceSlirp)}`,
      `  informational, not in the target: UDP arrived at the server: ${timesSlirp(f.udpArrived)}; `
        + `forwarder CPU per datagram: ${timesSlirp(f.cpuPerDatagram)} (lower is better)`,
    );
  }
  return lines.join('\n');
}
