/**
 * Software GSO: TCP/IPv4 property test against the rules of segmentation, TCP/IPv6, UDP
 * (USO), an 802.1Q tag, refusals with reasons, and random bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrameFlag, createFrameBatch, pushFrame, type FrameBatch } from './frame-batch.js';
import { buildTcp4, buildUdp, checksumsValid, parseIpv4, parseMac, type TcpSpec } from '../testing/index.js';
import { GsoSegmenter, SegmentError } from './gso.js';
import { onesComplementSum } from './vnet-header.js';

const BASE: TcpSpec = {
  srcMac: parseMac('02:00:00:00:00:01'), dstMac: parseMac('02:00:00:00:00:02'),
  srcIp: parseIpv4('192.168.1.100'), dstIp: parseIpv4('203.0.113.9'), srcPort: 40000, dstPort: 443,
  seq: 1000, ack: 5, flags: 0x10,
};

function patterned(n: number, salt = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, k) => (k * 13 + salt) & 0xff);
}

function superBatch(frameBytes: number): FrameBatch {
  return createFrameBatch(1, new Uint8Array(frameBytes + 64));
}

function tcp4Super(payload: Uint8Array, mss: number, spec: TcpSpec = BASE, id = 77): FrameBatch {
  const b = superBatch(54 + payload.length);
  pushFrame(b, 0, buildTcp4(b.buffer, 0, spec, payload, true, id));
  b.flags[0] = FrameFlag.gsoTcp4 | FrameFlag.csumPartial;
  b.gsoSize[0] = mss;
  b.hdrLen[0] = 54;
  b.csumStart[0] = 34;
  b.csumOffset[0] = 16;
  return b;
}

/** An IPv6/TCP super-frame with a partial checksum. */
function tcp6Super(payload: Uint8Array, mss: number, seq: number, flags: number): FrameBatch {
  const b = superBatch(74 + payload.length);
  const f = b.buffer;
  const dv = new DataView(f.buffer);
  f.set(BASE.dstMac, 0);
  f.set(BASE.srcMac, 6);
  dv.setUint16(12, 0x86dd);
  dv.setUint32(14, 0x60000000);
  dv.setUint16(18, 20 + payload.length);
  f[20] = 6;
  f[21] = 64;
  f.set([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1], 22);
  f.set([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 2], 38);
  dv.setUint16(54, 40000);
  dv.setUint16(56, 443);
  dv.setUint32(58, seq >>> 0);
  dv.setUint32(62, 9);
  f[66] = 5 << 4;
  f[67] = flags;
  dv.setUint16(68, 65535);
  f.set(payload, 74);
  const l4Len = 20 + payload.length;
  dv.setUint16(70, onesComplementSum(f, 22, 54, 6 + (l4Len >>> 16) + (l4Len & 0xffff)));
  pushFrame(b, 0, 74 + payload.length);
  b.flags[0] = FrameFlag.gsoTcp6 | FrameFlag.csumPartial;
  b.gsoSize[0] = mss;
  b.csumStart[0] = 54;
  b.csumOffset[0] = 16;
  return b;
}

function tcp6ChecksumValid(f: Uint8Array, at: number, len: number): boolean {
  const l4Len = len - 54;
  return onesComplementSum(f, at + 54, at + len, onesComplementSum(f, at + 22, at + 54, 6 + l4Len)) === 0xffff;
}

function segmentsOf(g: GsoSegmenter): { frame: Uint8Array; dv: DataView }[] {
  const out = g.out;
  return Array.from({ length: out.count }, (_, k) => {
    const frame = out.buffer.slice(out.offsets[k]!, out.offsets[k]! + out.lengths[k]!);
    return { frame, dv: new DataView(frame.buffer) };
  });
}

describe('software GSO', () => {
  it('TCP/IPv4: segments carry MSS-sized data, advancing seq and IP id, FIN/PSH last, CWR first, valid checksums', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 64, max: 1460 }),
      fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffff }),
      fc.constantFrom(0x10, 0x18, 0x19, 0x98, 0x99),
      (n, mss, seq, id, flags) => {
        const payload = patterned(n, seq);
        const batch = tcp4Super(payload, mss, { ...BASE, seq, flags }, id);
        const before = batch.buffer.slice();
        const g = new GsoSegmenter(400, 20_000 + 400 * 60);
        const count = g.segment(batch, 0);
        const expected = Math.max(1, Math.ceil(n / mss));
        assert.equal(count, expected);
        const segs = segmentsOf(g);
        const data: number[] = [];
        segs.forEach(({ frame, dv }, k) => {
          assert.ok(checksumsValid(frame, 0, frame.length), `segment ${k} checksums`);
          assert.equal(dv.getUint16(16), frame.length - 14, 'IPv4 total length');
          assert.equal(dv.getUint16(18), (id + k) & 0xffff, 'IPv4 identification');
          assert.equal(dv.getUint32(38), (seq + k * mss) >>> 0, 'TCP sequence number');
          const last = k === segs.length - 1;
          const f = frame[47]!;
          assert.equal(f & 0x09, last ? flags & 0x09 : 0, 'FIN and PSH only on the last segment');
          assert.equal(f & 0x80, k === 0 ? flags & 0x80 : 0, 'CWR only on the first segment');
          assert.ok(frame.length - 54 <= mss);
          data.push(...frame.subarray(54));
        });
        assert.deepEqual(Uint8Array.from(data), payload);
        assert.deepEqual(batch.buffer, before, 'the super-frame is not touched');
      }), { numRuns: 200 });
  });

  it('TCP/IPv6: payload length and checksums per segment', () => {
    const payload = patterned(5000);
    const g = new GsoSegmenter();
    assert.equal(g.segment(tcp6Super(payload, 1220, 0xfffffff0, 0x19), 0), 5);
    const segs = segmentsOf(g);
    segs.forEach(({ frame, dv }, k) => {
      assert.equal(dv.getUint16(18), frame.length - 54, 'IPv6 payload length');
      assert.ok(tcp6ChecksumValid(frame, 0, frame.length), `segment ${k}`);
      assert.equal(dv.getUint32(58), (0xfffffff0 + k * 1220) >>> 0);
    });
    assert.equal(segs[4]!.frame.length, 74 + 5000 - 4 * 1220);
    assert.equal(segs[4]!.frame[67]! & 0x01, 1);
    assert.equal(segs[0]!.frame[67]! & 0x01, 0);
  });

  it('UDP segmentation (USO): every segment is a datagram of its own', () => {
    const b = superBatch(42 + 3000);
    pushFrame(b, 0, buildUdp(b.buffer, 0, BASE, 9, 3000, true));
    b.flags[0] = FrameFlag.gsoUdpL4 | FrameFlag.csumPartial;
    b.gsoSize[0] = 1200;
    b.csumStart[0] = 34;
    b.csumOffset[0] = 6;
    const g = new GsoSegmenter();
    assert.equal(g.segment(b, 0), 3);
    const segs = segmentsOf(g);
    assert.deepEqual(segs.map((s) => s.dv.getUint16(38)), [1208, 1208, 608], 'UDP lengths');
    assert.ok(segs.every((s) => checksumsValid(s.frame, 0, s.frame.length)));
    assert.deepEqual(Uint8Array.from(segs.flatMap((s) => [...s.frame.subarray(42)])), b.buffer.slice(42, 42 + 3000));
  });

  it('handles an 802.1Q tag before the IPv4 header', () => {
    const plain = tcp4Super(patterned(3000), 1000);
    const b = superBatch(58 + 3000);
    const f = b.buffer;
    f.set(plain.buffer.subarray(0, 12), 0);
    f.set([0x81, 0x00, 0x00, 0x05], 12);
    f.set(plain.buffer.subarray(12, 54 + 3000), 16);
    pushFrame(b, 0, 58 + 3000);
    b.flags[0] = plain.flags[0]!;
    b.gsoSize[0] = 1000;
    const g = new GsoSegmenter();
    assert.equal(g.segment(b, 0), 3);
    for (const { frame } of segmentsOf(g)) {
      const untagged = new Uint8Array(frame.length - 4);
      untagged.set(frame.subarray(0, 12), 0);
      untagged.set(frame.subarray(16), 12);
      assert.ok(checksumsValid(untagged, 0, untagged.length));
    }
  });

  it('refuses what it cannot or must not segment, with a reason', () => {
    const g = new GsoSegmenter(8, 16_384);
    const ok = tcp4Super(patterned(4000), 1000);
    assert.equal(g.segment(ok, 0), 4);

    const ufo = tcp4Super(patterned(4000), 1000);
    ufo.flags[0] = FrameFlag.gsoUdp;
    assert.equal(g.segment(ufo, 0), SegmentError.unsupported);

    const tooMany = tcp4Super(patterned(4000), 100);
    assert.equal(g.segment(tooMany, 0), SegmentError.tooLarge);

    const wrongFamily = tcp4Super(patterned(4000), 1000);
    wrongFamily.flags[0] = FrameFlag.gsoTcp6;
    assert.equal(g.segment(wrongFamily, 0), SegmentError.malformed);

    const fragment = tcp4Super(patterned(4000), 1000);
    fragment.buffer[20] = 0x20;
    assert.equal(g.segment(fragment, 0), SegmentError.malformed);

    const notTcp = tcp4Super(patterned(4000), 1000);
    notTcp.buffer[23] = 17;
    assert.equal(g.segment(notTcp, 0), SegmentError.malformed);

    const truncated = tcp4Super(patterned(4000), 1000);
    truncated.lengths[0] = 40;
    assert.equal(g.segment(truncated, 0), SegmentError.malformed);

    const outside = tcp4Super(patterned(4000), 1000);
    outside.offsets[0] = 100;
    assert.equal(g.segment(outside, 0), SegmentError.malformed);
    assert.equal(g.out.count, 0);
  });

  it('random bytes flagged as super-frames never throw', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 3000 }),
      fc.constantFrom(FrameFlag.gsoTcp4, FrameFlag.gsoTcp6, FrameFlag.gsoUdpL4, FrameFlag.gsoUdp, 0x7f00),
      fc.integer({ min: -5, max: 3000 }),
      (bytes, flags, mss) => {
        const b = createFrameBatch(1, bytes);
        pushFrame(b, 0, bytes.length);
        b.flags[0] = flags;
        b.gsoSize[0] = mss;
        const g = new GsoSegmenter(16, 8192);
        const r = g.segment(b, 0);
        assert.ok(Number.isInteger(r) && r >= -3 && r <= 16);
      }), { numRuns: 500 });
  });
});
