/** ARP for Ethernet/IPv4 (RFC 826). Other hardware/protocol types are refused. */
import { readU16, readU32, writeU16, writeU32 } from './addr.js';

export const ARP_OPERATION = { request: 1, reply: 2 } as const;
export const ARP_LENGTH = 28;

export type ArpStatus = 'ok' | 'truncated' | 'unsupported-hardware';

export class ArpPacket {
  buf: Uint8Array = new Uint8Array(0);
  offset = 0;

  attach(buf: Uint8Array, offset: number, length: number): ArpStatus {
    this.buf = buf;
    this.offset = offset;
    if (length < ARP_LENGTH || offset < 0 || offset + ARP_LENGTH > buf.length) return 'truncated';
    if (readU16(buf, offset) !== 1 || readU16(buf, offset + 2) !== 0x0800 || buf[offset + 4] !== 6 || buf[offset + 5] !== 4) {
      return 'unsupported-hardware';
    }
    return 'ok';
  }
  get operation(): number { return readU16(this.buf, this.offset + 6); }
  senderMac(): Uint8Array { return this.buf.subarray(this.offset + 8, this.offset + 14); }
  get senderAddr(): number { return readU32(this.buf, this.offset + 14); }
  targetMac(): Uint8Array { return this.buf.subarray(this.offset + 18, this.offset + 24); }
  get targetAddr(): number { return readU32(this.buf, this.offset + 24); }
}

export interface ArpRepr {
  readonly operation: number;
  readonly senderMac: Uint8Array;
  readonly senderAddr: number;
  readonly targetMac: Uint8Array;
  readonly targetAddr: number;
}

export function parseArp(p: ArpPacket): ArpRepr {
  return { operation: p.operation, senderMac: p.senderMac().slice(), senderAddr: p.senderAddr, targetMac: p.targetMac().slice(), targetAddr: p.targetAddr };
}

/** Writes 28 bytes at `offset`; returns 28. */
export function emitArp(r: ArpRepr, buf: Uint8Array, offset: number): number {
  writeU16(buf, offset, 1);
  writeU16(buf, offset + 2, 0x0800);
  buf[offset + 4] = 6;
  buf[offset + 5] = 4;
  writeU16(buf, offset + 6, r.operation);
  buf.set(r.senderMac.subarray(0, 6), offset + 8);
  writeU32(buf, offset + 14, r.senderAddr);
  buf.set(r.targetMac.subarray(0, 6), offset + 18);
  writeU32(buf, offset + 24, r.targetAddr);
  return ARP_LENGTH;
}
