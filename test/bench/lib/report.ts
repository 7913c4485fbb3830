/**
 * The forwarding benchmark's results as data, and their presentation: the table
 * (path | TCP up | TCP down | UDP 64 B packets/s), the ratios of OpenIGD (offload off
 * and on) to slirp4netns and to the kernel, and the target (OpenIGD ≥ slirp4netns in TCP, ≥ 2× its
 * UDP packet rate). Pure: no I/O, and a missing or failed number is shown with its
 * reason, never replaced by a made-up one.
 */
import { OPENIGD_PATHS, PATH_LABELS, type PathName } from './peers.js';

export type Metric = { readonly ok: true; readonly value: number } | { readonly ok: false; readonly reason: string };

export interface PathResult {
  readonly path: PathName;
  /** False when the path cannot exist here; `reason` says why and the metrics are absent. */
  readonly available: boolean;
  readonly reason: string | null;
  readonly description: string | null;
  readonly tcpUpBitsPerSecond: Metric;
  readonly tcpDownBitsPerSecond: Metric;
  readonly udpPacketsPerSecond: Metric;
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
}

function value(m: Metric | undefined): number | null {
  return m?.ok ? m.value : null;
}

function ratio(a: Metric | undefined, b: Metric | undefined): number | null {
  const x = value(a);
  const y = value(b);
  return x !== null && y !== null && y > 0 ? x / y : null;
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
    out.push({ path: name, overSlirp4netns: overSlirp, overKernel: set(kernel), target: { tcpAtLeastSlirp, udpAtLeastTwiceSlirp } });
  }
  return out;
}

const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function cell(m: Metric, format: (v: number) => string): string {
  return m.ok ? format(m.value) : 'failed';
}

const gbit = (bps: number) => (bps / 1e9).toFixed(2);
const pps = (n: number) => grouped.format(Math.round(n));
const times = (r: number | null) => (r === null ? 'n/a' : `${r.toFixed(2)}×`);

/** The results table, one row per path, with the reasons for anything missing listed below it. */
export function formatTable(results: readonly PathResult[]): string {
  const header = ['path', 'TCP up Gbit/s', 'TCP down Gbit/s', 'UDP 64B pkts/s'];
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const r of results) {
    const label = PATH_LABELS[r.path];
    if (!r.available) {
      rows.push([label, `not available (${r.reason ?? 'unknown'})`]);
      continue;
    }
    rows.push([label, cell(r.tcpUpBitsPerSecond, gbit), cell(r.tcpDownBitsPerSecond, gbit), cell(r.udpPacketsPerSecond, pps)]);
    const metrics: [string, Metric][] = [['TCP up', r.tcpUpBitsPerSecond], ['TCP down', r.tcpDownBitsPerSecond], ['UDP', r.udpPacketsPerSecond]];
    for (const [what, m] of metrics) if (!m.ok) notes.push(`${label} ${what} failed: ${m.reason}`);
  }
  const full = rows.filter((row) => row.length === header.length);
  const widths = header.map((h, i) => Math.max(h.length, ...(i === 0 ? rows : full).map((row) => row[i]!.length)));
  const line = (row: string[]) => (row.length === header.length
    ? row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')
    : `${row[0]!.padEnd(widths[0]!)} | ${row[1]}`);
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)];
  return [...out, ...notes].join('\n');
}

/** The ratio and target lines under the table, for each OpenIGD path. */
export function formatRatios(ratios: readonly Ratios[]): string {
  const verdict = (v: boolean | null) => (v === null ? 'n/a' : v ? 'met' : 'NOT met');
  const lines: string[] = [];
  for (const r of ratios) {
    const s = r.overSlirp4netns;
    const k = r.overKernel;
    const label = PATH_LABELS[r.path];
    lines.push(
      `${label} / slirp4netns: TCP up ${times(s.tcpUp)}, TCP down ${times(s.tcpDown)}, UDP ${times(s.udp)}`,
      `${label} / kernel NAT:  TCP up ${times(k.tcpUp)}, TCP down ${times(k.tcpDown)}, UDP ${times(k.udp)}`,
      `  target (issue 3): TCP ≥ slirp4netns both ways: ${verdict(r.target.tcpAtLeastSlirp)}; UDP ≥ 2× slirp4netns: ${verdict(r.target.udpAtLeastTwiceSlirp)}`,
    );
  }
  return lines.join('\n');
}
