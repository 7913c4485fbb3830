/**
 * TCP header view (RFC 793). Options are skipped by the data offset and exposed raw;
 * this view does not parse them, nor track connection state (the NAT table does). It
 * reads and rewrites in place, never throws and allocates nothing per packet.
 */
import { readU16, readU32, writeU16, writeU32 } from './addr.js';
import { L4Packet } from './l4.js';
import { isRange } from './status.js';
import type { AttachMode } from './ipv4.js';

export const TCP_MIN_HEADER_LENGTH = 20;
export const TCP_MAX_HEADER_LENGTH = 60;
/** The bytes an ICMP error must quote at least (RFC 792): ports and sequence number. */
export const TCP_EMBEDDED_MIN_LENGTH = 8;
export const TCP_FLAG = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20, ece: 0x40, cwr: 0x80 } as const;
export type TcpStatus = 'ok' | 'truncated' | 'bad-data-offset';

const SEQ = 4, ACK = 8, DATA_OFFSET = 12, FLAGS = 13, WINDOW = 14, URGENT = 18;

/**
 * After a 'full' attach every accessor is valid. After an 'embedded' attach (a quote in
 * an ICMP error, maybe only 8 bytes) srcPort, dstPort and seqNumber are valid; a field
 * past the bytes present reads as 0 (ackNumber needs 12 bytes, dataOffset 13, flags 14,
 * window 16, checksum 18 — see `hasChecksumField` —, urgentPointer 20), and
 * verifyChecksum/fillChecksum are meaningless.
 */
export class TcpPacket extends L4Packet {
  protected readonly checksumOffset = 16;
  protected readonly zeroMeansNone = false;
  protected readonly protocolNumber = 6;
  /** Where the payload starts, from the header start: the data offset, clamped to what is present. */
  private payloadStart = 0;

  /**
   * 'full': 20 ≤ data offset × 4 ≤ `length` (the IP payload, which is the segment).
   * 'embedded': 8 bytes suffice.
   */
  attach(buf: Uint8Array, offset: number, length: number, mode: AttachMode = 'full'): TcpStatus {
    this.buf = buf;
    this.offset = 0;
    this.presentLength = 0;
    this.payloadStart = 0;
    if (!isRange(buf, offset, length)) return 'truncated';
    if (mode === 'embedded') {
      if (length < TCP_EMBEDDED_MIN_LENGTH) return 'truncated';
      const hl = length > DATA_OFFSET ? (buf[offset + DATA_OFFSET]! >>> 4) * 4 : length;
      this.payloadStart = hl < length ? hl : length;
    } else {
      if (length < TCP_MIN_HEADER_LENGTH) return 'truncated';
      const hl = (buf[offset + DATA_OFFSET]! >>> 4) * 4;
      if (hl < TCP_MIN_HEADER_LENGTH || hl > length) return 'bad-data-offset';
      this.payloadStart = hl;
    }
    this.offset = offset;
    this.presentLength = length;
    this.mode = mode;
    return 'ok';
  }

  get seqNumber(): number { return readU32(this.buf, this.offset + SEQ); }
  get ackNumber(): number { return this.presentLength >= ACK + 4 ? readU32(this.buf, this.offset + ACK) : 0; }
  /** The data offset field, in 32-bit words. */
  get dataOffset(): number { return this.presentLength > DATA_OFFSET ? this.buf[this.offset + DATA_OFFSET]! >>> 4 : 0; }
  /** The header length in bytes (data offset × 4), options included. */
  get headerLength(): number { return this.dataOffset * 4; }
  get flags(): number { return this.presentLength > FLAGS ? this.buf[this.offset + FLAGS]! : 0; }
  get fin(): boolean { return (this.flags & TCP_FLAG.fin) !== 0; }
  get syn(): boolean { return (this.flags & TCP_FLAG.syn) !== 0; }
  get rst(): boolean { return (this.flags & TCP_FLAG.rst) !== 0; }
  get psh(): boolean { return (this.flags & TCP_FLAG.psh) !== 0; }
  get ack(): boolean { return (this.flags & TCP_FLAG.ack) !== 0; }
  get urg(): boolean { return (this.flags & TCP_FLAG.urg) !== 0; }
  get window(): number { return this.presentLength >= WINDOW + 2 ? readU16(this.buf, this.offset + WINDOW) : 0; }
  get urgentPointer(): number { return this.presentLength >= URGENT + 2 ? readU16(this.buf, this.offset + URGENT) : 0; }
  get payloadOffset(): number { return this.offset + this.payloadStart; }
  get payloadLength(): number { return this.presentLength - this.payloadStart; }
  /** The segment data present, as a subarray of the packet's buffer (not a copy). */
  payload(): Uint8Array { return this.buf.subarray(this.payloadOffset, this.offset + this.presentLength); }
  /** The raw options (between byte 20 and the data offset), a subarray; empty without options. */
  options(): Uint8Array {
    const start = this.payloadStart < TCP_MIN_HEADER_LENGTH ? this.payloadStart : TCP_MIN_HEADER_LENGTH;
    return this.buf.subarray(this.offset + start, this.offset + this.payloadStart);
  }
}

export interface TcpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seqNumber: number;
  readonly ackNumber: number;
  /** The flags byte (`TCP_FLAG` bits). */
  readonly flags: number;
  readonly window: number;
  readonly urgentPointer?: number;
  /** Raw options, padded with zero bytes (end of list) to a multiple of 4; at most 40 bytes. */
  readonly options?: Uint8Array;
  readonly payloadLength: number;
}

/** Reads a fully attached segment's header into a Repr (options copied). */
export function parseTcp(p: TcpPacket): TcpRepr {
  const options = p.options();
  const base = {
    srcPort: p.srcPort, dstPort: p.dstPort, seqNumber: p.seqNumber, ackNumber: p.ackNumber, flags: p.flags,
    window: p.window, urgentPointer: p.urgentPointer, payloadLength: p.payloadLength,
  };
  return options.length > 0 ? { ...base, options: options.slice() } : base;
}

/** The header length `emitTcpHeader` writes: 20 + options rounded up to 4 bytes. */
export function tcpHeaderLen(r: TcpRepr): number {
  return TCP_MIN_HEADER_LENGTH + (((r.options?.length ?? 0) + 3) & ~3);
}

/** The whole segment's length: header + payload. */
export function tcpBufferLen(r: TcpRepr): number {
  return tcpHeaderLen(r) + r.payloadLength;
}

/**
 * Writes the header (checksum 0, options zero-padded) at `buf[offset]`; returns its
 * length, or 0 (writing nothing) when the segment (`tcpBufferLen`) would not fit or the
 * options exceed 40 bytes. The caller writes the payload and may then `fillChecksum`.
 */
export function emitTcpHeader(r: TcpRepr, buf: Uint8Array, offset: number): number {
  const hl = tcpHeaderLen(r);
  if (hl > TCP_MAX_HEADER_LENGTH || r.payloadLength < 0 || !isRange(buf, offset, tcpBufferLen(r))) return 0;
  buf.fill(0, offset, offset + hl);
  writeU16(buf, offset, r.srcPort);
  writeU16(buf, offset + 2, r.dstPort);
  writeU32(buf, offset + SEQ, r.seqNumber);
  writeU32(buf, offset + ACK, r.ackNumber);
  buf[offset + DATA_OFFSET] = (hl / 4) << 4;
  buf[offset + FLAGS] = r.flags;
  writeU16(buf, offset + WINDOW, r.window);
  writeU16(buf, offset + URGENT, r.urgentPointer ?? 0);
  if (r.options) buf.set(r.options, offset + TCP_MIN_HEADER_LENGTH);
  return hl;
}

/**
 * Writes a whole segment, header, `payload` (r.payloadLength bytes of it) and the
 * checksum for (srcAddr, dstAddr); returns its length, or 0 when it does not fit or
 * `payload` is too short. Off the hot path (it attaches a fresh view).
 */
export function emitTcp(r: TcpRepr, payload: Uint8Array, srcAddr: number, dstAddr: number, buf: Uint8Array, offset: number): number {
  if (payload.length < r.payloadLength) return 0;
  const hl = emitTcpHeader(r, buf, offset);
  if (hl === 0) return 0;
  buf.set(payload.subarray(0, r.payloadLength), offset + hl);
  const view = new TcpPacket();
  const total = hl + r.payloadLength;
  if (view.attach(buf, offset, total) !== 'ok') return 0;
  view.fillChecksum(srcAddr, dstAddr);
  return total;
}
