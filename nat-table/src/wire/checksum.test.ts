import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { adjust16, adjust32, fold, internetChecksum, pseudoHeaderSum, sum16 } from './checksum.js';
import { emitIpv4, Ipv4Packet } from './ipv4.js';
import { UdpPacket, emitUdpHeader } from './udp.js';
import { TcpPacket } from './tcp.js';
import { IcmpPacket } from './icmp.js';

const RUNS = 5000;

/** Builds IPv4 + L4 with correct checksums from random parts; returns the buffer and L4 offset. */
function packet(proto: 6 | 17 | 1, src: number, dst: number, sport: number, dport: number, data: Uint8Array, udpZero = false) {
  const l4Header = proto === 6 ? 20 : 8;
  const l4Len = l4Header + data.length;
  const buf = new Uint8Array(20 + l4Len);
  emitIpv4({ srcAddr: src, dstAddr: dst, protocol: proto, payloadLength: l4Len, ttl: 1 + (sport % 255) }, buf, 0);
  if (proto === 17) emitUdpHeader({ srcPort: sport, dstPort: dport, payloadLength: data.length }, buf, 20);
  else if (proto === 6) {
    buf[20] = sport >> 8; buf[21] = sport & 255; buf[22] = dport >> 8; buf[23] = dport & 255; buf[32] = 0x50; buf[33] = 0x18;
  } else {
    buf[20] = 8; buf[24] = sport >> 8; buf[25] = sport & 255;
  }
  buf.set(data, 20 + l4Header);
  if (proto === 17 && !udpZero) { const u = new UdpPacket(); u.attach(buf, 20, l4Len); u.fillChecksum(src, dst); }
  if (proto === 6) { const t = new TcpPacket(); t.attach(buf, 20, l4Len); t.fillChecksum(src, dst); }
  if (proto === 1) { const i = new IcmpPacket(); i.attach(buf, 20, l4Len); i.fillChecksum(); }
  return buf;
}

/** An independent full recompute of an L4 checksum (plain loop, no code shared with the views). */
function fullL4(buf: Uint8Array, proto: number): number {
  let s = proto === 1 ? 0 : ((buf[12]! << 8 | buf[13]!) + (buf[14]! << 8 | buf[15]!) + (buf[16]! << 8 | buf[17]!) + (buf[18]! << 8 | buf[19]!) + proto + (buf.length - 20));
  const csumAt = 20 + (proto === 6 ? 16 : proto === 17 ? 6 : 2);
  for (let i = 20; i < buf.length; i += 2) {
    if (i === csumAt) continue;
    s += (buf[i]! << 8) | (i + 1 < buf.length ? buf[i + 1]! : 0);
  }
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  return proto === 17 && c === 0 ? 0xffff : c;
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const data = fc.uint8Array({ maxLength: 64 });

test('RFC 1624 adjust16/adjust32 equal a full recompute on random words', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 2, maxLength: 80 }), fc.nat(), u16, (bytes, at, w) => {
    const words = bytes.length - (bytes.length % 2);
    if (words < 2) return;
    const i = (at % (words / 2)) * 2;
    const before = internetChecksum(bytes, 0, bytes.length);
    const old = (bytes[i]! << 8) | bytes[i + 1]!;
    bytes[i] = w >> 8; bytes[i + 1] = w & 255;
    const inc = adjust16(before, old, w);
    const after = internetChecksum(bytes, 0, bytes.length);
    assert.ok(inc === after || (inc === 0xffff && after === 0) || (inc === 0 && after === 0xffff), `${inc} vs ${after}`);
  }), { numRuns: RUNS });
  fc.assert(fc.property(u32, u32, u32, (a, b, c) => {
    const buf = new Uint8Array(12);
    const dv = new DataView(buf.buffer);
    dv.setUint32(0, a); dv.setUint32(4, b); dv.setUint32(8, c);
    const before = internetChecksum(buf, 0, 12);
    const n = (a ^ 0x5a5a5a5a) >>> 0;
    dv.setUint32(0, n);
    const after = internetChecksum(buf, 0, 12);
    const inc = adjust32(before, a, n);
    // 0x0000 and 0xffff are the same value in ones' complement; RFC 1624 eqn. 3 never yields -0 wrongly.
    assert.ok(inc === after || (inc === 0xffff && after === 0) || (inc === 0 && after === 0xffff));
  }), { numRuns: RUNS });
});

for (const proto of [6, 17, 1] as const) {
  test(`incremental rewrites of protocol ${proto} equal a full recompute (${RUNS} random packets)`, () => {
    const ipv = new Ipv4Packet(); const u = new UdpPacket(); const t = new TcpPacket(); const ic = new IcmpPacket();
    fc.assert(fc.property(u32, u32, u16, u16, data, u32, u32, u16, u16, (src, dst, sp, dp, d, nsrc, ndst, nsp, ndp) => {
      const buf = packet(proto, src, dst, sp, dp, d);
      assert.equal(ipv.attach(buf, 0, buf.length), 'ok');
      const l4 = proto === 17 ? u : proto === 6 ? t : null;
      if (l4) assert.equal(l4.attach(buf, 20, buf.length - 20), 'ok');
      else assert.equal(ic.attach(buf, 20, buf.length - 20), 'ok');
      ipv.rewriteSrcAddr(nsrc);
      ipv.rewriteDstAddr(ndst);
      if (ipv.ttl > 0) ipv.decrementTtl();
      if (l4) {
        l4.adjustForAddressChange(src, nsrc);
        l4.adjustForAddressChange(dst, ndst);
        l4.rewriteSrcPort(nsp);
        l4.rewriteDstPort(ndp);
        assert.equal(l4.checksum, fullL4(buf, proto));
        assert.equal(l4.verifyChecksum(nsrc, ndst), true);
      } else {
        ic.rewriteIdentifier(nsp);
        const c = ic.checksum;
        const full = fullL4(buf, 1);
        assert.ok(c === full || (c === 0xffff && full === 0) || (c === 0 && full === 0xffff));
        assert.equal(ic.verifyChecksum(), true);
      }
      const h = internetChecksum(buf, 0, 20);
      assert.equal(h === 0 || h === 0xffff, true, 'IPv4 header checksum still verifies');
    }), { numRuns: RUNS });
  });
}

test('a UDP checksum of 0 stays 0 through every rewrite', () => {
  const u = new UdpPacket();
  fc.assert(fc.property(u32, u32, u16, u16, data, u32, u16, (src, dst, sp, dp, d, nsrc, nsp) => {
    const buf = packet(17, src, dst, sp, dp, d, true);
    u.attach(buf, 20, buf.length - 20);
    u.adjustForAddressChange(src, nsrc);
    u.rewriteSrcPort(nsp);
    assert.equal(u.checksum, 0);
  }), { numRuns: 1000 });
});

test('partial (offloaded) checksums track the folded pseudo-header sum', () => {
  const u = new UdpPacket(); const t = new TcpPacket();
  fc.assert(fc.property(fc.constantFrom(6, 17), u32, u32, u16, u16, data, u32, u32, u16, (proto, src, dst, sp, dp, d, nsrc, ndst, nsp) => {
    const buf = packet(proto as 6 | 17, src, dst, sp, dp, d);
    const l4Len = buf.length - 20;
    const l4 = proto === 17 ? u : t;
    l4.attach(buf, 20, l4Len);
    // What the kernel puts in the field with VIRTIO_NET_HDR_F_NEEDS_CSUM: the folded pseudo-header sum.
    const at = 20 + (proto === 6 ? 16 : 6);
    const p0 = fold(pseudoHeaderSum(src, dst, proto, l4Len));
    buf[at] = p0 >> 8; buf[at + 1] = p0 & 255;
    l4.adjustForAddressChange(src, nsrc, true);
    l4.adjustForAddressChange(dst, ndst, true);
    l4.rewriteSrcPort(nsp, true);
    const want = fold(pseudoHeaderSum(nsrc, ndst, proto, l4Len));
    const got = (buf[at]! << 8) | buf[at + 1]!;
    assert.ok(got === want || (got === 0xffff && want === 0) || (got === 0 && want === 0xffff), `${got} vs ${want}`);
  }), { numRuns: RUNS });
});

test('sum16 handles odd lengths and offsets', () => {
  const b = Uint8Array.of(9, 0x12, 0x34, 0x56);
  assert.equal(sum16(b, 1, 3), 0x1234 + 0x5600);
});
