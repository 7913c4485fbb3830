/**
 * The LAN's DHCP server (RFC 2131 §4.3): DISCOVER → OFFER, REQUEST → ACK/NAK,
 * RELEASE, DECLINE, INFORM, over an address range, with router and DNS options.
 * It decides answers only: the router parses the frame, calls `handle` with the
 * message and the time, and sends what comes back. Leases are kept in memory and
 * written through `LeaseFile` so they survive restarts.
 */
import { prefixMask } from '@openigd/nat-table';
import {
  DHCP_MESSAGE_TYPE, DHCP_OPTION, addrOption, optionAddress, u32Option,
  type DhcpMessage, type DhcpMessageType,
} from './dhcp-message.js';

export interface DhcpServerOptions {
  /** The gateway's LAN address: server identifier and default router. */
  readonly serverAddr: number;
  readonly prefixLength: number;
  readonly rangeStart: number;
  readonly rangeEnd: number;
  readonly leaseSeconds: number;
  readonly dns: readonly number[];
  readonly domain?: string;
}

export interface DhcpLease {
  readonly mac: string;
  readonly addr: number;
  /** Wall-clock expiry in ms; an offer not yet taken holds the address for 60 s. */
  expiresAtMs: number;
  offered: boolean;
  /** The host name the client sent (option 12) with its REQUEST, when it sent one we can show. */
  readonly hostName?: string;
}

/** Where leases are kept between runs; `gateway` writes a JSON file atomically. */
export interface LeasePersistence {
  save(leases: readonly DhcpLease[]): void;
}

const OFFER_HOLD_MS = 60_000;
/**
 * Offers to clients that hold nothing yet: a token bucket for all of them together (the
 * source of a DISCOVER is a MAC anyone can make up, so there is no per-client limit), so
 * that a flood of DISCOVERs from random MACs gets a bounded number of answers.
 */
const NEW_CLIENT_OFFERS = { perSecond: 20, burst: 40 } as const;

export function macKey(chaddr: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + (chaddr[i] ?? 0).toString(16).padStart(2, '0');
  return s;
}

/** A host name of option 12 as text: letters, digits, '-', '_' and '.', 1-63 of them; anything else is not kept. */
export function clientHostName(m: DhcpMessage): string | undefined {
  const raw = m.options.get(DHCP_OPTION.hostName);
  if (!raw || raw.length === 0 || raw.length > 63) return undefined;
  const text = String.fromCharCode(...raw);
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(text) ? text : undefined;
}

export class DhcpServer {
  private readonly byMac = new Map<string, DhcpLease>();
  private readonly byAddr = new Map<number, DhcpLease>();
  private readonly declined = new Map<number, number>();
  readonly counters = {
    discover: 0, request: 0, release: 0, decline: 0, inform: 0, offer: 0, ack: 0, nak: 0, exhausted: 0, ignored: 0,
    /** DISCOVERs from clients without a lease left unanswered: NEW_CLIENT_OFFERS spent. */
    rateLimited: 0,
    /** Offers not taken up that were given to another client because the range was full. */
    offersReclaimed: 0,
  };
  private offerTokens: number = NEW_CLIENT_OFFERS.burst;
  private offerTokensAtMs = 0;

  constructor(private readonly opts: DhcpServerOptions, private readonly persistence?: LeasePersistence,
    restored: readonly DhcpLease[] = []) {
    for (const l of restored) {
      if (l.addr < opts.rangeStart || l.addr > opts.rangeEnd || l.offered) continue;
      const lease = { ...l };
      this.byMac.set(l.mac, lease);
      this.byAddr.set(l.addr, lease);
    }
  }

  leases(): readonly DhcpLease[] {
    return [...this.byMac.values()];
  }

  /** Answers one client message, or returns null when no answer is due (RFC 2131 §4.3). */
  handle(m: DhcpMessage, nowMs: number): DhcpMessage | null {
    if (m.op !== 1) return this.ignore();
    const mac = macKey(m.chaddr);
    switch (m.messageType) {
      case DHCP_MESSAGE_TYPE.discover: {
        this.counters.discover++;
        if (!this.byMac.has(mac) && !this.takeOfferToken(nowMs)) {
          this.counters.rateLimited++;
          return null;
        }
        const addr = this.pick(mac, optionAddress(m, DHCP_OPTION.requestedAddress), nowMs);
        if (addr === null) { this.counters.exhausted++; return null; }
        const existing = this.byMac.get(mac);
        if (!existing || existing.addr !== addr) this.bind(mac, addr, nowMs + OFFER_HOLD_MS, true);
        this.counters.offer++;
        return this.reply(m, DHCP_MESSAGE_TYPE.offer, addr);
      }
      case DHCP_MESSAGE_TYPE.request: {
        this.counters.request++;
        const serverId = optionAddress(m, DHCP_OPTION.serverId);
        // SELECTING state: the client chose another server.
        if (serverId !== null && serverId !== this.opts.serverAddr) {
          const l = this.byMac.get(mac);
          if (l?.offered) this.unbind(l);
          return this.ignore();
        }
        const wanted = optionAddress(m, DHCP_OPTION.requestedAddress) ?? (m.ciaddr || null);
        if (wanted === null) return this.nak(m);
        const holder = this.byAddr.get(wanted);
        const free = !holder || holder.mac === mac || holder.expiresAtMs <= nowMs;
        if (!this.inRange(wanted) || !free || this.isDeclined(wanted, nowMs)) {
          // INIT-REBOOT / RENEWING for an address we do not know and do not own: stay silent
          // only when the client is not on our subnet; here every client is, so NAK (§4.3.2).
          return this.nak(m);
        }
        if (holder && holder.mac !== mac) this.unbind(holder);
        this.bind(mac, wanted, nowMs + this.opts.leaseSeconds * 1000, false, clientHostName(m));
        this.persist();
        this.counters.ack++;
        return this.reply(m, DHCP_MESSAGE_TYPE.ack, wanted);
      }
      case DHCP_MESSAGE_TYPE.release: {
        this.counters.release++;
        const l = this.byMac.get(mac);
        if (l && l.addr === m.ciaddr) { this.unbind(l); this.persist(); }
        return null;
      }
      case DHCP_MESSAGE_TYPE.decline: {
        this.counters.decline++;
        const addr = optionAddress(m, DHCP_OPTION.requestedAddress);
        const l = this.byMac.get(mac);
        if (addr !== null && l && l.addr === addr) {
          this.unbind(l);
          this.declined.set(addr, nowMs + 10 * 60_000);
          this.persist();
        }
        return null;
      }
      case DHCP_MESSAGE_TYPE.inform: {
        this.counters.inform++;
        this.counters.ack++;
        const r = this.reply(m, DHCP_MESSAGE_TYPE.ack, 0);
        r.ciaddr = m.ciaddr;
        r.options.delete(DHCP_OPTION.leaseTime);
        r.options.delete(DHCP_OPTION.renewalTime);
        r.options.delete(DHCP_OPTION.rebindingTime);
        return r;
      }
      default:
        return this.ignore();
    }
  }

  /** Drops expired leases; returns how many went. */
  expire(nowMs: number): number {
    let n = 0;
    for (const l of [...this.byMac.values()]) {
      if (l.expiresAtMs <= nowMs) { this.unbind(l); n++; }
    }
    for (const [a, until] of this.declined) if (until <= nowMs) this.declined.delete(a);
    if (n) this.persist();
    return n;
  }

  private ignore(): null {
    this.counters.ignored++;
    return null;
  }

  private inRange(a: number): boolean {
    return a >= this.opts.rangeStart && a <= this.opts.rangeEnd;
  }

  private isDeclined(a: number, nowMs: number): boolean {
    const until = this.declined.get(a);
    return until !== undefined && until > nowMs;
  }

  /** RFC 2131 §4.3.1: the client's current binding, else the requested address, else a free one. */
  private pick(mac: string, requested: number | null, nowMs: number): number | null {
    const own = this.byMac.get(mac);
    if (own) return own.addr;
    const usable = (a: number): boolean => {
      if (!this.inRange(a) || this.isDeclined(a, nowMs)) return false;
      const h = this.byAddr.get(a);
      return !h || h.expiresAtMs <= nowMs;
    };
    if (requested !== null && usable(requested)) return requested;
    for (let a = this.opts.rangeStart; a <= this.opts.rangeEnd; a++) if (usable(a)) return a;
    return this.reclaimOffer();
  }

  /** The range is full: the oldest offer nobody took up is withdrawn and its address given out; never a bound lease. */
  private reclaimOffer(): number | null {
    for (const l of this.byMac.values()) {
      if (!l.offered) continue;
      this.unbind(l);
      this.counters.offersReclaimed++;
      return l.addr;
    }
    return null;
  }

  private takeOfferToken(nowMs: number): boolean {
    const earned = (Math.max(0, nowMs - this.offerTokensAtMs) * NEW_CLIENT_OFFERS.perSecond) / 1000;
    this.offerTokens = Math.min(NEW_CLIENT_OFFERS.burst, this.offerTokens + earned);
    this.offerTokensAtMs = nowMs;
    if (this.offerTokens < 1) return false;
    this.offerTokens -= 1;
    return true;
  }

  private bind(mac: string, addr: number, expiresAtMs: number, offered: boolean, hostName?: string): void {
    const old = this.byMac.get(mac);
    if (old) this.unbind(old);
    const stale = this.byAddr.get(addr);
    if (stale) this.unbind(stale);
    const l: DhcpLease = { mac, addr, expiresAtMs, offered, ...(hostName ? { hostName } : {}) };
    this.byMac.set(mac, l);
    this.byAddr.set(addr, l);
  }

  private unbind(l: DhcpLease): void {
    this.byMac.delete(l.mac);
    if (this.byAddr.get(l.addr) === l) this.byAddr.delete(l.addr);
  }

  private persist(): void {
    this.persistence?.save(this.leases().filter((l) => !l.offered));
  }

  private nak(m: DhcpMessage): DhcpMessage {
    this.counters.nak++;
    const options = new Map<number, Uint8Array>([[DHCP_OPTION.serverId, addrOption(this.opts.serverAddr)]]);
    return { op: 2, xid: m.xid, secs: 0, flags: m.flags | 0x8000, ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: m.giaddr,
      chaddr: m.chaddr, messageType: DHCP_MESSAGE_TYPE.nak, options };
  }

  private reply(m: DhcpMessage, type: DhcpMessageType, yiaddr: number): DhcpMessage {
    const o = this.opts;
    const mask = prefixMask(o.prefixLength);
    const broadcast = ((o.serverAddr & mask) | (~mask >>> 0)) >>> 0;
    const options = new Map<number, Uint8Array>([
      [DHCP_OPTION.serverId, addrOption(o.serverAddr)],
      [DHCP_OPTION.leaseTime, u32Option(o.leaseSeconds)],
      [DHCP_OPTION.renewalTime, u32Option(Math.floor(o.leaseSeconds / 2))],
      [DHCP_OPTION.rebindingTime, u32Option(Math.floor(o.leaseSeconds * 7 / 8))],
      [DHCP_OPTION.subnetMask, addrOption(mask)],
      [DHCP_OPTION.router, addrOption(o.serverAddr)],
      [DHCP_OPTION.broadcastAddress, addrOption(broadcast)],
    ]);
    if (o.dns.length) options.set(DHCP_OPTION.dnsServers, addrOption(...o.dns));
    if (o.domain) options.set(DHCP_OPTION.domainName, new TextEncoder().encode(o.domain));
    return { op: 2, xid: m.xid, secs: 0, flags: m.flags, ciaddr: 0, yiaddr, siaddr: o.serverAddr, giaddr: m.giaddr,
      chaddr: m.chaddr, messageType: type, options };
  }
}
