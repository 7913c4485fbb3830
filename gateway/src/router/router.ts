/**
 * The userspace router: three ports (LAN, WAN, local), ARP, IPv4 forwarding through
 * the NAT, TTL and ICMP, DHCP on the LAN. It decides frames and returns what to send:
 * `handle(port, rx)` takes one received batch, decides every frame, and returns a
 * `RouterOutput` (per port, the frames forwarded from the receive buffer and the frames
 * it made); `tick()` and `sendWanDhcp()` return one too. It owns no link, reads nothing
 * and writes nothing: the Forwarder (forwarder.ts) reads the links, calls it, and writes
 * what it returns; the offline replay writes it to pcap files. It must never hand WAN
 * traffic to the local port except through a port mapping.
 *
 * The frame flow:
 *  1. A batch arrives from one port; each frame gets an Ethernet view (bad → counted drop).
 *  2. ARP: learn the sender, answer requests for our address on that port (the local
 *     port's kernel is answered for every LAN address: proxy ARP), release frames that
 *     waited for the sender's MAC.
 *  3. IPv4 from the LAN: DHCP → the DHCP server; to our LAN address, broadcast or
 *     multicast → the local port; echo to our WAN address → answered; else TTL, NAT
 *     outbound (or hairpin), TTL−1, Ethernet rewrite, out of the WAN (or back to the LAN).
 *  4. IPv4 from the WAN: must be to our WAN address; echo requests no flow claims are
 *     answered; else NAT inbound, TTL−1, out of the LAN (to the local port only when
 *     a port mapping names our own LAN address).
 *  5. IPv4 from the local port (our own services): to the LAN as is, with our LAN MAC.
 *  6. Frames are rewritten in place in the receive buffer and returned as batches that
 *     point into it (`forwarded`); frames we make (ARP, ICMP, DHCP, fragments) and
 *     reassembled datagrams go through a per-port scratch buffer (`generated`).
 *
 * Fragments are put back together first; the whole datagram then takes the same path
 * (`outbound` from the LAN, `inbound` from the WAN) as a packet received whole, and every
 * forwarded packet leaves by `sendIp`, whose one resolver (`nextHopMac`) holds the frame
 * and asks ARP on a miss. The IPv4 header checksum is verified once, where a packet
 * enters (fromLan, fromWan, localReplyToWan), not again by the NAT.
 */
import {
  ArpPacket, ARP_OPERATION, BROADCAST_MAC, EthernetFrame, ETHERTYPE, IcmpPacket, ICMP_TYPE, Ipv4Packet, UdpPacket,
  Translator, VERDICT, NatTable, emitArp, emitEthernet, emitIcmpError, emitIpv4, emitUdpHeader, echoRequestToReply,
  isMulticast, Reassembler, fragmentIpv4, prefixMask, IP_PROTOCOL, ETHERNET_HEADER_LENGTH, IPV4_MIN_HEADER_LENGTH, UDP_HEADER_LENGTH,
  ICMP_HEADER_LENGTH, ICMP_ERROR_MAX_QUOTE, ICMP_UNREACHABLE_CODE, type NatCounters, type ReassemblyResult,
} from '@openigd/nat-table';
import {
  BATCH_SLOTS, SLOT_SIZE, FrameFlag, GsoSegmenter, completeChecksum, createFrameBatch, isGso, pushFrame, pushFrameFrom, type FrameBatch,
} from '../link/index.js';
import { NeighbourCache } from './neighbours.js';
import {
  DHCP_CLIENT_PORT, DHCP_MESSAGE_TYPE, DHCP_SERVER_PORT, dhcpBufferLength, emitDhcp, parseDhcp, type DhcpMessage,
} from '../dhcp/dhcp-message.js';
import type { DhcpServer } from '../dhcp/dhcp-server.js';
import type { Clock } from '../clock.js';
import type { ServiceTcp } from '../service-tcp/service-tcp.js';

export const PORT = { lan: 0, wan: 1, local: 2 } as const;
/** The target MAC of an ARP request: not known yet (also the placeholder in a held frame). */
const ZERO_MAC = new Uint8Array(6);
/** The BOOTP broadcast flag (RFC 2131 §2). */
const DHCP_FLAG_BROADCAST = 0x8000;
/** Ethernet, a 20-byte IPv4 header and a UDP header: where a DHCP message starts in a frame we make. */
const FRAME_HEADERS_UDP = ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH;
/** ICMP time exceeded, code 0: TTL exceeded in transit (RFC 792). */
const TIME_EXCEEDED_IN_TRANSIT = 0;
/** 255.255.255.255 (RFC 919). */
const LIMITED_BROADCAST = 0xffffffff;
export type PortId = (typeof PORT)[keyof typeof PORT];
/** Destination unreachable code 13: communication administratively prohibited (RFC 1812 §5.2.7.1). */
const ICMP_UNREACHABLE_PROHIBITED = 13;

export interface RouterAddresses {
  readonly lanAddr: number;
  readonly lanPrefixLength: number;
  readonly lanMac: Uint8Array;
  wanAddr: number;
  wanPrefixLength: number;
  wanGateway: number;
  readonly wanMac: Uint8Array;
  /** Our MAC on the local port, and the MAC of its kernel side. */
  readonly localMac: Uint8Array;
  readonly localKernelMac: Uint8Array;
  /** The largest IPv4 packet the LAN (and the local port, which stands for it) carries in a plain frame. */
  readonly lanMtu: number;
  readonly wanMtu: number;
}

/** Drops by reason; the reasons are a fixed set of names (the router's own and `nat-…`, `fragment-…`). */
export type DropCounters = Record<string, number>;

export type FragmentStatus = { readonly inProgress: number } & Readonly<Reassembler['counters']>;

/**
 * The router's snapshot: what `status()` returns. The admin API and the metrics read it
 * with the links' counters added (`RouterStatus`, from the Forwarder); the replay's summary as it is.
 */
export interface RouterCounters {
  readonly stats: Readonly<Router['stats']>;
  readonly drops: Readonly<DropCounters>;
  readonly neighbours: { readonly lan: number; readonly wan: number; readonly heldDropped: number };
  readonly nat: { readonly flows: number } & Readonly<NatCounters>;
  readonly fragments: { readonly lan: FragmentStatus; readonly wan: FragmentStatus };
}

/**
 * What to send after one call of `handle`, `tick` or `sendWanDhcp`, per port (index
 * `PORT.lan`, `PORT.wan`, `PORT.local`): write `forwarded[port]`, then `generated[port]`.
 * One object, reused by every call: it is valid until the next call, and its batches
 * belong to the router (write them, do not keep them).
 */
export interface RouterOutput {
  /**
   * Frames forwarded from the batch `handle` was given, with their offload metadata: the
   * batch's `buffer` is that batch's buffer, rewritten in place. Empty after `tick` and
   * `sendWanDhcp`.
   */
  readonly forwarded: readonly [FrameBatch, FrameBatch, FrameBatch];
  /** Frames the router made (ARP, ICMP, DHCP, fragments, frames that waited for ARP), in its own buffer. */
  readonly generated: readonly [FrameBatch, FrameBatch, FrameBatch];
}

/** One `make(port)` for each of the three ports. */
function perPort<T>(make: (port: PortId) => T): [T, T, T] {
  return [make(PORT.lan), make(PORT.wan), make(PORT.local)];
}

export class Router {
  readonly drops: DropCounters = {};
  private readonly dropKeys: Record<string, Record<string, string>> = {};
  readonly stats = { forwardedOutbound: 0, forwardedInbound: 0, hairpinned: 0, toLocal: 0, toService: 0, fromLocal: 0, arpReplies: 0, icmpSent: 0, dhcpReplies: 0, echoReplies: 0, reassembled: 0, fragmentsSent: 0 };
  readonly neighbours: [NeighbourCache, NeighbourCache] = [new NeighbourCache(), new NeighbourCache()];
  private readonly translator: Translator;
  private readonly eth = new EthernetFrame();
  private readonly ip = new Ipv4Packet();
  private readonly udp = new UdpPacket();
  private readonly icmp = new IcmpPacket();
  private readonly arp = new ArpPacket();
  /** Frames forwarded from the current receive buffer, per output port. */
  private readonly fwd = perPort(() => createFrameBatch(BATCH_SLOTS * 4));
  /** Frames we made, per output port, in `scratch[port]`. */
  private readonly scratch = perPort(() => new Uint8Array(BATCH_SLOTS * SLOT_SIZE));
  private readonly gen = perPort((port) => createFrameBatch(BATCH_SLOTS * 4, this.scratch[port]));
  /** What every call returns: the two batches of each port above. */
  private readonly output: RouterOutput = { forwarded: this.fwd, generated: this.gen };
  /** The batch being handled and the index of the frame in hand (its offload metadata travels with it). */
  private rx: FrameBatch | null = null;
  /** Splits a super-frame that must wait for ARP into the frames the kernel would have sent; made on first use. */
  private segmenter: GsoSegmenter | null = null;
  private rxIndex = 0;
  /** The LAN's broadcast address (the LAN address never changes), computed once: not per frame. */
  private readonly lanBroadcast: number;
  /** The clock's time for the call in hand (`begin`: read once per batch, tick or DHCP message). */
  private nowMs = 0;
  private readonly scratchUsed = [0, 0, 0];
  private icmpTokens = 100;
  private icmpRefillMs = 0;
  /** Fragments being put back together, from the LAN and from the WAN (the NAT needs whole datagrams). */
  private readonly reassembly: readonly [Reassembler, Reassembler] = [new Reassembler(), new Reassembler()];
  /** The userspace TCP endpoint of the IGD's HTTP port, when the gateway serves it so (`setService`). */
  private service: ServiceTcp | null = null;
  /** The WAN's DHCP client (`wan.address: dhcp`): hears DHCP replies arriving on the WAN. */
  private wanDhcp: ((message: DhcpMessage, nowMs: number) => void) | null = null;

  /**
   * `clock` is the router's only source of time: NAT, reassembly, ARP, DHCP and the ICMP
   * rate limit all read it (monotonic in the daemon, the capture's own stamps in a
   * replay), once per call. The router has no link: what it sends, it returns.
   */
  constructor(
    readonly addrs: RouterAddresses,
    readonly table: NatTable,
    private readonly clock: Clock,
    private readonly dhcp: DhcpServer | null = null,
  ) {
    // The header checksum is verified once, where a packet enters (fromLan, fromWan, localReplyToWan).
    this.translator = new Translator(table, { headerVerified: true });
    this.lanBroadcast = ((addrs.lanAddr & prefixMask(addrs.lanPrefixLength)) | ~prefixMask(addrs.lanPrefixLength)) >>> 0;
  }

  /** Hands DHCP replies on the WAN (UDP 67 → 68, to us or broadcast) to a DHCP client. */
  setWanDhcpClient(receive: ((message: DhcpMessage, nowMs: number) => void) | null): void {
    this.wanDhcp = receive;
  }

  /**
   * Hands the LAN's TCP segments to our LAN address and the endpoint's port to `service`
   * (which answers them itself) instead of the local port; null: all go to the local port.
   */
  setService(service: ServiceTcp | null): void {
    this.service = service;
  }

  /**
   * Makes a DHCP client message to send out of the WAN, from our WAN address (0.0.0.0
   * while we have none) to `to` (its MAC when known, else Ethernet broadcast) or to
   * everyone. Called between batches (the client's timer), it returns an output that
   * holds just that frame: write it now. Called while `handle` runs (the client answers
   * an OFFER as it hears it), it returns null: the frame goes out with that batch's output.
   */
  sendWanDhcp(message: DhcpMessage, to: number | 'broadcast'): RouterOutput | null {
    const a = this.addrs;
    const inBatch = this.rx !== null;
    if (!inBatch) this.begin();
    const dstAddr = to === 'broadcast' ? LIMITED_BROADCAST : to;
    const dstMac = to === 'broadcast' ? BROADCAST_MAC : this.neighbours[PORT.wan].lookup(to, this.nowMs) ?? BROADCAST_MAC;
    this.emitDhcpFrame(PORT.wan, message, { dstMac, srcMac: a.wanMac, srcAddr: a.wanAddr, dstAddr, srcPort: DHCP_CLIENT_PORT, dstPort: DHCP_SERVER_PORT });
    return inBatch ? null : this.output;
  }

  private count(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }

  /**
   * Counts a drop whose reason comes from a parser or the NAT as `prefix-reason`. The key
   * is made once per pair and kept, so a flood of drops allocates nothing.
   */
  private countAs(prefix: string, reason: string): void {
    const byReason = this.dropKeys[prefix] ??= {};
    this.count(byReason[reason] ??= `${prefix}-${reason}`);
  }

  private inLan(a: number): boolean {
    const m = prefixMask(this.addrs.lanPrefixLength);
    return ((a & m) >>> 0) === ((this.addrs.lanAddr & m) >>> 0);
  }

  /** The frame at `buf` is the received frame in hand (a reassembled datagram is not: it lives in the reassembler). */
  private inRx(buf: Uint8Array): boolean {
    return this.rx !== null && this.rx.buffer === buf;
  }

  /** Offload flags of the frame at `buf`: the received frame's, or 0 for frames we made or put back together. */
  private flagsOf(buf: Uint8Array): number {
    return this.inRx(buf) ? this.rx!.flags[this.rxIndex]! : 0;
  }

  private inWan(a: number): boolean {
    const m = prefixMask(this.addrs.wanPrefixLength);
    return ((a & m) >>> 0) === ((this.addrs.wanAddr & m) >>> 0);
  }

  /**
   * Decides one received batch at the clock's time (one read per batch) and returns what
   * to send. The frames of `rx` are rewritten in place: `forwarded` points into its
   * buffer, so the caller writes the output before it reuses that buffer.
   */
  handle(port: PortId, rx: FrameBatch): RouterOutput {
    this.begin();
    const nowMs = this.nowMs;
    this.rx = rx;
    for (let p = 0; p < 3; p++) this.fwd[p]!.buffer = rx.buffer;
    for (let i = 0; i < rx.count; i++) {
      this.rxIndex = i;
      this.frame(port, rx.buffer, rx.offsets[i]!, rx.lengths[i]!, nowMs);
    }
    this.rx = null;
    return this.output;
  }

  /** Periodic work at the clock's time: reassembly timeouts, ARP retries for frames still waiting; returns the requests to send. */
  tick(): RouterOutput {
    this.begin();
    const nowMs = this.nowMs;
    for (const r of this.reassembly) r.expire(nowMs);
    for (const side of [PORT.lan, PORT.wan] as const) {
      for (const addr of this.neighbours[side].due(nowMs)) this.sendArpRequest(side, addr);
    }
    return this.output;
  }

  /**
   * Starts a call: reads the clock into `nowMs` (the call's one read) and empties the
   * output, whose frames the caller has written by now.
   */
  private begin(): void {
    for (let p = 0; p < 3; p++) {
      this.fwd[p]!.count = 0;
      this.gen[p]!.count = 0;
      this.scratchUsed[p] = 0;
    }
    this.nowMs = this.clock.now();
  }

  /** Changes the WAN address (a new DHCP lease, `POST /wan`); the NAT flushes its flows. */
  setWan(addr: number, prefixLength: number, gateway: number): void {
    this.addrs.wanAddr = addr >>> 0;
    this.addrs.wanPrefixLength = prefixLength;
    this.addrs.wanGateway = gateway >>> 0;
    this.neighbours[PORT.wan].forget();
    this.table.setExternalAddress(addr);
  }

  /** Room for a generated frame on `port`; returns its offset in scratch, or -1. */
  private alloc(port: number, length: number): number {
    const used = this.scratchUsed[port]!;
    if (used + length > this.scratch[port]!.length) {
      this.count('scratch-full');
      return -1;
    }
    this.scratchUsed[port] = used + length;
    return used;
  }

  private emitGenerated(port: number, offset: number, length: number): void {
    if (!pushFrame(this.gen[port]!, offset, length)) this.count('queue-full');
  }

  private forwardFrame(port: number, offset: number, length: number): void {
    const q = this.fwd[port]!;
    if (!(this.rx ? pushFrameFrom(q, offset, length, this.rx, this.rxIndex) : pushFrame(q, offset, length))) this.count('queue-full');
  }

  private frame(port: PortId, buf: Uint8Array, off: number, len: number, nowMs: number): void {
    const eth = this.eth;
    const st = eth.attach(buf, off, len);
    if (st !== 'ok') return this.countAs('eth', st);
    if (eth.etherType === ETHERTYPE.arp) return this.onArp(port, buf, nowMs);
    if (eth.etherType !== ETHERTYPE.ipv4) return this.count('not-ipv4');
    const ip = this.ip;
    const ist = ip.attach(buf, eth.payloadOffset, eth.payloadLength);
    if (ist !== 'ok') return this.countAs('ip', ist);
    if (port === PORT.lan) this.fromLan(buf, off, len, nowMs);
    else if (port === PORT.wan) this.fromWan(buf, off, len, nowMs);
    else this.fromLocal(buf, off, len, nowMs);
  }

  // ------------------------------------------------------------------ ARP

  private onArp(port: PortId, buf: Uint8Array, nowMs: number): void {
    const arp = this.arp;
    if (arp.attach(buf, this.eth.payloadOffset, this.eth.payloadLength) !== 'ok') return this.count('arp-malformed');
    const sender = arp.senderAddr;
    const target = arp.targetAddr;
    const a = this.addrs;
    if (port === PORT.local) {
      // The kernel side of the local port asks for LAN hosts: we stand in for all of them.
      if (arp.operation === ARP_OPERATION.request && this.inLan(target) && target !== a.lanAddr) {
        this.sendArpReply(PORT.local, a.localMac, target, arp.senderMac(), sender);
      }
      return;
    }
    const side = port;
    const ourAddr = side === PORT.lan ? a.lanAddr : a.wanAddr;
    const ourMac = side === PORT.lan ? a.lanMac : a.wanMac;
    const onLink = side === PORT.lan ? this.inLan(sender) : this.inWan(sender);
    if (onLink && sender !== ourAddr && sender !== 0) {
      const waiting = this.neighbours[side].learn(sender, arp.senderMac(), nowMs);
      for (const f of waiting) this.sendHeld(side, f, arp.senderMac());
    }
    if (arp.operation === ARP_OPERATION.request && target === ourAddr && ourAddr !== 0) {
      this.sendArpReply(side, ourMac, ourAddr, arp.senderMac(), sender);
    }
  }

  private sendArpReply(port: number, ourMac: Uint8Array, ourAddr: number, toMac: Uint8Array, toAddr: number): void {
    const o = this.alloc(port, 60);
    if (o < 0) return;
    const s = this.scratch[port]!;
    s.fill(0, o, o + 60);
    emitEthernet({ dst: toMac, src: ourMac, etherType: ETHERTYPE.arp }, s, o);
    emitArp({ operation: ARP_OPERATION.reply, senderMac: ourMac, senderAddr: ourAddr, targetMac: toMac, targetAddr: toAddr }, s, o + 14);
    this.emitGenerated(port, o, 60);
    this.stats.arpReplies++;
  }

  private sendArpRequest(side: number, addr: number): void {
    const o = this.alloc(side, 60);
    if (o < 0) return;
    const a = this.addrs;
    const s = this.scratch[side]!;
    s.fill(0, o, o + 60);
    const mac = side === PORT.lan ? a.lanMac : a.wanMac;
    emitEthernet({ dst: BROADCAST_MAC, src: mac, etherType: ETHERTYPE.arp }, s, o);
    emitArp({ operation: ARP_OPERATION.request, senderMac: mac, senderAddr: side === PORT.lan ? a.lanAddr : a.wanAddr,
      targetMac: ZERO_MAC, targetAddr: addr }, s, o + 14);
    this.emitGenerated(side, o, 60);
  }

  /**
   * Holds the received super-frame at `buf[off, off+len)` (the current frame, its headers
   * already final) as the segments software GSO makes of it, each with complete checksums.
   */
  private holdSegments(side: 0 | 1, buf: Uint8Array, off: number, len: number, nextHop: number, nowMs: number): void {
    const rx = this.rx;
    const i = this.rxIndex;
    if (!rx || rx.buffer !== buf || rx.offsets[i] !== off || rx.lengths[i] !== len) return this.count('arp-pending-gso');
    const segmenter = (this.segmenter ??= new GsoSegmenter());
    const n = segmenter.segment(rx, i);
    if (n <= 0) return this.count('arp-pending-gso');
    const out = segmenter.out;
    let ask = false;
    for (let s = 0; s < n; s++) {
      const o = out.offsets[s]!;
      if (this.neighbours[side].hold(nextHop, out.buffer.subarray(o, o + out.lengths[s]!), nowMs)) ask = true;
    }
    if (ask) this.sendArpRequest(side, nextHop);
  }

  /** A frame that waited for ARP (the cache's own copy): its Ethernet destination is set now, and it goes out as generated. */
  private sendHeld(side: number, frame: Uint8Array, mac: Uint8Array): void {
    frame.set(mac.subarray(0, 6), 0);
    this.sendCopy(side, frame, 0, frame.length);
  }

  /**
   * The one way out for a packet whose IP part is final (`this.ip` attached to it):
   * `buf[off, off+len)` is its Ethernet frame, the received one or a reassembled datagram
   * (see `frameReassembled`). Out of `port` to `nextHop`: Ethernet addresses rewritten in
   * place and forwarded from the receive buffer (a reassembled datagram is copied into
   * the port's scratch); in fragments when it is bigger than the port's MTU; and when the
   * next hop's MAC is not known yet, held and asked for, whichever way it came.
   */
  private sendIp(port: PortId, buf: Uint8Array, off: number, len: number, nextHop: number, nowMs: number): void {
    const flags = this.flagsOf(buf);
    if (port === PORT.local) this.stats.toLocal++;
    if (this.ip.totalLength > this.mtuOf(port) && !isGso(flags)) return this.sendFragments(port, buf, off, len, nextHop, nowMs);
    const mac = this.nextHopMac(port, nextHop, nowMs);
    const eth = this.eth;
    eth.attach(buf, off, len);
    eth.setSrc(this.macOf(port));
    if (mac === null) return this.holdFrame(port as 0 | 1, buf, off, len, nextHop, nowMs, flags);
    eth.setDst(mac);
    if (this.inRx(buf)) return this.forwardFrame(port, off, len);
    this.sendCopy(port, buf, off, len);
  }

  /** The next hop's MAC on `port`, or null while ARP has not told it (the only resolver: every path asks it). */
  private nextHopMac(port: PortId, nextHop: number, nowMs: number): Uint8Array | null {
    if (port === PORT.local) return this.addrs.localKernelMac;
    if (port === PORT.lan && (nextHop === this.lanBroadcast || nextHop === LIMITED_BROADCAST)) return BROADCAST_MAC;
    return this.neighbours[port].lookup(nextHop, nowMs);
  }

  private macOf(port: PortId): Uint8Array {
    return port === PORT.wan ? this.addrs.wanMac : port === PORT.lan ? this.addrs.lanMac : this.addrs.localMac;
  }

  private mtuOf(port: PortId): number {
    return port === PORT.wan ? this.addrs.wanMtu : this.addrs.lanMtu;
  }

  /**
   * Holds the frame at `buf[off, off+len)` (addressed but for its destination MAC) until
   * ARP resolves `nextHop`, within the neighbour cache's bounds. A held frame goes out later
   * as one we made, without offload metadata: a partial checksum is completed now, and a
   * GSO super-frame waits as its segments (UDP is not sent again, and the LAN's GRO makes
   * super-frames of any burst of one flow).
   */
  private holdFrame(side: 0 | 1, buf: Uint8Array, off: number, len: number, nextHop: number, nowMs: number, flags: number): void {
    if (isGso(flags)) return this.holdSegments(side, buf, off, len, nextHop, nowMs);
    if ((flags & FrameFlag.csumPartial) !== 0 && !this.completeInHand(buf, off, len)) return this.count('bad-csum-range');
    this.hold(side, buf.subarray(off, off + len), nextHop, nowMs);
  }

  /** Keeps a copy of `frame` for `nextHop`; the first frame for an address sends the ARP request. */
  private hold(side: 0 | 1, frame: Uint8Array, nextHop: number, nowMs: number): void {
    if (this.neighbours[side].hold(nextHop, frame, nowMs)) this.sendArpRequest(side, nextHop);
  }

  /** Completes the partial L4 checksum of the received frame in hand; false when its range is bad. */
  private completeInHand(buf: Uint8Array, off: number, len: number): boolean {
    const rx = this.rx!;
    return completeChecksum(buf, off, len, rx.csumStart[this.rxIndex]!, rx.csumOffset[this.rxIndex]!);
  }

  /** Copies the finished frame at `buf[off, off+len)` into `port`'s scratch and queues it. */
  private sendCopy(port: number, buf: Uint8Array, off: number, len: number): void {
    const o = this.alloc(port, len);
    if (o < 0) return;
    this.scratch[port]!.set(buf.subarray(off, off + len), o);
    this.emitGenerated(port, o, len);
  }

  /**
   * Sends the datagram of the frame at `buf[off, off+len)` out of `port` in fragments of
   * the port's MTU (RFC 791; none when DF is set: counted), made in the port's scratch;
   * when the next hop is not known yet, the fragments are held like any frame.
   */
  private sendFragments(port: PortId, buf: Uint8Array, off: number, len: number, nextHop: number, nowMs: number): void {
    const ip = this.ip;
    if ((this.flagsOf(buf) & FrameFlag.csumPartial) !== 0 && !this.completeInHand(buf, off, len)) return this.count('bad-csum-range');
    const mac = this.nextHopMac(port, nextHop, nowMs);
    const srcMac = this.macOf(port);
    const s = this.scratch[port]!;
    let failed = false;
    const n = fragmentIpv4(buf, ip.offset, ip.totalLength, this.mtuOf(port), (header, payload) => {
      const length = ETHERNET_HEADER_LENGTH + header.length + payload.length;
      const o = failed ? -1 : this.alloc(port, length);
      if (o < 0) {
        failed = true;
        return;
      }
      emitEthernet({ dst: mac ?? ZERO_MAC, src: srcMac, etherType: ETHERTYPE.ipv4 }, s, o);
      s.set(header, o + ETHERNET_HEADER_LENGTH);
      s.set(payload, o + ETHERNET_HEADER_LENGTH + header.length);
      if (mac) return this.emitGenerated(port, o, length);
      // Held (copied by the cache): the scratch room is given back at once.
      this.hold(port as 0 | 1, s.subarray(o, o + length), nextHop, nowMs);
      this.scratchUsed[port] = o;
    });
    if (n === 0) return this.count('fragment-cannot-split');
    if (n > 1) this.stats.fragmentsSent += n;
  }

  private wanNextHop(dst: number): number {
    return this.inWan(dst) ? dst : this.addrs.wanGateway;
  }

  // ------------------------------------------------------------------ LAN

  private fromLan(buf: Uint8Array, off: number, len: number, nowMs: number): void {
    const eth = this.eth, ip = this.ip, a = this.addrs;
    const dst = ip.dstAddr;
    const group = eth.isGroup();
    if (!group && !eth.dstEquals(a.lanMac)) return this.count('lan-not-for-us');
    if (ip.protocol === IP_PROTOCOL.udp && this.isDhcpRequest(buf)) return this.onDhcp(buf, nowMs);
    if (dst === a.lanAddr && !group && this.service !== null && this.service.claims(ip)) {
      this.stats.toService++;
      return this.service.receive(buf, off, ip, this.flagsOf(buf));
    }
    if (dst === a.lanAddr || dst === this.lanBroadcast || dst === LIMITED_BROADCAST || isMulticast(dst)) {
      return this.toLocal(buf, off, len, group);
    }
    if (group) return this.count('lan-group-not-ip-local');
    if (dst === a.wanAddr && ip.protocol === IP_PROTOCOL.icmp && this.isEchoRequest()) return this.echoReply(PORT.lan, buf, off, len, nowMs);
    if (this.inLan(dst)) return this.count('lan-to-lan');
    if (a.wanAddr === 0) return this.count('wan-no-address');
    if (!ip.verifyChecksum()) return this.count('ip-bad-checksum');
    if (ip.ttl <= 1) return this.icmpError(PORT.lan, buf, ICMP_TYPE.timeExceeded, TIME_EXCEEDED_IN_TRANSIT, 0, a.lanAddr);
    if (ip.isFragment) return this.fragment(PORT.lan, nowMs);
    // Bigger than the WAN carries with DF set: the sender must make it smaller. Without DF, sendIp fragments it.
    if (ip.dontFragment && ip.totalLength > a.wanMtu && dst !== a.wanAddr && !isGso(this.flagsOf(buf))) {
      return this.icmpError(PORT.lan, buf, ICMP_TYPE.destinationUnreachable, ICMP_UNREACHABLE_CODE.fragmentationNeeded, a.wanMtu, a.lanAddr);
    }
    this.outbound(buf, off, len, nowMs, true);
  }

  /**
   * The outbound path, for a packet received whole and for a datagram put back together
   * alike: NAT outbound for the packet in hand (`this.ip` attached; `buf[off, off+len)` its
   * frame), TTL − 1, and out of the WAN; a packet that hairpins goes back into the LAN (or
   * to the local port), unless it came from the local port itself.
   */
  private outbound(buf: Uint8Array, off: number, len: number, nowMs: number, hairpinAllowed: boolean): void {
    const ip = this.ip;
    const ipOff = ip.offset;
    const partial = (this.flagsOf(buf) & FrameFlag.csumPartial) !== 0;
    const v = this.translator.translate('outbound', buf, ipOff, ip.totalLength, nowMs, partial);
    if (v === VERDICT.drop) return this.refusedOutbound(buf);
    if (v === VERDICT.hairpin && !hairpinAllowed) return this.count('local-hairpin');
    ip.attach(buf, ipOff, off + len - ipOff);
    ip.decrementTtl();
    if (v === VERDICT.hairpin) {
      this.stats.hairpinned++;
      const to = ip.dstAddr;
      return this.sendIp(to === this.addrs.lanAddr ? PORT.local : PORT.lan, buf, off, len, to, nowMs);
    }
    this.stats.forwardedOutbound++;
    this.sendIp(PORT.wan, buf, off, len, this.wanNextHop(ip.dstAddr), nowMs);
  }

  private isDhcpRequest(buf: Uint8Array): boolean {
    return this.isUdpPorts(buf, DHCP_CLIENT_PORT, DHCP_SERVER_PORT);
  }

  /** The packet in hand is an unfragmented UDP datagram from `srcPort` to `dstPort` (this.udp attached). */
  private isUdpPorts(buf: Uint8Array, srcPort: number, dstPort: number): boolean {
    const ip = this.ip;
    if (ip.isFragment || this.udp.attach(buf, ip.payloadOffset, ip.payloadLength) !== 'ok') return false;
    return this.udp.dstPort === dstPort && this.udp.srcPort === srcPort;
  }

  private isEchoRequest(): boolean {
    const ip = this.ip;
    // A fragment is not an echo request, whatever its first byte: it goes to reassembly.
    if (ip.isFragment) return false;
    return this.icmp.attach(ip.buf, ip.payloadOffset, ip.payloadLength) === 'ok' && this.icmp.type === ICMP_TYPE.echoRequest;
  }

  private toLocal(buf: Uint8Array, off: number, len: number, group: boolean): void {
    const eth = this.eth;
    eth.attach(buf, off, len);
    if (!group) eth.setDst(this.addrs.localKernelMac);
    eth.setSrc(this.addrs.localMac);
    this.stats.toLocal++;
    this.forwardFrame(PORT.local, off, len);
  }

  private onDhcp(buf: Uint8Array, nowMs: number): void {
    if (!this.dhcp) return this.count('dhcp-disabled');
    const msg = parseDhcp(this.udp.payload());
    if (typeof msg === 'string') return this.countAs('dhcp', msg);
    const reply = this.dhcp.handle(msg, nowMs);
    if (!reply) return;
    const a = this.addrs;
    // RFC 2131 §4.1: broadcast when the client asked for it or has no address yet (NAK always).
    const broadcast = (reply.flags & DHCP_FLAG_BROADCAST) !== 0 || reply.messageType === DHCP_MESSAGE_TYPE.nak;
    const dstAddr = broadcast ? LIMITED_BROADCAST : reply.yiaddr || reply.ciaddr;
    const dstMac = broadcast ? BROADCAST_MAC : reply.chaddr;
    if (!this.emitDhcpFrame(PORT.lan, reply, { dstMac, srcMac: a.lanMac, srcAddr: a.lanAddr, dstAddr, srcPort: DHCP_SERVER_PORT, dstPort: DHCP_CLIENT_PORT })) return;
    this.stats.dhcpReplies++;
  }

  /** Builds a DHCP message in an Ethernet/IPv4/UDP frame in `port`'s scratch and queues it; false when there was no room. */
  private emitDhcpFrame(port: PortId, message: DhcpMessage, h: {
    dstMac: Uint8Array; srcMac: Uint8Array; srcAddr: number; dstAddr: number; srcPort: number; dstPort: number;
  }): boolean {
    const dhcpLen = dhcpBufferLength(message);
    const total = FRAME_HEADERS_UDP + dhcpLen;
    const o = this.alloc(port, total);
    if (o < 0) return false;
    const s = this.scratch[port]!;
    emitEthernet({ dst: h.dstMac, src: h.srcMac, etherType: ETHERTYPE.ipv4 }, s, o);
    const ipAt = o + ETHERNET_HEADER_LENGTH, udpAt = ipAt + IPV4_MIN_HEADER_LENGTH;
    emitIpv4({ srcAddr: h.srcAddr, dstAddr: h.dstAddr, protocol: IP_PROTOCOL.udp, payloadLength: UDP_HEADER_LENGTH + dhcpLen, ttl: 64 }, s, ipAt);
    emitUdpHeader({ srcPort: h.srcPort, dstPort: h.dstPort, payloadLength: dhcpLen }, s, udpAt);
    emitDhcp(message, s, o + FRAME_HEADERS_UDP);
    this.udp.attach(s, udpAt, UDP_HEADER_LENGTH + dhcpLen);
    this.udp.fillChecksum(h.srcAddr, h.dstAddr);
    this.emitGenerated(port, o, total);
    return true;
  }

  // ------------------------------------------------------------------ WAN

  private fromWan(buf: Uint8Array, off: number, len: number, nowMs: number): void {
    const eth = this.eth, ip = this.ip, a = this.addrs;
    if (this.wanDhcp && ip.protocol === IP_PROTOCOL.udp && (eth.dstEquals(a.wanMac) || eth.dstEquals(BROADCAST_MAC))
      && (ip.dstAddr === a.wanAddr || ip.dstAddr === LIMITED_BROADCAST || a.wanAddr === 0) && this.isUdpPorts(buf, DHCP_SERVER_PORT, DHCP_CLIENT_PORT)) {
      const msg = parseDhcp(this.udp.payload());
      if (typeof msg === 'string') return this.countAs('wan-dhcp', msg);
      return this.wanDhcp(msg, nowMs);
    }
    if (!eth.dstEquals(a.wanMac)) return this.count(eth.isGroup() ? 'wan-group' : 'wan-not-for-us');
    if (ip.dstAddr !== a.wanAddr) return this.count('wan-not-our-address');
    if (!ip.verifyChecksum()) return this.count('ip-bad-checksum');
    if (ip.protocol === IP_PROTOCOL.icmp && this.isEchoRequest()) {
      // Echo requests to our address: ours to answer (no flow can claim a request).
      return this.echoReply(PORT.wan, buf, off, len, nowMs);
    }
    if (ip.isFragment) return this.fragment(PORT.wan, nowMs);
    this.inbound(buf, off, len, nowMs);
  }

  /**
   * The inbound path, for a packet received whole and for a datagram put back together
   * alike: NAT inbound for the packet in hand (`this.ip` attached; `buf[off, off+len)` its
   * frame), TTL − 1, and out of the LAN (to the local port when a port mapping names our
   * own LAN address).
   */
  private inbound(buf: Uint8Array, off: number, len: number, nowMs: number): void {
    const ip = this.ip, a = this.addrs;
    const ipOff = ip.offset;
    const partial = (this.flagsOf(buf) & FrameFlag.csumPartial) !== 0;
    const v = this.translator.translate('inbound', buf, ipOff, ip.totalLength, nowMs, partial);
    if (v === VERDICT.drop) return this.countAs('nat', this.translator.reason);
    ip.attach(buf, ipOff, off + len - ipOff);
    if (ip.ttl <= 1) return this.count('wan-ttl-expired');
    ip.decrementTtl();
    const to = ip.dstAddr;
    this.stats.forwardedInbound++;
    if (to === a.lanAddr) return this.sendIp(PORT.local, buf, off, len, to, nowMs);
    if (!this.inLan(to)) return this.count('mapping-outside-lan');
    this.sendIp(PORT.lan, buf, off, len, to, nowMs);
  }

  // ------------------------------------------------------------------ fragments

  /**
   * A fragment (`this.ip`) from the LAN or the WAN: held until its datagram is whole
   * (the NAT needs the ports), which then takes the same path as a packet received whole
   * from that side, in fragments again where the way out needs them.
   */
  private fragment(side: 0 | 1, nowMs: number): void {
    const r = this.reassembly[side].add(this.ip, nowMs);
    if (r.kind === 'pending') return;
    if (r.kind === 'drop') return this.countAs('fragment', r.reason);
    this.stats.reassembled++;
    const off = this.frameReassembled(r);
    const len = ETHERNET_HEADER_LENGTH + r.length;
    if (side === PORT.lan) this.outbound(r.buf, off, len, nowMs, true);
    else this.inbound(r.buf, off, len, nowMs);
  }

  /**
   * Writes an Ethernet header (addresses zero until sendIp sets them) in the room the
   * reassembler leaves before a datagram (REASSEMBLY_HEADROOM) and attaches `this.ip` to
   * the datagram: from here it is a frame like a received one. Returns the frame's offset.
   */
  private frameReassembled(r: Extract<ReassemblyResult, { kind: 'done' }>): number {
    const off = r.offset - ETHERNET_HEADER_LENGTH;
    emitEthernet({ dst: ZERO_MAC, src: ZERO_MAC, etherType: ETHERTYPE.ipv4 }, r.buf, off);
    this.ip.attach(r.buf, r.offset, r.length);
    return off;
  }

  // ------------------------------------------------------------------ local

  private fromLocal(buf: Uint8Array, off: number, len: number, nowMs: number): void {
    const eth = this.eth, ip = this.ip, a = this.addrs;
    if (ip.srcAddr !== a.lanAddr) return this.count('local-bad-source');
    const dst = ip.dstAddr;
    this.stats.fromLocal++;
    if (eth.isGroup() || dst === this.lanBroadcast || dst === LIMITED_BROADCAST || isMulticast(dst)) {
      eth.setSrc(a.lanMac);
      if (dst === this.lanBroadcast || dst === LIMITED_BROADCAST) eth.setDst(BROADCAST_MAC);
      return this.forwardFrame(PORT.lan, off, len);
    }
    if (this.inLan(dst)) return this.sendIp(PORT.lan, buf, off, len, dst, nowMs);
    if (this.isMappedReply(buf)) return this.localReplyToWan(buf, off, len, nowMs);
    this.count('local-to-wan');
  }

  /**
   * The packet from the local port answers a flow that a port mapping to the gateway's own
   * LAN address let in (a service of ours published on the WAN). Only such flows: our own
   * services never open connections to the WAN.
   */
  private isMappedReply(buf: Uint8Array): boolean {
    const ip = this.ip;
    if ((ip.protocol !== IP_PROTOCOL.tcp && ip.protocol !== IP_PROTOCOL.udp) || ip.isFragment || ip.payloadLength < 4) return false;
    const o = ip.payloadOffset;
    const srcPort = (buf[o]! << 8) | buf[o + 1]!;
    const dstPort = (buf[o + 2]! << 8) | buf[o + 3]!;
    return this.table.peekOutbound(ip.protocol, ip.srcAddr, srcPort, ip.dstAddr, dstPort)
      || this.table.isMappedEndpoint(ip.protocol, ip.srcAddr, srcPort, ip.dstAddr);
  }

  private localReplyToWan(buf: Uint8Array, off: number, len: number, nowMs: number): void {
    if (!this.ip.verifyChecksum()) return this.count('ip-bad-checksum');
    this.outbound(buf, off, len, nowMs, false);
  }

  // ------------------------------------------------------------------ ICMP

  /** Answers an echo request to one of our addresses, in place, out of the port it came from. */
  private echoReply(port: 0 | 1, buf: Uint8Array, off: number, len: number, nowMs: number): void {
    const ip = this.ip;
    if (!this.icmp.verifyChecksum()) return this.count('icmp-bad-checksum');
    const src = ip.srcAddr;
    ip.setSrcAddr(ip.dstAddr);
    ip.setDstAddr(src);
    ip.setTtl(64);
    ip.fillChecksum();
    echoRequestToReply(this.icmp);
    this.stats.echoReplies++;
    const nextHop = port === PORT.lan ? src : this.wanNextHop(src);
    this.sendIp(port, buf, off, len, nextHop, nowMs);
  }

  /**
   * The NAT refused an outbound packet (in `this.ip`): counted by reason. When the refusal
   * is for want of room (table full, the host's flow limit, no free port) and the packet
   * would have started a TCP or UDP flow, the sender hears ICMP destination unreachable,
   * code 13 (communication administratively prohibited), as RFC 5508 (REQ-8) asks of a NAT
   * that cannot create a session, so that its connect fails at once instead of timing out.
   * ICMP queries get no error (RFC 1812: none about ICMP), other refusals neither.
   */
  private refusedOutbound(buf: Uint8Array): void {
    const reason = this.translator.reason;
    this.countAs('nat', reason);
    const noRoom = reason === 'table-full' || reason === 'client-flow-limit' || reason === 'ports-exhausted';
    if (noRoom && (this.ip.protocol === IP_PROTOCOL.tcp || this.ip.protocol === IP_PROTOCOL.udp)) {
      this.icmpError(PORT.lan, buf, ICMP_TYPE.destinationUnreachable, ICMP_UNREACHABLE_PROHIBITED, 0, this.addrs.lanAddr);
    }
  }

  /**
   * Sends an ICMP error about the packet in `this.ip` back out of `port`, from
   * `fromAddr`. RFC 1812 4.3.2.7: never about an ICMP error, a non-first fragment, or
   * a broadcast/multicast; rate-limited.
   */
  private icmpError(port: 0 | 1, _buf: Uint8Array, type: number, code: number, rest: number, fromAddr: number): void {
    const ip = this.ip;
    // A refusal by the NAT is counted by its own reason (refusedOutbound).
    if (type === ICMP_TYPE.timeExceeded) this.count('ttl-expired');
    else if (code !== ICMP_UNREACHABLE_PROHIBITED) this.count('too-big');
    if (ip.fragmentOffset !== 0 || isMulticast(ip.dstAddr) || ip.dstAddr === LIMITED_BROADCAST) return;
    if (ip.protocol === IP_PROTOCOL.icmp && this.icmp.attach(ip.buf, ip.payloadOffset, ip.payloadLength) === 'ok' && this.icmp.isError) return;
    const nowMs = this.nowMs;
    if (nowMs - this.icmpRefillMs >= 1000) { this.icmpTokens = 100; this.icmpRefillMs = nowMs; }
    if (this.icmpTokens <= 0) return this.count('icmp-rate-limited');
    this.icmpTokens--;
    const quoteLen = Math.min(ip.presentLength, ICMP_ERROR_MAX_QUOTE);
    const total = ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + ICMP_HEADER_LENGTH + quoteLen;
    const o = this.alloc(port, total);
    if (o < 0) return;
    const s = this.scratch[port]!;
    const srcMac = this.eth.src();
    emitEthernet({ dst: srcMac, src: port === PORT.lan ? this.addrs.lanMac : this.addrs.wanMac, etherType: ETHERTYPE.ipv4 }, s, o);
    const n = emitIcmpError({ type, code, rest, srcAddr: fromAddr, offending: ip.buf, offendingOffset: ip.offset, offendingLength: quoteLen }, s, o + 14);
    this.emitGenerated(port, o, ETHERNET_HEADER_LENGTH + n);
    this.stats.icmpSent++;
  }

  /** Counters for the admin API, the metrics and the replay's summary: copies, so a snapshot does not move under its reader. */
  status(): RouterCounters {
    return {
      stats: { ...this.stats },
      drops: { ...this.drops },
      neighbours: { lan: this.neighbours[0].size, wan: this.neighbours[1].size, heldDropped: this.neighbours[0].dropped + this.neighbours[1].dropped },
      nat: { flows: this.table.size, ...this.table.counters, drops: { ...this.table.counters.drops } },
      fragments: { lan: { inProgress: this.reassembly[0].size, ...this.reassembly[0].counters }, wan: { inProgress: this.reassembly[1].size, ...this.reassembly[1].counters } },
    };
  }
}
