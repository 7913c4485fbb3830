/**
 * What the UDP and TCP views share: the two ports at the start of the header and a
 * checksum over the IPv4 pseudo-header, with rewrites that keep it right, for full
 * checksums and for offloaded ("partial") ones. A subclass says where its checksum is
 * and whether 0 means "no checksum" (UDP). Nothing here allocates or throws, and a
 * rewrite only writes bytes that are present (an ICMP quote may stop before the
 * checksum field).
 */
import { readU16, writeU16 } from './addr.js';
import { adjust16, adjust32, adjustPartial32, fold, pseudoHeaderSum, sum16 } from './checksum.js';

import type { AttachMode } from './ipv4.js';
export type { AttachMode };

export abstract class L4Packet {
  buf: Uint8Array = new Uint8Array(0);
  offset = 0;
  /** Bytes present from the start of the L4 header (0 until a successful attach). */
  presentLength = 0;
  /** The mode of the last successful attach. */
  mode: AttachMode = 'full';
  protected abstract readonly checksumOffset: number;
  protected abstract readonly zeroMeansNone: boolean;
  protected abstract readonly protocolNumber: number;

  get srcPort(): number { return readU16(this.buf, this.offset); }
  get dstPort(): number { return readU16(this.buf, this.offset + 2); }
  /** Whether the checksum field lies inside the bytes present (not always so in an ICMP quote). */
  get hasChecksumField(): boolean { return this.presentLength >= this.checksumOffset + 2; }
  /** The checksum field, or 0 when it is not present (see `hasChecksumField`). */
  get checksum(): number { return this.hasChecksumField ? readU16(this.buf, this.offset + this.checksumOffset) : 0; }
  /** Raw port setters: the checksum is left as it is. */
  setSrcPort(p: number): void { writeU16(this.buf, this.offset, p); }
  setDstPort(p: number): void { writeU16(this.buf, this.offset + 2, p); }

  private setChecksum(c: number): void {
    writeU16(this.buf, this.offset + this.checksumOffset, c);
  }

  /**
   * The checksum the field should hold for `l4Length` bytes from the header start, with
   * the pseudo-header of (srcAddr, dstAddr); the field's own bytes count as zero. For
   * UDP a computed 0 is 0xffff (RFC 768: 0 means "no checksum"). Returns -1 when
   * `l4Length` is not within the bytes present or does not cover the checksum field.
   */
  computeChecksum(srcAddr: number, dstAddr: number, l4Length: number = this.presentLength): number {
    const cs = this.checksumOffset;
    if (!(l4Length >= cs + 2 && l4Length <= this.presentLength) || !Number.isInteger(l4Length)) return -1;
    let sum = pseudoHeaderSum(srcAddr, dstAddr, this.protocolNumber, l4Length);
    sum = sum16(this.buf, this.offset, cs, sum);
    sum = sum16(this.buf, this.offset + cs + 2, l4Length - cs - 2, sum);
    const c = ~fold(sum) & 0xffff;
    return this.zeroMeansNone && c === 0 ? 0xffff : c;
  }

  /**
   * Whether the checksum is right for `l4Length` bytes (by default all bytes present:
   * UDP's length field, TCP's IP payload). For 'full' attaches only. A UDP checksum of 0
   * ("none") is valid.
   */
  verifyChecksum(srcAddr: number, dstAddr: number, l4Length: number = this.presentLength): boolean {
    if (this.zeroMeansNone && this.hasChecksumField && this.checksum === 0) return true;
    const c = this.computeChecksum(srcAddr, dstAddr, l4Length);
    return c >= 0 && c === this.checksum;
  }

  /** Writes the full checksum for `l4Length` bytes; false (nothing written) when they are not present. */
  fillChecksum(srcAddr: number, dstAddr: number, l4Length: number = this.presentLength): boolean {
    const c = this.computeChecksum(srcAddr, dstAddr, l4Length);
    if (c < 0) return false;
    this.setChecksum(c);
    return true;
  }

  /** Folds a 16-bit change of a covered word (not a pseudo-header one) into the checksum. */
  private adjustWord(oldWord: number, newWord: number, partial: boolean): void {
    // Ports are not in the pseudo-header: an offloaded (partial) field does not change.
    if (partial || !this.hasChecksumField) return;
    const c = this.checksum;
    if (this.zeroMeansNone && c === 0) return;
    const n = adjust16(c, oldWord, newWord);
    this.setChecksum(this.zeroMeansNone && n === 0 ? 0xffff : n);
  }

  /** Sets the source port; updates the checksum incrementally unless `partial` (offload) or absent. */
  rewriteSrcPort(p: number, partial = false): void {
    const old = this.srcPort;
    this.setSrcPort(p);
    this.adjustWord(old, p & 0xffff, partial);
  }

  /** Sets the destination port; updates the checksum incrementally unless `partial` (offload) or absent. */
  rewriteDstPort(p: number, partial = false): void {
    const old = this.dstPort;
    this.setDstPort(p);
    this.adjustWord(old, p & 0xffff, partial);
  }

  /**
   * Updates the checksum for a changed pseudo-header address (the IPv4 view changes the
   * address itself). Full field: RFC 1624 eqn. 3, a UDP 0 stays 0 and a computed 0
   * becomes 0xffff. Partial field: `P' = P + ~m + m'`. Absent field: nothing.
   */
  adjustForAddressChange(oldAddr: number, newAddr: number, partial = false): void {
    if (!this.hasChecksumField) return;
    const c = this.checksum;
    if (partial) {
      this.setChecksum(adjustPartial32(c, oldAddr >>> 0, newAddr >>> 0));
      return;
    }
    if (this.zeroMeansNone && c === 0) return;
    const n = adjust32(c, oldAddr >>> 0, newAddr >>> 0);
    this.setChecksum(this.zeroMeansNone && n === 0 ? 0xffff : n);
  }
}
