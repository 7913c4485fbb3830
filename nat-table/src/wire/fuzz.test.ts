import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EthernetFrame } from './ethernet.js';
import { ArpPacket } from './arp.js';
import { Ipv4Packet } from './ipv4.js';
import { UdpPacket } from './udp.js';
import { TcpPacket } from './tcp.js';
import { IcmpPacket } from './icmp.js';
import { FIXTURE, hex } from './test-fixtures.js';

/** xorshift32: a seeded PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

function isNum(v: unknown, max: number): void {
  assert.equal(typeof v, 'number');
  assert.ok(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= max, `value ${String(v)}`);
}

const eth = new EthernetFrame(); const arp = new ArpPacket(); const ipv = new Ipv4Packet();
const udp = new UdpPacket(); const tcp = new TcpPacket(); const icmp = new IcmpPacket();

/** Attaches every view at every level and reads every accessor; asserts nothing throws or reads out of bounds. */
function exercise(buf: Uint8Array, offset: number, length: number): void {
  if (eth.attach(buf, offset, length) === 'ok') {
    isNum(eth.etherType, 0xffff);
    assert.equal(eth.dst().length, 6);
    if (arp.attach(buf, eth.payloadOffset, eth.payloadLength) === 'ok') {
      isNum(arp.operation, 0xffff); isNum(arp.senderAddr, 0xffffffff); isNum(arp.targetAddr, 0xffffffff);
    }
  }
  for (const mode of ['full', 'embedded'] as const) {
    if (ipv.attach(buf, offset, length, mode) !== 'ok') continue;
    isNum(ipv.totalLength, 0xffff); isNum(ipv.srcAddr, 0xffffffff); isNum(ipv.fragmentOffset, 0xffff * 8); isNum(ipv.ttl, 255);
    ipv.verifyChecksum();
    assert.ok(ipv.payloadOffset + ipv.payloadLength <= buf.length);
    const po = ipv.payloadOffset, pl = ipv.payloadLength;
    if (udp.attach(buf, po, pl, mode) === 'ok') {
      isNum(udp.srcPort, 0xffff); isNum(udp.checksum, 0xffff); isNum(udp.length, 0xffff);
      if (mode === 'full') udp.verifyChecksum(ipv.srcAddr, ipv.dstAddr);
      assert.ok(udp.payload().length >= 0);
    }
    if (tcp.attach(buf, po, pl, mode) === 'ok') {
      isNum(tcp.srcPort, 0xffff); isNum(tcp.seqNumber, 0xffffffff); isNum(tcp.checksum, 0xffff);
      if (mode === 'full') { isNum(tcp.flags, 255); isNum(tcp.window, 0xffff); tcp.verifyChecksum(ipv.srcAddr, ipv.dstAddr); }
    }
    if (icmp.attach(buf, po, pl) === 'ok') {
      isNum(icmp.type, 255); isNum(icmp.identifier, 0xffff); icmp.verifyChecksum();
      if (icmp.isError) {
        const inner = new Ipv4Packet();
        if (inner.attach(buf, icmp.embeddedOffset, icmp.embeddedLength, 'embedded') === 'ok') isNum(inner.dstAddr, 0xffffffff);
      }
    }
  }
}

test('random bytes fed to every view never throw or read out of bounds', () => {
  const r = rng(0xc0ffee);
  for (let i = 0; i < 20_000; i++) {
    const len = r() % 1601;
    const buf = new Uint8Array(len + 8);
    for (let j = 0; j < buf.length; j++) buf[j] = r() & 0xff;
    // Make IPv4-looking headers common so the deeper views get exercised.
    if (len > 34 && (i & 1)) { buf[14] = 0x45; buf[4] = 0x45; buf[12] = 0x08; buf[13] = 0; }
    const off = r() % 8;
    exercise(buf, off, Math.max(0, Math.min(len, buf.length - off)));
    exercise(buf, 0, 0);
  }
});

test('mutated real frames never throw', () => {
  const r = rng(42);
  const frames = Object.values(FIXTURE).map(hex);
  for (let i = 0; i < 20_000; i++) {
    const f = frames[i % frames.length]!.slice();
    for (let k = 0; k < 1 + (r() % 4); k++) f[r() % f.length] = r() & 0xff;
    const cut = r() % (f.length + 1);
    exercise(f, 0, cut);
    exercise(f, 14, Math.max(0, cut - 14));
  }
  // Offsets and lengths that lie outside the buffer are refused, not read.
  assert.equal(ipv.attach(new Uint8Array(30), 20, 40), 'truncated');
  assert.equal(eth.attach(new Uint8Array(30), -1, 20), 'truncated');
});
