/**
 * What UDP and TCP views share: the two ports at the start of the header and a
 * checksum covering the pseudo-header, with rewrites that keep it right, for full
 * checksums and for offloaded ("partial") ones. A subclass says where its checksum is
 * and whether 0 means "no checksum" (UDP).
 */
import { readU16, writeU16 } from './addr.js';
import { adjust16, adjust32, adjustPartial32, fold, pseudoHeaderSum, sum16 } from './checksum.js';

import type { AttachMode } from './ipv4.js';
export type { AttachMode };

export abstract class L4Packet {
  buf: Uint8Array = new Uint8Array(0);
  offset = 0;
  /** Bytes present from the start of the L4 header. */
  presentLength = 0;
  protected abstract readonly checksumOffset: number;
  protected abstract readonly zeroMeansNone: boolean;
  protected abstract readonly protocolNumber: number;

  get srcPort(): number { return readU16(this.buf, this.offset); }
  get dstPort(): number { return readU16(this.buf, this.offset + 2); }
  /** Whether the checksum field lies inside the bytes present (not always so in an ICMP quote). */
  get hasChecksumField(): boolean { return this.presentLength >= this.checksumOffset + 2; }
  get checksum(): number { return this.hasChecksumField ? readU16(this.buf, this.offset + this.checksumOffset) : 0; }
  setSrcPort(p: number): void { writeU16(this.buf, this.offset, p); }
  setDstPort(p: number): void { writeU16(this.buf, this.offset + 2, p); }

  private setChecksum(c: number): void {
    writeU16(this.buf, this.offset + this.checksumOffset, c);
  }

  /** Full checksum over the pseudo-header and `l4Length` bytes (must be present). */
  computeChecksum(srcAddr: number, dstAddr: number, l4Length: number): number {
    const saved = this.checksum;
    this.setChecksum(0);
    const sum = sum16(this.buf, this.offset, l4Length, pseudoHeaderSum(srcAddr, dstAddr, this.protocolNumber, l4Length));
    this.setChecksum(saved);
    const c = ~fold(sum) & 0xffff;
    return this.zeroMeansNone && c === 0 ? 0xffff : c;
  }

  verifyChecksum(srcAddr: number, dstAddr: number, l4Length: number = this.presentLength): boolean {
    if (this.zeroMeansNone && this.checksum === 0) return true;
    return this.computeChecksum(srcAddr, dstAddr, l4Length) === this.checksum;
  }

  fillChecksum(srcAddr: number, dstAddr: number, l4Length: number = this.presentLength): void {
    this.setChecksum(this.computeChecksum(srcAddr, dstAddr, l4Length));
  }

  private adjustWord(oldWord: number, newWord: number, partial: boolean): void {
    // Ports are not in the pseudo-header: an offloaded (partial) field does not change.
    if (partial || !this.hasChecksumField) return;
    const c = this.checksum;
    if (this.zeroMeansNone && c === 0) return;
    const n = adjust16(c, oldWord, newWord);
    this.setChecksum(this.zeroMeansNone && n === 0 ? 0xffff : n);
  }

  rewriteSrcPort(p: number, partial = false): void {
    const old = this.srcPort;
    this.setSrcPort(p);
    this.adjustWord(old, p, partial);
  }

  rewriteDstPort(p: number, partial = false): void {
    const old = this.dstPort;
    this.setDstPort(p);
    this.adjustWord(old, p, partial);
  }

  /** Updates the checksum for an address change in the pseudo-header (the IPv4 view changes the address). */
  adjustForAddressChange(oldAddr: number, newAddr: number, partial = false): void {
    if (!this.hasChecksumField) return;
    const c = this.checksum;
    if (partial) {
      this.setChecksum(adjustPartial32(c, oldAddr, newAddr));
      return;
    }
    if (this.zeroMeansNone && c === 0) return;
    const n = adjust32(c, oldAddr, newAddr);
    this.setChecksum(this.zeroMeansNone && n === 0 ? 0xffff : n);
  }
}
