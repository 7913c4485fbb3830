/** Byte-exact tests of the TCP view: a SYN with options, a data segment, embedded mode, emit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpPacket, TCP_FLAG, emitTcp, emitTcpHeader, parseTcp, tcpBufferLen, tcpHeaderLen } from './tcp.js';
import { Ipv4Packet } from './ipv4.js';
import { FIXTURE, hex, toHex } from './test-fixtures.js';

function attach(h: string): { buf: Uint8Array; ipv: Ipv4Packet; tcp: TcpPacket } {
  const buf = hex(h);
  const ipv = new Ipv4Packet();
  assert.equal(ipv.attach(buf, 14, buf.length - 14), 'ok');
  const tcp = new TcpPacket();
  assert.equal(tcp.attach(buf, ipv.payloadOffset, ipv.payloadLength), 'ok');
  return { buf, ipv, tcp };
}

test('deconstruct a SYN with options', () => {
  const { ipv, tcp } = attach(FIXTURE.tcpSyn);
  assert.equal(tcp.srcPort, 40000);
  assert.equal(tcp.dstPort, 80);
  assert.equal(tcp.seqNumber, 0x01020304);
  assert.equal(tcp.ackNumber, 0);
  assert.equal(tcp.dataOffset, 10);
  assert.equal(tcp.headerLength, 40);
  assert.equal(tcp.flags, TCP_FLAG.syn);
  assert.deepEqual([tcp.syn, tcp.ack, tcp.fin, tcp.rst, tcp.psh, tcp.urg], [true, false, false, false, false, false]);
  assert.equal(tcp.window, 64240);
  assert.equal(tcp.checksum, 0xc02d);
  assert.equal(tcp.urgentPointer, 0);
  assert.equal(toHex(tcp.options()), '020405b40402080a000000010000000001030307');
  assert.equal(tcp.verifyChecksum(ipv.srcAddr, ipv.dstAddr), true);
  assert.equal(tcp.verifyChecksum(ipv.srcAddr, ipv.dstAddr, 40), true);
  assert.equal(tcp.verifyChecksum(ipv.srcAddr, ipv.dstAddr, 41), false, 'a length past the bytes present');
  assert.equal(tcp.payloadLength, 0);
});

test('deconstruct a data segment with an odd length', () => {
  const { ipv, tcp } = attach(FIXTURE.tcpPsh);
  assert.equal(tcp.ackNumber, 0xa0b0c0d0);
  assert.equal(tcp.flags, TCP_FLAG.psh | TCP_FLAG.ack);
  assert.equal(tcp.psh && tcp.ack && !tcp.syn, true);
  assert.equal(tcp.window, 502);
  assert.equal(tcp.options().length, 0);
  assert.equal(tcp.payloadLength, 7);
  assert.equal(new TextDecoder().decode(tcp.payload()), 'GET /\r\n');
  assert.equal(tcp.verifyChecksum(ipv.srcAddr, ipv.dstAddr), true);
});

test('bad data offsets are refused; embedded mode needs 8 bytes and reads absent fields as 0', () => {
  const { buf, ipv } = attach(FIXTURE.tcpSyn);
  const t = new TcpPacket();
  buf[34 + 12] = 0x40; assert.equal(t.attach(buf, ipv.payloadOffset, ipv.payloadLength), 'bad-data-offset');
  buf[34 + 12] = 0xf0; assert.equal(t.attach(buf, ipv.payloadOffset, ipv.payloadLength), 'bad-data-offset');
  buf[34 + 12] = 0xa0;
  assert.equal(t.attach(buf, ipv.payloadOffset, 19), 'truncated');
  assert.equal(t.attach(buf, ipv.payloadOffset, 7, 'embedded'), 'truncated');
  assert.equal(t.attach(buf, ipv.payloadOffset, 8, 'embedded'), 'ok');
  assert.deepEqual([t.srcPort, t.dstPort, t.seqNumber], [40000, 80, 0x01020304]);
  assert.deepEqual([t.ackNumber, t.dataOffset, t.flags, t.window, t.checksum, t.urgentPointer], [0, 0, 0, 0, 0, 0]);
  assert.equal(t.hasChecksumField, false);
  assert.equal(t.payloadLength, 0);
  assert.equal(t.attach(buf, ipv.payloadOffset, 18, 'embedded'), 'ok');
  assert.equal(t.hasChecksumField, true);
  assert.equal(t.checksum, 0xc02d);
  assert.equal(t.flags, TCP_FLAG.syn);
});

test('an embedded rewrite never writes past the bytes present', () => {
  const { buf, ipv } = attach(FIXTURE.tcpSyn);
  const t = new TcpPacket();
  assert.equal(t.attach(buf, ipv.payloadOffset, 8, 'embedded'), 'ok');
  const after = toHex(buf.subarray(42));
  t.rewriteSrcPort(1234);
  t.adjustForAddressChange(1, 2);
  t.adjustForAddressChange(1, 2, true);
  assert.equal(t.srcPort, 1234);
  assert.equal(toHex(buf.subarray(42)), after);
});

test('parse then emit reproduces both segments byte for byte', () => {
  for (const h of [FIXTURE.tcpSyn, FIXTURE.tcpPsh]) {
    const { buf, ipv, tcp } = attach(h);
    const repr = parseTcp(tcp);
    assert.equal(tcpHeaderLen(repr), tcp.headerLength);
    const out = new Uint8Array(tcpBufferLen(repr));
    assert.equal(emitTcp(repr, tcp.payload(), ipv.srcAddr, ipv.dstAddr, out, 0), ipv.payloadLength);
    assert.equal(toHex(out), toHex(buf.subarray(34, 14 + ipv.totalLength)));
  }
  const repr = { srcPort: 1, dstPort: 2, seqNumber: 3, ackNumber: 4, flags: TCP_FLAG.syn, window: 5, options: Uint8Array.of(1, 1, 1), payloadLength: 0 };
  assert.equal(tcpHeaderLen(repr), 24, 'options are padded to 4 bytes');
  const out = new Uint8Array(24).fill(0xff);
  assert.equal(emitTcpHeader(repr, out, 0), 24);
  assert.equal(toHex(out.subarray(20)), '01010100');
  assert.equal(emitTcpHeader({ ...repr, options: new Uint8Array(41) }, new Uint8Array(100), 0), 0, 'options over 40 bytes');
  assert.equal(emitTcpHeader(repr, new Uint8Array(23), 0), 0, 'no room');
});
