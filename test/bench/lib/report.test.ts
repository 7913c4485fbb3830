/**
 * The benchmark's ratios, target verdict and table: numbers only where both sides were
 * measured, reasons shown for what was not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeRatios, formatRatios, formatTable, PATH_FIGURES, pathFigures, type Metric, type PathResult } from './report.js';
import type { PathName } from './peers.js';

const ok = (value: number): Metric => ({ ok: true, value });
const failed = (reason: string): Metric => ({ ok: false, reason });

const inKernel: Metric = { ok: false, reason: 'in-kernel', notApplicable: true };

function measured(path: PathName, up: Metric, down: Metric, udp: Metric, arrived: Metric = failed('not read'), cpu: Metric = failed('not read')): PathResult {
  return {
    path, available: true, reason: null, description: 'x', tcpUpBitsPerSecond: up, tcpDownBitsPerSecond: down, udpPacketsPerSecond: udp,
    udpArrivedPerSecond: arrived, udpForwarderMicrosPerPacket: cpu, details: {},
  };
}

function missing(path: PathName, reason: string): PathResult {
  const none = failed('not measured');
  return {
    path, available: false, reason, description: null, tcpUpBitsPerSecond: none, tcpDownBitsPerSecond: none, udpPacketsPerSecond: none,
    udpArrivedPerSecond: none, udpForwarderMicrosPerPacket: none, details: {},
  };
}

const kernel = measured('kernel', ok(17e9), ok(16e9), ok(460_000), ok(1_400_000), inKernel);
const slirp = measured('slirp4netns', ok(2e9), ok(6e9), ok(83_000), ok(290_000), ok(3.05));

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
  const pasta = measured('pasta', ok(4.567e9), failed('iperf3: timeout'), ok(105_432.6), ok(301_234.4), ok(2.5));
  const table = formatTable([kernel, pasta, missing('openigd', 'lab up failed: no daemon')]);
  const lines = table.split('\n');
  assert.match(lines[0]!, /^path\s+\| TCP up Gbit\/s \| TCP down Gbit\/s \| UDP 64B pkts\/s \| UDP arrived pkts\/s \| {2}fwd CPU µs\/pkt$/);
  assert.match(table, /kernel NAT\s+\|\s+17\.00 \|\s+16\.00 \|\s+460,000 \|\s+1,400,000 \| n\/a \(in-kernel\)$/m);
  assert.match(table, /pasta\s+\|\s+4\.57 \|\s+failed \|\s+105,433 \|\s+301,234 \|\s+2\.50$/m);
  assert.match(table, /OpenIGD, offload off\s+\| not available \(lab up failed: no daemon\)/);
  assert.match(table, /pasta TCP down failed: iperf3: timeout/);
  assert.ok(!/NaN|undefined/.test(table));
  const columnOfBar = (line: string) => line.indexOf('|');
  assert.ok(lines.slice(2, 5).every((l) => columnOfBar(l) === columnOfBar(lines[0]!)), 'the first column is aligned');
});

test('the first column fits a path that is not available', () => {
  const lines = formatTable([measured('pasta', ok(1e9), ok(1e9), ok(1), ok(1), ok(1)), missing('slirp4netns', 'slirp4netns not installed')]).split('\n');
  assert.equal(lines[1]!.indexOf('|'), lines[0]!.indexOf('|'));
  assert.equal(lines[3]!.indexOf('|'), lines[0]!.indexOf('|'));
  assert.equal(lines[3], `slirp4netns (MTU 1500) | not available (slirp4netns not installed)`);
});

test('the forwarder columns: a failure is listed with its reason, in-kernel is n/a and no failure', () => {
  const oi = measured('openigd-offload', ok(9e9), ok(9e9), ok(220_000), failed('cannot read /proc/net/snmp in oi-fb1-inet: exit 1'), failed('no datagram count: x'));
  const table = formatTable([kernel, oi]);
  assert.match(table, /OpenIGD, offload on\s+\|\s+9\.00 \|\s+9\.00 \|\s+220,000 \|\s+failed \|\s+failed$/m);
  assert.match(table, /^OpenIGD, offload on UDP arrived failed: cannot read \/proc\/net\/snmp in oi-fb1-inet: exit 1$/m);
  assert.match(table, /^OpenIGD, offload on forwarder CPU failed: no datagram count: x$/m);
  assert.ok(!/kernel NAT .*failed/.test(table), 'in-kernel is not a failure');
  assert.match(table, /UDP 64B pkts\/s: datagrams the iperf3 server read/);
});

test('the forwarder figures against slirp4netns: informational, beside the target and not in it', () => {
  const oi = measured('openigd-offload', ok(3e9), ok(7e9), ok(150_000), ok(536_500), ok(2.013));
  const [r] = computeRatios([kernel, slirp, oi]);
  assert.equal(r!.forwarderOverSlirp4netns.udpArrived.ok && r!.forwarderOverSlirp4netns.udpArrived.value, 536_500 / 290_000);
  assert.equal(r!.forwarderOverSlirp4netns.cpuPerDatagram.ok && r!.forwarderOverSlirp4netns.cpuPerDatagram.value, 2.013 / 3.05);
  // 1.85× slirp4netns at the server, but only 1.81× by what iperf3 read: the target stays on the latter.
  assert.deepEqual(r!.target, { tcpAtLeastSlirp: true, udpAtLeastTwiceSlirp: false });
  const text = formatRatios([r!]);
  assert.match(text, /^ {2}informational, not in the target: UDP arrived at the server: 1\.85× slirp4netns; forwarder CPU per datagram: 0\.66× slirp4netns \(lower is better\)$/m);
});

test('the forwarder figures against slirp4netns: which side has no number, and why', () => {
  const oi = measured('openigd', ok(3e9), ok(7e9), ok(150_000), failed('no datagram reached the server\'s UDP layer'), ok(2));
  const [r] = computeRatios([kernel, oi]);
  assert.deepEqual(r!.forwarderOverSlirp4netns, {
    udpArrived: { ok: false, reason: 'OpenIGD, offload off: no datagram reached the server\'s UDP layer' },
    cpuPerDatagram: { ok: false, reason: 'slirp4netns (MTU 1500) not available' },
  });
  assert.match(formatRatios([r!]), /UDP arrived at the server: n\/a \(OpenIGD, offload off: no datagram reached the server's UDP layer\); forwarder CPU per datagram: n\/a \(slirp4netns \(MTU 1500\) not available\) \(lower is better\)/);
  const zero = computeRatios([measured('slirp4netns', ok(1), ok(1), ok(1), ok(0), failed('cannot read /proc/42/stat: ENOENT')), oi]);
  assert.deepEqual(zero[0]!.forwarderOverSlirp4netns.cpuPerDatagram, { ok: false, reason: 'slirp4netns (MTU 1500): cannot read /proc/42/stat: ENOENT' });
  assert.ok(!zero[0]!.forwarderOverSlirp4netns.udpArrived.ok);
});

test('builds compared: a run labelled with its build and round, and its figures in the table\'s order', () => {
  const run: PathResult = { ...measured('openigd-offload', ok(9e9), ok(8e9), ok(220_000), ok(400_000), ok(1.25)), label: 'OpenIGD, offload on (base) #2' };
  assert.match(formatTable([run]), /^OpenIGD, offload on \(base\) #2 \|\s+9\.00 \|\s+8\.00 \|\s+220,000 \|\s+400,000 \|\s+1\.25$/m);
  assert.deepEqual(PATH_FIGURES.map((f) => `${f.label} ${f.better}`), [
    'TCP up Gbit/s higher', 'TCP down Gbit/s higher', 'UDP 64B pkts/s higher', 'UDP arrived pkts/s higher', 'fwd CPU µs/pkt lower',
  ]);
  assert.deepEqual(pathFigures(run), [9e9, 8e9, 220_000, 400_000, 1.25]);
  assert.deepEqual(pathFigures(measured('openigd', failed('timeout'), ok(1), ok(2), ok(3), inKernel)), [null, 1, 2, 3, null]);
  assert.deepEqual(pathFigures(missing('openigd', 'lab up failed')), [null, null, null, null, null]);
  assert.equal(PATH_FIGURES[0]!.format(9.876e9), '9.88');
});
