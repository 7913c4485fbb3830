/**
 * Software segmentation of GSO super-frames, for a link that cannot hand them to its
 * device whole (a TAP without IFF_VNET_HDR, a memory link with offloads off). A TCP
 * super-frame becomes MSS-sized segments (sequence numbers advanced, FIN/PSH only on the
 * last, CWR only on the first, IPv4 identification incremented); a UDP (USO) one becomes
 * datagrams of `gsoSize` bytes. Every segment gets complete IPv4 and L4 checksums.
 * This is what Linux's skb_segment / tcp_gso_segment / __udp_gso_segment do.
 *
 * It must not throw on malformed input (it returns a negative status), must not write
 * outside its own buffer, and must not touch the frame it segments. It is a fallback
 * (a device without offloads behind one with them): it copies every byte and makes
 * two subarray views per segment, which the fast path never does.
 */
import { FrameFlag, createFrameBatch, pushFrame, type FrameBatch } from './frame-batch.js';
import { onesComplementSum } from './vnet-header.js';

/** Why a super-frame could not be segmented (negative results of `segment`). */
export const SegmentError = {
  /** Headers missing, truncated or inconsistent with the GSO type. */
  malformed: -1,
  /** A GSO type or header layout we do not segment (UFO, IPv6 extension headers). */
  unsupported: -2,
  /** More segments or bytes than the segmenter's buffer holds. */
  tooLarge: -3,
} as const;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/** Default bound on segments per super-frame: 64 KiB at an MSS of 536 is 123. */
export const MAX_SEGMENTS = 128;

export class GsoSegmenter {
  /** The segments of the last successful `segment` call, in the segmenter's own buffer. */
  readonly out: FrameBatch;

  constructor(maxSegments = MAX_SEGMENTS, bufferBytes = 65_536 + maxSegments * 128) {
    this.out = createFrameBatch(maxSegments, new Uint8Array(bufferBytes));
  }

  /**
   * Segments frame `i` of `batch` (a GSO super-frame per its flags) into `this.out`,
   * which is cleared first. Returns the number of segments, or a `SegmentError`.
   */
  segment(batch: FrameBatch, i: number): number {
    const out = this.out;
    out.count = 0;
    const flags = batch.flags[i]!;
    const gso = flags & FrameFlag.gsoMask;
    const mss = batch.gsoSize[i]!;
    const buf = batch.buffer;
    const start = batch.offsets[i]!;
    const end = start + batch.lengths[i]!;
    if (start < 0 || end > buf.length || end - start < 14 || mss <= 0) return SegmentError.malformed;
    if (gso !== FrameFlag.gsoTcp4 && gso !== FrameFlag.gsoTcp6 && gso !== FrameFlag.gsoUdpL4) return SegmentError.unsupported;

    let l3 = start + 14;
    let ethertype = (buf[start + 12]! << 8) | buf[start + 13]!;
    if (ethertype === ETHERTYPE_VLAN) {
      if (end - start < 18) return SegmentError.malformed;
      ethertype = (buf[start + 16]! << 8) | buf[start + 17]!;
      l3 = start + 18;
    }
    let l4: number;
    let proto: number;
    const v4 = ethertype === ETHERTYPE_IPV4;
    if (v4) {
      if (l3 + 20 > end || buf[l3]! >> 4 !== 4) return SegmentError.malformed;
      const ihl = (buf[l3]! & 0x0f) * 4;
      if (ihl < 20 || l3 + ihl > end) return SegmentError.malformed;
      if (((buf[l3 + 6]! << 8) | buf[l3 + 7]!) & 0x3fff) return SegmentError.malformed;
      proto = buf[l3 + 9]!;
      l4 = l3 + ihl;
      if (gso === FrameFlag.gsoTcp6) return SegmentError.malformed;
    } else if (ethertype === ETHERTYPE_IPV6) {
      if (l3 + 40 > end || buf[l3]! >> 4 !== 6) return SegmentError.malformed;
      proto = buf[l3 + 6]!;
      l4 = l3 + 40;
      if (gso === FrameFlag.gsoTcp4) return SegmentError.malformed;
      if (proto !== PROTO_TCP && proto !== PROTO_UDP) return SegmentError.unsupported;
    } else {
      return SegmentError.malformed;
    }
    const tcp = gso !== FrameFlag.gsoUdpL4;
    if (proto !== (tcp ? PROTO_TCP : PROTO_UDP)) return SegmentError.malformed;
    let hdrEnd: number;
    if (tcp) {
      if (l4 + 20 > end) return SegmentError.malformed;
      const doff = (buf[l4 + 12]! >> 4) * 4;
      if (doff < 20 || l4 + doff > end) return SegmentError.malformed;
      hdrEnd = l4 + doff;
    } else {
      if (l4 + 8 > end) return SegmentError.malformed;
      hdrEnd = l4 + 8;
    }
    const hdrBytes = hdrEnd - start;
    const payload = end - hdrEnd;
    const segments = Math.max(1, Math.ceil(payload / mss));
    if (segments > out.offsets.length || segments * hdrBytes + payload > out.buffer.length) return SegmentError.tooLarge;

    const dst = out.buffer;
    const id0 = v4 ? (buf[l3 + 4]! << 8) | buf[l3 + 5]! : 0;
    const seq0 = tcp ? ((buf[l4 + 4]! << 24) | (buf[l4 + 5]! << 16) | (buf[l4 + 6]! << 8) | buf[l4 + 7]!) >>> 0 : 0;
    const tcpFlags = tcp ? buf[l4 + 13]! : 0;
    const dl3 = l3 - start;
    const dl4 = l4 - start;
    let at = 0;
    for (let k = 0; k < segments; k++) {
      const from = hdrEnd + k * mss;
      const chunk = Math.min(mss, end - from);
      dst.set(buf.subarray(start, hdrEnd), at);
      if (chunk > 0) dst.set(buf.subarray(from, from + chunk), at + hdrBytes);
      const segLen = hdrBytes + Math.max(chunk, 0);
      const s3 = at + dl3;
      const s4 = at + dl4;
      const l4Len = segLen - dl4;
      if (v4) {
        const total = segLen - dl3;
        const id = (id0 + k) & 0xffff;
        dst[s3 + 2] = total >> 8;
        dst[s3 + 3] = total & 0xff;
        dst[s3 + 4] = id >> 8;
        dst[s3 + 5] = id & 0xff;
        dst[s3 + 10] = 0;
        dst[s3 + 11] = 0;
        const ipSum = ~onesComplementSum(dst, s3, s3 + (l4 - l3)) & 0xffff;
        dst[s3 + 10] = ipSum >> 8;
        dst[s3 + 11] = ipSum & 0xff;
      } else {
        const plen = segLen - dl3 - 40;
        dst[s3 + 4] = plen >> 8;
        dst[s3 + 5] = plen & 0xff;
      }
      let csumAt: number;
      if (tcp) {
        const seq = (seq0 + k * mss) >>> 0;
        dst[s4 + 4] = seq >>> 24;
        dst[s4 + 5] = (seq >>> 16) & 0xff;
        dst[s4 + 6] = (seq >>> 8) & 0xff;
        dst[s4 + 7] = seq & 0xff;
        let f = tcpFlags;
        if (k < segments - 1) f &= ~(TCP_FIN | TCP_PSH);
        if (k > 0) f &= ~TCP_CWR;
        dst[s4 + 13] = f;
        csumAt = s4 + 16;
      } else {
        dst[s4 + 4] = l4Len >> 8;
        dst[s4 + 5] = l4Len & 0xff;
        csumAt = s4 + 6;
      }
      dst[csumAt] = 0;
      dst[csumAt + 1] = 0;
      const pseudo = v4
        ? onesComplementSum(dst, s3 + 12, s3 + 20, proto + l4Len)
        : onesComplementSum(dst, s3 + 8, s3 + 40, proto + (l4Len >>> 16) + (l4Len & 0xffff));
      let csum = ~onesComplementSum(dst, s4, at + segLen, pseudo) & 0xffff;
      if (csum === 0 && !tcp) csum = 0xffff;
      dst[csumAt] = csum >> 8;
      dst[csumAt + 1] = csum & 0xff;
      pushFrame(out, at, segLen);
      at += segLen;
    }
    return segments;
  }
}
