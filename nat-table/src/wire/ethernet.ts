/**
 * Ethernet II frame view. One 802.1Q tag is skipped (its VLAN id kept, `etherType` is
 * the inner type); a second tag (QinQ, 0x88a8 or a second 0x8100) is refused. The view
 * is re-pointed per frame with `attach` and reused, so it allocates nothing per frame;
 * it never throws and, after 'ok', never reads outside the frame. It does not check the
 * FCS (the link has stripped it) nor the minimum frame size.
 */
import { readU16, writeU16 } from './addr.js';
import { isRange } from './status.js';

export const ETHERTYPE = { ipv4: 0x0800, arp: 0x0806, vlan: 0x8100, qinq: 0x88a8 } as const;
export const ETHERNET_HEADER_LENGTH = 14;
export const VLAN_TAG_LENGTH = 4;
export const BROADCAST_MAC: Uint8Array = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

const DST = 0;
const SRC = 6;
const TYPE = 12;
/** Inside an 802.1Q tag: the TCI (PCP, DEI, VLAN id) then the inner ethertype. */
const TAG_TCI = 14;
const TAG_TYPE = 16;

export type EthernetStatus = 'ok' | 'truncated' | 'vlan-unsupported';

export class EthernetFrame {
  buf: Uint8Array = new Uint8Array(0);
  offset = 0;
  length = 0;
  /** Inner ethertype (after a skipped 802.1Q tag). */
  etherType = 0;
  /** VLAN id of a skipped 802.1Q tag, -1 when untagged. */
  vlanId = -1;
  /** 14, or 18 with an 802.1Q tag. */
  headerLength = ETHERNET_HEADER_LENGTH;

  /** Points the view at `buf[offset, offset+length)`; after 'ok' every accessor is in bounds. */
  attach(buf: Uint8Array, offset: number, length: number): EthernetStatus {
    this.buf = buf;
    this.offset = 0;
    this.length = 0;
    this.etherType = 0;
    this.vlanId = -1;
    this.headerLength = ETHERNET_HEADER_LENGTH;
    if (!isRange(buf, offset, length) || length < ETHERNET_HEADER_LENGTH) return 'truncated';
    let type = readU16(buf, offset + TYPE);
    if (type === ETHERTYPE.qinq) return 'vlan-unsupported';
    let vlanId = -1;
    let headerLength = ETHERNET_HEADER_LENGTH;
    if (type === ETHERTYPE.vlan) {
      if (length < ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH) return 'truncated';
      vlanId = readU16(buf, offset + TAG_TCI) & 0x0fff;
      type = readU16(buf, offset + TAG_TYPE);
      if (type === ETHERTYPE.vlan || type === ETHERTYPE.qinq) return 'vlan-unsupported';
      headerLength += VLAN_TAG_LENGTH;
    }
    this.offset = offset;
    this.length = length;
    this.etherType = type;
    this.vlanId = vlanId;
    this.headerLength = headerLength;
    return 'ok';
  }

  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  get payloadLength(): number {
    return this.length - this.headerLength;
  }
  /** The bytes after the header, as a subarray of the frame's buffer (not a copy). */
  payload(): Uint8Array {
    return this.buf.subarray(this.payloadOffset, this.offset + this.length);
  }
  /** Destination MAC, a 6-byte subarray of the frame (writes go to the frame). */
  dst(): Uint8Array {
    return this.buf.subarray(this.offset + DST, this.offset + DST + 6);
  }
  /** Source MAC, a 6-byte subarray of the frame. */
  src(): Uint8Array {
    return this.buf.subarray(this.offset + SRC, this.offset + SRC + 6);
  }
  isBroadcast(): boolean {
    const b = this.buf, o = this.offset + DST;
    return (b[o]! & b[o + 1]! & b[o + 2]! & b[o + 3]! & b[o + 4]! & b[o + 5]!) === 0xff;
  }
  /** The group bit of the destination (broadcast or multicast). */
  isGroup(): boolean {
    return (this.buf[this.offset + DST]! & 1) === 1;
  }
  dstEquals(mac: Uint8Array): boolean {
    const b = this.buf, o = this.offset + DST;
    return b[o] === mac[0] && b[o + 1] === mac[1] && b[o + 2] === mac[2] && b[o + 3] === mac[3]
      && b[o + 4] === mac[4] && b[o + 5] === mac[5];
  }
  /** Copies the first 6 bytes of `mac` into the destination field (per frame on the hot path: no subarray). */
  setDst(mac: Uint8Array): void {
    const b = this.buf, o = this.offset + DST;
    b[o] = mac[0]!; b[o + 1] = mac[1]!; b[o + 2] = mac[2]!; b[o + 3] = mac[3]!; b[o + 4] = mac[4]!; b[o + 5] = mac[5]!;
  }
  /** Copies the first 6 bytes of `mac` into the source field. */
  setSrc(mac: Uint8Array): void {
    const b = this.buf, o = this.offset + SRC;
    b[o] = mac[0]!; b[o + 1] = mac[1]!; b[o + 2] = mac[2]!; b[o + 3] = mac[3]!; b[o + 4] = mac[4]!; b[o + 5] = mac[5]!;
  }
}

/** An Ethernet header; `vlanId` (0..4095) adds an 802.1Q tag with priority 0. */
export interface EthernetRepr {
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  readonly etherType: number;
  readonly vlanId?: number;
}

/** Reads an attached frame's header into a Repr (MACs copied). */
export function parseEthernet(f: EthernetFrame): EthernetRepr {
  const base = { dst: f.dst().slice(), src: f.src().slice(), etherType: f.etherType };
  return f.vlanId >= 0 ? { ...base, vlanId: f.vlanId } : base;
}

/** Bytes `emitEthernet` writes: the header, 14 or 18 (the payload follows it). */
export function ethernetBufferLen(repr: EthernetRepr): number {
  return repr.vlanId === undefined ? ETHERNET_HEADER_LENGTH : ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH;
}

/**
 * Writes the header at `buf[offset]`; returns its length, or 0 (writing nothing) when
 * it does not fit. MACs are the first 6 bytes of `repr.dst` / `repr.src`.
 */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array, offset: number): number {
  const n = ethernetBufferLen(repr);
  if (!isRange(buf, offset, n)) return 0;
  buf.fill(0, offset, offset + 12);
  buf.set(repr.dst.subarray(0, 6), offset + DST);
  buf.set(repr.src.subarray(0, 6), offset + SRC);
  if (repr.vlanId === undefined) {
    writeU16(buf, offset + TYPE, repr.etherType);
  } else {
    writeU16(buf, offset + TYPE, ETHERTYPE.vlan);
    writeU16(buf, offset + TAG_TCI, repr.vlanId & 0x0fff);
    writeU16(buf, offset + TAG_TYPE, repr.etherType);
  }
  return n;
}
