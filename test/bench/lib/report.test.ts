/**
 * The benchmark's ratios, target verdict and table: numbers only where both sides were
 * measured, reasons shown for what was not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeRatios, formatRatios, formatTable, type Metric, type PathResult } from './report.js';
import type { PathName } from './peers.js';

const ok = (value: number): Metric => ({ ok: true, value });
const failed = (reason: string): Metric => ({ ok: false, reason });

function measured(path: PathName, up: Metric, down: Metric, udp: Metric): PathResult {
  return { path, available: true, reason: null, description: 'x', tcpUpBitsPerSecond: up, tcpDownBitsPerSecond: down, udpPacketsPerSecond: udp, details: {} };
}

function missing(path: PathName, reason: string): PathResult {
  const none = failed('not measured');
  return { path, available: false, reason, description: null, tcpUpBitsPerSecond: none, tcpDownBitsPerSecond: none, udpPacketsPerSecond: none, details: {} };
}

const kernel = measured('kernel', ok(17e9), ok(16e9), ok(460_000));
const slirp = measured('slirp4netns', ok(2e9), ok(6e9), ok(83_000));

test('ratios of OpenIGD to slirp4netns and the kernel, and the target', () => {
  const oi = measured('openigd', ok(3e9), ok(6e9), ok(166_000));
  const [r, more] = computeRatios([kernel, slirp, oi]);
  assert.equal(more, undefined, 'one set of ratios per OpenIGD path measured');
  assert.equal(r!.path, 'openigd');
  assert.equal(r!.overSlirp4netns.tcpUp, 1.5);
  assert.equal(r!.overSlirp4netns.tcpDown, 1);
  assert.equal(r!.overSlirp4netns.udp, 2);
  assert.equal(r!.overKernel.tcpDown, 6e9 / 16e9);
  assert.deepEqual(r!.target, { tcpAtLeastSlirp: true, udpAtLeastTwiceSlirp: true });
});

test('the target is not met when one direction is slower than slirp4netns', () => {
  const oi = measured('openigd', ok(3e9), ok(5.9e9), ok(165_999));
  const r = computeRatios([kernel, slirp, oi]);
  assert.deepEqual(r[0]!.target, { tcpAtLeastSlirp: false, udpAtLeastTwiceSlirp: false });
  assert.match(formatRatios(r), /TCP ≥ slirp4netns both ways: NOT met; UDP ≥ 2× slirp4netns: NOT met/);
});

test('offload off and on are judged each on its own', () => {
  const off = measured('openigd', ok(1e9), ok(2e9), ok(170_000));
  const on = measured('openigd-offload', ok(10e9), ok(11e9), ok(160_000));
  const r = computeRatios([kernel, slirp, off, on]);
  assert.deepEqual(r.map((x) => x.path), ['openigd', 'openigd-offload']);
  assert.deepEqual(r[0]!.target, { tcpAtLeastSlirp: false, udpAtLeastTwiceSlirp: true });
  assert.deepEqual(r[1]!.target, { tcpAtLeastSlirp: true, udpAtLeastTwiceSlirp: false });
  const text = formatRatios(r);
  assert.match(text, /^OpenIGD, offload off \/ slirp4netns: TCP up 0\.50×, TCP down 0\.33×, UDP 2\.05×$/m);
  assert.match(text, /^OpenIGD, offload on \/ slirp4netns: TCP up 5\.00×, TCP down 1\.83×, UDP 1\.93×$/m);
});

test('no ratio and no verdict without both numbers', () => {
  const [r] = computeRatios([kernel, slirp, missing('openigd', 'lab up failed: no daemon')]);
  assert.deepEqual(r!.overSlirp4netns, { tcpUp: null, tcpDown: null, udp: null });
  assert.deepEqual(r!.target, { tcpAtLeastSlirp: null, udpAtLeastTwiceSlirp: null });
  const partial = computeRatios([measured('slirp4netns', ok(2e9), failed('timeout'), ok(0)), measured('openigd', ok(3e9), ok(1e9), ok(5))]);
  assert.equal(partial[0]!.overSlirp4netns.tcpDown, null);
  assert.equal(partial[0]!.overSlirp4netns.udp, null, 'a zero denominator gives no ratio');
  assert.equal(partial[0]!.target.tcpAtLeastSlirp, null);
  assert.match(formatRatios(partial), /TCP down n\/a/);
});

test('the table: Gbit/s with two decimals, grouped packets/s, reasons for what is missing', () => {
  const table = formatTable([kernel, measured('pasta', ok(4.567e9), failed('iperf3: timeout'), ok(105_432.6)), missing('openigd', 'lab up failed: no daemon')]);
  const lines = table.split('\n');
  assert.match(lines[0]!, /^path\s+\| TCP up Gbit\/s \| TCP down Gbit\/s \| UDP 64B pkts\/s$/);
  assert.match(table, /kernel NAT\s+\|\s+17\.00 \|\s+16\.00 \|\s+460,000/);
  assert.match(table, /pasta\s+\|\s+4\.57 \|\s+failed \|\s+105,433/);
  assert.match(table, /OpenIGD, offload off\s+\| not available \(lab up failed: no daemon\)/);
  assert.match(table, /pasta TCP down failed: iperf3: timeout/);
  assert.ok(!/NaN|undefined/.test(table));
  const columnOfBar = (line: string) => line.indexOf('|');
  assert.ok(lines.slice(2, 5).every((l) => columnOfBar(l) === columnOfBar(lines[0]!)), 'the first column is aligned');
});

test('the first column fits a path that is not available', () => {
  const lines = formatTable([measured('pasta', ok(1e9), ok(1e9), ok(1)), missing('slirp4netns', 'slirp4netns not installed')]).split('\n');
  assert.equal(lines[1]!.indexOf('|'), lines[0]!.indexOf('|'));
  assert.equal(lines[3]!.indexOf('|'), lines[0]!.indexOf('|'));
  assert.equal(lines[3], `slirp4netns (MTU 1500) | not available (slirp4netns not installed)`);
});
