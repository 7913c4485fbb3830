/**
 * ARP view for Ethernet/IPv4 (RFC 826): htype 1, ptype 0x0800, hlen 6, plen 4; any
 * other combination is refused as 'unsupported-hardware'. The view reads in place and
 * allocates nothing; it never throws. It does not decide what to answer: the router
 * builds replies with `emitArp`.
 */
import { readU16, readU32, writeU16, writeU32 } from './addr.js';
import { ETHERTYPE } from './ethernet.js';
import { isRange } from './status.js';

export const ARP_OPERATION = { request: 1, reply: 2 } as const;
export const ARP_LENGTH = 28;
const HARDWARE_ETHERNET = 1;

const HTYPE = 0, PTYPE = 2, HLEN = 4, PLEN = 5, OPER = 6, SHA = 8, SPA = 14, THA = 18, TPA = 24;

export type ArpStatus = 'ok' | 'truncated' | 'unsupported-hardware';

export class ArpPacket {
  buf: Uint8Array = new Uint8Array(0);
  offset = 0;

  /** Points the view at an ARP packet; trailing bytes (Ethernet padding) are ignored. */
  attach(buf: Uint8Array, offset: number, length: number): ArpStatus {
    this.buf = buf;
    this.offset = 0;
    if (!isRange(buf, offset, length) || length < ARP_LENGTH) return 'truncated';
    if (readU16(buf, offset + HTYPE) !== HARDWARE_ETHERNET || readU16(buf, offset + PTYPE) !== ETHERTYPE.ipv4
      || buf[offset + HLEN] !== 6 || buf[offset + PLEN] !== 4) {
      return 'unsupported-hardware';
    }
    this.offset = offset;
    return 'ok';
  }

  get operation(): number { return readU16(this.buf, this.offset + OPER); }
  /** Sender hardware address, a 6-byte subarray of the packet. */
  senderMac(): Uint8Array { return this.buf.subarray(this.offset + SHA, this.offset + SHA + 6); }
  get senderAddr(): number { return readU32(this.buf, this.offset + SPA); }
  /** Target hardware address, a 6-byte subarray of the packet. */
  targetMac(): Uint8Array { return this.buf.subarray(this.offset + THA, this.offset + THA + 6); }
  get targetAddr(): number { return readU32(this.buf, this.offset + TPA); }
}

export interface ArpRepr {
  readonly operation: number;
  readonly senderMac: Uint8Array;
  readonly senderAddr: number;
  readonly targetMac: Uint8Array;
  readonly targetAddr: number;
}

/** Reads an attached packet into a Repr (MACs copied). */
export function parseArp(p: ArpPacket): ArpRepr {
  return {
    operation: p.operation, senderMac: p.senderMac().slice(), senderAddr: p.senderAddr,
    targetMac: p.targetMac().slice(), targetAddr: p.targetAddr,
  };
}

/** Bytes `emitArp` writes: always 28. */
export function arpBufferLen(_repr?: ArpRepr): number {
  return ARP_LENGTH;
}

/** Writes the 28-byte packet at `buf[offset]`; returns 28, or 0 (writing nothing) when it does not fit. */
export function emitArp(r: ArpRepr, buf: Uint8Array, offset: number): number {
  if (!isRange(buf, offset, ARP_LENGTH)) return 0;
  buf.fill(0, offset, offset + ARP_LENGTH);
  writeU16(buf, offset + HTYPE, HARDWARE_ETHERNET);
  writeU16(buf, offset + PTYPE, ETHERTYPE.ipv4);
  buf[offset + HLEN] = 6;
  buf[offset + PLEN] = 4;
  writeU16(buf, offset + OPER, r.operation);
  buf.set(r.senderMac.subarray(0, 6), offset + SHA);
  writeU32(buf, offset + SPA, r.senderAddr);
  buf.set(r.targetMac.subarray(0, 6), offset + THA);
  writeU32(buf, offset + TPA, r.targetAddr);
  return ARP_LENGTH;
}

/**
 * The Repr of the reply to `request` from the owner of its target address, `ownMac`
 * (RFC 826: swap sender and target, fill in our hardware address).
 */
export function arpReplyTo(request: ArpRepr, ownMac: Uint8Array): ArpRepr {
  return {
    operation: ARP_OPERATION.reply, senderMac: ownMac, senderAddr: request.targetAddr,
    targetMac: request.senderMac, targetAddr: request.senderAddr,
  };
}
