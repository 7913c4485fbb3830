/**
 * The /proc parsers against text as Linux 6.x writes it (a namespace's /proc/net/snmp
 * after a UDP test, the stat line of a process whose name holds spaces and ')'), the
 * arithmetic between two readings, and malformed text that must become a reason
 * rather than an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpuMicrosPerDatagram, parseClockTicks, parseProcStatCpu, parseSnmpUdp, sumProcessCpu, udpArrivedBetween } from './proc-stats.js';

const SNMP = [
  'Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits',
  'Ip: 2 64 2731942 0 0 0 0 0 2731942 1106 0 0 0 0 0 0 0 0 0 1106',
  'Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps',
  'Icmp: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0',
  'Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors',
  'Tcp: 1 200 120000 -1 0 1 0 0 0 14 12 0 0 0 0',
  'Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors',
  'Udp: 1093214 2 1638712 4 1638712 0 0 0 0',
  'UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors',
  'UdpLite: 7 0 0 0 9 0 0 0 0',
  '',
].join('\n');

/** A real stat line (Linux 6.x) of a copy of sleep(1) named "a) R 1 2 (b": an idle process, utime 0, stime 0. */
const STAT_ODD_COMM = '10481 (a) R 1 2 (b) S 10480 10477 9801 0 -1 4194304 126 0 0 0 0 0 0 0 20 0 1 0 1645176 2990080 408 18446744073709551615 94653871427584 94653871445513 140723267970320 0 0 0 0 6 0 1 0 0 17 0 0 0 0 0 0 94653871459600 94653871460864 94654462631936 140723267971800 140723267971820 140723267971820 140723267973095 0\n';

/** Shaped like slirp4netns after a few seconds of forwarding: utime 311, stime 262. */
const STAT_SLIRP = '21977 (slirp4netns) R 21970 21970 9801 0 -1 4194560 611 0 0 0 311 262 0 0 20 0 1 0 1652216 4579328 1206 18446744073709551615 94431327633408 94431327832465 140726523591520 0 0 0 0 4096 16898 0 0 0 17 1 0 0 0 0 0 94431327876560 94431327888400 94431348285440 140726523597410 140726523597491 140726523597491 140726523600854 0\n';

test('snmp: InDatagrams and RcvbufErrors of the Udp: lines, not UdpLite:', () => {
  const r = parseSnmpUdp(SNMP);
  assert.deepEqual(r, { ok: true, value: { inDatagrams: 1093214, rcvbufErrors: 1638712 } });
});

test('snmp: fields are found by name, whatever their order', () => {
  const r = parseSnmpUdp('Udp: RcvbufErrors InDatagrams\nUdp: 5 7\n');
  assert.deepEqual(r, { ok: true, value: { inDatagrams: 7, rcvbufErrors: 5 } });
});

test('snmp: malformed text is a reason', () => {
  const cases: [string, RegExp][] = [
    ['', /no Udp: header/],
    [SNMP.replace(/^Udp: 1093214.*$/m, ''), /no Udp: header/],
    [SNMP.replace('Udp: 1093214 2', 'Udp: 1093214'), /9 names but 8 values/],
    [SNMP.replace('Udp: 1093214', 'Udp: -1093214'), /lacks a numeric InDatagrams/],
    [SNMP.replace(' RcvbufErrors S', ' RcvbufErrs S'), /lacks a numeric InDatagrams or RcvbufErrors/],
    ['Udp: InDatagrams RcvbufErrors\nUdp: 1 99999999999999999\n', /lacks a numeric/],
  ];
  for (const [text, reason] of cases) {
    const r = parseSnmpUdp(text);
    assert.ok(!r.ok, text);
    assert.match(r.reason, reason);
  }
});

test('stat: utime and stime counted from the last ")", whatever the name holds', () => {
  assert.deepEqual(parseProcStatCpu(STAT_SLIRP), { ok: true, value: { comm: 'slirp4netns', utimeTicks: 311, stimeTicks: 262 } });
  // In "10481 (a) R 1 2 (b) S 10480 …" the fields after the first ')' would be
  // R 1 2 (b) S …, which puts utime and stime four places off.
  assert.deepEqual(parseProcStatCpu(STAT_ODD_COMM), { ok: true, value: { comm: 'a) R 1 2 (b', utimeTicks: 0, stimeTicks: 0 } });
  const busy = STAT_ODD_COMM.replace('126 0 0 0 0 0 0 0 20', '126 0 0 0 1234 56 0 0 20');
  assert.deepEqual(parseProcStatCpu(busy), { ok: true, value: { comm: 'a) R 1 2 (b', utimeTicks: 1234, stimeTicks: 56 } });
});

test('stat: malformed text is a reason', () => {
  const cases: [string, RegExp][] = [
    ['', /does not start with "pid \(comm\)"/],
    ['slirp4netns R 1 2', /does not start/],
    ['123 (no close paren R 1 2 3 4 5 6 7 8 9 10 11 12 13', /does not start/],
    ['21977 (slirp4netns) R 21970 21970 9801 0 -1 4194560 611 0 0 0 311', /lacks a numeric utime or stime/],
    [STAT_SLIRP.replace(' 311 262 ', ' 311 x '), /lacks a numeric utime or stime/],
  ];
  for (const [text, reason] of cases) {
    const r = parseProcStatCpu(text);
    assert.ok(!r.ok, text);
    assert.match(r.reason, reason);
  }
});

test('random bytes give a reason, never an exception', () => {
  for (let i = 0; i < 2000; i++) {
    const bytes = randomBytes(i % 300);
    const text = i % 2 ? bytes.toString('latin1') : `Udp: InDatagrams RcvbufErrors\nUdp: ${bytes.toString('latin1')}`;
    assert.equal(typeof parseSnmpUdp(text).ok, 'boolean');
    assert.equal(typeof parseProcStatCpu(`1 (${text}`).ok, 'boolean');
    assert.equal(typeof parseProcStatCpu(text).ok, 'boolean');
  }
});

test('CLK_TCK: what getconf prints, else 100', () => {
  assert.equal(parseClockTicks('100\n'), 100);
  assert.equal(parseClockTicks('250\n'), 250);
  assert.equal(parseClockTicks(''), 100);
  assert.equal(parseClockTicks('0\n'), 100);
  assert.equal(parseClockTicks('undefined\n'), 100);
});

test('arrived: the growth of InDatagrams + RcvbufErrors', () => {
  const before = { inDatagrams: 10, rcvbufErrors: 0 };
  assert.deepEqual(udpArrivedBetween(before, { inDatagrams: 1093214, rcvbufErrors: 1638712 }), { ok: true, value: 1093204 + 1638712 });
  const same = udpArrivedBetween(before, before);
  assert.ok(!same.ok);
  assert.match(same.reason, /no datagram reached/);
  const down = udpArrivedBetween({ inDatagrams: 10, rcvbufErrors: 5 }, before);
  assert.ok(!down.ok);
  assert.match(down.reason, /went down/);
});

test('CPU per datagram: ticks over CLK_TCK, in microseconds per datagram', () => {
  const before = { comm: 'slirp4netns', utimeTicks: 100, stimeTicks: 50 };
  const after = { comm: 'slirp4netns', utimeTicks: 311, stimeTicks: 262 };
  // 423 ticks at 100 Hz = 4.23 s over 1.41 M datagrams = 3 µs each.
  const r = cpuMicrosPerDatagram(before, after, 100, 1_410_000);
  assert.ok(r.ok);
  assert.ok(Math.abs(r.value - 3) < 1e-9);
  assert.deepEqual(cpuMicrosPerDatagram(before, before, 100, 5), { ok: true, value: 0 });
  const none = cpuMicrosPerDatagram(before, after, 100, 0);
  assert.ok(!none.ok);
  const down = cpuMicrosPerDatagram(after, before, 100, 5);
  assert.ok(!down.ok);
  assert.match(down.reason, /went down/);
});

test('the CPU of a forwarder and its kernel threads adds up as one process', () => {
  const daemon = { comm: 'node', utimeTicks: 311, stimeTicks: 262 };
  const napi = { comm: 'napi/h1-8195', utimeTicks: 0, stimeTicks: 57 };
  assert.deepEqual(sumProcessCpu([daemon, napi]), { comm: 'node+napi/h1-8195', utimeTicks: 311, stimeTicks: 319 });
  assert.deepEqual(sumProcessCpu([daemon]), daemon);
  const before = sumProcessCpu([{ ...daemon, utimeTicks: 11 }, { ...napi, stimeTicks: 7 }]);
  const r = cpuMicrosPerDatagram(before, sumProcessCpu([daemon, napi]), 100, 1_000_000);
  assert.ok(r.ok);
  assert.equal(Math.round(r.value * 100) / 100, 3.5);
});
