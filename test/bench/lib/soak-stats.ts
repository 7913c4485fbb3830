/**
 * The soak's arithmetic, kept apart from the lab so it can be tested on fixed numbers:
 * percentiles, the warm-up rule, the "memory is flat" and "latency is bounded" verdicts,
 * and the report table.
 *
 * Warm-up: the first 10 % of the run, and at least 60 s (never more than half the run).
 * Memory is flat when, for RSS and for the heap in use each, the median of the last
 * window (the last 10 % of the run, at least 30 samples) is at most 10 % above the
 * median of the first window after warm-up (same size). Medians, not single samples, so
 * one GC's timing does not decide it.
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
  readonly earlyMedian: number;
  readonly lateMedian: number;
  /** lateMedian / earlyMedian − 1. */
  readonly growth: number;
  readonly maxAfterWarmup: number;
  readonly flat: boolean;
  /** Why no verdict could be had (too few samples), else null. */
  readonly problem: string | null;
}

/** Compares the first and last windows after warm-up of one series (see the file comment). */
export function memoryVerdict(name: string, samples: readonly SoakSample[], pick: (s: SoakSample) => number, durationSeconds: number): MemoryVerdict {
  const after = samples.filter((s) => s.t >= warmupSeconds(durationSeconds));
  const size = Math.max(MIN_WINDOW_SAMPLES, Math.round(durationSeconds * WINDOW_FRACTION));
  if (after.length < 2 * MIN_WINDOW_SAMPLES) {
    return { name, earlyMedian: NaN, lateMedian: NaN, growth: NaN, maxAfterWarmup: NaN, flat: false, problem: `only ${after.length} samples after warm-up (need ${2 * MIN_WINDOW_SAMPLES})` };
  }
  const n = Math.min(size, Math.floor(after.length / 2));
  const earlyMedian = percentile(after.slice(0, n).map(pick), 0.5);
  const lateMedian = percentile(after.slice(-n).map(pick), 0.5);
  const growth = lateMedian / earlyMedian - 1;
  const maxAfterWarmup = Math.max(...after.map(pick));
  return { name, earlyMedian, lateMedian, growth, maxAfterWarmup, flat: growth <= FLAT_TOLERANCE, problem: null };
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
  const rows: string[][] = [['series', 'early (median)', 'late (median)', 'growth', 'max', 'verdict']];
  for (const m of memory) {
    rows.push(m.problem
      ? [m.name, '-', '-', '-', '-', `no verdict: ${m.problem}`]
      : [m.name, mib(m.earlyMedian), mib(m.lateMedian), `${(m.growth * 100).toFixed(1)} %`, mib(m.maxAfterWarmup), m.flat ? 'flat' : 'GROWING']);
  }
  rows.push(['series', 'p50', 'p99', 'max', 'count', '']);
  rows.push(['SOAP add', ms(latency.addMs.p50), ms(latency.addMs.p99), ms(latency.addMs.max), String(latency.addMs.count), '']);
  rows.push(['event-loop lag (max/s)', ms(latency.lagMs.p50), ms(latency.lagMs.p99), ms(latency.lagMs.max), String(latency.lagMs.count), '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  lines.push(`warm-up: first ${warmup.toFixed(0)} s excluded`);
  lines.push(`memory: ${memory.every((m) => m.flat) ? 'flat' : 'NOT flat'} (late median within ${FLAT_TOLERANCE * 100} % of early median)`);
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
