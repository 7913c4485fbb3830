/**
 * Property tests: on thousands of random packets, every rewrite that updates a checksum
 * incrementally (addresses, ports, ICMP identifier, TTL) leaves exactly the checksum a
 * full recompute by an independent implementation gives; for offloaded (partial) fields,
 * exactly the folded pseudo-header sum; and in an ICMP quote, nothing past the bytes present
 * is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fold, pseudoHeaderSum } from './checksum.js';
import { emitIpv4, Ipv4Packet } from './ipv4.js';
import { emitUdp, UdpPacket, emitUdpHeader } from './udp.js';
import { emitTcp, TcpPacket } from './tcp.js';
import { emitIcmp, IcmpPacket, emitIcmpError } from './icmp.js';
import { naiveChecksum, toHex } from './test-fixtures.js';

const RUNS = 5000;
const PROTO = { icmp: 1, tcp: 6, udp: 17 } as const;
type Proto = (typeof PROTO)[keyof typeof PROTO];

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const data = fc.uint8Array({ maxLength: 64 });

/** IPv4 (+ options) and an L4 message with right checksums, built with the emitters. Returns the packet and its header length. */
function build(proto: Proto, src: number, dst: number, a: number, b: number, payload: Uint8Array, ttl: number, udpNone = false) {
  const l4Len = (proto === PROTO.tcp ? 20 : 8) + payload.length;
  const buf = new Uint8Array(20 + l4Len);
  assert.equal(emitIpv4({ srcAddr: src, dstAddr: dst, protocol: proto, payloadLength: l4Len, ttl }, buf, 0), 20);
  if (proto === PROTO.udp && udpNone) {
    emitUdpHeader({ srcPort: a, dstPort: b, payloadLength: payload.length }, buf, 20);
    buf.set(payload, 28);
  } else if (proto === PROTO.udp) {
    assert.equal(emitUdp({ srcPort: a, dstPort: b, payloadLength: payload.length }, payload, src, dst, buf, 20), l4Len);
  } else if (proto === PROTO.tcp) {
    const repr = { srcPort: a, dstPort: b, seqNumber: a * b, ackNumber: b, flags: 0x18, window: a, payloadLength: payload.length };
    assert.equal(emitTcp(repr, payload, src, dst, buf, 20), l4Len);
  } else {
    assert.equal(emitIcmp({ type: 8, code: 0, rest: (a << 16 | b) >>> 0, data: payload }, buf, 20), l4Len);
  }
  return buf;
}

/** The checksum field an independent recompute gives for the L4 message at 20 (UDP: 0 → 0xffff). */
function fullL4(buf: Uint8Array, proto: Proto): number {
  const seg = buf.slice(20);
  const at = proto === PROTO.tcp ? 16 : proto === PROTO.udp ? 6 : 2;
  seg[at] = 0; seg[at + 1] = 0;
  const pseudo = proto === PROTO.icmp ? 0
    : ((buf[12]! << 8) | buf[13]!) + ((buf[14]! << 8) | buf[15]!) + ((buf[16]! << 8) | buf[17]!) + ((buf[18]! << 8) | buf[19]!)
      + proto + seg.length;
  const c = naiveChecksum(seg, pseudo);
  return proto === PROTO.udp && c === 0 ? 0xffff : c;
}

function fullIpHeader(buf: Uint8Array): number {
  const h = buf.slice(0, 20);
  h[10] = 0; h[11] = 0;
  return naiveChecksum(h);
}

for (const [name, proto] of Object.entries(PROTO)) {
  test(`${name}: address, port/identifier and TTL rewrites equal a full recompute (${RUNS} random packets)`, () => {
    const ipv = new Ipv4Packet(); const udp = new UdpPacket(); const tcp = new TcpPacket(); const icmp = new IcmpPacket();
    fc.assert(fc.property(u32, u32, u16, u16, data, fc.integer({ min: 1, max: 255 }), u32, u32, u16, u16,
      (src, dst, a, b, payload, ttl, nsrc, ndst, na, nb) => {
        const buf = build(proto, src, dst, a, b, payload, ttl);
        assert.equal(ipv.attach(buf, 0, buf.length), 'ok');
        ipv.rewriteSrcAddr(nsrc);
        ipv.rewriteDstAddr(ndst);
        assert.equal(ipv.decrementTtl(), true);
        assert.equal(ipv.checksum, fullIpHeader(buf), 'IPv4 header checksum');
        assert.equal(ipv.verifyChecksum(), true);
        if (proto === PROTO.icmp) {
          assert.equal(icmp.attach(buf, 20, buf.length - 20), 'ok');
          icmp.rewriteIdentifier(na);
          assert.equal(icmp.checksum, fullL4(buf, proto));
          assert.equal(icmp.verifyChecksum(), true);
          return;
        }
        const l4 = proto === PROTO.udp ? udp : tcp;
        assert.equal(l4.attach(buf, 20, buf.length - 20), 'ok');
        l4.adjustForAddressChange(src, nsrc);
        l4.adjustForAddressChange(dst, ndst);
        l4.rewriteSrcPort(na);
        l4.rewriteDstPort(nb);
        assert.equal(l4.checksum, fullL4(buf, proto));
        assert.equal(l4.verifyChecksum(nsrc, ndst), true);
      }), { numRuns: RUNS });
  });
}

test(`udp: a checksum of 0 stays 0 through every rewrite (${RUNS} random packets)`, () => {
  const u = new UdpPacket();
  fc.assert(fc.property(u32, u32, u16, u16, data, u32, u16, u16, (src, dst, a, b, payload, nsrc, na, nb) => {
    const buf = build(PROTO.udp, src, dst, a, b, payload, 64, true);
    assert.equal(u.attach(buf, 20, buf.length - 20), 'ok');
    u.adjustForAddressChange(src, nsrc);
    u.rewriteSrcPort(na);
    u.rewriteDstPort(nb);
    assert.equal(u.checksum, 0);
    assert.equal(u.srcPort, na);
  }), { numRuns: RUNS });
});

test('udp: an incremental result of 0 is stored as 0xffff (RFC 768), and a recompute agrees', () => {
  const u = new UdpPacket();
  let hits = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const buf = build(PROTO.udp, 0x0a000001 * seed, 0xc0a80001 + seed, 1000 + seed, 53, Uint8Array.of(seed, 2, 3), 64);
    assert.equal(u.attach(buf, 20, buf.length - 20), 'ok');
    // Find the new source port whose incremental checksum would be 0.
    const c = u.checksum, old = u.srcPort;
    const port = (0xffff - ((~c & 0xffff) + (~old & 0xffff)) % 0xffff) % 0xffff;
    u.rewriteSrcPort(port);
    if (fullL4(buf, PROTO.udp) !== 0xffff) continue;
    hits++;
    assert.equal(u.checksum, 0xffff);
    assert.equal(u.verifyChecksum((buf[12]! << 24 | buf[13]! << 16 | buf[14]! << 8 | buf[15]!) >>> 0,
      (buf[16]! << 24 | buf[17]! << 16 | buf[18]! << 8 | buf[19]!) >>> 0), true);
  }
  assert.ok(hits >= 10, `the constructed case was reached ${hits} times`);
});

test(`partial (offloaded) fields track the folded pseudo-header sum; port changes leave them (${RUNS} runs)`, () => {
  const u = new UdpPacket(); const t = new TcpPacket();
  fc.assert(fc.property(fc.constantFrom(PROTO.tcp, PROTO.udp), u32, u32, u16, u16, data, u32, u32, u16, u16,
    (proto, src, dst, a, b, payload, nsrc, ndst, na, nb) => {
      const buf = build(proto, src, dst, a, b, payload, 64);
      const l4Len = buf.length - 20;
      const l4 = proto === PROTO.udp ? u : t;
      assert.equal(l4.attach(buf, 20, l4Len), 'ok');
      // What the kernel leaves with VIRTIO_NET_HDR_F_NEEDS_CSUM: the folded pseudo-header sum, uncomplemented.
      const at = 20 + (proto === PROTO.tcp ? 16 : 6);
      const p0 = fold(pseudoHeaderSum(src, dst, proto, l4Len));
      buf[at] = p0 >> 8; buf[at + 1] = p0 & 255;
      l4.adjustForAddressChange(src, nsrc, true);
      l4.adjustForAddressChange(dst, ndst, true);
      l4.rewriteSrcPort(na, true);
      l4.rewriteDstPort(nb, true);
      assert.equal((buf[at]! << 8) | buf[at + 1]!, fold(pseudoHeaderSum(nsrc, ndst, proto, l4Len)));
      // The device would complete it: the sum over the L4 bytes with that field must verify.
      buf[at] = 0; buf[at + 1] = 0;
      const done = naiveChecksum(buf.subarray(20), pseudoHeaderSum(nsrc, ndst, proto, l4Len));
      buf[at] = done >> 8; buf[at + 1] = done & 255;
      assert.equal(l4.verifyChecksum(nsrc, ndst), true);
    }), { numRuns: RUNS });
});

test(`embedded (ICMP-quoted) rewrites write only bytes present and match the full packet's (${RUNS} runs)`, () => {
  const full = new UdpPacket(); const fullT = new TcpPacket();
  const q = new UdpPacket(); const qT = new TcpPacket();
  fc.assert(fc.property(fc.constantFrom(PROTO.tcp, PROTO.udp), u32, u32, u16, u16, data, u32, u16, fc.nat(),
    (proto, src, dst, a, b, payload, nsrc, na, cut) => {
      const buf = build(proto, src, dst, a, b, payload, 64);
      const l4Len = buf.length - 20;
      const present = 8 + (cut % (l4Len - 7));
      const quote = new Uint8Array(l4Len + 4).fill(0x5a);
      quote.set(buf.subarray(20, 20 + present));
      const tail = toHex(quote.subarray(present));
      const lf = proto === PROTO.udp ? full : fullT;
      const lq = proto === PROTO.udp ? q : qT;
      assert.equal(lf.attach(buf, 20, l4Len), 'ok');
      assert.equal(lq.attach(quote, 0, present, 'embedded'), 'ok');
      for (const v of [lf, lq]) { v.adjustForAddressChange(src, nsrc); v.rewriteSrcPort(na); }
      assert.equal(toHex(quote.subarray(present)), tail, 'nothing past the quote is written');
      const csAt = proto === PROTO.udp ? 6 : 16;
      assert.equal(lq.hasChecksumField, present >= csAt + 2);
      // The quote matches the full rewrite, except a checksum field cut in half, which is left alone.
      const same = lq.hasChecksumField ? present : Math.min(present, csAt);
      assert.equal(toHex(quote.subarray(0, same)), toHex(buf.subarray(20, 20 + same)), 'the quote matches the full rewrite');
    }), { numRuns: RUNS });
});

test(`icmp error: the outer checksum by adjustChecksum16/32 equals fillChecksum after the quote is translated (${RUNS} runs)`, () => {
  const inner = new Ipv4Packet(); const iu = new UdpPacket(); const it = new TcpPacket(); const outer = new IcmpPacket();
  const out = new Uint8Array(600);
  fc.assert(fc.property(fc.constantFrom(PROTO.tcp, PROTO.udp), u32, u32, u16, u16, data, u32, u16, fc.nat({ max: 40 }),
    (proto, src, dst, a, b, payload, naddr, nport, extra) => {
      const offending = build(proto, src, dst, a, b, payload, 64);
      const n = emitIcmpError({ type: 3, code: 3, srcAddr: dst, offending, offendingOffset: 0,
        offendingLength: Math.min(offending.length, 28 + extra) }, out, 0);
      assert.ok(n > 0);
      assert.equal(outer.attach(out, 20, n - 20), 'ok');
      assert.equal(inner.attach(out, outer.embeddedOffset, outer.embeddedLength, 'embedded'), 'ok');
      const l4 = proto === PROTO.udp ? iu : it;
      assert.equal(l4.attach(out, inner.payloadOffset, inner.payloadLength, 'embedded'), 'ok');
      const [oldAddr, oldIpSum, oldPort, oldL4Sum] = [inner.srcAddr, inner.checksum, l4.srcPort, l4.checksum];
      inner.rewriteSrcAddr(naddr);
      l4.adjustForAddressChange(oldAddr, naddr);
      l4.rewriteSrcPort(nport);
      outer.adjustChecksum32(oldAddr, naddr);
      outer.adjustChecksum16(oldIpSum, inner.checksum);
      outer.adjustChecksum16(oldPort, nport);
      if (l4.hasChecksumField) outer.adjustChecksum16(oldL4Sum, l4.checksum);
      const incremental = outer.checksum;
      assert.equal(outer.verifyChecksum(), true);
      outer.fillChecksum();
      assert.equal(incremental, outer.checksum);
      assert.equal(inner.verifyChecksum(), true);
    }), { numRuns: RUNS });
});
