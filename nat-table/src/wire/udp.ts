/**
 * UDP header view (RFC 768). A checksum of 0 means "none": it is valid, and every
 * rewrite leaves it 0; a computed 0 is sent as 0xffff. The view reads and rewrites in
 * place, never throws and allocates nothing per packet.
 */
import { readU16, writeU16 } from './addr.js';
import { L4Packet } from './l4.js';
import { isRange } from './status.js';
import type { AttachMode } from './ipv4.js';

export const UDP_HEADER_LENGTH = 8;
export type UdpStatus = 'ok' | 'truncated' | 'bad-udp-length';

const LENGTH = 4;

/**
 * After an 'ok' attach every accessor is valid in both modes (the 8-byte header is
 * always present). In 'embedded' mode (a quote in an ICMP error) `payload()` is what is
 * present of the quoted payload, and `verifyChecksum`/`fillChecksum` are meaningless
 * (the quote is incomplete); the rewrites still keep the quoted checksum right.
 */
export class UdpPacket extends L4Packet {
  protected readonly checksumOffset = 6;
  protected readonly zeroMeansNone = true;
  protected readonly protocolNumber = 17;

  /** 'full': 8 ≤ length field ≤ `length` (the IP payload). 'embedded': only the 8-byte header is needed. */
  attach(buf: Uint8Array, offset: number, length: number, mode: AttachMode = 'full'): UdpStatus {
    this.buf = buf;
    this.offset = 0;
    this.presentLength = 0;
    if (!isRange(buf, offset, length) || length < UDP_HEADER_LENGTH) return 'truncated';
    const len = readU16(buf, offset + LENGTH);
    if (mode === 'full') {
      if (len < UDP_HEADER_LENGTH || len > length) return 'bad-udp-length';
      this.presentLength = len;
    } else {
      this.presentLength = len >= UDP_HEADER_LENGTH && len < length ? len : length;
    }
    this.offset = offset;
    this.mode = mode;
    return 'ok';
  }

  /** The length field (header + data). */
  get length(): number { return readU16(this.buf, this.offset + LENGTH); }
  get payloadOffset(): number { return this.offset + UDP_HEADER_LENGTH; }
  get payloadLength(): number { return this.presentLength - UDP_HEADER_LENGTH; }
  /** The data present, as a subarray of the packet's buffer (not a copy). */
  payload(): Uint8Array { return this.buf.subarray(this.payloadOffset, this.offset + this.presentLength); }
}

export interface UdpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payloadLength: number;
}

/** Reads an attached datagram's header into a Repr. */
export function parseUdp(p: UdpPacket): UdpRepr {
  return { srcPort: p.srcPort, dstPort: p.dstPort, payloadLength: p.payloadLength };
}

/** The whole datagram's length: header + payload. */
export function udpBufferLen(r: UdpRepr): number {
  return UDP_HEADER_LENGTH + r.payloadLength;
}

/**
 * Writes the 8-byte header with checksum 0 ("none") at `buf[offset]`; returns 8, or 0
 * (writing nothing) when the datagram (`udpBufferLen`) would not fit. The caller writes
 * the payload after it and may then attach a view and `fillChecksum`.
 */
export function emitUdpHeader(r: UdpRepr, buf: Uint8Array, offset: number): number {
  const total = udpBufferLen(r);
  if (!isRange(buf, offset, total) || r.payloadLength < 0 || total > 0xffff) return 0;
  writeU16(buf, offset, r.srcPort);
  writeU16(buf, offset + 2, r.dstPort);
  writeU16(buf, offset + LENGTH, total);
  writeU16(buf, offset + 6, 0);
  return UDP_HEADER_LENGTH;
}

/**
 * Writes a whole datagram, header, `payload` (r.payloadLength bytes of it) and the
 * checksum for (srcAddr, dstAddr), at `buf[offset]`; returns its length, or 0 when it
 * does not fit or `payload` is too short. Off the hot path (it attaches a fresh view).
 */
export function emitUdp(r: UdpRepr, payload: Uint8Array, srcAddr: number, dstAddr: number, buf: Uint8Array, offset: number): number {
  if (payload.length < r.payloadLength || emitUdpHeader(r, buf, offset) === 0) return 0;
  buf.set(payload.subarray(0, r.payloadLength), offset + UDP_HEADER_LENGTH);
  const view = new UdpPacket();
  const total = udpBufferLen(r);
  if (view.attach(buf, offset, total) !== 'ok') return 0;
  view.fillChecksum(srcAddr, dstAddr);
  return total;
}
