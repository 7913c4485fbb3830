/**
 * Internet checksum (RFC 1071) and its incremental update (RFC 1624). Pure byte math
 * over Uint8Array; no allocation.
 */

/** Ones'-complement sum of 16-bit big-endian words (odd trailing byte padded), as an unfolded accumulator. */
export function sum16(buf: Uint8Array, offset: number, length: number, initial = 0): number {
  let sum = initial;
  const end = offset + length;
  let i = offset;
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  // Keep the accumulator well inside 2^53 even for huge inputs.
  return sum > 0x7fffffff ? fold(sum) : sum;
}

/** Folds an accumulator to 16 bits (end-around carry). */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value over a range: `~fold(sum) & 0xffff`. */
export function internetChecksum(buf: Uint8Array, offset: number, length: number, initial = 0): number {
  return ~fold(sum16(buf, offset, length, initial)) & 0xffff;
}

/** Sum of the IPv4 pseudo-header (RFC 793 / 768): addresses, zero, protocol, L4 length. */
export function pseudoHeaderSum(srcAddr: number, dstAddr: number, protocol: number, l4Length: number): number {
  return (srcAddr >>> 16) + (srcAddr & 0xffff) + (dstAddr >>> 16) + (dstAddr & 0xffff) + protocol + l4Length;
}

/**
 * RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`, where HC is the old checksum, m the old
 * 16-bit field and m' the new one. Unlike eqn. 2 it never yields 0xffff wrongly.
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
 * Checksum-offload ("partial") fields: with VIRTIO_NET_HDR_F_NEEDS_CSUM the L4 checksum
 * field holds the uncomplemented folded pseudo-header sum P. Changing a pseudo-header
 * word m → m' gives `P' = P + ~m + m'` (ones' complement addition).
 */
export function adjustPartial16(partial: number, oldWord: number, newWord: number): number {
  return fold((partial & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff));
}

export function adjustPartial32(partial: number, oldValue: number, newValue: number): number {
  return fold((partial & 0xffff) + (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff) + (newValue >>> 16) + (newValue & 0xffff));
}
