/** UDP header view (RFC 768). A checksum of 0 means "none" and stays 0. */
import { readU16, writeU16 } from './addr.js';
import { L4Packet } from './l4.js';
import type { AttachMode } from './ipv4.js';

export const UDP_HEADER_LENGTH = 8;
export type UdpStatus = 'ok' | 'truncated' | 'bad-udp-length';

export class UdpPacket extends L4Packet {
  protected readonly checksumOffset = 6;
  protected readonly zeroMeansNone = true;
  protected readonly protocolNumber = 17;

  /** 'full': 8 ≤ length field ≤ bytes present. 'embedded': only the 8-byte header is needed. */
  attach(buf: Uint8Array, offset: number, length: number, mode: AttachMode = 'full'): UdpStatus {
    this.buf = buf;
    this.offset = offset;
    this.presentLength = 0;
    if (length < UDP_HEADER_LENGTH || offset < 0 || offset + length > buf.length) return 'truncated';
    const len = readU16(buf, offset + 4);
    if (mode === 'full' && (len < UDP_HEADER_LENGTH || len > length)) return 'bad-udp-length';
    this.presentLength = mode === 'full' ? len : length;
    return 'ok';
  }

  get length(): number { return readU16(this.buf, this.offset + 4); }
  get payloadOffset(): number { return this.offset + UDP_HEADER_LENGTH; }
  get payloadLength(): number { return this.presentLength - UDP_HEADER_LENGTH; }
  payload(): Uint8Array { return this.buf.subarray(this.payloadOffset, this.offset + this.presentLength); }
}

export interface UdpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payloadLength: number;
}

/** Writes the 8-byte header (checksum 0) at `offset`; the caller copies the payload after it and may call fillChecksum. */
export function emitUdpHeader(r: UdpRepr, buf: Uint8Array, offset: number): number {
  writeU16(buf, offset, r.srcPort);
  writeU16(buf, offset + 2, r.dstPort);
  writeU16(buf, offset + 4, UDP_HEADER_LENGTH + r.payloadLength);
  writeU16(buf, offset + 6, 0);
  return UDP_HEADER_LENGTH;
}
