/**
 * UDP coalescing: a run of datagrams becomes one USO super-frame that segmentation (our
 * GsoSegmenter, which does what Linux's __udp_gso_segment does) turns back into the same
 * bytes; what must not be merged is not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameFlag, createFrameBatch, pushFrame, type FrameBatch } from './frame-batch.js';
import { buildUdp, checksumsValid, parseIpv4, parseMac, type UdpSpec } from '../testing/index.js';
import { GsoSegmenter } from './gso.js';
import { MAX_COALESCED, UdpCoalescer } from './udp-coalesce.js';
import { onesComplementSum } from './vnet-header.js';

const SPEC: UdpSpec = {
  srcMac: parseMac('02:00:00:00:00:01'), dstMac: parseMac('02:00:00:00:00:02'),
  srcIp: parseIpv4('203.0.113.2'), dstIp: parseIpv4('198.51.100.10'), srcPort: 40000, dstPort: 5201,
};
const SLOT = 2048;

/** A batch of UDP frames, one per slot, with IPv4 ids = sequence numbers (as segmentation makes them). */
function batchOf(sizes: readonly number[], opts: { partial?: boolean; spec?: (k: number) => UdpSpec } = {}): FrameBatch {
  const b = createFrameBatch(sizes.length, new Uint8Array(sizes.length * SLOT));
  sizes.forEach((size, k) => {
    const len = buildUdp(b.buffer, k * SLOT, opts.spec?.(k) ?? SPEC, 100 + k, size, opts.partial ?? false);
    pushFrame(b, k * SLOT, len);
    if (opts.partial) {
      b.flags[k] = FrameFlag.csumPartial;
      b.csumStart[k] = 34;
      b.csumOffset[k] = 6;
    }
  });
  return b;
}

/** Segments the coalescer's super-frame back into datagrams (complete checksums). */
function segmentBack(co: UdpCoalescer): Uint8Array[] {
  const s = createFrameBatch(1, co.buffer);
  pushFrame(s, 0, co.length);
  s.flags[0] = FrameFlag.gsoUdpL4 | FrameFlag.csumPartial;
  s.gsoSize[0] = co.gsoSize;
  s.hdrLen[0] = UdpCoalescer.hdrLen;
  s.csumStart[0] = UdpCoalescer.csumStart;
  s.csumOffset[0] = UdpCoalescer.csumOffset;
  const seg = new GsoSegmenter();
  const n = seg.segment(s, 0);
  assert.ok(n > 0, `segmentation failed: ${n}`);
  return Array.from({ length: n }, (_, k) => seg.out.buffer.slice(seg.out.offsets[k]!, seg.out.offsets[k]! + seg.out.lengths[k]!));
}

function frame(b: FrameBatch, k: number): Uint8Array {
  return b.buffer.slice(b.offsets[k]!, b.offsets[k]! + b.lengths[k]!);
}

/** A frame with a complete checksum, as it would leave the device. */
function completed(b: FrameBatch, k: number): Uint8Array {
  const f = frame(b, k);
  if (b.flags[k]! & FrameFlag.csumPartial) {
    f[40] = 0;
    f[41] = 0;
    const udpLength = (f[38]! << 8) | f[39]!;
    let c = ~onesComplementSum(f, 34, f.length, onesComplementSum(f, 26, 34, 17 + udpLength)) & 0xffff;
    if (c === 0) c = 0xffff;
    f[40] = c >> 8;
    f[41] = c & 0xff;
  }
  return f;
}

describe('UdpCoalescer', () => {
  it('merges a run of equal datagrams, the last shorter, into a super-frame that segments back to the same bytes', () => {
    for (const partial of [false, true]) {
      const b = batchOf([64, 64, 64, 64, 20], { partial });
      const co = new UdpCoalescer();
      assert.equal(co.coalesce(b, 0), 5);
      assert.equal(co.segments, 5);
      assert.equal(co.gsoSize, 64);
      assert.equal(co.length, 42 + 4 * 64 + 20);
      assert.equal(co.frameBytes, 4 * 106 + 62);
      // The super-frame's IPv4 header is right, its UDP field the partial sum for its length.
      assert.equal(onesComplementSum(co.buffer, 14, 34), 0xffff);
      assert.equal((co.buffer[38]! << 8) | co.buffer[39]!, 8 + 4 * 64 + 20);
      const back = segmentBack(co);
      assert.equal(back.length, 5);
      back.forEach((f, k) => {
        assert.ok(checksumsValid(f, 0, f.length));
        assert.deepEqual(f, completed(b, k), `segment ${k} (${partial ? 'partial' : 'complete'} input)`);
      });
    }
  });

  it('never writes to the batch it reads', () => {
    const b = batchOf([64, 64, 64]);
    const before = b.buffer.slice();
    new UdpCoalescer().coalesce(b, 0);
    assert.deepEqual(b.buffer, before);
  });

  it('a run stops at another flow, a longer datagram, and after a shorter one', () => {
    const otherPort = (k: number): UdpSpec => (k === 2 ? { ...SPEC, srcPort: 40001 } : SPEC);
    const co = new UdpCoalescer();
    assert.equal(co.coalesce(batchOf([64, 64, 64, 64], { spec: otherPort }), 0), 2);
    assert.equal(co.coalesce(batchOf([64, 64, 65, 64]), 0), 2);
    assert.equal(co.coalesce(batchOf([64, 10, 64]), 0), 2);
    assert.equal(co.coalesce(batchOf([64, 64, 64]), 1), 2, 'starts anywhere in the batch');
  });

  it('does not start a run of one', () => {
    const co = new UdpCoalescer();
    assert.equal(co.coalesce(batchOf([64]), 0), 0);
    assert.equal(co.coalesce(batchOf([64, 65]), 0), 0);
    assert.equal(co.coalesce(batchOf([64, 64]), 1), 0, 'the last frame of the batch');
  });

  it('merges at most MAX_COALESCED datagrams and at most 64 KiB', () => {
    const co = new UdpCoalescer();
    assert.equal(co.coalesce(batchOf(new Array<number>(MAX_COALESCED + 5).fill(8)), 0), MAX_COALESCED);
    // 1472-byte payloads: 44 of them fit in an IPv4 packet of 65,535 bytes.
    const big = batchOf(new Array<number>(50).fill(1472));
    assert.equal(co.coalesce(big, 0), Math.floor((65_535 - 28) / 1472));
    assert.ok(co.length - 14 <= 65_535);
    segmentBack(co).forEach((f, k) => assert.deepEqual(f, completed(big, k)));
  });

  it('leaves alone what must not be merged', () => {
    const co = new UdpCoalescer();
    const cases: [string, (b: FrameBatch) => void][] = [
      ['a bad UDP checksum', (b) => { b.buffer[b.offsets[1]! + 50]! ^= 1; }],
      ['no UDP checksum (0)', (b) => { b.buffer[b.offsets[0]! + 40] = 0; b.buffer[b.offsets[0]! + 41] = 0; }],
      ['a fragment (MF)', (b) => { b.buffer[b.offsets[0]! + 20] = 0x20; }],
      ['IPv4 options (IHL 6)', (b) => { b.buffer[b.offsets[0]! + 14] = 0x46; }],
      ['Ethernet padding', (b) => { b.lengths[0] = b.lengths[0]! + 4; }],
      ['a GSO frame', (b) => { b.flags[0] = FrameFlag.gsoUdpL4; }],
      ['a partial checksum elsewhere', (b) => { b.flags[0] = FrameFlag.csumPartial; b.csumStart[0] = 34; b.csumOffset[0] = 16; }],
      ['TCP', (b) => { b.buffer[b.offsets[0]! + 23] = 6; }],
    ];
    for (const [what, spoil] of cases) {
      const b = batchOf([64, 64]);
      spoil(b);
      assert.equal(co.coalesce(b, 0), 0, what);
    }
    const ttl = batchOf([64, 64]);
    ttl.buffer[ttl.offsets[1]! + 22] = 63;
    assert.equal(co.coalesce(ttl, 0), 0, 'a different TTL');
  });

  it('returns instead of throwing on random bytes', () => {
    const co = new UdpCoalescer();
    for (let t = 0; t < 200; t++) {
      const b = createFrameBatch(4, Uint8Array.from({ length: 4 * 128 }, () => Math.floor(Math.random() * 256)));
      for (let k = 0; k < 4; k++) pushFrame(b, k * 128, 14 + Math.floor(Math.random() * 115));
      const n = co.coalesce(b, 0);
      assert.ok(n === 0 || (n >= 2 && n <= 4));
    }
  });
});
