/**
 * The virtio-net header a TAP opened with IFF_VNET_HDR puts before every frame, and the
 * checksum arithmetic its offloads need. The header is `struct virtio_net_hdr_v1`
 * (virtio 1.0, 5.1.6), 12 bytes, little-endian (the addon sets TUNSETVNETLE):
 *
 *   0 flags (u8)  1 gso_type (u8)  2 hdr_len (u16)  4 gso_size (u16)
 *   6 csum_start (u16)  8 csum_offset (u16)  10 num_buffers (u16, 0 on a TAP)
 *
 * Decoding fills the metadata arrays of a FrameBatch; encoding writes them back.
 * It must not throw on what the kernel (or a peer) hands us: a header that does not fit
 * its frame is reported with a reason for the link to count as a drop.
 */
import { FrameFlag, type FrameBatch } from './frame-batch.js';

export const VNET_HDR_BYTES = 12;

/** Values of the header's gso_type byte (virtio 1.0, 5.1.6). */
export const VirtioGso = { none: 0, tcpV4: 1, udp: 3, tcpV6: 4, udpL4: 5, ecn: 0x80 } as const;

/** The outcome of decoding a header against its frame. */
export const VnetHdrStatus = {
  ok: 'ok',
  /** csum_start + csum_offset + 2 lies beyond the frame. */
  badCsumRange: 'vnet-csum-range',
  /** An unknown gso_type, or a GSO frame with gso_size 0. */
  badGso: 'vnet-gso',
} as const;
export type VnetHdrStatus = (typeof VnetHdrStatus)[keyof typeof VnetHdrStatus];

/**
 * Decodes the header at `src[at, at + 12)` of a frame of `frameLength` bytes into frame `i`
 * of `batch`'s metadata. On anything but `ok` the metadata of `i` is left zero.
 */
export function decodeVnetHdr(src: Uint8Array, at: number, frameLength: number, batch: FrameBatch, i: number): VnetHdrStatus {
  const rawFlags = src[at]!;
  const gsoType = src[at + 1]!;
  const hdrLen = src[at + 2]! | (src[at + 3]! << 8);
  const gsoSize = src[at + 4]! | (src[at + 5]! << 8);
  const csumStart = src[at + 6]! | (src[at + 7]! << 8);
  const csumOffset = src[at + 8]! | (src[at + 9]! << 8);
  batch.flags[i] = 0;
  batch.gsoSize[i] = 0;
  batch.hdrLen[i] = 0;
  batch.csumStart[i] = 0;
  batch.csumOffset[i] = 0;
  const needsCsum = (rawFlags & FrameFlag.csumPartial) !== 0;
  if (needsCsum && csumStart + csumOffset + 2 > frameLength) return VnetHdrStatus.badCsumRange;
  const kind = gsoType & ~VirtioGso.ecn;
  if (kind !== VirtioGso.none) {
    if (kind !== VirtioGso.tcpV4 && kind !== VirtioGso.tcpV6 && kind !== VirtioGso.udp && kind !== VirtioGso.udpL4) return VnetHdrStatus.badGso;
    if (gsoSize === 0) return VnetHdrStatus.badGso;
  } else if (gsoType !== 0) {
    return VnetHdrStatus.badGso;
  }
  batch.flags[i] = (rawFlags & (FrameFlag.csumPartial | FrameFlag.csumValid)) | (gsoType << 8);
  batch.gsoSize[i] = kind === VirtioGso.none ? 0 : gsoSize;
  batch.hdrLen[i] = kind === VirtioGso.none ? 0 : hdrLen;
  if (needsCsum) {
    batch.csumStart[i] = csumStart;
    batch.csumOffset[i] = csumOffset;
  }
  return VnetHdrStatus.ok;
}

/**
 * Writes the header for frame `i` of `batch` at `dst[at, at + 12)`; all zero for a plain
 * frame. DATA_VALID is not passed on: "The driver MUST NOT set the
 * VIRTIO_NET_HDR_F_DATA_VALID and VIRTIO_NET_HDR_F_RSC_INFO bits in flags" (virtio 1.0,
 * 5.1.6.2.1) — a frame we rewrote must have its checksums checked again downstream.
 */
export function encodeVnetHdr(batch: FrameBatch, i: number, dst: Uint8Array, at: number): void {
  const flags = batch.flags[i]!;
  const partial = (flags & FrameFlag.csumPartial) !== 0;
  const gso = (flags >> 8) & 0xff;
  const hdrLen = gso === 0 ? 0 : batch.hdrLen[i]!;
  const gsoSize = gso === 0 ? 0 : batch.gsoSize[i]!;
  const csumStart = partial ? batch.csumStart[i]! : 0;
  const csumOffset = partial ? batch.csumOffset[i]! : 0;
  dst[at] = flags & FrameFlag.csumPartial;
  dst[at + 1] = gso;
  dst[at + 2] = hdrLen & 0xff;
  dst[at + 3] = (hdrLen >> 8) & 0xff;
  dst[at + 4] = gsoSize & 0xff;
  dst[at + 5] = (gsoSize >> 8) & 0xff;
  dst[at + 6] = csumStart & 0xff;
  dst[at + 7] = (csumStart >> 8) & 0xff;
  dst[at + 8] = csumOffset & 0xff;
  dst[at + 9] = (csumOffset >> 8) & 0xff;
  dst[at + 10] = 0;
  dst[at + 11] = 0;
}

/**
 * One's complement sum (RFC 1071) of `buf[start, end)` added to `initial`, folded to
 * 16 bits, not complemented. An odd last byte is padded with zero.
 */
export function onesComplementSum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) {
    sum += (buf[i]! << 8) | buf[i + 1]!;
    if (sum > 0x7fffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i < end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * The value a device puts in a partial checksum field: the complement of the sum of the
 * frame from `csumStart` (bytes from the frame start) to its end, the field at `csumStart +
 * csumOffset` included as it stands (the pseudo-header sum). A UDP checksum (csumOffset 6)
 * that comes out 0 is 0xffff (RFC 768). -1 when the range does not fit the frame.
 */
export function partialChecksumValue(buf: Uint8Array, frameOffset: number, frameLength: number, csumStart: number, csumOffset: number): number {
  if (csumStart < 0 || csumOffset < 0 || csumStart + csumOffset + 2 > frameLength || frameOffset < 0 || frameOffset + frameLength > buf.length) return -1;
  const csum = ~onesComplementSum(buf, frameOffset + csumStart, frameOffset + frameLength) & 0xffff;
  return csum === 0 && csumOffset === 6 ? 0xffff : csum;
}

/** Completes a partial checksum in place, as the device would; false, writing nothing, when the range does not fit. */
export function completeChecksum(buf: Uint8Array, frameOffset: number, frameLength: number, csumStart: number, csumOffset: number): boolean {
  const csum = partialChecksumValue(buf, frameOffset, frameLength, csumStart, csumOffset);
  if (csum < 0) return false;
  const field = frameOffset + csumStart + csumOffset;
  buf[field] = csum >> 8;
  buf[field + 1] = csum & 0xff;
  return true;
}

/**
 * The new value of a partial checksum field (see `FrameFlag.csumPartial`) after a 32-bit
 * pseudo-header word (an IPv4 address) changed from `oldWord` to `newWord`. The field is
 * a plain one's complement sum, so this adds `newWord` and subtracts `oldWord` — RFC 1624
 * eqn. 3 applied to the complement of an ordinary checksum. A field of 0 stays 0 only if
 * the sum says so (no UDP "no checksum" rule applies to a partial sum).
 */
export function adjustPartialChecksum(field: number, oldWord: number, newWord: number): number {
  let sum = (field & 0xffff) + (~oldWord >>> 16 & 0xffff) + (~oldWord & 0xffff) + ((newWord >>> 16) & 0xffff) + (newWord & 0xffff);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
