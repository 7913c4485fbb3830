/**
 * The Internet checksum (RFC 1071) over bytes in place, the IPv4 pseudo-header sum, and
 * the incremental updates of RFC 1624, for full checksum fields and for offloaded
 * ("partial") ones. Pure arithmetic: it must not allocate, and never throws (bytes past
 * the end of a buffer read as 0, so callers pass ranges their view has checked).
 */

/**
 * Ones'-complement sum of big-endian 16-bit words over `buf[offset, offset+length)`, an
 * odd trailing byte padded with a zero byte, added to `initial`. The result is an
 * unfolded accumulator: pass it to `fold` (or as `initial` of another call).
 */
export function sum16(buf: Uint8Array, offset: number, length: number, initial = 0): number {
  let sum = initial;
  const end = offset + length;
  let i = offset;
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  // Fold a large accumulator early so repeated calls stay far from 2^53.
  return sum > 0x7fffffff ? fold(sum) : sum;
}

/** Folds an accumulator to 16 bits with end-around carry. */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The value of a checksum field over a range: `~fold(sum16(...)) & 0xffff`. */
export function internetChecksum(buf: Uint8Array, offset: number, length: number, initial = 0): number {
  return ~fold(sum16(buf, offset, length, initial)) & 0xffff;
}

/**
 * Unfolded sum of the IPv4 pseudo-header (RFC 768, RFC 793 3.1): source and destination
 * address, zero, protocol, and the L4 length in bytes.
 */
export function pseudoHeaderSum(srcAddr: number, dstAddr: number, protocol: number, l4Length: number): number {
  return (srcAddr >>> 16) + (srcAddr & 0xffff) + (dstAddr >>> 16) + (dstAddr & 0xffff) + (protocol & 0xff) + (l4Length & 0xffff);
}

/**
 * RFC 1624 eqn. 3, for a 16-bit field m of a message whose checksum is HC:
 *
 *     HC' = ~(~HC + ~m + m')
 *
 * It gives exactly what a full recompute gives, including the ones'-complement
 * zero case that the RFC 1141 form got wrong, as long as the message has a nonzero word
 * (every real header has one).
 */
export function adjust16(checksum: number, oldWord: number, newWord: number): number {
  const sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(sum) & 0xffff;
}

/** `adjust16` for a 32-bit field (two words), e.g. an IPv4 address. */
export function adjust32(checksum: number, oldValue: number, newValue: number): number {
  const sum = (~checksum & 0xffff) + (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff)
    + (newValue >>> 16) + (newValue & 0xffff);
  return ~fold(sum) & 0xffff;
}

/**
 * Checksum offload: with Linux virtio-net `VIRTIO_NET_HDR_F_NEEDS_CSUM` the L4 checksum
 * field holds the *uncomplemented* folded pseudo-header sum P, and the device adds the
 * L4 bytes later. A change of a pseudo-header word m → m' is then ones'-complement
 * addition, `P' = P + ~m + m'`. Ports are not in the pseudo-header, so a port change
 * leaves P as it is.
 */
export function adjustPartial16(partial: number, oldWord: number, newWord: number): number {
  return fold((partial & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff));
}

/** `adjustPartial16` for a 32-bit field (an IPv4 address). */
export function adjustPartial32(partial: number, oldValue: number, newValue: number): number {
  return fold((partial & 0xffff) + (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff)
    + (newValue >>> 16) + (newValue & 0xffff));
}
