/** TCP header view (RFC 793). Options are skipped via the data offset. */
import { readU16, readU32 } from './addr.js';
import { L4Packet } from './l4.js';
import type { AttachMode } from './ipv4.js';

export const TCP_MIN_HEADER_LENGTH = 20;
export const TCP_FLAG = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20 } as const;
export type TcpStatus = 'ok' | 'truncated' | 'bad-data-offset';

export class TcpPacket extends L4Packet {
  protected readonly checksumOffset = 16;
  protected readonly zeroMeansNone = false;
  protected readonly protocolNumber = 6;

  /**
   * 'full': 20 ≤ data offset ≤ bytes present. 'embedded' (ICMP quote): 8 bytes suffice;
   * then only ports and seqNumber are valid, and the checksum only if `hasChecksumField`.
   */
  attach(buf: Uint8Array, offset: number, length: number, mode: AttachMode = 'full'): TcpStatus {
    this.buf = buf;
    this.offset = offset;
    this.presentLength = 0;
    if (offset < 0 || offset + length > buf.length) return 'truncated';
    if (mode === 'embedded') {
      if (length < 8) return 'truncated';
      this.presentLength = length;
      return 'ok';
    }
    if (length < TCP_MIN_HEADER_LENGTH) return 'truncated';
    const hl = (buf[offset + 12]! >>> 4) * 4;
    if (hl < TCP_MIN_HEADER_LENGTH || hl > length) return 'bad-data-offset';
    this.presentLength = length;
    return 'ok';
  }

  get seqNumber(): number { return readU32(this.buf, this.offset + 4); }
  get ackNumber(): number { return readU32(this.buf, this.offset + 8); }
  get headerLength(): number { return (this.buf[this.offset + 12]! >>> 4) * 4; }
  get flags(): number { return this.buf[this.offset + 13]!; }
  get fin(): boolean { return (this.flags & TCP_FLAG.fin) !== 0; }
  get syn(): boolean { return (this.flags & TCP_FLAG.syn) !== 0; }
  get rst(): boolean { return (this.flags & TCP_FLAG.rst) !== 0; }
  get psh(): boolean { return (this.flags & TCP_FLAG.psh) !== 0; }
  get ack(): boolean { return (this.flags & TCP_FLAG.ack) !== 0; }
  get urg(): boolean { return (this.flags & TCP_FLAG.urg) !== 0; }
  get window(): number { return readU16(this.buf, this.offset + 14); }
  get urgentPointer(): number { return readU16(this.buf, this.offset + 18); }
  get payloadOffset(): number { return this.offset + this.headerLength; }
  get payloadLength(): number { return this.presentLength - this.headerLength; }
  payload(): Uint8Array { return this.buf.subarray(this.payloadOffset, this.offset + this.presentLength); }
}
