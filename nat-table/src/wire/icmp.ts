/**
 * ICMPv4 view (RFC 792). Query messages carry an identifier that the NAT treats like a
 * port (RFC 5508); error messages quote the offending IP header and at least 8 bytes of
 * its payload, which the NAT translates too. Builders for echo replies and errors
 * write into a caller's buffer. The view reads and rewrites in place, never throws and
 * allocates nothing per packet; it does not decide whether an error may be sent
 * (RFC 1812 4.3.2.7 is the router's business).
 */
import { readU16, readU32, writeU16, writeU32 } from './addr.js';
import { adjust16, adjust32, internetChecksum } from './checksum.js';
import { emitIpv4, IPV4_MIN_HEADER_LENGTH } from './ipv4.js';
import { isRange } from './status.js';

export const ICMP_TYPE = {
  echoReply: 0, destinationUnreachable: 3, sourceQuench: 4, redirect: 5, echoRequest: 8,
  timeExceeded: 11, parameterProblem: 12, timestampRequest: 13, timestampReply: 14,
  informationRequest: 15, informationReply: 16, addressMaskRequest: 17, addressMaskReply: 18,
} as const;
export const ICMP_UNREACHABLE_CODE = {
  net: 0, host: 1, protocol: 2, port: 3, fragmentationNeeded: 4, adminProhibited: 13,
} as const;
export const ICMP_HEADER_LENGTH = 8;
export type IcmpStatus = 'ok' | 'truncated';

const TYPE = 0, CODE = 1, CHECKSUM = 2, IDENT = 4, SEQ = 6, REST = 4;
/** The IPv4 protocol number of ICMP. */
const PROTOCOL_ICMP = 1;

/** Bit t set: type t quotes an offending packet (3, 4, 5, 11, 12). */
const ERROR_TYPE_BITS = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 11) | (1 << 12);
/** Bit t set: type t is a query or its reply with identifier and sequence (0, 8, 13–18). */
const QUERY_TYPE_BITS = (1 << 0) | (1 << 8) | (1 << 13) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 17) | (1 << 18);

/**
 * After 'ok' every accessor is in bounds; `identifier`/`sequence` mean something for
 * queries, `embedded…` for errors (the quote may be shorter than an IP header: attach an
 * `Ipv4Packet` in 'embedded' mode to it to find out).
 */
export class IcmpPacket {
  buf: Uint8Array = new Uint8Array(0);
  offset = 0;
  /** The whole message's length (the IP payload). */
  length = 0;

  attach(buf: Uint8Array, offset: number, length: number): IcmpStatus {
    this.buf = buf;
    this.offset = 0;
    this.length = 0;
    if (!isRange(buf, offset, length) || length < ICMP_HEADER_LENGTH) return 'truncated';
    this.offset = offset;
    this.length = length;
    return 'ok';
  }

  get type(): number { return this.buf[this.offset + TYPE]!; }
  get code(): number { return this.buf[this.offset + CODE]!; }
  get checksum(): number { return readU16(this.buf, this.offset + CHECKSUM); }
  get isError(): boolean { const t = this.type; return t < 32 && ((ERROR_TYPE_BITS >>> t) & 1) === 1; }
  get isQuery(): boolean { const t = this.type; return t < 32 && ((QUERY_TYPE_BITS >>> t) & 1) === 1; }
  /** Queries: the identifier (bytes 4–5). */
  get identifier(): number { return readU16(this.buf, this.offset + IDENT); }
  /** Queries: the sequence number (bytes 6–7). */
  get sequence(): number { return readU16(this.buf, this.offset + SEQ); }
  /** Bytes 4–7 as one number: unused, a pointer (12) or a next-hop MTU (3/4) in errors. */
  get rest(): number { return readU32(this.buf, this.offset + REST); }
  /** Destination unreachable, fragmentation needed (RFC 1191): the next-hop MTU. */
  get nextHopMtu(): number { return readU16(this.buf, this.offset + SEQ); }
  /** Errors: where the quoted packet starts and how many of its bytes are present. */
  get embeddedOffset(): number { return this.offset + ICMP_HEADER_LENGTH; }
  get embeddedLength(): number { return this.length - ICMP_HEADER_LENGTH; }
  /** Errors: the quoted packet, a subarray of the message (not a copy). */
  embedded(): Uint8Array { return this.buf.subarray(this.embeddedOffset, this.offset + this.length); }
  /** Queries: the data after the 8-byte header, a subarray. */
  payload(): Uint8Array { return this.embedded(); }

  /** Whether the checksum over the whole message is right (ICMPv4 has no pseudo-header). */
  verifyChecksum(): boolean {
    return internetChecksum(this.buf, this.offset, this.length) === 0;
  }
  /**
   * Recomputes the checksum over the whole message. This is what the NAT uses after
   * translating the packet quoted in an error: errors are rare, and the quote changes in
   * several places (address, ports, its own checksums).
   */
  fillChecksum(): void {
    writeU16(this.buf, this.offset + CHECKSUM, 0);
    writeU16(this.buf, this.offset + CHECKSUM, internetChecksum(this.buf, this.offset, this.length));
  }
  /** Sets the query identifier, updating the checksum incrementally (RFC 1624 eqn. 3). */
  rewriteIdentifier(id: number): void {
    const old = this.identifier;
    writeU16(this.buf, this.offset + IDENT, id);
    this.adjustChecksum16(old, id & 0xffff);
  }
  /**
   * Incremental alternative to `fillChecksum`: folds a change of one 16-bit word of the
   * message (word-aligned from the message start, e.g. anywhere in the quote, whose
   * offset 8 is even) into the checksum. The caller has already written the word.
   */
  adjustChecksum16(oldWord: number, newWord: number): void {
    writeU16(this.buf, this.offset + CHECKSUM, adjust16(this.checksum, oldWord, newWord));
  }
  /** `adjustChecksum16` for a word-aligned 32-bit field (e.g. a quoted address). */
  adjustChecksum32(oldValue: number, newValue: number): void {
    writeU16(this.buf, this.offset + CHECKSUM, adjust32(this.checksum, oldValue >>> 0, newValue >>> 0));
  }
}

/** An ICMP message: type, code, bytes 4–7 (`rest`: identifier << 16 | sequence for queries) and data. */
export interface IcmpRepr {
  readonly type: number;
  readonly code: number;
  readonly rest: number;
  readonly data: Uint8Array;
}

/** Reads an attached message into a Repr (data copied). */
export function parseIcmp(p: IcmpPacket): IcmpRepr {
  return { type: p.type, code: p.code, rest: p.rest, data: p.embedded().slice() };
}

/** The message's length: 8 + data. */
export function icmpBufferLen(r: IcmpRepr): number {
  return ICMP_HEADER_LENGTH + r.data.length;
}

/** Writes the whole message with its checksum at `buf[offset]`; returns its length, or 0 when it does not fit. */
export function emitIcmp(r: IcmpRepr, buf: Uint8Array, offset: number): number {
  const n = icmpBufferLen(r);
  if (!isRange(buf, offset, n)) return 0;
  buf[offset + TYPE] = r.type;
  buf[offset + CODE] = r.code;
  writeU16(buf, offset + CHECKSUM, 0);
  writeU32(buf, offset + REST, r.rest);
  buf.set(r.data, offset + ICMP_HEADER_LENGTH);
  writeU16(buf, offset + CHECKSUM, internetChecksum(buf, offset, n));
  return n;
}

/**
 * Turns an echo request into its reply in place: type 8 → 0, code 0, checksum updated
 * incrementally; identifier, sequence and data stay. The caller swaps the IP addresses.
 */
export function echoRequestToReply(p: IcmpPacket): void {
  const oldWord = readU16(p.buf, p.offset);
  writeU16(p.buf, p.offset, ICMP_TYPE.echoReply << 8);
  p.adjustChecksum16(oldWord, ICMP_TYPE.echoReply << 8);
}

/**
 * Writes the reply to the echo request `request` (its identifier, sequence and data)
 * at `buf[offset]`; returns its length, or 0 when `request` is not an echo request or
 * the reply does not fit. `buf` may not overlap the request.
 */
export function emitEchoReply(request: IcmpPacket, buf: Uint8Array, offset: number): number {
  if (request.type !== ICMP_TYPE.echoRequest || !isRange(buf, offset, request.length)) return 0;
  buf.set(request.buf.subarray(request.offset, request.offset + request.length), offset);
  buf[offset + TYPE] = ICMP_TYPE.echoReply;
  buf[offset + CODE] = 0;
  writeU16(buf, offset + CHECKSUM, 0);
  writeU16(buf, offset + CHECKSUM, internetChecksum(buf, offset, request.length));
  return request.length;
}

/** RFC 1812 4.3.2.3: an ICMP error's IP datagram is at most 576 bytes. */
export const ICMP_ERROR_MAX_DATAGRAM = 576;
/** The most of the offending packet an error can quote: 576 − 20 (IP) − 8 (ICMP) = 548. */
export const ICMP_ERROR_MAX_QUOTE = ICMP_ERROR_MAX_DATAGRAM - IPV4_MIN_HEADER_LENGTH - ICMP_HEADER_LENGTH;

export interface IcmpErrorRequest {
  readonly type: number;
  readonly code: number;
  /** Bytes 4–7 of the error (e.g. the next-hop MTU in the low 16 bits for code 4, the pointer << 24 for type 12). */
  readonly rest?: number;
  /** The gateway address the error comes from. */
  readonly srcAddr: number;
  /** The offending IPv4 packet (header first) at `offendingOffset`, `offendingLength` bytes of it present. */
  readonly offending: Uint8Array;
  readonly offendingOffset: number;
  readonly offendingLength: number;
}

/** The IP datagram length `emitIcmpError` writes for an offending packet of `offendingLength` bytes. */
export function icmpErrorBufferLen(offendingLength: number): number {
  return IPV4_MIN_HEADER_LENGTH + ICMP_HEADER_LENGTH + Math.min(Math.max(offendingLength, 0), ICMP_ERROR_MAX_QUOTE);
}

/**
 * Writes IPv4 + ICMP error at `out[offset]`, addressed to the offending packet's source,
 * quoting its header and as much of the rest as fits in 576 bytes (RFC 1812 4.3.2.3:
 * at least the header + 8 bytes, which any packet of ≤ 548 bytes of header + 8 allows).
 * Returns the IP datagram length, or 0 when the offending range holds no IPv4 header
 * or `out` lacks room (`icmpErrorBufferLen`). The caller checks the offending packet is
 * not itself an ICMP error, a non-first fragment, or to/from a broadcast (RFC 1812
 * 4.3.2.7). `out` may not overlap the offending packet.
 */
export function emitIcmpError(r: IcmpErrorRequest, out: Uint8Array, offset: number): number {
  const o = r.offendingOffset;
  const src = r.offending;
  if (!isRange(src, o, r.offendingLength) || r.offendingLength < IPV4_MIN_HEADER_LENGTH) return 0;
  const total = icmpErrorBufferLen(r.offendingLength);
  if (!isRange(out, offset, total)) return 0;
  const quote = total - IPV4_MIN_HEADER_LENGTH - ICMP_HEADER_LENGTH;
  const dstAddr = readU32(src, o + 12);
  const icmpLength = ICMP_HEADER_LENGTH + quote;
  emitIpv4({ srcAddr: r.srcAddr, dstAddr, protocol: PROTOCOL_ICMP, payloadLength: icmpLength, ttl: 64 }, out, offset);
  const ic = offset + IPV4_MIN_HEADER_LENGTH;
  out[ic + TYPE] = r.type;
  out[ic + CODE] = r.code;
  writeU16(out, ic + CHECKSUM, 0);
  writeU32(out, ic + REST, r.rest ?? 0);
  out.set(src.subarray(o, o + quote), ic + ICMP_HEADER_LENGTH);
  writeU16(out, ic + CHECKSUM, internetChecksum(out, ic, icmpLength));
  return total;
}
