/**
 * IPv4 header view (RFC 791). `attach` checks version, IHL and lengths, so that after
 * 'ok' no accessor reads outside the packet; options are allowed and skipped; fragments
 * are recognised (what to do with them is the NAT's decision, not this view's). The
 * view never throws and allocates nothing per packet. It only covers the IPv4 header:
 * the L4 pseudo-header checksum is the L4 view's job.
 */
import { readU16, readU32, writeU16, writeU32 } from './addr.js';
import { adjust16, adjust32, internetChecksum } from './checksum.js';
import { isRange } from './status.js';

export const IPV4_MIN_HEADER_LENGTH = 20;

const VER_IHL = 0, TOS = 1, TOTAL_LENGTH = 2, IDENT = 4, FLAGS_FRAG = 6, TTL = 8, PROTOCOL = 9, CHECKSUM = 10;
const SRC = 12, DST = 16;
const FLAG_DF = 0x4000, FLAG_MF = 0x2000, FRAG_OFFSET_MASK = 0x1fff;

export type Ipv4Status = 'ok' | 'truncated' | 'bad-version' | 'bad-ihl' | 'bad-total-length';

/**
 * 'full': a packet as received. 'embedded': a packet quoted inside an ICMP error, of
 * which only a prefix is present.
 */
export type AttachMode = 'full' | 'embedded';

export class Ipv4Packet {
  buf: Uint8Array = new Uint8Array(0);
  offset = 0;
  headerLength = IPV4_MIN_HEADER_LENGTH;
  /** Bytes of the packet present in the buffer: totalLength in 'full' mode, maybe fewer in 'embedded'. */
  presentLength = 0;

  /**
   * Points the view at `buf[offset, offset+length)`. Both modes need the whole header
   * (IHL ≥ 5, options included) and totalLength ≥ header length.
   * 'full': totalLength ≤ length; bytes after totalLength (Ethernet padding) are ignored.
   * 'embedded': totalLength may exceed `length`; the payload is then what is present.
   */
  attach(buf: Uint8Array, offset: number, length: number, mode: AttachMode = 'full'): Ipv4Status {
    this.buf = buf;
    this.offset = 0;
    this.headerLength = IPV4_MIN_HEADER_LENGTH;
    this.presentLength = 0;
    if (!isRange(buf, offset, length) || length < IPV4_MIN_HEADER_LENGTH) return 'truncated';
    const vi = buf[offset + VER_IHL]!;
    if (vi >>> 4 !== 4) return 'bad-version';
    const hl = (vi & 0x0f) * 4;
    if (hl < IPV4_MIN_HEADER_LENGTH) return 'bad-ihl';
    if (hl > length) return 'truncated';
    const total = readU16(buf, offset + TOTAL_LENGTH);
    if (total < hl) return 'bad-total-length';
    if (mode === 'full' && total > length) return 'bad-total-length';
    this.offset = offset;
    this.headerLength = hl;
    this.presentLength = total < length ? total : length;
    return 'ok';
  }

  get version(): number { return this.buf[this.offset + VER_IHL]! >>> 4; }
  get dscp(): number { return this.buf[this.offset + TOS]! >>> 2; }
  get ecn(): number { return this.buf[this.offset + TOS]! & 3; }
  get totalLength(): number { return readU16(this.buf, this.offset + TOTAL_LENGTH); }
  get identification(): number { return readU16(this.buf, this.offset + IDENT); }
  get dontFragment(): boolean { return (readU16(this.buf, this.offset + FLAGS_FRAG) & FLAG_DF) !== 0; }
  get moreFragments(): boolean { return (readU16(this.buf, this.offset + FLAGS_FRAG) & FLAG_MF) !== 0; }
  /** Fragment offset in bytes (the field counts 8-byte units). */
  get fragmentOffset(): number { return (readU16(this.buf, this.offset + FLAGS_FRAG) & FRAG_OFFSET_MASK) * 8; }
  /** Part of a fragmented datagram: MF set or a nonzero offset. */
  get isFragment(): boolean { return (readU16(this.buf, this.offset + FLAGS_FRAG) & (FLAG_MF | FRAG_OFFSET_MASK)) !== 0; }
  /** Offset 0: an unfragmented packet or the first fragment (the one that holds the L4 header). */
  get isFirstFragment(): boolean { return (readU16(this.buf, this.offset + FLAGS_FRAG) & FRAG_OFFSET_MASK) === 0; }
  get ttl(): number { return this.buf[this.offset + TTL]!; }
  get protocol(): number { return this.buf[this.offset + PROTOCOL]!; }
  get checksum(): number { return readU16(this.buf, this.offset + CHECKSUM); }
  get srcAddr(): number { return readU32(this.buf, this.offset + SRC); }
  get dstAddr(): number { return readU32(this.buf, this.offset + DST); }
  get payloadOffset(): number { return this.offset + this.headerLength; }
  /** L4 bytes present: totalLength − headerLength in 'full' mode. */
  get payloadLength(): number { return this.presentLength - this.headerLength; }
  /** The L4 bytes present, as a subarray of the packet's buffer (not a copy). */
  payload(): Uint8Array { return this.buf.subarray(this.payloadOffset, this.offset + this.presentLength); }
  /** The options between byte 20 and the end of the header (empty without options). */
  options(): Uint8Array { return this.buf.subarray(this.offset + IPV4_MIN_HEADER_LENGTH, this.payloadOffset); }

  /** Whether the header checksum (over the whole header, options included) is right. */
  verifyChecksum(): boolean {
    return internetChecksum(this.buf, this.offset, this.headerLength) === 0;
  }
  /** Recomputes the header checksum from scratch. */
  fillChecksum(): void {
    writeU16(this.buf, this.offset + CHECKSUM, 0);
    writeU16(this.buf, this.offset + CHECKSUM, internetChecksum(this.buf, this.offset, this.headerLength));
  }

  /** Raw setters: they leave the checksum as it is (call `fillChecksum` after). */
  setSrcAddr(a: number): void { writeU32(this.buf, this.offset + SRC, a); }
  setDstAddr(a: number): void { writeU32(this.buf, this.offset + DST, a); }
  setTtl(t: number): void { this.buf[this.offset + TTL] = t; }

  /** Sets the source address and updates the header checksum incrementally (RFC 1624). */
  rewriteSrcAddr(a: number): void {
    const old = this.srcAddr;
    this.setSrcAddr(a);
    writeU16(this.buf, this.offset + CHECKSUM, adjust32(this.checksum, old, a >>> 0));
  }
  /** Sets the destination address and updates the header checksum incrementally (RFC 1624). */
  rewriteDstAddr(a: number): void {
    const old = this.dstAddr;
    this.setDstAddr(a);
    writeU16(this.buf, this.offset + CHECKSUM, adjust32(this.checksum, old, a >>> 0));
  }
  /**
   * TTL − 1 with the checksum updated incrementally (TTL and protocol share a word).
   * Returns false, changing nothing, when the TTL is already 0: the router must have
   * answered a TTL ≤ 1 with an ICMP time exceeded instead.
   */
  decrementTtl(): boolean {
    const o = this.offset + TTL;
    if (this.buf[o] === 0) return false;
    const oldWord = readU16(this.buf, o);
    this.buf[o] = this.buf[o]! - 1;
    writeU16(this.buf, this.offset + CHECKSUM, adjust16(this.checksum, oldWord, readU16(this.buf, o)));
    return true;
  }
}

/** A 20-byte IPv4 header (no options, not a fragment) and the length of what follows it. */
export interface Ipv4Repr {
  readonly srcAddr: number;
  readonly dstAddr: number;
  readonly protocol: number;
  readonly payloadLength: number;
  readonly ttl: number;
  readonly identification?: number;
  readonly dontFragment?: boolean;
  readonly dscp?: number;
  readonly ecn?: number;
}

/** Reads an attached packet's header into a Repr (options and fragment fields are not kept). */
export function parseIpv4Header(p: Ipv4Packet): Ipv4Repr {
  return {
    srcAddr: p.srcAddr, dstAddr: p.dstAddr, protocol: p.protocol, payloadLength: p.payloadLength, ttl: p.ttl,
    identification: p.identification, dontFragment: p.dontFragment, dscp: p.dscp, ecn: p.ecn,
  };
}

/** The whole datagram's length: header + payload. */
export function ipv4BufferLen(r: Ipv4Repr): number {
  return IPV4_MIN_HEADER_LENGTH + r.payloadLength;
}

/**
 * Writes a 20-byte header, checksum included, at `buf[offset]`; returns 20, or 0
 * (writing nothing) when the whole datagram (`ipv4BufferLen`) would not fit. The
 * caller writes the payload after it.
 */
export function emitIpv4(r: Ipv4Repr, buf: Uint8Array, offset: number): number {
  if (!isRange(buf, offset, ipv4BufferLen(r)) || r.payloadLength < 0 || ipv4BufferLen(r) > 0xffff) return 0;
  buf[offset + VER_IHL] = 0x45;
  buf[offset + TOS] = (((r.dscp ?? 0) & 0x3f) << 2) | ((r.ecn ?? 0) & 3);
  writeU16(buf, offset + TOTAL_LENGTH, ipv4BufferLen(r));
  writeU16(buf, offset + IDENT, r.identification ?? 0);
  writeU16(buf, offset + FLAGS_FRAG, r.dontFragment ? FLAG_DF : 0);
  buf[offset + TTL] = r.ttl;
  buf[offset + PROTOCOL] = r.protocol;
  writeU16(buf, offset + CHECKSUM, 0);
  writeU32(buf, offset + SRC, r.srcAddr);
  writeU32(buf, offset + DST, r.dstAddr);
  writeU16(buf, offset + CHECKSUM, internetChecksum(buf, offset, IPV4_MIN_HEADER_LENGTH));
  return IPV4_MIN_HEADER_LENGTH;
}
