/** Byte-exact tests of the ICMP view: echo, echo reply, an error quoting UDP, and the builders. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IcmpPacket, ICMP_TYPE, ICMP_UNREACHABLE_CODE, ICMP_ERROR_MAX_DATAGRAM, echoRequestToReply, emitEchoReply, emitIcmp,
  emitIcmpError, icmpBufferLen, icmpErrorBufferLen, parseIcmp,
} from './icmp.js';
import { Ipv4Packet } from './ipv4.js';
import { UdpPacket } from './udp.js';
import { ipv4ToString } from './addr.js';
import { FIXTURE, hex, ip, naiveChecksum, toHex } from './test-fixtures.js';

function attach(h: string): { buf: Uint8Array; ipv: Ipv4Packet; icmp: IcmpPacket } {
  const buf = hex(h);
  const ipv = new Ipv4Packet();
  assert.equal(ipv.attach(buf, 14, buf.length - 14), 'ok');
  const icmp = new IcmpPacket();
  assert.equal(icmp.attach(buf, ipv.payloadOffset, ipv.payloadLength), 'ok');
  return { buf, ipv, icmp };
}

test('deconstruct an echo request', () => {
  const { icmp } = attach(FIXTURE.echo);
  assert.equal(icmp.type, ICMP_TYPE.echoRequest);
  assert.equal(icmp.code, 0);
  assert.equal(icmp.checksum, 0x4c3e);
  assert.equal(icmp.isQuery, true);
  assert.equal(icmp.isError, false);
  assert.equal(icmp.identifier, 0x1a2b);
  assert.equal(icmp.sequence, 1);
  assert.equal(new TextDecoder().decode(icmp.payload()), 'abcdefgh');
  assert.equal(icmp.verifyChecksum(), true);
});

test('an echo reply: in place, into another buffer, and from a Repr, all equal to the fixture', () => {
  const want = hex(FIXTURE.echoReply).subarray(34);
  const { icmp } = attach(FIXTURE.echo);
  const out = new Uint8Array(16);
  assert.equal(emitEchoReply(icmp, out, 0), 16);
  assert.equal(toHex(out), toHex(want));
  const repr = parseIcmp(icmp);
  assert.deepEqual(repr, { type: 8, code: 0, rest: 0x1a2b0001, data: new TextEncoder().encode('abcdefgh') });
  const out2 = new Uint8Array(icmpBufferLen(repr));
  assert.equal(emitIcmp({ ...repr, type: ICMP_TYPE.echoReply }, out2, 0), 16);
  assert.equal(toHex(out2), toHex(want));
  echoRequestToReply(icmp);
  assert.equal(toHex(icmp.buf.subarray(34)), toHex(want));
  assert.equal(emitEchoReply(icmp, out, 0), 0, 'a reply is not a request');
  assert.equal(emitIcmp(repr, new Uint8Array(15), 0), 0, 'no room');
});

test('deconstruct a port unreachable and the UDP packet it quotes', () => {
  const { buf, icmp } = attach(FIXTURE.portUnreachable);
  assert.equal(icmp.type, ICMP_TYPE.destinationUnreachable);
  assert.equal(icmp.code, ICMP_UNREACHABLE_CODE.port);
  assert.equal(icmp.isError, true);
  assert.equal(icmp.isQuery, false);
  assert.equal(icmp.rest, 0);
  assert.equal(icmp.verifyChecksum(), true);
  assert.equal(icmp.embeddedOffset, 42);
  assert.equal(icmp.embeddedLength, 28);
  assert.equal(icmp.embedded().length, 28);
  const inner = new Ipv4Packet();
  assert.equal(inner.attach(buf, icmp.embeddedOffset, icmp.embeddedLength, 'embedded'), 'ok');
  assert.equal(inner.attach(buf, icmp.embeddedOffset, icmp.embeddedLength, 'full'), 'bad-total-length');
  assert.equal(inner.attach(buf, icmp.embeddedOffset, icmp.embeddedLength, 'embedded'), 'ok');
  assert.equal(ipv4ToString(inner.srcAddr), '198.51.100.10');
  assert.equal(ipv4ToString(inner.dstAddr), '192.168.1.100');
  assert.equal(inner.totalLength, 33);
  assert.equal(inner.payloadLength, 8);
  assert.equal(inner.verifyChecksum(), true);
  const u = new UdpPacket();
  assert.equal(u.attach(buf, inner.payloadOffset, inner.payloadLength, 'embedded'), 'ok');
  assert.deepEqual([u.srcPort, u.dstPort, u.length, u.checksum], [53, 12345, 13, 0x9f49]);
});

test('emitIcmpError rebuilds the fixture from the offending packet', () => {
  const offending = hex(FIXTURE.udp.replace('c0a80164c633640a', 'c633640ac0a80164').replace('30390035', '00353039'));
  assert.equal(naiveChecksum(offending.subarray(14, 34)), 0, 'the offending packet is itself valid');
  const out = new Uint8Array(600);
  const n = emitIcmpError({ type: 3, code: 3, srcAddr: ip('192.168.1.100'), offending, offendingOffset: 14, offendingLength: 28 }, out, 0);
  assert.equal(n, 56);
  assert.equal(icmpErrorBufferLen(28), 56);
  const want = hex(FIXTURE.portUnreachable).subarray(14);
  assert.equal(toHex(out.subarray(20, n)), toHex(want.subarray(20)), 'the ICMP message is the fixture’s');
  const got = new Ipv4Packet();
  assert.equal(got.attach(out, 0, n), 'ok');
  assert.equal(got.verifyChecksum(), true);
  assert.equal(got.dstAddr, ip('198.51.100.10'));
  assert.equal(got.protocol, 1);
});

test('emitIcmpError quotes at most what fits in 576 bytes, and refuses what it cannot build', () => {
  const big = new Uint8Array(1500);
  big.set(hex(FIXTURE.udp).subarray(14, 34));
  const out = new Uint8Array(700);
  const n = emitIcmpError({ type: 11, code: 0, srcAddr: 1, offending: big, offendingOffset: 0, offendingLength: 1500 }, out, 0);
  assert.equal(n, ICMP_ERROR_MAX_DATAGRAM);
  const ic = new IcmpPacket();
  assert.equal(ic.attach(out, 20, n - 20), 'ok');
  assert.equal(ic.verifyChecksum(), true);
  assert.equal(ic.embeddedLength, 548);
  const frag = emitIcmpError({ type: 3, code: 4, rest: 1400, srcAddr: 1, offending: big, offendingOffset: 0, offendingLength: 100 }, out, 0);
  assert.equal(frag, 128);
  assert.equal(ic.attach(out, 20, frag - 20), 'ok');
  assert.equal(ic.nextHopMtu, 1400);
  assert.equal(emitIcmpError({ type: 11, code: 0, srcAddr: 1, offending: big, offendingOffset: 0, offendingLength: 19 }, out, 0), 0);
  assert.equal(emitIcmpError({ type: 11, code: 0, srcAddr: 1, offending: big, offendingOffset: 1490, offendingLength: 20 }, out, 0), 0);
  assert.equal(emitIcmpError({ type: 11, code: 0, srcAddr: 1, offending: big, offendingOffset: 0, offendingLength: 100 }, new Uint8Array(127), 0), 0);
});

test('the identifier rewrite and the incremental adjust keep the checksum right', () => {
  const { icmp } = attach(FIXTURE.echo);
  icmp.rewriteIdentifier(0xbeef);
  assert.equal(icmp.identifier, 0xbeef);
  assert.equal(icmp.verifyChecksum(), true);
  const e = attach(FIXTURE.portUnreachable);
  const inner = new Ipv4Packet();
  assert.equal(inner.attach(e.buf, e.icmp.embeddedOffset, e.icmp.embeddedLength, 'embedded'), 'ok');
  const oldAddr = inner.srcAddr, oldSum = inner.checksum;
  inner.rewriteSrcAddr(ip('203.0.113.9'));
  e.icmp.adjustChecksum32(oldAddr, inner.srcAddr);
  e.icmp.adjustChecksum16(oldSum, inner.checksum);
  assert.equal(e.icmp.verifyChecksum(), true);
  const incremental = e.icmp.checksum;
  e.icmp.fillChecksum();
  assert.equal(e.icmp.checksum, incremental);
  assert.equal(new IcmpPacket().attach(e.buf, 34, 7), 'truncated');
});
