/** Byte-exact tests of the UDP view: fields, checksum, the zero checksum, embedded mode, emit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UdpPacket, emitUdp, emitUdpHeader, parseUdp, udpBufferLen } from './udp.js';
import { Ipv4Packet } from './ipv4.js';
import { FIXTURE, hex, ip, toHex } from './test-fixtures.js';

function attach(h: string): { buf: Uint8Array; ipv: Ipv4Packet; udp: UdpPacket } {
  const buf = hex(h);
  const ipv = new Ipv4Packet();
  assert.equal(ipv.attach(buf, 14, buf.length - 14), 'ok');
  const udp = new UdpPacket();
  assert.equal(udp.attach(buf, ipv.payloadOffset, ipv.payloadLength), 'ok');
  return { buf, ipv, udp };
}

test('deconstruct a datagram', () => {
  const { ipv, udp } = attach(FIXTURE.udp);
  assert.equal(udp.srcPort, 12345);
  assert.equal(udp.dstPort, 53);
  assert.equal(udp.length, 13);
  assert.equal(udp.checksum, 0x9f49);
  assert.equal(udp.hasChecksumField, true);
  assert.equal(udp.verifyChecksum(ipv.srcAddr, ipv.dstAddr), true);
  assert.equal(udp.verifyChecksum(ipv.srcAddr, ipv.dstAddr + 1), false);
  assert.equal(udp.payloadOffset, 42);
  assert.equal(new TextDecoder().decode(udp.payload()), 'hello');
});

test('a checksum of 0 is "none": valid, and it stays 0 through rewrites', () => {
  const { udp } = attach(FIXTURE.udpNoChecksum);
  assert.equal(udp.checksum, 0);
  assert.equal(udp.verifyChecksum(1, 2), true);
  udp.rewriteSrcPort(999);
  udp.rewriteDstPort(1000);
  udp.adjustForAddressChange(1, 2);
  assert.equal(udp.checksum, 0);
});

test('the length field bounds the datagram; bad ones are refused', () => {
  const b = hex(FIXTURE.udp);
  const u = new UdpPacket();
  b[38] = 0; b[39] = 7; assert.equal(u.attach(b, 34, 13), 'bad-udp-length');
  b[39] = 14; assert.equal(u.attach(b, 34, 13), 'bad-udp-length');
  b[39] = 10; assert.equal(u.attach(b, 34, 13), 'ok');
  assert.equal(u.payloadLength, 2, 'IP payload past the UDP length is not UDP payload');
  assert.equal(u.attach(b, 34, 7), 'truncated');
});

test('embedded mode: the quoted datagram in a port unreachable', () => {
  const b = hex(FIXTURE.portUnreachable);
  const u = new UdpPacket();
  assert.equal(u.attach(b, 62, 8, 'embedded'), 'ok');
  assert.equal(u.srcPort, 53);
  assert.equal(u.dstPort, 12345);
  assert.equal(u.length, 13);
  assert.equal(u.hasChecksumField, true);
  assert.equal(u.checksum, 0x9f49);
  assert.equal(u.payloadLength, 0);
  assert.equal(u.attach(b, 62, 8, 'full'), 'bad-udp-length', 'the quote is shorter than the length field');
});

test('parse then emit reproduces the datagram byte for byte', () => {
  const { buf, ipv, udp } = attach(FIXTURE.udp);
  const repr = parseUdp(udp);
  assert.deepEqual(repr, { srcPort: 12345, dstPort: 53, payloadLength: 5 });
  const out = new Uint8Array(udpBufferLen(repr));
  assert.equal(emitUdp(repr, udp.payload(), ipv.srcAddr, ipv.dstAddr, out, 0), 13);
  assert.equal(toHex(out), toHex(buf.subarray(34, 47)));
  const hdr = new Uint8Array(13);
  assert.equal(emitUdpHeader(repr, hdr, 0), 8);
  hdr.set(udp.payload(), 8);
  assert.equal(toHex(hdr), toHex(hex(FIXTURE.udpNoChecksum).subarray(34, 47)));
  assert.equal(emitUdpHeader(repr, new Uint8Array(12), 0), 0, 'no room');
  assert.equal(emitUdp(repr, new Uint8Array(4), 1, 2, out, 0), 0, 'payload too short');
});

test('fillChecksum refuses lengths not present', () => {
  const { udp } = attach(FIXTURE.udp);
  assert.equal(udp.fillChecksum(ip('1.1.1.1'), ip('2.2.2.2'), 14), false);
  assert.equal(udp.fillChecksum(ip('1.1.1.1'), ip('2.2.2.2'), 7), false);
  assert.equal(udp.checksum, 0x9f49);
  assert.equal(udp.computeChecksum(ip('192.168.1.100'), ip('198.51.100.10')), 0x9f49);
});
