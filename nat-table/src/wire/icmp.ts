/**
 * ICMPv4 view (RFC 792): queries carry an identifier the NAT treats as a port;
 * errors quote the offending IP header + at least 8 bytes (RFC 5508 translates the
 * quote too). Builders for echo replies and errors write into a caller's buffer.
 */
import { readU16, writeU16, writeU32 } from './addr.js';
import { adjust16, internetChecksum } from './checksum.js';
import { emitIpv4, IPV4_MIN_HEADER_LENGTH } from './ipv4.js';

export const ICMP_TYPE = {
  echoReply: 0, destinationUnreachable: 3, sourceQuench: 4, redirect: 5, echoRequest: 8,
  timeExceeded: 11, parameterProblem: 12, timestampRequest: 13, timestampReply: 14,
} as const;
export const ICMP_UNREACHABLE_CODE = {
  net: 0, host: 1, protocol: 2, port: 3, fragmentationNeeded: 4, adminProhibited: 13,
} as const;
export const ICMP_HEADER_LENGTH = 8;
export type IcmpStatus = 'ok' | 'truncated';

const ERROR_TYPES = new Set<number>([3, 4, 5, 11, 12]);
const QUERY_TYPES = new Set<number>([0, 8, 13, 14, 15, 16, 17, 18]);

export class IcmpPacket {
  buf: Uint8Array = new Uint8Array(0);
  offset = 0;
  length = 0;

  attach(buf: Uint8Array, offset: number, length: number): IcmpStatus {
    this.buf = buf;
    this.offset = offset;
    this.length = 0;
    if (length < ICMP_HEADER_LENGTH || offset < 0 || offset + length > buf.length) return 'truncated';
    this.length = length;
    return 'ok';
  }

  get type(): number { return this.buf[this.offset]!; }
  get code(): number { return this.buf[this.offset + 1]!; }
  get checksum(): number { return readU16(this.buf, this.offset + 2); }
  get isError(): boolean { return ERROR_TYPES.has(this.type); }
  get isQuery(): boolean { return QUERY_TYPES.has(this.type); }
  /** Query messages: the identifier (bytes 4–5) and sequence (6–7). */
  get identifier(): number { return readU16(this.buf, this.offset + 4); }
  get sequence(): number { return readU16(this.buf, this.offset + 6); }
  /** Errors: where the quoted packet starts and how many bytes of it are present. */
  get embeddedOffset(): number { return this.offset + ICMP_HEADER_LENGTH; }
  get embeddedLength(): number { return this.length - ICMP_HEADER_LENGTH; }
  embedded(): Uint8Array { return this.buf.subarray(this.embeddedOffset, this.offset + this.length); }

  verifyChecksum(): boolean {
    return internetChecksum(this.buf, this.offset, this.length) === 0;
  }
  fillChecksum(): void {
    writeU16(this.buf, this.offset + 2, 0);
    writeU16(this.buf, this.offset + 2, internetChecksum(this.buf, this.offset, this.length));
  }
  /** Sets the query identifier, updating the checksum incrementally (ICMPv4 has no pseudo-header). */
  rewriteIdentifier(id: number): void {
    const old = this.identifier;
    writeU16(this.buf, this.offset + 4, id);
    writeU16(this.buf, this.offset + 2, adjust16(this.checksum, old, id));
  }
}

/** RFC 1812 4.3.2.3: an ICMP error's IP datagram is at most 576 bytes. */
export const ICMP_ERROR_MAX_DATAGRAM = 576;

export interface IcmpErrorRequest {
  readonly type: number;
  readonly code: number;
  /** Bytes 4–7 of the error (e.g. next-hop MTU for code 4 in the low 16 bits). */
  readonly rest?: number;
  /** The gateway address the error comes from. */
  readonly srcAddr: number;
  /** The offending IPv4 packet (header first) and its length present. */
  readonly offending: Uint8Array;
  readonly offendingOffset: number;
  readonly offendingLength: number;
}

/**
 * Builds IPv4 + ICMP error at `offset` of `out`, addressed to the offending packet's
 * source, quoting its header and as much of its data as fits in 576 bytes. Returns the
 * IPv4 datagram length. The caller checks the offending packet is not itself an ICMP
 * error, a fragment other than the first, or to/from a broadcast (RFC 1812 4.3.2.7).
 */
export function emitIcmpError(r: IcmpErrorRequest, out: Uint8Array, offset: number): number {
  const o = r.offendingOffset;
  const src = r.offending;
  const dstAddr = ((src[o + 12]! << 24) | (src[o + 13]! << 16) | (src[o + 14]! << 8) | src[o + 15]!) >>> 0;
  const maxQuote = ICMP_ERROR_MAX_DATAGRAM - IPV4_MIN_HEADER_LENGTH - ICMP_HEADER_LENGTH;
  const quote = Math.min(r.offendingLength, maxQuote);
  const icmpLength = ICMP_HEADER_LENGTH + quote;
  emitIpv4({ srcAddr: r.srcAddr, dstAddr, protocol: 1, payloadLength: icmpLength, ttl: 64 }, out, offset);
  const ic = offset + IPV4_MIN_HEADER_LENGTH;
  out[ic] = r.type;
  out[ic + 1] = r.code;
  writeU16(out, ic + 2, 0);
  writeU32(out, ic + 4, r.rest ?? 0);
  out.set(src.subarray(o, o + quote), ic + ICMP_HEADER_LENGTH);
  writeU16(out, ic + 2, internetChecksum(out, ic, icmpLength));
  return IPV4_MIN_HEADER_LENGTH + icmpLength;
}

/**
 * Turns an echo request into its reply in place: type 8 → 0, checksum updated
 * incrementally. The caller swaps the IP addresses.
 */
export function echoRequestToReply(p: IcmpPacket): void {
  const oldWord = readU16(p.buf, p.offset);
  p.buf[p.offset] = ICMP_TYPE.echoReply;
  writeU16(p.buf, p.offset + 2, adjust16(p.checksum, oldWord, readU16(p.buf, p.offset)));
}
