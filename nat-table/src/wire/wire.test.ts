import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FIXTURE, hex, toHex, ip } from './test-fixtures.js';
import { EthernetFrame, ETHERTYPE, emitEthernet } from './ethernet.js';
import { ArpPacket, parseArp, emitArp, ARP_OPERATION } from './arp.js';
import { Ipv4Packet, emitIpv4, parseIpv4Header } from './ipv4.js';
import { UdpPacket, emitUdpHeader } from './udp.js';
import { TcpPacket, TCP_FLAG } from './tcp.js';
import { IcmpPacket, ICMP_TYPE, emitIcmpError, echoRequestToReply } from './icmp.js';
import { macToString, parseMac, ipv4ToString, parseIpv4 } from './addr.js';

function views(h: string) {
  const buf = hex(h);
  const eth = new EthernetFrame();
  assert.equal(eth.attach(buf, 0, buf.length), 'ok');
  const ipv = new Ipv4Packet();
  assert.equal(ipv.attach(buf, eth.payloadOffset, eth.payloadLength), 'ok');
  return { buf, eth, ipv };
}

test('ethernet: deconstruct an untagged and an 802.1Q frame; construct a header', () => {
  const { eth } = views(FIXTURE.udp);
  assert.equal(macToString(eth.dst()), '02:00:00:00:00:01');
  assert.equal(macToString(eth.src()), '02:00:00:00:00:02');
  assert.equal(eth.etherType, ETHERTYPE.ipv4);
  assert.equal(eth.vlanId, -1);
  assert.equal(eth.payloadOffset, 14);
  const tagged = views(FIXTURE.vlanUdp);
  assert.equal(tagged.eth.vlanId, 100);
  assert.equal(tagged.eth.payloadOffset, 18);
  assert.equal(tagged.ipv.srcAddr, ip('192.168.1.100'));
  const out = new Uint8Array(14);
  emitEthernet({ dst: parseMac('02:00:00:00:00:01')!, src: parseMac('02:00:00:00:00:02')!, etherType: 0x0800 }, out, 0);
  assert.equal(toHex(out), FIXTURE.udp.slice(0, 28));
  const qinq = hex(FIXTURE.vlanUdp); qinq[16] = 0x81; qinq[17] = 0x00;
  assert.equal(new EthernetFrame().attach(qinq, 0, qinq.length), 'vlan-unsupported');
  assert.equal(new EthernetFrame().attach(qinq, 0, 13), 'truncated');
});

test('ethernet: a view respects the byteOffset of a subarray', () => {
  const big = new Uint8Array(100);
  big.set(hex(FIXTURE.udp), 37);
  const sub = big.subarray(30);
  const eth = new EthernetFrame();
  assert.equal(eth.attach(sub, 7, FIXTURE.udp.length / 2), 'ok');
  assert.equal(macToString(eth.src()), '02:00:00:00:00:02');
  assert.equal(eth.payload().byteOffset, 37 + 14);
});

test('arp: parse a request and emit the same bytes', () => {
  const buf = hex(FIXTURE.arpRequest);
  const arp = new ArpPacket();
  assert.equal(arp.attach(buf, 14, buf.length - 14), 'ok');
  const r = parseArp(arp);
  assert.equal(r.operation, ARP_OPERATION.request);
  assert.equal(ipv4ToString(r.senderAddr), '192.168.1.100');
  assert.equal(ipv4ToString(r.targetAddr), '192.168.1.1');
  assert.equal(macToString(r.senderMac), '02:00:00:00:00:02');
  const out = new Uint8Array(28);
  emitArp(r, out, 0);
  assert.equal(toHex(out), FIXTURE.arpRequest.slice(28));
  const bad = hex(FIXTURE.arpRequest); bad[14 + 1] = 6;
  assert.equal(arp.attach(bad, 14, 28), 'unsupported-hardware');
});

test('ipv4: every field of a UDP packet; emit reproduces the header', () => {
  const { ipv, buf } = views(FIXTURE.udp);
  assert.equal(ipv.version, 4);
  assert.equal(ipv.headerLength, 20);
  assert.equal(ipv.totalLength, 33);
  assert.equal(ipv.identification, 0x1234);
  assert.equal(ipv.dontFragment, true);
  assert.equal(ipv.moreFragments, false);
  assert.equal(ipv.isFragment, false);
  assert.equal(ipv.ttl, 64);
  assert.equal(ipv.protocol, 17);
  assert.equal(ipv.checksum, 0x3c4e);
  assert.equal(ipv.verifyChecksum(), true);
  assert.equal(ipv4ToString(ipv.srcAddr), '192.168.1.100');
  assert.equal(ipv4ToString(ipv.dstAddr), '198.51.100.10');
  assert.equal(ipv.payloadLength, 13);
  const out = new Uint8Array(20);
  emitIpv4(parseIpv4Header(ipv), out, 0);
  assert.equal(toHex(out), toHex(buf.subarray(14, 34)));
});

test('ipv4: options, fragments, padding and bad headers', () => {
  const o = views(FIXTURE.ipOptions).ipv;
  assert.equal(o.headerLength, 24);
  assert.equal(o.payloadOffset, 14 + 24);
  assert.equal(o.verifyChecksum(), true);
  const f = views(FIXTURE.fragment).ipv;
  assert.equal(f.isFragment, true);
  assert.equal(f.isFirstFragment, true);
  assert.equal(f.moreFragments, true);
  // Ethernet padding after totalLength is not payload.
  const padded = new Uint8Array(hex(FIXTURE.udp).length + 13);
  padded.set(hex(FIXTURE.udp));
  const p = new Ipv4Packet();
  assert.equal(p.attach(padded, 14, padded.length - 14), 'ok');
  assert.equal(p.payloadLength, 13);
  const b = hex(FIXTURE.udp);
  const v = new Ipv4Packet();
  b[14] = 0x65; assert.equal(v.attach(b, 14, b.length - 14), 'bad-version');
  b[14] = 0x44; assert.equal(v.attach(b, 14, b.length - 14), 'bad-ihl');
  b[14] = 0x4f; assert.equal(v.attach(b, 14, b.length - 14), 'truncated');
  b[14] = 0x45; b[16] = 0xff; assert.equal(v.attach(b, 14, b.length - 14), 'bad-total-length');
  assert.equal(v.attach(b, 14, b.length - 14, 'embedded'), 'ok');
  b[16] = 0; b[17] = 10; assert.equal(v.attach(b, 14, b.length - 14), 'bad-total-length');
});

test('udp: fields, checksum, zero checksum, emit', () => {
  const { ipv, buf } = views(FIXTURE.udp);
  const u = new UdpPacket();
  assert.equal(u.attach(buf, ipv.payloadOffset, ipv.payloadLength), 'ok');
  assert.equal(u.srcPort, 12345);
  assert.equal(u.dstPort, 53);
  assert.equal(u.length, 13);
  assert.equal(u.checksum, 0x9f49);
  assert.equal(u.verifyChecksum(ipv.srcAddr, ipv.dstAddr), true);
  assert.equal(new TextDecoder().decode(u.payload()), 'hello');
  const out = new Uint8Array(13);
  emitUdpHeader({ srcPort: 12345, dstPort: 53, payloadLength: 5 }, out, 0);
  out.set(new TextEncoder().encode('hello'), 8);
  const u2 = new UdpPacket();
  u2.attach(out, 0, 13);
  u2.fillChecksum(ipv.srcAddr, ipv.dstAddr);
  assert.equal(toHex(out), toHex(buf.subarray(34, 47)));
  const z = views(FIXTURE.udpNoChecksum);
  const uz = new UdpPacket();
  uz.attach(z.buf, z.ipv.payloadOffset, z.ipv.payloadLength);
  assert.equal(uz.checksum, 0);
  assert.equal(uz.verifyChecksum(1, 2), true);
  uz.rewriteSrcPort(999);
  uz.adjustForAddressChange(1, 2);
  assert.equal(uz.checksum, 0, 'a UDP checksum of 0 stays 0');
  buf[38] = 0; buf[39] = 5;
  assert.equal(u.attach(buf, ipv.payloadOffset, ipv.payloadLength), 'bad-udp-length');
});

test('tcp: a SYN with options', () => {
  const { ipv, buf } = views(FIXTURE.tcpSyn);
  const t = new TcpPacket();
  assert.equal(t.attach(buf, ipv.payloadOffset, ipv.payloadLength), 'ok');
  assert.equal(t.srcPort, 40000);
  assert.equal(t.dstPort, 80);
  assert.equal(t.seqNumber, 0x01020304);
  assert.equal(t.ackNumber, 0);
  assert.equal(t.headerLength, 40);
  assert.equal(t.flags, TCP_FLAG.syn);
  assert.equal(t.syn && !t.ack && !t.fin && !t.rst, true);
  assert.equal(t.window, 64240);
  assert.equal(t.checksum, 0xc02d);
  assert.equal(t.verifyChecksum(ipv.srcAddr, ipv.dstAddr), true);
  assert.equal(t.payloadLength, 0);
  buf[34 + 12] = 0x40;
  assert.equal(t.attach(buf, ipv.payloadOffset, ipv.payloadLength), 'bad-data-offset');
  assert.equal(t.attach(buf, ipv.payloadOffset, 8, 'embedded'), 'ok');
  assert.equal(t.hasChecksumField, false);
});

test('icmp: echo fields, reply in place, an error quoting a packet', () => {
  const { ipv, buf } = views(FIXTURE.echo);
  const ic = new IcmpPacket();
  assert.equal(ic.attach(buf, ipv.payloadOffset, ipv.payloadLength), 'ok');
  assert.equal(ic.type, ICMP_TYPE.echoRequest);
  assert.equal(ic.isQuery, true);
  assert.equal(ic.identifier, 0x1a2b);
  assert.equal(ic.sequence, 1);
  assert.equal(ic.verifyChecksum(), true);
  echoRequestToReply(ic);
  assert.equal(ic.type, ICMP_TYPE.echoReply);
  assert.equal(ic.verifyChecksum(), true);
  const e = views(FIXTURE.portUnreachable);
  const ie = new IcmpPacket();
  assert.equal(ie.attach(e.buf, e.ipv.payloadOffset, e.ipv.payloadLength), 'ok');
  assert.equal(ie.isError, true);
  assert.equal(ie.code, 3);
  const inner = new Ipv4Packet();
  assert.equal(inner.attach(e.buf, ie.embeddedOffset, ie.embeddedLength, 'embedded'), 'ok');
  assert.equal(ipv4ToString(inner.srcAddr), '198.51.100.10');
  const iu = new UdpPacket();
  assert.equal(iu.attach(e.buf, inner.payloadOffset, inner.payloadLength, 'embedded'), 'ok');
  assert.equal(iu.srcPort, 53);
  assert.equal(iu.dstPort, 12345);
  // Build the same error from the quoted packet and compare with the fixture's IP datagram.
  const quoted = hex(FIXTURE.udp.replace('c0a80164c633640a', 'c633640ac0a80164').replace('30390035', '00353039'));
  const out = new Uint8Array(600);
  const n = emitIcmpError({ type: 3, code: 3, srcAddr: ip('192.168.1.100'), offending: quoted, offendingOffset: 14, offendingLength: 28 }, out, 0);
  assert.equal(n, 56);
  const got = new Ipv4Packet();
  assert.equal(got.attach(out, 0, n), 'ok');
  assert.equal(got.verifyChecksum(), true);
  assert.equal(toHex(out.subarray(20, n)), toHex(e.buf.subarray(34, 14 + 56)));
});

test('addresses parse and print strictly', () => {
  assert.equal(parseIpv4('203.0.113.7'), ip('203.0.113.7'));
  assert.equal(parseIpv4('256.0.0.1'), null);
  assert.equal(parseIpv4('1.2.3'), null);
  assert.equal(ipv4ToString(0xffffffff), '255.255.255.255');
  assert.equal(parseMac('zz:00:00:00:00:00'), null);
});
