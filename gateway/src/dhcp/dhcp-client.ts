/**
 * The WAN's DHCP client (RFC 2131 §4.4), as a state machine without I/O or clock: the
 * owner feeds it received messages and the time, and it asks for messages to be sent and
 * reports leases gained and lost. `wan.address: dhcp` in the config.
 *
 *   INIT ─DISCOVER→ SELECTING ─OFFER/REQUEST→ REQUESTING ─ACK→ BOUND
 *   BOUND ─T1→ RENEWING (unicast REQUEST to the server) ─T2→ REBINDING (broadcast)
 *   RENEWING/REBINDING ─ACK→ BOUND (lease extended) ; ─NAK or lease end→ INIT
 *   REQUESTING ─NAK or no answer→ INIT
 *
 * Retransmission (§4.1): 4 s, doubling to 64 s, ±1 s jitter, in SELECTING and REQUESTING
 * (REQUESTING gives up after 4 tries and starts over); in RENEWING/REBINDING, half the
 * time left until T2 / the lease's end, at least 60 s (§4.4.5).
 */
import { prefixMask } from '@openigd/nat-table';
import {
  DHCP_MESSAGE_TYPE, DHCP_OPTION, addrOption, optionAddress, type DhcpMessage,
} from './dhcp-message.js';

export type DhcpClientState = 'init' | 'selecting' | 'requesting' | 'bound' | 'renewing' | 'rebinding';

export interface DhcpClientLease {
  readonly address: number;
  readonly prefixLength: number;
  /** First router of option 3, or 0 when the server gave none. */
  readonly router: number;
  readonly server: number;
  readonly leaseSeconds: number;
  readonly dns: readonly number[];
}

export interface DhcpClientEvents {
  /** Send `message`: broadcast (to 255.255.255.255 from 0.0.0.0 or our address) or unicast to `to`. */
  send(message: DhcpMessage, to: number | 'broadcast'): void;
  /** A lease was gained or renewed with other parameters (`null`: the address is lost). */
  lease(lease: DhcpClientLease | null): void;
}

export interface DhcpClientOptions {
  /** Our WAN MAC (chaddr and client identifier). */
  readonly mac: Uint8Array;
  /** Option 12, optional. */
  readonly hostName?: string;
  /** Uniform in [0, 1): transaction ids and jitter. */
  readonly random?: () => number;
}

const INFINITE = 0xffffffff;
const REQUEST_TRIES = 4;

/** The prefix length of a contiguous netmask, or -1. */
function prefixFromMask(mask: number): number {
  for (let n = 0; n <= 32; n++) if (prefixMask(n) === mask >>> 0) return n;
  return -1;
}

function u32(v: Uint8Array | undefined): number | null {
  return v && v.length === 4 ? ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0 : null;
}

export class DhcpClient {
  state: DhcpClientState = 'init';
  private xid = 0;
  private tries = 0;
  private nextSendMs = 0;
  private offered: { address: number; server: number } | null = null;
  private bound: DhcpClientLease | null = null;
  private t1Ms = 0;
  private t2Ms = 0;
  private endMs = 0;
  private startedMs = 0;
  readonly counters = { sent: 0, received: 0, ignored: 0, naks: 0, leases: 0, lost: 0 };
  private readonly random: () => number;
  private readonly clientId: Uint8Array;

  constructor(private readonly options: DhcpClientOptions, private readonly events: DhcpClientEvents) {
    this.random = options.random ?? Math.random;
    this.clientId = Uint8Array.from([1, ...options.mac]);
  }

  /** The lease in force, or null. */
  get lease(): DhcpClientLease | null {
    return this.bound;
  }

  /** Starts (or restarts) from INIT: sends a DISCOVER now. */
  start(nowMs: number): void {
    this.toInit(nowMs);
  }

  /** Sends RELEASE for a lease in force (at shutdown) and stops. */
  release(): void {
    if (!this.bound) return;
    const m = this.message(DHCP_MESSAGE_TYPE.release, this.bound.address);
    m.options.set(DHCP_OPTION.serverId, addrOption(this.bound.server));
    this.send(m, this.bound.server);
    this.bound = null;
    this.state = 'init';
    this.nextSendMs = Number.POSITIVE_INFINITY;
  }

  /** Drives timers: retransmissions, T1, T2, the lease's end. Call every second or so. */
  tick(nowMs: number): void {
    switch (this.state) {
      case 'init':
        if (nowMs >= this.nextSendMs) this.toInit(nowMs);
        return;
      case 'selecting':
        if (nowMs >= this.nextSendMs) this.sendDiscover(nowMs);
        return;
      case 'requesting':
        if (nowMs < this.nextSendMs) return;
        if (this.tries >= REQUEST_TRIES) return this.toInit(nowMs);
        return this.sendSelectingRequest(nowMs);
      case 'bound':
        if (nowMs >= this.t1Ms) {
          this.state = 'renewing';
          this.xid = this.newXid();
          this.nextSendMs = nowMs;
          this.tick(nowMs);
        }
        return;
      case 'renewing':
      case 'rebinding':
        if (nowMs >= this.endMs) {
          this.counters.lost++;
          this.bound = null;
          this.events.lease(null);
          return this.toInit(nowMs);
        }
        if (this.state === 'renewing' && nowMs >= this.t2Ms) {
          this.state = 'rebinding';
          this.nextSendMs = nowMs;
        }
        if (nowMs >= this.nextSendMs) this.sendExtendRequest(nowMs);
        return;
    }
  }

  /** A DHCP message that arrived for our MAC on the client port. */
  receive(m: DhcpMessage, nowMs: number): void {
    if (m.op !== 2 || m.xid !== this.xid || !this.isOurs(m.chaddr)) {
      this.counters.ignored++;
      return;
    }
    this.counters.received++;
    const server = optionAddress(m, DHCP_OPTION.serverId);
    if (m.messageType === DHCP_MESSAGE_TYPE.offer && this.state === 'selecting') {
      if (server === null || m.yiaddr === 0) return void this.counters.ignored++;
      this.offered = { address: m.yiaddr, server };
      this.state = 'requesting';
      this.tries = 0;
      this.sendSelectingRequest(nowMs);
      return;
    }
    if (m.messageType === DHCP_MESSAGE_TYPE.nak && (this.state === 'requesting' || this.state === 'renewing' || this.state === 'rebinding')) {
      this.counters.naks++;
      if (this.bound) {
        this.bound = null;
        this.counters.lost++;
        this.events.lease(null);
      }
      // §3.1: after a NAK the client restarts; a short pause keeps a broken server from a storm.
      this.state = 'init';
      this.nextSendMs = nowMs + 1000;
      return;
    }
    if (m.messageType === DHCP_MESSAGE_TYPE.ack && (this.state === 'requesting' || this.state === 'renewing' || this.state === 'rebinding')) {
      const lease = this.leaseOf(m, server ?? this.bound?.server ?? this.offered?.server ?? 0);
      if (!lease) return void this.counters.ignored++;
      const changed = !this.bound || this.bound.address !== lease.address || this.bound.prefixLength !== lease.prefixLength
        || this.bound.router !== lease.router;
      this.bound = lease;
      this.state = 'bound';
      // Times count from when the request went out (§4.4.1); our send time is close enough.
      const boundAtMs = this.startedMs;
      const t1 = u32(m.options.get(DHCP_OPTION.renewalTime));
      const t2 = u32(m.options.get(DHCP_OPTION.rebindingTime));
      if (lease.leaseSeconds === INFINITE) {
        this.t1Ms = this.t2Ms = this.endMs = Number.POSITIVE_INFINITY;
      } else {
        const s = lease.leaseSeconds * 1000;
        this.endMs = boundAtMs + s;
        this.t1Ms = boundAtMs + (t1 !== null && t1 < lease.leaseSeconds ? t1 * 1000 : s * 0.5);
        this.t2Ms = boundAtMs + (t2 !== null && t2 < lease.leaseSeconds ? t2 * 1000 : s * 0.875);
      }
      this.counters.leases++;
      if (changed) this.events.lease(lease);
      return;
    }
    this.counters.ignored++;
  }

  private leaseOf(m: DhcpMessage, server: number): DhcpClientLease | null {
    const mask = optionAddress(m, DHCP_OPTION.subnetMask);
    const leaseSeconds = u32(m.options.get(DHCP_OPTION.leaseTime));
    if (m.yiaddr === 0 || leaseSeconds === null || leaseSeconds === 0) return null;
    // Without option 1 the class of the address decides (RFC 1122 §3.3.1.1 fallback): use /24.
    const prefixLength = mask === null ? 24 : prefixFromMask(mask);
    if (prefixLength < 1 || prefixLength > 30) return null;
    const routers = m.options.get(DHCP_OPTION.router);
    const dnsBytes = m.options.get(DHCP_OPTION.dnsServers) ?? new Uint8Array(0);
    const dns: number[] = [];
    for (let i = 0; i + 4 <= dnsBytes.length && dns.length < 4; i += 4) dns.push(u32(dnsBytes.subarray(i, i + 4))!);
    return {
      address: m.yiaddr, prefixLength, router: routers && routers.length >= 4 ? u32(routers.subarray(0, 4))! : 0,
      server, leaseSeconds, dns,
    };
  }

  private toInit(nowMs: number): void {
    this.state = 'selecting';
    this.offered = null;
    this.xid = this.newXid();
    this.tries = 0;
    this.sendDiscover(nowMs);
  }

  private sendDiscover(nowMs: number): void {
    if (this.tries === 0) this.startedMs = nowMs;
    this.send(this.message(DHCP_MESSAGE_TYPE.discover, 0), 'broadcast');
    this.backoff(nowMs);
  }

  private sendSelectingRequest(nowMs: number): void {
    const m = this.message(DHCP_MESSAGE_TYPE.request, 0);
    m.options.set(DHCP_OPTION.requestedAddress, addrOption(this.offered!.address));
    m.options.set(DHCP_OPTION.serverId, addrOption(this.offered!.server));
    this.startedMs = nowMs;
    this.send(m, 'broadcast');
    this.backoff(nowMs);
  }

  /** RENEWING: unicast to the server; REBINDING: broadcast. ciaddr set, no server id (§4.3.2). */
  private sendExtendRequest(nowMs: number): void {
    const lease = this.bound!;
    this.startedMs = nowMs;
    this.send(this.message(DHCP_MESSAGE_TYPE.request, lease.address), this.state === 'renewing' ? lease.server : 'broadcast');
    const until = this.state === 'renewing' ? this.t2Ms : this.endMs;
    this.nextSendMs = nowMs + Math.max(60_000, (until - nowMs) / 2);
  }

  private backoff(nowMs: number): void {
    const base = Math.min(64_000, 4000 * 2 ** this.tries);
    this.tries++;
    this.nextSendMs = nowMs + base + (this.random() * 2000 - 1000);
  }

  private message(type: number, ciaddr: number): DhcpMessage {
    const options = new Map<number, Uint8Array>();
    options.set(DHCP_OPTION.clientId, this.clientId);
    if (this.options.hostName) options.set(DHCP_OPTION.hostName, new TextEncoder().encode(this.options.hostName.slice(0, 63)));
    if (type !== DHCP_MESSAGE_TYPE.release) {
      options.set(DHCP_OPTION.parameterList, Uint8Array.from([
        DHCP_OPTION.subnetMask, DHCP_OPTION.router, DHCP_OPTION.dnsServers, DHCP_OPTION.leaseTime,
        DHCP_OPTION.renewalTime, DHCP_OPTION.rebindingTime,
      ]));
    }
    return {
      op: 1, xid: this.xid, secs: 0, flags: ciaddr === 0 ? 0x8000 : 0, ciaddr, yiaddr: 0, siaddr: 0, giaddr: 0,
      chaddr: this.options.mac, messageType: type as DhcpMessage['messageType'], options,
    };
  }

  private send(m: DhcpMessage, to: number | 'broadcast'): void {
    this.counters.sent++;
    this.events.send(m, to);
  }

  private isOurs(chaddr: Uint8Array): boolean {
    for (let i = 0; i < 6; i++) if (chaddr[i] !== this.options.mac[i]) return false;
    return true;
  }

  private newXid(): number {
    return Math.floor(this.random() * 0x1_0000_0000) >>> 0;
  }
}
