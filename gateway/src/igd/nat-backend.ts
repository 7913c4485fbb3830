/**
 * igd-service's PortMappingBackend over nat-table: what the IGD decides lands in the
 * NAT's port-mapping index that the packet path reads (miniupnpd's commonrdr.h idea,
 * one small API). Leases are the mapping service's to expire (on the wall clock, as stored):
 * the NAT has no leases; it holds a mapping until the service calls `remove`.
 * `peer` (PCP PEER) opens or finds an outbound flow and holds it (NatTable.openFlow): that
 * is dynamic NAT state, never stored, and it creates no inbound port mapping. The PEER's
 * nonce is the hold's tag (only that nonce extends or ends a live hold); `endPeer` ends it.
 */
import { ipv4ToString, parseIpv4, prefixMask, type NatRemoteFilter, type NatTable } from '@openigd/nat-table';
import type {
  MappingFilter, MappingKey, PeerEndResult, PeerFlowKey, PeerFlowRequest, PeerFlowResult, PeerHeldByOther, PortMapping,
  PortMappingBackend, WanCounters,
} from '@openigd/igd-service';
import type { LinkCounters } from '../link/link.js';

export interface NatBackendOptions {
  /** The gateway's LAN address and prefix: internal clients must be inside that subnet. */
  readonly lanAddr: number;
  readonly lanPrefixLength: number;
  /** The WAN link's counters (U16: the real ones). */
  readonly wanCounters: () => LinkCounters;
  /** The current WAN address (u32), 0 while there is none. */
  readonly wanAddr: () => number;
  /** Whether the WAN link is up (PhysicalLinkStatus, ConnectionStatus); absent: always. */
  readonly wanLinkUp?: () => boolean;
  /** The clock the NAT table's packets and `expire` are given (ms); PEER holds count from it. */
  readonly nowMs: () => number;
}

const PROTOCOL = { TCP: 6, UDP: 17 } as const;

/** Admits no packet: nothing comes from 0.0.0.0. */
const NO_PEER: NatRemoteFilter = { address: 0, prefixLength: 32, port: 0 };

/**
 * PCP FILTER entries as the NAT's: an IPv4 peer's prefix counts 96 + n of 128 bits, so it
 * becomes /n. The NAT is IPv4 only: an IPv6 peer can never reach the mapping, so a set of
 * IPv6 peers alone admits nobody (NO_PEER) rather than everybody.
 */
export function natFilters(filters: readonly MappingFilter[] | undefined): NatRemoteFilter[] | undefined {
  if (filters === undefined || filters.length === 0) return undefined;
  const out: NatRemoteFilter[] = [];
  for (const f of filters) {
    const address = parseIpv4(f.remoteAddress);
    if (address !== null && f.prefixLength >= 96) out.push({ address, prefixLength: f.prefixLength - 96, port: f.remotePort });
  }
  return out.length > 0 ? out : [NO_PEER];
}

/** A refusal for a hold of another nonce, with the whole seconds it has left (at least 1). */
function heldByOther(holdUntilMs: number, nowMs: number): PeerHeldByOther {
  return { ok: false, reason: 'held-by-other', remainingSeconds: Math.max(1, Math.ceil((holdUntilMs - nowMs) / 1000)) };
}

export class NatPortMappingBackend implements PortMappingBackend {
  private readonly listeners = new Set<(address: string) => void>();
  private readonly lanMask: number;
  private readonly lanNet: number;

  constructor(private readonly table: NatTable, private readonly options: NatBackendOptions) {
    this.lanMask = prefixMask(options.lanPrefixLength);
    this.lanNet = (options.lanAddr & this.lanMask) >>> 0;
  }

  apply(mapping: PortMapping): { ok: true } | { ok: false; reason: 'port-in-use' | 'invalid' } {
    const internalClient = parseIpv4(mapping.internalClient);
    const remoteHost = mapping.remoteHost === '' ? 0 : parseIpv4(mapping.remoteHost);
    if (internalClient === null || remoteHost === null || !this.isLanHost(internalClient)) return { ok: false, reason: 'invalid' };
    const r = this.table.addPortMapping({
      protocol: PROTOCOL[mapping.protocol], externalPort: mapping.externalPort, remoteHost, internalClient,
      internalPort: mapping.internalPort, enabled: mapping.enabled, description: mapping.description,
      ...(mapping.filters?.length ? { filters: natFilters(mapping.filters) } : {}),
    });
    if (r.ok) return { ok: true };
    return { ok: false, reason: r.reason === 'conflict' ? 'port-in-use' : 'invalid' };
  }

  /**
   * The outbound flow as the first packet would make it, held for `lifetimeSeconds` under
   * the request's nonce; a new flow that needs a new binding gets the suggested external
   * port when it is free. The internal side must be a LAN host, the remote one an IPv4
   * address beyond the LAN (a LAN peer is reached without the NAT); other addresses are
   * 'invalid'. A flow held under another nonce is 'held-by-other' and left as it was.
   */
  peer(r: PeerFlowRequest): PeerFlowResult {
    const ends = this.flowEnds(r);
    if (ends === undefined) return { ok: false, reason: 'invalid' };
    const now = this.options.nowMs();
    const opened = this.table.openFlow(PROTOCOL[r.protocol], ends.internal, r.internalPort, ends.remote, r.remotePort, now,
      now + r.lifetimeSeconds * 1000, { tag: r.nonce, suggestedPort: r.suggestedExternalPort });
    if (opened.ok) return { ok: true, externalAddress: ipv4ToString(opened.externalAddr), externalPort: opened.externalPort };
    if (opened.reason === 'held-by-other') return heldByOther(opened.holdUntilMs, now);
    if (opened.reason === 'no-external-address') return { ok: false, reason: 'no-external-address' };
    if (opened.reason === 'client-flow-limit') return { ok: false, reason: 'client-quota' };
    return { ok: false, reason: opened.reason === 'table-full' || opened.reason === 'ports-exhausted' ? 'no-resources' : 'invalid' };
  }

  /** Ends the hold `peer` put on the flow (NatTable.endHold); a flow it cannot name is absent. */
  endPeer(r: PeerFlowKey): PeerEndResult {
    const ends = this.flowEnds(r);
    if (ends === undefined) return { ok: true, flow: undefined };
    const now = this.options.nowMs();
    const ended = this.table.endHold(PROTOCOL[r.protocol], ends.internal, r.internalPort, ends.remote, r.remotePort, now, r.nonce);
    if (!ended.ok) return heldByOther(ended.holdUntilMs, now);
    if (!ended.found) return { ok: true, flow: undefined };
    return { ok: true, flow: { externalAddress: ipv4ToString(ended.externalAddr), externalPort: ended.externalPort } };
  }

  /** The flow's two addresses as the NAT has them, or undefined when it cannot be a NAT flow. */
  private flowEnds(r: PeerFlowKey): { internal: number; remote: number } | undefined {
    const internal = parseIpv4(r.internalClient);
    const remote = parseIpv4(r.remoteHost);
    if (internal === null || remote === null || remote === 0 || !this.isLanHost(internal) || this.inLan(remote)) return undefined;
    return { internal, remote };
  }

  /**
   * A host of the LAN (its broadcast address included, and the gateway itself): the
   * network address, and anything beyond the LAN, would forward into nowhere.
   */
  private isLanHost(addr: number): boolean {
    return this.inLan(addr) && addr !== this.lanNet;
  }

  private inLan(addr: number): boolean {
    return ((addr & this.lanMask) >>> 0) === this.lanNet;
  }

  remove(key: MappingKey): void {
    const remoteHost = key.remoteHost === '' ? 0 : parseIpv4(key.remoteHost);
    if (remoteHost === null) return;
    this.table.removePortMapping(PROTOCOL[key.protocol], key.externalPort, remoteHost);
  }

  externalAddress(): string {
    const a = this.options.wanAddr();
    return a === 0 ? '' : ipv4ToString(a);
  }

  counters(): WanCounters {
    const c = this.options.wanCounters();
    return { bytesSent: c.txBytes, bytesReceived: c.rxBytes, packetsSent: c.txFrames, packetsReceived: c.rxFrames };
  }

  linkUp(): boolean {
    return this.options.wanLinkUp?.() ?? true;
  }

  onExternalAddressChange(listener: (address: string) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Tells the listeners (the IGD: evented ExternalIPAddress) that the WAN address changed. */
  externalAddressChanged(): void {
    const address = this.externalAddress();
    for (const l of [...this.listeners]) l(address);
  }
}
