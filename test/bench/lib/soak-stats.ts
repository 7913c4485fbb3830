/**
 * The soak's arithmetic, kept apart from the lab so it can be tested on fixed numbers:
 * percentiles, the warm-up rule, the "memory is flat" and "latency is bounded" verdicts,
 * and the report table.
 *
 * Warm-up: the first 10 % of the run, and at least 60 s (never more than half the run).
 * Memory is flat when, for RSS and for the heap in use each, the floor (lowest sample)
 * of the second half of the run after warm-up is at most 10 % above the floor of the
 * first half. The floor is what is live right after a collection; any other sample also
 * holds garbage not yet collected, whose amount depends on where the collector is in its
 * cycle (on Node 24 the heap in use swings 25–70 MiB and RSS 118–218 MiB over 10–20
 * minutes with the live set unchanged). A leak raises the floor; a sawtooth does not.
 * Each half is long enough to hold several cycles. The medians of the first and last
 * 10 % are reported beside it, for information.
 * Latency is bounded when the p99 of the SOAP add latency in the last quarter of the
 * run after warm-up is at most twice that of the first quarter (plus 20 ms of slack for
 * a shared machine), no add timed out, and the event-loop lag never reached 1 s.
 */

/** One sample of the daemon, taken every second. */
export interface SoakSample {
  /** Seconds since the start of the run. */
  readonly t: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** The largest event-loop delay seen since the previous sample, seconds. */
  readonly lagMaxSeconds: number;
}

/** One timed SOAP AddPortMapping: when it started (s since the run's start) and how long it took (ms). */
export interface TimedAdd {
  readonly t: number;
  readonly ms: number;
}

export const FLAT_TOLERANCE = 0.10;
export const MIN_WARMUP_SECONDS = 60;
export const WARMUP_FRACTION = 0.10;
export const WINDOW_FRACTION = 0.10;
export const MIN_WINDOW_SAMPLES = 30;
export const LAG_LIMIT_SECONDS = 1;
export const LATENCY_GROWTH_LIMIT = 2;
export const LATENCY_SLACK_MS = 20;

/** The `q`-quantile (0..1) of `values` by nearest rank; NaN when empty. Does not modify `values`. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** The warm-up of a run of `durationSeconds`, seconds (see the file comment). */
export function warmupSeconds(durationSeconds: number): number {
  return Math.min(durationSeconds / 2, Math.max(MIN_WARMUP_SECONDS, durationSeconds * WARMUP_FRACTION));
}

export interface MemoryVerdict {
  readonly name: string;
  /** The lowest sample of the first and of the second half after warm-up. */
  readonly earlyFloor: number;
  readonly lateFloor: number;
  /** lateFloor / earlyFloor − 1: what the verdict is on. */
  readonly growth: number;
  /** Medians of the first and last 10 % after warm-up (for information). */
  readonly earlyMedian: number;
  readonly lateMedian: number;
  readonly maxAfterWarmup: number;
  readonly flat: boolean;
  /** Why no verdict could be had (too few samples), else null. */
  readonly problem: string | null;
}

/** Compares the floors of the two halves after warm-up of one series (see the file comment). */
export function memoryVerdict(name: string, samples: readonly SoakSample[], pick: (s: SoakSample) => number, durationSeconds: number): MemoryVerdict {
  const after = samples.filter((s) => s.t >= warmupSeconds(durationSeconds)).map(pick);
  if (after.length < 2 * MIN_WINDOW_SAMPLES) {
    return {
      name, earlyFloor: NaN, lateFloor: NaN, growth: NaN, earlyMedian: NaN, lateMedian: NaN, maxAfterWarmup: NaN, flat: false,
      problem: `only ${after.length} samples after warm-up (need ${2 * MIN_WINDOW_SAMPLES})`,
    };
  }
  const half = Math.floor(after.length / 2);
  const earlyFloor = Math.min(...after.slice(0, half));
  const lateFloor = Math.min(...after.slice(half));
  const growth = lateFloor / earlyFloor - 1;
  const n = Math.min(Math.max(MIN_WINDOW_SAMPLES, Math.round(durationSeconds * WINDOW_FRACTION)), half);
  return {
    name, earlyFloor, lateFloor, growth,
    earlyMedian: percentile(after.slice(0, n), 0.5), lateMedian: percentile(after.slice(-n), 0.5),
    maxAfterWarmup: Math.max(...after), flat: growth <= FLAT_TOLERANCE, problem: null,
  };
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function summarize(values: readonly number[]): LatencySummary {
  return { count: values.length, p50: percentile(values, 0.5), p99: percentile(values, 0.99), max: values.length ? Math.max(...values) : NaN };
}

export interface LatencyVerdict {
  readonly addMs: LatencySummary;
  readonly lagMs: LatencySummary;
  readonly earlyAddP99: number;
  readonly lateAddP99: number;
  readonly addFailures: number;
  readonly bounded: boolean;
  readonly reasons: readonly string[];
}

/** SOAP add latency and event-loop lag after warm-up, and whether they stayed bounded (file comment). */
export function latencyVerdict(adds: readonly TimedAdd[], addFailures: number, samples: readonly SoakSample[], durationSeconds: number): LatencyVerdict {
  const w = warmupSeconds(durationSeconds);
  const after = adds.filter((a) => a.t >= w);
  const quarter = (durationSeconds - w) / 4;
  const earlyAddP99 = percentile(after.filter((a) => a.t < w + quarter).map((a) => a.ms), 0.99);
  const lateAddP99 = percentile(after.filter((a) => a.t >= durationSeconds - quarter).map((a) => a.ms), 0.99);
  const lagMs = summarize(samples.filter((s) => s.t >= w).map((s) => s.lagMaxSeconds * 1000));
  const reasons: string[] = [];
  if (after.length === 0) reasons.push('no SOAP add after warm-up');
  if (!(lateAddP99 <= LATENCY_GROWTH_LIMIT * earlyAddP99 + LATENCY_SLACK_MS)) {
    reasons.push(`add p99 grew from ${earlyAddP99.toFixed(1)} to ${lateAddP99.toFixed(1)} ms`);
  }
  if (addFailures > 0) reasons.push(`${addFailures} adds failed or timed out`);
  if (lagMs.count === 0) reasons.push('no sample of the daemon after warm-up');
  else if (!(lagMs.max < LAG_LIMIT_SECONDS * 1000)) reasons.push(`event-loop lag reached ${lagMs.max.toFixed(0)} ms`);
  return { addMs: summarize(after.map((a) => a.ms)), lagMs, earlyAddP99, lateAddP99, addFailures, bounded: reasons.length === 0, reasons };
}

const mib = (b: number) => `${(b / (1 << 20)).toFixed(1)} MiB`;
const ms = (v: number) => (Number.isNaN(v) ? '-' : `${v.toFixed(1)} ms`);

/** The report: one row per memory series and per latency series, then the verdicts. */
export function formatSoakTable(memory: readonly MemoryVerdict[], latency: LatencyVerdict, warmup: number): string {
  const rows: string[][] = [['series', 'floor, 1st half', 'floor, 2nd half', 'growth', 'median, first 10 %', 'median, last 10 %', 'max', 'verdict']];
  for (const m of memory) {
    rows.push(m.problem
      ? [m.name, '-', '-', '-', '-', '-', '-', `no verdict: ${m.problem}`]
      : [m.name, mib(m.earlyFloor), mib(m.lateFloor), `${(m.growth * 100).toFixed(1)} %`, mib(m.earlyMedian), mib(m.lateMedian), mib(m.maxAfterWarmup), m.flat ? 'flat' : 'GROWING']);
  }
  rows.push(['series', 'p50', 'p99', 'max', 'count', '', '', '']);
  rows.push(['SOAP add', ms(latency.addMs.p50), ms(latency.addMs.p99), ms(latency.addMs.max), String(latency.addMs.count), '', '', '']);
  rows.push(['event-loop lag (max/s)', ms(latency.lagMs.p50), ms(latency.lagMs.p99), ms(latency.lagMs.max), String(latency.lagMs.count), '', '', '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  lines.push(`warm-up: first ${warmup.toFixed(0)} s excluded`);
  lines.push(`memory: ${memory.every((m) => m.flat) ? 'flat' : 'NOT flat'} (the second half's floor within ${FLAT_TOLERANCE * 100} % of the first half's)`);
  lines.push(`latency: ${latency.bounded ? 'bounded' : `NOT bounded: ${latency.reasons.join('; ')}`} (add p99 first quarter ${ms(latency.earlyAddP99)}, last quarter ${ms(latency.lateAddP99)})`);
  return lines.join('\n');
}

/** One value of a Prometheus text exposition by metric name (no labels), or null. */
export function promValue(text: string, name: string): number | null {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) return null;
  const v = Number(m[1]);
  return Number.isFinite(v) ? v : null;
}

/** `VmRSS` of a `/proc/<pid>/status` text in bytes, or null. */
export function vmRssBytes(statusText: string): number | null {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(statusText);
  return m ? Number(m[1]) * 1024 : null;
}
