/**
 * Translates one IPv4 packet in place through the table: finds or creates the flow,
 * rewrites addresses, ports and ICMP identifiers, and keeps every checksum right by
 * RFC 1624 incremental updates. ICMP errors have the packet they quote translated
 * too (RFC 5508 REQ-3). It never throws and never allocates: bad packets come back as
 * a drop verdict with a reason. TTL, Ethernet and routing are the router's business.
 */
import { Ipv4Packet } from './wire/ipv4.js';
import { UdpPacket } from './wire/udp.js';
import { TcpPacket } from './wire/tcp.js';
import { IcmpPacket } from './wire/icmp.js';
import type { L4Packet } from './wire/l4.js';
import { IP_PROTOCOL, NatTable, VERDICT, type DropReason, type Verdict } from './table/nat-table.js';

export const TRANSLATE_DROP_REASONS = [
  'truncated', 'bad-version', 'bad-ihl', 'bad-total-length', 'bad-udp-length', 'bad-data-offset', 'bad-ip-checksum',
  'fragment', 'unsupported-icmp', 'icmp-error-unmatched',
] as const;
export type TranslateDropReason = (typeof TRANSLATE_DROP_REASONS)[number] | DropReason;

export type Direction = 'outbound' | 'inbound';

/** ICMP query requests (RFC 5508: echo, timestamp, information, address mask) and their replies. */
const QUERY_REQUEST = new Set<number>([8, 13, 15, 17]);
const QUERY_REPLY = new Set<number>([0, 14, 16, 18]);

export class Translator {
  /** Why the last packet was dropped. */
  reason: TranslateDropReason = 'truncated';
  private readonly ip = new Ipv4Packet();
  private readonly udp = new UdpPacket();
  private readonly tcp = new TcpPacket();
  private readonly icmp = new IcmpPacket();
  private readonly innerIp = new Ipv4Packet();
  private readonly innerUdp = new UdpPacket();
  private readonly innerTcp = new TcpPacket();
  private readonly innerIcmp = new IcmpPacket();

  /**
   * `options.headerVerified`: the caller has verified the IPv4 header checksum of every
   * packet it passes (the router does where a packet enters), so it is not verified
   * again here. By default it is.
   */
  constructor(readonly table: NatTable, private readonly options: { readonly headerVerified?: boolean } = {}) {}

  /**
   * Translates the IPv4 packet at `buf[offset, offset+length)` in place. `partial`
   * says the L4 checksum field is an offloaded pseudo-header sum
   * (VIRTIO_NET_HDR_F_NEEDS_CSUM). On forward/hairpin the packet is rewritten; on drop
   * it is untouched and `reason` says why.
   */
  translate(direction: Direction, buf: Uint8Array, offset: number, length: number, nowMs: number, partial = false): Verdict {
    const ip = this.ip;
    const st = ip.attach(buf, offset, length);
    if (st !== 'ok') return this.drop(st);
    if (this.options.headerVerified !== true && !ip.verifyChecksum()) return this.drop('bad-ip-checksum');
    // Non-first fragments carry no ports, and a first one alone would be forwarded
    // without the rest: the router reassembles datagrams before they reach here, so a
    // fragment that still arrives is dropped and counted.
    if (ip.isFragment) return this.drop('fragment');
    const proto = ip.protocol;
    if (proto === IP_PROTOCOL.tcp || proto === IP_PROTOCOL.udp) {
      const isTcp = proto === IP_PROTOCOL.tcp;
      const l4: L4Packet = isTcp ? this.tcp : this.udp;
      const ls = isTcp ? this.tcp.attach(buf, ip.payloadOffset, ip.payloadLength) : this.udp.attach(buf, ip.payloadOffset, ip.payloadLength);
      if (ls !== 'ok') return this.drop(ls);
      const flags = isTcp ? this.tcp.flags : 0;
      if (direction === 'outbound') {
        const v = this.table.outbound(proto, ip.srcAddr, l4.srcPort, ip.dstAddr, l4.dstPort, flags, nowMs);
        if (v === VERDICT.drop) return this.drop(this.table.result.reason);
        const r = this.table.result;
        if (v === VERDICT.hairpin) this.rewriteDst(l4, r.addr2, r.port2, partial);
        this.rewriteSrc(l4, r.addr, r.port, partial);
        return v;
      }
      const v = this.table.inbound(proto, ip.srcAddr, l4.srcPort, l4.dstPort, flags, nowMs);
      if (v === VERDICT.drop) return this.drop(this.table.result.reason);
      this.rewriteDst(l4, this.table.result.addr, this.table.result.port, partial);
      return v;
    }
    if (proto === IP_PROTOCOL.icmp) return this.translateIcmp(direction, buf, nowMs);
    return this.drop('unsupported-protocol');
  }

  private drop(reason: TranslateDropReason): Verdict {
    this.reason = reason;
    return VERDICT.drop;
  }

  private rewriteSrc(l4: L4Packet, addr: number, port: number, partial: boolean): void {
    const old = this.ip.srcAddr;
    this.ip.rewriteSrcAddr(addr);
    l4.adjustForAddressChange(old, addr, partial);
    l4.rewriteSrcPort(port, partial);
  }

  private rewriteDst(l4: L4Packet, addr: number, port: number, partial: boolean): void {
    const old = this.ip.dstAddr;
    this.ip.rewriteDstAddr(addr);
    l4.adjustForAddressChange(old, addr, partial);
    l4.rewriteDstPort(port, partial);
  }

  private translateIcmp(direction: Direction, buf: Uint8Array, nowMs: number): Verdict {
    const ip = this.ip;
    const icmp = this.icmp;
    if (icmp.attach(buf, ip.payloadOffset, ip.payloadLength) !== 'ok') return this.drop('truncated');
    const type = icmp.type;
    if (direction === 'outbound' && QUERY_REQUEST.has(type)) {
      const v = this.table.outbound(IP_PROTOCOL.icmp, ip.srcAddr, icmp.identifier, ip.dstAddr, 0, 0, nowMs);
      if (v !== VERDICT.forward) return this.drop(v === VERDICT.drop ? this.table.result.reason : 'unsupported-icmp');
      ip.rewriteSrcAddr(this.table.result.addr);
      icmp.rewriteIdentifier(this.table.result.port);
      return v;
    }
    if (direction === 'inbound' && QUERY_REPLY.has(type)) {
      const v = this.table.inbound(IP_PROTOCOL.icmp, ip.srcAddr, 0, icmp.identifier, 0, nowMs);
      if (v === VERDICT.drop) return this.drop(this.table.result.reason);
      ip.rewriteDstAddr(this.table.result.addr);
      icmp.rewriteIdentifier(this.table.result.port);
      return v;
    }
    if (icmp.isError) return this.translateIcmpError(direction, buf);
    return this.drop('unsupported-icmp');
  }

  /**
   * RFC 5508 REQ-3: an ICMP error quotes the packet that caused it. Inbound, the quote
   * is our translated outbound packet (source = external endpoint): its source goes
   * back to the internal endpoint, as does the outer destination. Outbound, the quote
   * is an inbound packet a LAN host received (destination = internal endpoint): its
   * destination becomes the external endpoint, as does the outer source. Nothing is
   * created or refreshed; the ICMP checksum is recomputed over the message.
   */
  private translateIcmpError(direction: Direction, buf: Uint8Array): Verdict {
    const ip = this.ip;
    const icmp = this.icmp;
    const inner = this.innerIp;
    if (inner.attach(buf, icmp.embeddedOffset, icmp.embeddedLength, 'embedded') !== 'ok') return this.drop('truncated');
    const proto = inner.protocol;
    let l4: L4Packet | null = null;
    let innerIcmp = false;
    if (proto === IP_PROTOCOL.tcp || proto === IP_PROTOCOL.udp) {
      const s = proto === IP_PROTOCOL.tcp ? this.innerTcp.attach(buf, inner.payloadOffset, inner.payloadLength, 'embedded')
        : this.innerUdp.attach(buf, inner.payloadOffset, inner.payloadLength, 'embedded');
      if (s !== 'ok') return this.drop('truncated');
      l4 = proto === IP_PROTOCOL.tcp ? this.innerTcp : this.innerUdp;
    } else if (proto === IP_PROTOCOL.icmp) {
      if (this.innerIcmp.attach(buf, inner.payloadOffset, inner.payloadLength) !== 'ok') return this.drop('truncated');
      innerIcmp = true;
    } else {
      return this.drop('unsupported-icmp');
    }
    const t = this.table;
    if (direction === 'inbound') {
      // Quote: (external endpoint) → (remote endpoint).
      const found = l4 ? t.peekInbound(proto, inner.dstAddr, l4.dstPort, l4.srcPort)
        : t.peekInbound(IP_PROTOCOL.icmp, inner.dstAddr, 0, this.innerIcmp.identifier);
      if (!found) return this.drop('icmp-error-unmatched');
      const addr = t.result.addr, port = t.result.port;
      const oldAddr = inner.srcAddr;
      inner.rewriteSrcAddr(addr);
      if (l4) {
        l4.adjustForAddressChange(oldAddr, addr);
        l4.rewriteSrcPort(port);
      } else if (innerIcmp) {
        this.innerIcmp.rewriteIdentifier(port);
      }
      ip.rewriteDstAddr(addr);
    } else {
      // Quote: (remote endpoint) → (internal endpoint).
      const found = l4 ? t.peekOutbound(proto, inner.dstAddr, l4.dstPort, inner.srcAddr, l4.srcPort)
        : t.peekOutbound(IP_PROTOCOL.icmp, inner.dstAddr, this.innerIcmp.identifier, inner.srcAddr, 0);
      if (!found) return this.drop('icmp-error-unmatched');
      const addr = t.result.addr, port = t.result.port;
      const oldAddr = inner.dstAddr;
      inner.rewriteDstAddr(addr);
      if (l4) {
        l4.adjustForAddressChange(oldAddr, addr);
        l4.rewriteDstPort(port);
      } else if (innerIcmp) {
        this.innerIcmp.rewriteIdentifier(port);
      }
      ip.rewriteSrcAddr(addr);
    }
    icmp.fillChecksum();
    return VERDICT.forward;
  }
}
