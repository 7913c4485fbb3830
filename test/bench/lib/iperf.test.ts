/**
 * The iperf3 JSON parsers against output captured from iperf 3.12 (trimmed to the
 * sections they read), iperf3's own error output, and malformed text that must become
 * a reason rather than an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTcpJson, parseUdpJson } from './iperf.js';

const TCP_312 = JSON.stringify({
  start: { version: 'iperf 3.12' },
  end: {
    sum_sent: { start: 0, end: 1.000151, seconds: 1.000151, bytes: 2707947520, bits_per_second: 21660309453.272556, retransmits: 12, sender: true },
    sum_received: { start: 0, end: 1.000184, seconds: 1.000184, bytes: 2707947520, bits_per_second: 21659594794.5578, sender: true },
  },
});

const UDP_312 = JSON.stringify({
  start: { version: 'iperf 3.12' },
  end: {
    sum_sent: { seconds: 1.000019, bytes: 46536320, lost_packets: 0, packets: 727130, sender: true },
    sum_received: { seconds: 1.000058, bytes: 45296000, lost_packets: 19251, packets: 727001, sender: false },
    sum: { seconds: 1.000058, bytes: 46536320, lost_packets: 19251, packets: 727130, sender: true },
  },
});

const ERROR_312 = '{\n\t"start":\t{\n\t\t"connected":\t[]\n\t},\n\t"intervals":\t[],\n\t"end":\t{\n\t},\n\t"error":\t"unable to connect to server: Connection refused"\n}';

test('TCP: the receiver-side goodput and the sender retransmits', () => {
  const r = parseTcpJson(TCP_312);
  assert.ok(r.ok);
  assert.equal(r.value.bitsPerSecond, 21659594794.5578);
  assert.equal(r.value.bytes, 2707947520);
  assert.equal(r.value.seconds, 1.000184);
  assert.equal(r.value.retransmits, 12);
});

test('UDP: datagrams received are packets − lost of the receiver summary, per second', () => {
  const r = parseUdpJson(UDP_312);
  assert.ok(r.ok);
  assert.equal(r.value.packetsReceived, 707750);
  assert.equal(r.value.packetsReceived * 64, 45296000);
  assert.equal(r.value.packetsSent, 727130);
  assert.equal(r.value.packetsPerSecond, 707750 / 1.000058);
});

test('UDP: an iperf3 without sum_received falls back to end.sum', () => {
  const doc = JSON.parse(UDP_312) as { end: Record<string, unknown> };
  delete doc.end.sum_received;
  delete doc.end.sum_sent;
  const r = parseUdpJson(JSON.stringify(doc));
  assert.ok(r.ok);
  assert.equal(r.value.packetsReceived, 727130 - 19251);
  assert.equal(r.value.packetsSent, 727130);
});

test('an iperf3 error becomes its message as the reason', () => {
  for (const parse of [parseTcpJson, parseUdpJson]) {
    const r = parse(ERROR_312);
    assert.deepEqual(r, { ok: false, reason: 'iperf3: unable to connect to server: Connection refused' });
  }
});

test('a TCP summary is not a UDP result and vice versa', () => {
  assert.equal(parseUdpJson(TCP_312).ok, false);
  const noReceived = JSON.stringify({ end: { sum: { seconds: 1, packets: 10, lost_packets: 0 } } });
  assert.equal(parseTcpJson(noReceived).ok, false);
});

test('nothing received is a reason, not a zero', () => {
  const udp = JSON.stringify({ end: { sum_received: { seconds: 5, packets: 1000, lost_packets: 1000 } } });
  const r = parseUdpJson(udp);
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.reason, /no datagrams/);
  const tcp = JSON.stringify({ end: { sum_received: { seconds: 5, bytes: 0, bits_per_second: 0 } } });
  assert.equal(parseTcpJson(tcp).ok, false);
});

test('malformed output never throws', () => {
  const inputs = ['', 'iperf3: error - unable to connect', '[]', 'null', '42', '{"end": 3}', '{"end": {"sum_received": {"seconds": "5"}}}',
    '{"end": {"sum_received": {"seconds": 5, "bytes": 1e400, "bits_per_second": 1}}}', TCP_312.slice(0, 40)];
  for (const text of inputs) {
    for (const parse of [parseTcpJson, parseUdpJson]) {
      const r = parse(text);
      assert.equal(r.ok, false, `${parse.name}(${JSON.stringify(text)})`);
    }
  }
});
