/**
 * Ethernet II frame view. One 802.1Q tag is skipped (its VLAN id kept); a second tag
 * (QinQ) is refused. The view is re-pointed per frame with `attach`; it never throws.
 */
import { readU16 } from './addr.js';

export const ETHERTYPE = { ipv4: 0x0800, arp: 0x0806, vlan: 0x8100, qinq: 0x88a8 } as const;
export const ETHERNET_HEADER_LENGTH = 14;
export const BROADCAST_MAC = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

const DST = 0;
const SRC = 6;
const TYPE = 12;

export type EthernetStatus = 'ok' | 'truncated' | 'vlan-unsupported';

export class EthernetFrame {
  buf: Uint8Array = new Uint8Array(0);
  offset = 0;
  length = 0;
  /** Inner ethertype (after a skipped 802.1Q tag). */
  etherType = 0;
  /** VLAN id of a skipped 802.1Q tag, -1 when untagged. */
  vlanId = -1;
  headerLength = ETHERNET_HEADER_LENGTH;

  /** Points the view at `buf[offset, offset+length)`; after 'ok' every accessor is in bounds. */
  attach(buf: Uint8Array, offset: number, length: number): EthernetStatus {
    this.buf = buf;
    this.offset = offset;
    this.length = length;
    if (length < ETHERNET_HEADER_LENGTH || offset < 0 || offset + length > buf.length) return 'truncated';
    let type = readU16(buf, offset + TYPE);
    this.vlanId = -1;
    this.headerLength = ETHERNET_HEADER_LENGTH;
    if (type === ETHERTYPE.qinq) return 'vlan-unsupported';
    if (type === ETHERTYPE.vlan) {
      if (length < ETHERNET_HEADER_LENGTH + 4) return 'truncated';
      this.vlanId = readU16(buf, offset + 14) & 0x0fff;
      type = readU16(buf, offset + 16);
      if (type === ETHERTYPE.vlan || type === ETHERTYPE.qinq) return 'vlan-unsupported';
      this.headerLength = ETHERNET_HEADER_LENGTH + 4;
    }
    this.etherType = type;
    return 'ok';
  }

  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  get payloadLength(): number {
    return this.length - this.headerLength;
  }
  payload(): Uint8Array {
    return this.buf.subarray(this.payloadOffset, this.offset + this.length);
  }
  dst(): Uint8Array {
    return this.buf.subarray(this.offset + DST, this.offset + DST + 6);
  }
  src(): Uint8Array {
    return this.buf.subarray(this.offset + SRC, this.offset + SRC + 6);
  }
  isBroadcast(): boolean {
    const b = this.buf, o = this.offset;
    return (b[o]! & b[o + 1]! & b[o + 2]! & b[o + 3]! & b[o + 4]! & b[o + 5]!) === 0xff;
  }
  /** Group bit of the destination (broadcast or multicast). */
  isGroup(): boolean {
    return (this.buf[this.offset]! & 1) === 1;
  }
  dstEquals(mac: Uint8Array): boolean {
    const b = this.buf, o = this.offset;
    return b[o] === mac[0] && b[o + 1] === mac[1] && b[o + 2] === mac[2] && b[o + 3] === mac[3] && b[o + 4] === mac[4] && b[o + 5] === mac[5];
  }
  setDst(mac: Uint8Array): void {
    this.buf.set(mac.subarray(0, 6), this.offset + DST);
  }
  setSrc(mac: Uint8Array): void {
    this.buf.set(mac.subarray(0, 6), this.offset + SRC);
  }
}

export interface EthernetRepr {
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  readonly etherType: number;
}

/** Writes a 14-byte untagged header at `offset`; returns 14. */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array, offset: number): number {
  buf.set(repr.dst.subarray(0, 6), offset);
  buf.set(repr.src.subarray(0, 6), offset + 6);
  buf[offset + 12] = repr.etherType >>> 8;
  buf[offset + 13] = repr.etherType & 0xff;
  return ETHERNET_HEADER_LENGTH;
}
