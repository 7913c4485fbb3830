/**
 * IPv4 header view (RFC 791). Options are allowed and skipped; fragments are
 * recognised (the NAT decides what to do with them). `attach` checks version, IHL and
 * lengths so no accessor can read out of bounds afterwards; it never throws.
 */
import { readU16, readU32, writeU16, writeU32 } from './addr.js';
import { adjust16, adjust32, internetChecksum } from './checksum.js';

export const IPV4_MIN_HEADER_LENGTH = 20;
const VER_IHL = 0, TOS = 1, TOTAL_LENGTH = 2, IDENT = 4, FLAGS_FRAG = 6, TTL = 8, PROTOCOL = 9, CHECKSUM = 10, SRC = 12, DST = 16;

export type Ipv4Status = 'ok' | 'truncated' | 'bad-version' | 'bad-ihl' | 'bad-total-length';
export type AttachMode = 'full' | 'embedded';

export class Ipv4Packet {
  buf: Uint8Array = new Uint8Array(0);
  offset = 0;
  headerLength = IPV4_MIN_HEADER_LENGTH;
  /** Bytes of the packet present in the buffer (≤ totalLength in 'embedded' mode). */
  presentLength = 0;

  /**
   * 'full': header ≤ totalLength ≤ length (trailing Ethernet padding ignored).
   * 'embedded': the header quoted in an ICMP error; totalLength may exceed what is present.
   */
  attach(buf: Uint8Array, offset: number, length: number, mode: AttachMode = 'full'): Ipv4Status {
    this.buf = buf;
    this.offset = offset;
    if (length < IPV4_MIN_HEADER_LENGTH || offset < 0 || offset + length > buf.length) return 'truncated';
    const vi = buf[offset + VER_IHL]!;
    if (vi >>> 4 !== 4) return 'bad-version';
    const hl = (vi & 0x0f) * 4;
    if (hl < IPV4_MIN_HEADER_LENGTH) return 'bad-ihl';
    if (hl > length) return 'truncated';
    const total = readU16(buf, offset + TOTAL_LENGTH);
    if (total < hl) return 'bad-total-length';
    if (mode === 'full' && total > length) return 'bad-total-length';
    this.headerLength = hl;
    this.presentLength = Math.min(total, length);
    return 'ok';
  }

  get version(): number { return this.buf[this.offset]! >>> 4; }
  get dscp(): number { return this.buf[this.offset + TOS]! >>> 2; }
  get ecn(): number { return this.buf[this.offset + TOS]! & 3; }
  get totalLength(): number { return readU16(this.buf, this.offset + TOTAL_LENGTH); }
  get identification(): number { return readU16(this.buf, this.offset + IDENT); }
  get dontFragment(): boolean { return (this.buf[this.offset + FLAGS_FRAG]! & 0x40) !== 0; }
  get moreFragments(): boolean { return (this.buf[this.offset + FLAGS_FRAG]! & 0x20) !== 0; }
  /** Fragment offset in bytes. */
  get fragmentOffset(): number { return (readU16(this.buf, this.offset + FLAGS_FRAG) & 0x1fff) * 8; }
  get isFragment(): boolean { return this.moreFragments || this.fragmentOffset !== 0; }
  get isFirstFragment(): boolean { return this.fragmentOffset === 0; }
  get ttl(): number { return this.buf[this.offset + TTL]!; }
  get protocol(): number { return this.buf[this.offset + PROTOCOL]!; }
  get checksum(): number { return readU16(this.buf, this.offset + CHECKSUM); }
  get srcAddr(): number { return readU32(this.buf, this.offset + SRC); }
  get dstAddr(): number { return readU32(this.buf, this.offset + DST); }
  get payloadOffset(): number { return this.offset + this.headerLength; }
  /** L4 bytes present (totalLength − header in 'full' mode). */
  get payloadLength(): number { return this.presentLength - this.headerLength; }
  payload(): Uint8Array { return this.buf.subarray(this.payloadOffset, this.offset + this.presentLength); }

  verifyChecksum(): boolean {
    return internetChecksum(this.buf, this.offset, this.headerLength) === 0;
  }
  fillChecksum(): void {
    writeU16(this.buf, this.offset + CHECKSUM, 0);
    writeU16(this.buf, this.offset + CHECKSUM, internetChecksum(this.buf, this.offset, this.headerLength));
  }

  setSrcAddr(a: number): void { writeU32(this.buf, this.offset + SRC, a); }
  setDstAddr(a: number): void { writeU32(this.buf, this.offset + DST, a); }
  setTtl(t: number): void { this.buf[this.offset + TTL] = t; }

  /** Sets the source address and updates the header checksum incrementally (RFC 1624). */
  rewriteSrcAddr(a: number): void {
    const old = this.srcAddr;
    this.setSrcAddr(a);
    writeU16(this.buf, this.offset + CHECKSUM, adjust32(this.checksum, old, a));
  }
  rewriteDstAddr(a: number): void {
    const old = this.dstAddr;
    this.setDstAddr(a);
    writeU16(this.buf, this.offset + CHECKSUM, adjust32(this.checksum, old, a));
  }
  /** TTL − 1 with the checksum updated incrementally (the TTL shares a word with the protocol). */
  decrementTtl(): void {
    const o = this.offset + TTL;
    const oldWord = readU16(this.buf, o);
    this.buf[o] = (this.buf[o]! - 1) & 0xff;
    writeU16(this.buf, this.offset + CHECKSUM, adjust16(this.checksum, oldWord, readU16(this.buf, o)));
  }
}

export interface Ipv4Repr {
  readonly srcAddr: number;
  readonly dstAddr: number;
  readonly protocol: number;
  readonly payloadLength: number;
  readonly ttl: number;
  readonly identification?: number;
  readonly dontFragment?: boolean;
  readonly dscp?: number;
}

export function parseIpv4Header(p: Ipv4Packet): Ipv4Repr {
  return { srcAddr: p.srcAddr, dstAddr: p.dstAddr, protocol: p.protocol, payloadLength: p.payloadLength, ttl: p.ttl,
    identification: p.identification, dontFragment: p.dontFragment, dscp: p.dscp };
}

/** Writes a 20-byte header (no options) with its checksum at `offset`; returns 20. */
export function emitIpv4(r: Ipv4Repr, buf: Uint8Array, offset: number): number {
  buf[offset + VER_IHL] = 0x45;
  buf[offset + TOS] = (r.dscp ?? 0) << 2;
  writeU16(buf, offset + TOTAL_LENGTH, IPV4_MIN_HEADER_LENGTH + r.payloadLength);
  writeU16(buf, offset + IDENT, r.identification ?? 0);
  writeU16(buf, offset + FLAGS_FRAG, r.dontFragment ? 0x4000 : 0);
  buf[offset + TTL] = r.ttl;
  buf[offset + PROTOCOL] = r.protocol;
  writeU16(buf, offset + CHECKSUM, 0);
  writeU32(buf, offset + SRC, r.srcAddr);
  writeU32(buf, offset + DST, r.dstAddr);
  writeU16(buf, offset + CHECKSUM, internetChecksum(buf, offset, IPV4_MIN_HEADER_LENGTH));
  return IPV4_MIN_HEADER_LENGTH;
}
