/**
 * The soak's verdicts on fixed series: percentiles by nearest rank, the warm-up rule,
 * memory flat or growing, latency bounded or not, and the Prometheus / proc readers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatSoakTable, latencyVerdict, memoryVerdict, percentile, promValue, vmRssBytes, warmupSeconds, type SoakSample,
} from './soak-stats.js';

const MiB = 1 << 20;

/** One sample a second for `seconds`, RSS from `rss(t)`. */
function series(seconds: number, rss: (t: number) => number, lag = 0.01): SoakSample[] {
  return Array.from({ length: seconds }, (_, i) => ({ t: i + 1, rssBytes: rss(i + 1), heapUsedBytes: 30 * MiB, lagMaxSeconds: lag }));
}

test('percentile: nearest rank, NaN when empty, input left unsorted', () => {
  const v = [5, 1, 4, 2, 3];
  assert.equal(percentile(v, 0.5), 3);
  assert.equal(percentile(v, 0.99), 5);
  assert.equal(percentile(v, 0), 1);
  assert.deepEqual(v, [5, 1, 4, 2, 3]);
  assert.ok(Number.isNaN(percentile([], 0.5)));
});

test('warm-up: 10 % of the run, at least 60 s, at most half of it', () => {
  assert.equal(warmupSeconds(3600), 360);
  assert.equal(warmupSeconds(300), 60);
  assert.equal(warmupSeconds(100), 50);
});

test('memory: a level series is flat, one growing 20 % after warm-up is not; too short has no verdict', () => {
  const flat = memoryVerdict('RSS', series(3600, () => 100 * MiB), (s) => s.rssBytes, 3600);
  assert.equal(flat.flat, true);
  assert.equal(flat.growth, 0);
  // Grows by a third during warm-up (not counted), then 30 % over the rest.
  const growing = memoryVerdict('RSS', series(3600, (t) => (t < 360 ? 75 : 100 + (30 * (t - 360)) / 3240) * MiB), (s) => s.rssBytes, 3600);
  assert.equal(growing.flat, false);
  // The floors are the first sample of each half: 100 MiB at 360 s, 115 MiB at 1980 s.
  assert.equal(growing.earlyFloor, 100 * MiB);
  assert.ok(Math.abs(growing.growth - 0.15) < 0.001, String(growing.growth));
  const short = memoryVerdict('RSS', series(80, () => MiB), (s) => s.rssBytes, 80);
  assert.equal(short.flat, false);
  assert.match(short.problem!, /samples after warm-up/);
});

/** A collector's sawtooth: from `floor(t)` up by 70 MiB over `period` s, then back down. */
const sawtooth = (period: number, floor: (t: number) => number) => (t: number) => (floor(t) + 70 * ((t % period) / period)) * MiB;

test('memory: a sawtooth over a level floor is flat whatever its phase; a rising floor is not', () => {
  // 20-minute cycles: the last 10 % of the run can sit near a peak while the first window
  // after warm-up sits near a trough (their medians differ by half: the old rule's false alarm).
  const saw = memoryVerdict('RSS', series(3600, sawtooth(1200, () => 25)), (s) => s.rssBytes, 3600);
  assert.ok(saw.lateMedian / saw.earlyMedian - 1 > 0.4, `medians ${saw.earlyMedian} ${saw.lateMedian}`);
  assert.equal(saw.flat, true);
  assert.equal(saw.earlyFloor, saw.lateFloor);
  // The same sawtooth on a floor that grows 25 → 40 MiB (a leak of 15 MiB an hour) is growing:
  // its troughs at 20 and 40 minutes hold 30 and 35 MiB.
  const leak = memoryVerdict('RSS', series(3600, sawtooth(1200, (t) => 25 + (15 * t) / 3600)), (s) => s.rssBytes, 3600);
  assert.equal(leak.flat, false);
  assert.ok(leak.growth > 0.1, String(leak.growth));
});

test('latency: steady adds are bounded; adds whose p99 triples, a failure or a 1 s lag are not', () => {
  const samples = series(600, () => MiB);
  const steady = Array.from({ length: 2400 }, (_, i) => ({ t: i / 4, ms: 3 + (i % 10) }));
  const ok = latencyVerdict(steady, 0, samples, 600);
  assert.deepEqual([ok.bounded, ok.reasons], [true, []]);
  assert.equal(ok.addMs.p50, 7);
  const slower = steady.map((a) => (a.t > 480 ? { ...a, ms: a.ms * 4 + 30 } : a));
  assert.equal(latencyVerdict(slower, 0, samples, 600).bounded, false);
  assert.match(latencyVerdict(steady, 2, samples, 600).reasons.join(), /2 adds failed/);
  const laggy = samples.map((s, i) => (i === 500 ? { ...s, lagMaxSeconds: 1.2 } : s));
  assert.match(latencyVerdict(steady, 0, laggy, 600).reasons.join(), /lag reached 1200 ms/);
});

test('the table names each series and the verdicts', () => {
  const samples = series(600, () => 100 * MiB);
  const memory = [memoryVerdict('RSS', samples, (s) => s.rssBytes, 600)];
  const text = formatSoakTable(memory, latencyVerdict([{ t: 100, ms: 2 }, { t: 590, ms: 2 }], 0, samples, 600), 60);
  assert.match(text, /^series +floor, 1st half +floor, 2nd half +growth +median, first 10 % +median, last 10 % +max +verdict$/m);
  assert.match(text, /^RSS +100\.0 MiB +100\.0 MiB +0\.0 % +100\.0 MiB +100\.0 MiB +100\.0 MiB +flat$/m);
  assert.match(text, /^SOAP add +2\.0 ms +2\.0 ms +2\.0 ms +2$/m);
  assert.match(text, /^memory: flat/m);
  assert.match(text, /^latency: bounded/m);
});

test('promValue and vmRssBytes read one value, or null', () => {
  const text = '# HELP x\nopenigd_nodejs_heap_size_used_bytes 123456\nopenigd_nodejs_eventloop_lag_max_seconds 0.012\n';
  assert.equal(promValue(text, 'openigd_nodejs_heap_size_used_bytes'), 123456);
  assert.equal(promValue(text, 'openigd_nodejs_eventloop_lag_max_seconds'), 0.012);
  assert.equal(promValue(text, 'nope'), null);
  assert.equal(vmRssBytes('Name:\tnode\nVmRSS:\t  104500 kB\nVmData: 1 kB\n'), 104500 * 1024);
  assert.equal(vmRssBytes('Name: node\n'), null);
});
