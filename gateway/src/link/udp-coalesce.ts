/**
 * Coalescing of UDP datagrams into one USO super-frame (VIRTIO_NET_HDR_GSO_UDP_L4), for a
 * TAP link whose writes carry a virtio-net header: consecutive datagrams of one flow
 * with the same payload size (the last may be shorter) become one frame, written with
 * one syscall, that the kernel segments back into the same datagrams (Linux
 * `__udp_gso_segment`: each segment gets the super-frame's headers, its own UDP length
 * and checksum, and consecutive IPv4 identifications). It is GRO for UDP, done where
 * wireguard-go does it: in the device layer, on the way to the kernel.
 *
 * It only merges what would come out the same: IPv4 without options, no fragments, no
 * Ethernet padding, the same MACs, TOS, flags, TTL, addresses and ports, and a UDP
 * checksum that is present and right (a complete one is verified here; a partial one
 * has not been computed yet), so a datagram damaged before us is never made valid by
 * the kernel's new checksum. It must not write to the batch it reads, nor throw; it
 * allocates nothing per frame.
 */
import { FrameFlag, type FrameBatch } from './frame-batch.js';
import { onesComplementSum } from './vnet-header.js';

/** Most datagrams merged into one super-frame (Linux accepts up to UDP_MAX_SEGMENTS, 64 or 128). */
export const MAX_COALESCED = 64;
/** Ethernet (14) + IPv4 without options (20) + UDP (8). */
const HEADERS = 42;
const L3 = 14;
const L4 = 34;
const UDP_CHECKSUM_OFFSET = 6;
const MAX_IP_LENGTH = 65_535;
/** Offload flags a mergeable frame may carry: none, or a partial checksum (and DATA_VALID, which is never passed on). */
const MERGEABLE_FLAGS = FrameFlag.csumPartial | FrameFlag.csumValid;

export class UdpCoalescer {
  /** The last super-frame built: `buffer[0, length)`, an Ethernet frame. */
  readonly buffer = new Uint8Array(L3 + MAX_IP_LENGTH);
  length = 0;
  /** UDP payload bytes per segment (the virtio header's gso_size). */
  gsoSize = 0;
  /** The datagrams merged, and their bytes as frames (for the link's counters). */
  segments = 0;
  frameBytes = 0;

  /** Header values of the super-frame's virtio-net header (see `VirtioGso.udpL4`). */
  static readonly hdrLen = HEADERS;
  static readonly csumStart = L4;
  static readonly csumOffset = UDP_CHECKSUM_OFFSET;

  /**
   * Merges frames `i, i+1, …` of `batch` that belong together into `buffer`. Returns how
   * many frames went into it (≥ 2), or 0 when frame `i` does not start a run of two
   * (send it as it is). The frame's checksum field in `buffer` holds the partial sum
   * (pseudo-header with the super-frame's UDP length, uncomplemented), as the kernel
   * expects of a NEEDS_CSUM frame.
   */
  coalesce(batch: FrameBatch, i: number): number {
    const buf = batch.buffer;
    const first = batch.offsets[i]!;
    const size = mergeablePayload(batch, i);
    if (size <= 0 || i + 1 >= batch.count) return 0;
    let n = 1;
    let payload = size;
    for (let j = i + 1; j < batch.count && n < MAX_COALESCED; j++) {
      const s = mergeablePayload(batch, j);
      if (s <= 0 || s > size || HEADERS - L3 + payload + s > MAX_IP_LENGTH || !sameFlow(buf, first, batch.offsets[j]!)) break;
      n++;
      payload += s;
      if (s < size) break;
    }
    if (n < 2) return 0;
    const out = this.buffer;
    for (let k = 0; k < HEADERS; k++) out[k] = buf[first + k]!;
    let at = HEADERS;
    let frameBytes = 0;
    for (let j = i; j < i + n; j++) {
      const off = batch.offsets[j]!;
      const len = batch.lengths[j]!;
      frameBytes += len;
      // Small payloads (the case this is for) copy faster byte by byte than through a subarray.
      if (len - HEADERS <= 256) {
        for (let p = off + HEADERS; p < off + len; p++) out[at++] = buf[p]!;
      } else {
        out.set(buf.subarray(off + HEADERS, off + len), at);
        at += len - HEADERS;
      }
    }
    const ipLength = at - L3;
    const udpLength = ipLength - 20;
    out[L3 + 2] = ipLength >> 8;
    out[L3 + 3] = ipLength & 0xff;
    out[L3 + 10] = 0;
    out[L3 + 11] = 0;
    const ipSum = ~onesComplementSum(out, L3, L4) & 0xffff;
    out[L3 + 10] = ipSum >> 8;
    out[L3 + 11] = ipSum & 0xff;
    out[L4 + 4] = udpLength >> 8;
    out[L4 + 5] = udpLength & 0xff;
    const partial = onesComplementSum(out, L3 + 12, L3 + 20, 17 + udpLength);
    out[L4 + UDP_CHECKSUM_OFFSET] = partial >> 8;
    out[L4 + UDP_CHECKSUM_OFFSET + 1] = partial & 0xff;
    this.length = at;
    this.gsoSize = size;
    this.segments = n;
    this.frameBytes = frameBytes;
    return n;
  }
}

/**
 * The UDP payload length of frame `i` when it can be merged (plain IPv4 + UDP, no
 * options, not a fragment, no padding, a present and right checksum), else -1.
 */
function mergeablePayload(batch: FrameBatch, i: number): number {
  const flags = batch.flags[i]!;
  if ((flags & ~MERGEABLE_FLAGS) !== 0) return -1;
  const buf = batch.buffer;
  const off = batch.offsets[i]!;
  const len = batch.lengths[i]!;
  if (len <= HEADERS || off < 0 || off + len > buf.length) return -1;
  if (buf[off + 12] !== 0x08 || buf[off + 13] !== 0x00 || buf[off + L3] !== 0x45 || buf[off + L3 + 9] !== 17) return -1;
  // MF clear and fragment offset 0 (DF may be set).
  if (((buf[off + L3 + 6]! & 0x3f) | buf[off + L3 + 7]!) !== 0) return -1;
  const ipLength = (buf[off + L3 + 2]! << 8) | buf[off + L3 + 3]!;
  const udpLength = (buf[off + L4 + 4]! << 8) | buf[off + L4 + 5]!;
  if (ipLength !== len - L3 || udpLength !== ipLength - 20) return -1;
  const partial = (flags & FrameFlag.csumPartial) !== 0;
  if (partial) {
    if (batch.csumStart[i] !== L4 || batch.csumOffset[i] !== UDP_CHECKSUM_OFFSET) return -1;
  } else {
    if (buf[off + L4 + 6] === 0 && buf[off + L4 + 7] === 0) return -1;
    // A right checksum makes the sum over pseudo-header and datagram 0xffff (RFC 1071).
    const pseudo = onesComplementSum(buf, off + L3 + 12, off + L3 + 20, 17 + udpLength);
    if (onesComplementSum(buf, off + L4, off + len, pseudo) !== 0xffff) return -1;
  }
  return udpLength - 8;
}

/** Same MACs, TOS, flags byte, TTL, addresses and ports as the frame at `a`. */
function sameFlow(buf: Uint8Array, a: number, b: number): boolean {
  for (let k = 0; k < 12; k++) if (buf[a + k] !== buf[b + k]) return false;
  if (buf[a + L3 + 1] !== buf[b + L3 + 1] || buf[a + L3 + 6] !== buf[b + L3 + 6] || buf[a + L3 + 8] !== buf[b + L3 + 8]) return false;
  for (let k = L3 + 12; k < L4 + 4; k++) if (buf[a + k] !== buf[b + k]) return false;
  return true;
}
