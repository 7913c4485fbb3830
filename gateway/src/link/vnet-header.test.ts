/**
 * The virtio-net header codec (byte-exact fixtures, random headers) and the checksum
 * arithmetic of offloads (completion, RFC 1071's example, partial-sum adjustment).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrameFlag, createFrameBatch } from './frame-batch.js';
import { buildTcp4, buildUdp, checksumsValid, parseIpv4, parseMac, type TcpSpec, type UdpSpec } from '../testing/index.js';
import {
  VNET_HDR_BYTES, VnetHdrStatus, adjustPartialChecksum, completeChecksum, decodeVnetHdr, encodeVnetHdr, onesComplementSum,
} from './vnet-header.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const UDP: UdpSpec = {
  srcMac: parseMac('02:00:00:00:00:01'), dstMac: parseMac('02:00:00:00:00:02'),
  srcIp: parseIpv4('192.168.1.100'), dstIp: parseIpv4('198.51.100.7'), srcPort: 40000, dstPort: 53,
};

describe('virtio-net header', () => {
  it('decodes a TSO header byte for byte (flags, gso type, hdr_len, gso_size, csum_start, csum_offset)', () => {
    // NEEDS_CSUM, GSO_TCPV4, hdr_len 54, gso_size 1448, csum_start 34, csum_offset 16, num_buffers 0.
    const src = hex('01 01 3600 a805 2200 1000 0000');
    const b = createFrameBatch(2);
    assert.equal(decodeVnetHdr(src, 0, 10_054, b, 1), VnetHdrStatus.ok);
    assert.deepEqual([b.flags[1], b.hdrLen[1], b.gsoSize[1], b.csumStart[1], b.csumOffset[1]],
      [FrameFlag.csumPartial | FrameFlag.gsoTcp4, 54, 1448, 34, 16]);
    const out = new Uint8Array(VNET_HDR_BYTES + 4);
    encodeVnetHdr(b, 1, out, 4);
    assert.equal(toHex(out.subarray(4)), toHex(src));
  });

  it('decodes DATA_VALID, GSO with the ECN bit, and a plain frame', () => {
    const b = createFrameBatch(1);
    assert.equal(decodeVnetHdr(hex('02 00 0000 0000 0000 0000 0000'), 0, 60, b, 0), VnetHdrStatus.ok);
    assert.equal(b.flags[0], FrameFlag.csumValid);
    assert.equal(decodeVnetHdr(hex('01 84 4a00 a005 3600 1000 0000'), 0, 20_000, b, 0), VnetHdrStatus.ok);
    assert.equal(b.flags[0], FrameFlag.csumPartial | FrameFlag.gsoTcp6 | FrameFlag.gsoEcn);
    assert.equal(decodeVnetHdr(new Uint8Array(12), 0, 60, b, 0), VnetHdrStatus.ok);
    assert.deepEqual([b.flags[0], b.gsoSize[0], b.hdrLen[0], b.csumStart[0], b.csumOffset[0]], [0, 0, 0, 0, 0]);
  });

  it('encodes a plain frame as twelve zero bytes, whatever stale metadata it has; never DATA_VALID', () => {
    const b = createFrameBatch(1);
    b.flags[0] = FrameFlag.csumValid;
    b.gsoSize[0] = 1448;
    b.csumStart[0] = 34;
    const out = new Uint8Array(12).fill(0xee);
    encodeVnetHdr(b, 0, out, 0);
    assert.equal(toHex(out), '00'.repeat(12));
  });

  it('reports a header that does not fit its frame, leaving the metadata zero', () => {
    const b = createFrameBatch(1);
    assert.equal(decodeVnetHdr(hex('01 00 0000 0000 2200 1000 0000'), 0, 50, b, 0), VnetHdrStatus.badCsumRange);
    assert.equal(b.flags[0], 0);
    assert.equal(decodeVnetHdr(hex('00 02 0000 a805 0000 0000 0000'), 0, 2000, b, 0), VnetHdrStatus.badGso);
    assert.equal(decodeVnetHdr(hex('00 01 0000 0000 0000 0000 0000'), 0, 2000, b, 0), VnetHdrStatus.badGso);
    assert.equal(decodeVnetHdr(hex('00 80 0000 0000 0000 0000 0000'), 0, 2000, b, 0), VnetHdrStatus.badGso);
    assert.equal(b.flags[0], 0);
  });

  it('never throws on random headers, and what it accepts survives encode/decode (less DATA_VALID)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.integer({ min: 0, max: 70_000 }), (bytes, frameLength) => {
      const b = createFrameBatch(1);
      const status = decodeVnetHdr(bytes, 0, frameLength, b, 0);
      assert.ok(Object.values(VnetHdrStatus).includes(status));
      if (status !== VnetHdrStatus.ok) return;
      const again = createFrameBatch(1);
      const out = new Uint8Array(12);
      encodeVnetHdr(b, 0, out, 0);
      assert.equal(decodeVnetHdr(out, 0, frameLength, again, 0), VnetHdrStatus.ok);
      assert.deepEqual([again.flags[0], again.gsoSize[0], again.hdrLen[0], again.csumStart[0], again.csumOffset[0]],
        [b.flags[0]! & ~FrameFlag.csumValid, b.gsoSize[0], b.hdrLen[0], b.csumStart[0], b.csumOffset[0]]);
    }));
  });
});

describe('checksums for offloads', () => {
  it('one\'s complement sum matches RFC 1071\'s worked example', () => {
    // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    assert.equal(onesComplementSum(hex('0001f203f4f5f6f7'), 0, 8), 0xddf2);
    assert.equal(onesComplementSum(hex('0001f203f4f5f6f7ab'), 0, 9), (0xddf2 + 0xab00) % 0xffff);
  });

  it('completing a partial UDP or TCP checksum gives the full checksum', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1400 }), fc.boolean(), fc.integer({ min: 0, max: 0xffffffff }), (payload, tcp, addr) => {
      const spec = { ...UDP, srcIp: addr >>> 0 };
      const full = new Uint8Array(1600);
      const part = new Uint8Array(1600);
      let len: number;
      if (tcp) {
        const t: TcpSpec = { ...spec, seq: 7, ack: 9, flags: 0x18 };
        len = buildTcp4(full, 0, t, payload, false);
        buildTcp4(part, 0, t, payload, true);
      } else {
        len = buildUdp(full, 0, spec, 1, payload.length, false);
        buildUdp(part, 0, spec, 1, payload.length, true);
      }
      assert.ok(completeChecksum(part, 0, len, 34, tcp ? 16 : 6));
      assert.equal(toHex(part.subarray(0, len)), toHex(full.subarray(0, len)));
      assert.ok(checksumsValid(part, 0, len));
    }));
  });

  it('a UDP checksum that completes to 0 is sent as 0xffff', () => {
    const frame = new Uint8Array(128);
    const len = buildUdp(frame, 0, UDP, 3, 10, false);
    // Zero the checksum and the last payload word, then choose that word so that the
    // sum over pseudo-header, header and data is 0xffff: the complement is 0.
    const pseudo = onesComplementSum(frame, 26, 34, 17 + 18);
    frame.fill(0, 40, 42);
    frame.fill(0, len - 2, len);
    const word = ~onesComplementSum(frame, 34, len, pseudo) & 0xffff;
    frame[len - 2] = word >> 8;
    frame[len - 1] = word & 0xff;
    frame[40] = pseudo >> 8;
    frame[41] = pseudo & 0xff;
    assert.ok(completeChecksum(frame, 0, len, 34, 6));
    assert.equal((frame[40]! << 8) | frame[41]!, 0xffff);
    assert.ok(checksumsValid(frame, 0, len));
  });

  it('refuses a range outside the frame and writes nothing', () => {
    const frame = new Uint8Array(60).fill(7);
    assert.equal(completeChecksum(frame, 0, 60, 58, 6), false);
    assert.equal(completeChecksum(frame, 10, 60, 34, 6), false);
    assert.equal(completeChecksum(frame, 0, 60, -1, 6), false);
    assert.ok(frame.every((b) => b === 7));
  });

  it('adjusting a partial checksum for new addresses, ports rewritten too, completes to the right checksum', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 600 }), fc.boolean(),
      fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }),
      (payload, tcp, newSrc, newDst, newSport, newDport) => {
        const f = new Uint8Array(1024);
        const len = tcp
          ? buildTcp4(f, 0, { ...UDP, seq: 1, ack: 2, flags: 0x10 }, payload, true)
          : buildUdp(f, 0, UDP, 4, payload.length, true);
        const csumAt = 34 + (tcp ? 16 : 6);
        const dv = new DataView(f.buffer);
        const oldSrc = dv.getUint32(26);
        const oldDst = dv.getUint32(30);
        // Rewrite the addresses (with a correct IPv4 header checksum) and the ports.
        dv.setUint32(26, newSrc >>> 0);
        dv.setUint32(30, newDst >>> 0);
        dv.setUint16(24, 0);
        dv.setUint16(24, ~onesComplementSum(f, 14, 34) & 0xffff);
        dv.setUint16(34, newSport);
        dv.setUint16(36, newDport);
        let field = dv.getUint16(csumAt);
        field = adjustPartialChecksum(field, oldSrc, newSrc >>> 0);
        field = adjustPartialChecksum(field, oldDst, newDst >>> 0);
        dv.setUint16(csumAt, field);
        assert.ok(completeChecksum(f, 0, len, 34, tcp ? 16 : 6));
        assert.ok(checksumsValid(f, 0, len));
      }));
  });
});
