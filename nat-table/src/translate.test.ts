import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Translator } from './translate.js';
import { NatTable, VERDICT } from './table/nat-table.js';
import { resolveNatConfig, type NatConfigInput } from './table/config.js';
import { FIXTURE, hex, ip } from './wire/test-fixtures.js';
import { Ipv4Packet } from './wire/ipv4.js';
import { UdpPacket } from './wire/udp.js';
import { TcpPacket } from './wire/tcp.js';
import { IcmpPacket } from './wire/icmp.js';
import { fold, pseudoHeaderSum } from './wire/checksum.js';

const EXT = ip('203.0.113.2');
const H1 = ip('192.168.1.100');
const S1 = ip('198.51.100.10');

function setup(input: NatConfigInput = {}) {
  const r = resolveNatConfig(input);
  assert.ok(r.ok);
  const table = new NatTable(r.config);
  table.setExternalAddress(EXT);
  return { table, tr: new Translator(table) };
}

/** The IPv4 packet of a fixture frame (Ethernet header stripped). */
const packet = (h: string): Uint8Array => hex(h).subarray(14);

/** A fixture's TCP/UDP packet re-addressed, with every checksum recomputed in full. */
function readdressed(h: string, src: number, dst: number, sport: number, dport: number): Uint8Array {
  const b = packet(h);
  const p = new Ipv4Packet();
  assert.equal(p.attach(b, 0, b.length), 'ok');
  p.setSrcAddr(src); p.setDstAddr(dst); p.fillChecksum();
  const l4 = p.protocol === 6 ? new TcpPacket() : new UdpPacket();
  assert.equal(l4.attach(b, 20, p.payloadLength), 'ok');
  l4.setSrcPort(sport); l4.setDstPort(dport); l4.fillChecksum(src, dst);
  return b;
}

function check(buf: Uint8Array) {
  const p = new Ipv4Packet();
  assert.equal(p.attach(buf, 0, buf.length), 'ok');
  assert.ok(p.verifyChecksum(), 'IPv4 header checksum');
  return p;
}

test('UDP out and back: addresses and ports rewritten, checksums verify (N1, N2, N4)', () => {
  const { tr } = setup({ portAllocation: 'sequential', portRange: { min: 20000, max: 20099 } });
  const buf = packet(FIXTURE.udp);
  assert.equal(tr.translate('outbound', buf, 0, buf.length, 0), VERDICT.forward);
  const p = check(buf);
  assert.equal(p.srcAddr, EXT);
  const u = new UdpPacket();
  u.attach(buf, 20, p.payloadLength);
  assert.equal(u.srcPort, 20000);
  assert.ok(u.verifyChecksum(p.srcAddr, p.dstAddr));
  // The server's reply.
  const reply = readdressed(FIXTURE.udp, S1, EXT, 53, 20000);
  assert.equal(tr.translate('inbound', reply, 0, reply.length, 1), VERDICT.forward);
  const q = check(reply);
  assert.equal(q.dstAddr, H1);
  const ru = new UdpPacket();
  ru.attach(reply, 20, 13);
  assert.equal(ru.dstPort, 12345);
  assert.ok(ru.verifyChecksum(q.srcAddr, q.dstAddr));
});

test('TCP SYN with options: rewritten with a valid checksum; unsolicited inbound SYN dropped (N3)', () => {
  const { tr } = setup();
  const buf = packet(FIXTURE.tcpSyn);
  assert.equal(tr.translate('outbound', buf, 0, buf.length, 0), VERDICT.forward);
  const p = check(buf);
  const t = new TcpPacket();
  t.attach(buf, 20, p.payloadLength);
  assert.equal(t.srcPort, 40000, 'port preserved');
  assert.ok(t.verifyChecksum(p.srcAddr, p.dstAddr));
  const probe = readdressed(FIXTURE.tcpSyn, S1, EXT, 80, 40001);
  assert.equal(tr.translate('inbound', probe, 0, probe.length, 0), VERDICT.drop);
  assert.equal(tr.reason, 'no-mapping');
});

test('offloaded (partial) checksums are kept as pseudo-header sums', () => {
  const { tr } = setup();
  const buf = packet(FIXTURE.udp);
  // As the kernel hands it over with NEEDS_CSUM: the field holds the folded pseudo-header sum.
  const pseudo = fold(pseudoHeaderSum(H1, S1, 17, 13));
  buf[26] = pseudo >> 8; buf[27] = pseudo & 255;
  assert.equal(tr.translate('outbound', buf, 0, buf.length, 0, true), VERDICT.forward);
  assert.equal((buf[26]! << 8) | buf[27]!, fold(pseudoHeaderSum(EXT, S1, 17, 13)));
});

test('ICMP echo: identifier translated out and back', () => {
  const { tr, table } = setup();
  table.outbound(1, ip('192.168.1.101'), 0x1a2b, S1, 0, 0, 0); // takes id 0x1a2b first
  const buf = packet(FIXTURE.echo);
  assert.equal(tr.translate('outbound', buf, 0, buf.length, 0), VERDICT.forward);
  const p = check(buf);
  const ic = new IcmpPacket();
  ic.attach(buf, 20, p.payloadLength);
  const extId = ic.identifier;
  assert.notEqual(extId, 0x1a2b);
  assert.ok(ic.verifyChecksum());
  // Turn it into the server's reply and send it back in.
  buf[20] = 0; ic.fillChecksum();
  const q = new Ipv4Packet(); q.attach(buf, 0, buf.length);
  q.setSrcAddr(S1); q.setDstAddr(EXT); q.fillChecksum();
  assert.equal(tr.translate('inbound', buf, 0, buf.length, 1), VERDICT.forward);
  check(buf);
  assert.equal(ic.identifier, 0x1a2b);
  assert.equal(q.dstAddr, H1);
  assert.ok(ic.verifyChecksum());
});

test('ICMP errors: the quoted packet is translated too (RFC 5508)', () => {
  const { tr } = setup();
  // H1 sends UDP 12345 → S1:53; it leaves as EXT:12345.
  const out = packet(FIXTURE.udp);
  tr.translate('outbound', out, 0, out.length, 0);
  // S1 answers with port unreachable quoting what it got (EXT:12345 → S1:53).
  const err = new Uint8Array(20 + 8 + 28);
  const e = new Ipv4Packet();
  err.set([0x45, 0, 0, 56, 0, 1, 0, 0, 64, 1], 0);
  e.attach(err, 0, 56, 'embedded');
  e.setSrcAddr(S1); e.setDstAddr(EXT); e.fillChecksum();
  err[20] = 3; err[21] = 3;
  err.set(out.subarray(0, 28), 28);
  const ic = new IcmpPacket(); ic.attach(err, 20, 36); ic.fillChecksum();
  assert.equal(tr.translate('inbound', err, 0, err.length, 1), VERDICT.forward);
  const p = check(err);
  assert.equal(p.dstAddr, H1);
  assert.ok(ic.verifyChecksum());
  const inner = new Ipv4Packet();
  assert.equal(inner.attach(err, 28, 28, 'embedded'), 'ok');
  assert.ok(inner.verifyChecksum());
  assert.equal(inner.srcAddr, H1);
  const iu = new UdpPacket(); iu.attach(err, 48, 8, 'embedded');
  assert.equal(iu.srcPort, 12345);
  // The quoted UDP checksum is right again for the original packet.
  assert.deepEqual([...err.subarray(28, 56)], [...packet(FIXTURE.udp).subarray(0, 28)]);
  // An error about a flow we do not have is dropped.
  const stray = packet(FIXTURE.portUnreachable);
  assert.equal(tr.translate('inbound', stray, 0, stray.length, 2), VERDICT.drop);
  assert.equal(tr.reason, 'icmp-error-unmatched');
});

test('an outbound ICMP error about an inbound packet is translated back to the external endpoint', () => {
  const { tr, table } = setup({ filtering: 'endpoint-independent' });
  table.outbound(17, H1, 12345, S1, 53, 0, 0);
  const err = packet(FIXTURE.portUnreachable); // from H1 quoting S1:53 → H1:12345
  assert.equal(tr.translate('outbound', err, 0, err.length, 1), VERDICT.forward);
  const p = check(err);
  assert.equal(p.srcAddr, EXT);
  const inner = new Ipv4Packet(); inner.attach(err, 28, err.length - 28, 'embedded');
  assert.equal(inner.dstAddr, EXT);
  assert.ok(inner.verifyChecksum());
  const ic = new IcmpPacket(); ic.attach(err, 20, p.payloadLength);
  assert.ok(ic.verifyChecksum());
});

test('malformed packets are dropped with a reason, never thrown', () => {
  const { tr } = setup();
  const cases: [string, (b: Uint8Array) => void, string][] = [
    ['short', () => {}, 'truncated'],
    ['version', (b) => { b[0] = 0x65; }, 'bad-version'],
    ['ihl', (b) => { b[0] = 0x44; }, 'bad-ihl'],
    ['checksum', (b) => { b[10] ^= 1; }, 'bad-ip-checksum'],
    ['udp length', (b) => { b[24] = 0; b[25] = 3; }, 'bad-udp-length'],
  ];
  for (const [name, mutate, reason] of cases) {
    const b = packet(FIXTURE.udp).slice();
    mutate(b);
    const len = name === 'short' ? 10 : b.length;
    assert.equal(tr.translate('outbound', b, 0, len, 0), VERDICT.drop, name);
    assert.equal(tr.reason, reason, name);
  }
  const frag = packet(FIXTURE.fragment);
  assert.equal(tr.translate('outbound', frag, 0, frag.length, 0), VERDICT.drop);
  assert.equal(tr.reason, 'fragment');
  let s = 99;
  for (let i = 0; i < 5000; i++) {
    const b = packet(Object.values(FIXTURE)[i % 9]!).slice();
    for (let k = 0; k < 3; k++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; b[s % b.length] = s >>> 24; }
    tr.translate(i & 1 ? 'inbound' : 'outbound', b, 0, Math.max(0, b.length - (s % 7)), i);
  }
});

test('headerVerified: the caller has checked the header checksum, so it is not read again', (t) => {
  const { table } = setup();
  const trusting = new Translator(table, { headerVerified: true });
  const verify = t.mock.method(Ipv4Packet.prototype, 'verifyChecksum');
  const good = packet(FIXTURE.udp).slice();
  assert.equal(trusting.translate('outbound', good, 0, good.length, 0), VERDICT.forward);
  assert.equal(verify.mock.callCount(), 0);
  // A default Translator reads it once per packet.
  const b = packet(FIXTURE.udp).slice();
  assert.equal(new Translator(table).translate('outbound', b, 0, b.length, 0), VERDICT.forward);
  assert.equal(verify.mock.callCount(), 1);
});
