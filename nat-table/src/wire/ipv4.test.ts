/** Byte-exact tests of the IPv4 view: fields, options, fragments, padding, bad headers, rewrites, emit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ipv4Packet, emitIpv4, ipv4BufferLen, parseIpv4Header } from './ipv4.js';
import { ipv4ToString } from './addr.js';
import { FIXTURE, embed, hex, ip, naiveChecksum, toHex } from './test-fixtures.js';

function attach(h: string, at = 14): { buf: Uint8Array; ipv: Ipv4Packet } {
  const buf = hex(h);
  const ipv = new Ipv4Packet();
  assert.equal(ipv.attach(buf, at, buf.length - at), 'ok');
  return { buf, ipv };
}

test('deconstruct every field of a UDP packet', () => {
  const { ipv } = attach(FIXTURE.udp);
  assert.equal(ipv.version, 4);
  assert.equal(ipv.headerLength, 20);
  assert.equal(ipv.dscp, 0);
  assert.equal(ipv.ecn, 0);
  assert.equal(ipv.totalLength, 33);
  assert.equal(ipv.identification, 0x1234);
  assert.equal(ipv.dontFragment, true);
  assert.equal(ipv.moreFragments, false);
  assert.equal(ipv.fragmentOffset, 0);
  assert.equal(ipv.isFragment, false);
  assert.equal(ipv.isFirstFragment, true);
  assert.equal(ipv.ttl, 64);
  assert.equal(ipv.protocol, 17);
  assert.equal(ipv.checksum, 0x3c4e);
  assert.equal(ipv.verifyChecksum(), true);
  assert.equal(ipv4ToString(ipv.srcAddr), '192.168.1.100');
  assert.equal(ipv4ToString(ipv.dstAddr), '198.51.100.10');
  assert.equal(ipv.payloadOffset, 34);
  assert.equal(ipv.payloadLength, 13);
  assert.equal(ipv.options().length, 0);
  assert.equal(toHex(ipv.payload()), FIXTURE.udp.slice(68));
});

test('a header with options: they are skipped and exposed', () => {
  const { ipv } = attach(FIXTURE.ipOptions);
  assert.equal(ipv.headerLength, 24);
  assert.equal(ipv.payloadOffset, 14 + 24);
  assert.equal(ipv.payloadLength, 8);
  assert.equal(toHex(ipv.options()), '94040000');
  assert.equal(ipv.verifyChecksum(), true);
  assert.equal(ipv.checksum, 0xa74a);
});

test('fragments: first and last', () => {
  const first = attach(FIXTURE.fragment).ipv;
  assert.equal(first.moreFragments, true);
  assert.equal(first.dontFragment, false);
  assert.equal(first.fragmentOffset, 0);
  assert.equal(first.isFragment, true);
  assert.equal(first.isFirstFragment, true);
  const last = attach(FIXTURE.lastFragment).ipv;
  assert.equal(last.moreFragments, false);
  assert.equal(last.fragmentOffset, 1480);
  assert.equal(last.isFragment, true);
  assert.equal(last.isFirstFragment, false);
  assert.equal(last.verifyChecksum(), true);
});

test('Ethernet padding after totalLength is not payload; the view respects byteOffset', () => {
  const frame = hex(FIXTURE.udp);
  const padded = new Uint8Array(frame.length + 13).fill(0xee);
  padded.set(frame);
  const p = new Ipv4Packet();
  assert.equal(p.attach(padded, 14, padded.length - 14), 'ok');
  assert.equal(p.payloadLength, 13);
  assert.equal(p.payload().length, 13);
  const { buf, offset } = embed(frame, 9);
  assert.equal(p.attach(buf, offset + 14, frame.length - 14), 'ok');
  assert.equal(p.srcAddr, ip('192.168.1.100'));
  assert.equal(p.payload().byteOffset, buf.byteOffset + offset + 34);
  assert.equal(p.verifyChecksum(), true);
});

test('bad headers are refused with a reason; embedded mode allows a short quote', () => {
  const b = hex(FIXTURE.udp);
  const v = new Ipv4Packet();
  const n = b.length - 14;
  b[14] = 0x65; assert.equal(v.attach(b, 14, n), 'bad-version');
  b[14] = 0x44; assert.equal(v.attach(b, 14, n), 'bad-ihl');
  b[14] = 0x4f; assert.equal(v.attach(b, 14, n), 'truncated');
  b[14] = 0x45;
  assert.equal(v.attach(b, 14, 19), 'truncated');
  b[16] = 0x00; b[17] = 19; assert.equal(v.attach(b, 14, n), 'bad-total-length', 'totalLength below the header');
  b[16] = 0xff; assert.equal(v.attach(b, 14, n), 'bad-total-length', 'totalLength past the bytes present');
  assert.equal(v.attach(b, 14, n, 'embedded'), 'ok');
  assert.equal(v.totalLength, 0xff13);
  assert.equal(v.payloadLength, n - 20, 'embedded: the payload is what is present');
  b[16] = 0; b[17] = 10; assert.equal(v.attach(b, 14, n, 'embedded'), 'bad-total-length');
  const opts = hex(FIXTURE.ipOptions);
  assert.equal(v.attach(opts, 14, 22, 'embedded'), 'truncated', 'embedded still needs the whole header');
});

test('rewrites keep the header checksum right; raw setters do not', () => {
  const { ipv } = attach(FIXTURE.ipOptions);
  ipv.rewriteSrcAddr(ip('203.0.113.7'));
  assert.equal(ipv.verifyChecksum(), true);
  ipv.rewriteDstAddr(ip('10.0.0.1'));
  assert.equal(ipv.verifyChecksum(), true);
  assert.equal(ipv.decrementTtl(), true);
  assert.equal(ipv.ttl, 63);
  assert.equal(ipv.verifyChecksum(), true);
  assert.equal(naiveChecksum(ipv.buf.subarray(14, 38)), 0);
  ipv.setSrcAddr(ip('1.2.3.4'));
  assert.equal(ipv.verifyChecksum(), false);
  ipv.fillChecksum();
  assert.equal(ipv.verifyChecksum(), true);
  ipv.setTtl(0);
  ipv.fillChecksum();
  const before = toHex(ipv.buf);
  assert.equal(ipv.decrementTtl(), false, 'a TTL of 0 is not wrapped');
  assert.equal(toHex(ipv.buf), before);
});

test('parse then emit reproduces a header; emit checks room', () => {
  const { ipv, buf } = attach(FIXTURE.udp);
  const repr = parseIpv4Header(ipv);
  assert.equal(ipv4BufferLen(repr), 33);
  const out = new Uint8Array(ipv4BufferLen(repr));
  assert.equal(emitIpv4(repr, out, 0), 20);
  assert.equal(toHex(out.subarray(0, 20)), toHex(buf.subarray(14, 34)));
  assert.equal(emitIpv4(repr, new Uint8Array(32), 0), 0, 'the datagram would not fit');
  const echo = hex(FIXTURE.echoReply);
  const out2 = new Uint8Array(36);
  emitIpv4({ srcAddr: ip('198.51.100.10'), dstAddr: ip('192.168.1.100'), protocol: 1, payloadLength: 16, ttl: 64,
    identification: 0x1234, dontFragment: true }, out2, 0);
  assert.equal(toHex(out2.subarray(0, 20)), toHex(echo.subarray(14, 34)));
});
