/**
 * The shapes igd-service shares between its parts, and the two seams it needs from
 * outside: the port-mapping backend (the NAT's packet path, plugged in by `gateway`)
 * and the durable mapping store. igd-service imports nothing of ours; `gateway` adapts
 * `nat-table` to `PortMappingBackend` (miniupnpd's commonrdr.h idea: one small API).
 */

/** IGD:1 PortMappingProtocol. */
export type MappingProtocol = 'TCP' | 'UDP';

/** The protocol through which a mapping was made. */
/** The protocol that made a mapping; 'admin': the gateway's operator, through the admin API. */
export type MappingOrigin = 'upnp' | 'natpmp' | 'pcp' | 'admin';

/** Every MappingOrigin, for validation. */
export const MAPPING_ORIGINS: readonly MappingOrigin[] = ['upnp', 'natpmp', 'pcp', 'admin'];

/**
 * One remote peer (prefix) allowed to reach a mapping: PCP's FILTER (RFC 6887 §13.3), kept
 * as the wire has it. `prefixLength` counts 128 bits (an IPv4 peer's /n is 96 + n);
 * `remotePort` 0 is every port; `remoteAddress` is dotted decimal for IPv4, else IPv6 text.
 */
export interface MappingFilter {
  readonly remoteAddress: string;
  readonly prefixLength: number;
  readonly remotePort: number;
}

/** Most filters one mapping may hold (the store refuses more). */
export const MAX_MAPPING_FILTERS = 64;

/** One port mapping as the IGD sees it. Addresses are dotted quads; `remoteHost` '' = any. */
export interface PortMapping {
  readonly remoteHost: string;
  readonly externalPort: number;
  readonly protocol: MappingProtocol;
  readonly internalPort: number;
  readonly internalClient: string;
  readonly enabled: boolean;
  readonly description: string;
  /** Lease as requested, seconds; 0 = static (kept forever). */
  readonly leaseSeconds: number;
  /** Absolute expiry on the wall clock (ms since epoch); 0 = never. */
  readonly expiresAtMs: number;
  /** The protocol that made it. Records stored before this field existed load as 'upnp'. */
  readonly origin: MappingOrigin;
  /** The address that asked for it (HTTP peer, UDP source); '' when unknown (older records). */
  readonly requester: string;
  /** PCP's mapping nonce, 24 lowercase hex digits (RFC 6887 §11.1); absent for other origins. */
  readonly nonce?: string;
  /**
   * PCP FILTER: only these remote peers may reach it; absent or empty, every peer may.
   * Records stored before this field existed load without it.
   */
  readonly filters?: readonly MappingFilter[];
}

/** The identity of a mapping: (remote host, external port, protocol). */
export interface MappingKey {
  readonly remoteHost: string;
  readonly externalPort: number;
  readonly protocol: MappingProtocol;
}

/** Real counters of the WAN port (U16). Totals may exceed 2^32: the SOAP layer wraps them for ui4. */
export interface WanCounters {
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly packetsSent: number;
  readonly packetsReceived: number;
}

/** One outbound flow: `internalClient:internalPort` to `remoteHost:remotePort` (PCP PEER, RFC 6887 §12). */
export interface PeerFlowKey {
  readonly protocol: MappingProtocol;
  readonly internalClient: string;
  readonly internalPort: number;
  /** Dotted quad (the NAT is IPv4 only; anything else is 'invalid'). */
  readonly remoteHost: string;
  readonly remotePort: number;
  /**
   * Whose hold it is: the PEER's mapping nonce, 24 lowercase hex digits. While the hold
   * lasts, a request with another nonce may neither extend nor end it (RFC 6887 §12.3).
   */
  readonly nonce: string;
}

/** An outbound flow to create or refresh: what the NAT would do for its first packet. */
export interface PeerFlowRequest extends PeerFlowKey {
  /** The flow is kept at least this long from now, idle or not; after that its idle timer rules. */
  readonly lifetimeSeconds: number;
  /** The external port wished for a flow that needs a new binding (0: none); a hint only. */
  readonly suggestedExternalPort: number;
}

/** The flow is held under another nonce for `remainingSeconds` more. */
export interface PeerHeldByOther {
  readonly ok: false;
  readonly reason: 'held-by-other';
  readonly remainingSeconds: number;
}

export type PeerFlowResult =
  | { readonly ok: true; readonly externalAddress: string; readonly externalPort: number }
  | { readonly ok: false; readonly reason: 'invalid' | 'no-external-address' | 'no-resources' | 'client-quota' }
  | PeerHeldByOther;

/** Ending a hold: the flow's external endpoint when there is such a flow, or a refusal. */
export type PeerEndResult =
  | { readonly ok: true; readonly flow: { readonly externalAddress: string; readonly externalPort: number } | undefined }
  | PeerHeldByOther;

/**
 * What the IGD needs from the packet path. Implemented by `gateway` over nat-table, and by
 * an in-memory backend for tests. Calls are synchronous: the packet path is in-process.
 */
export interface PortMappingBackend {
  /** Installs or replaces the forwarding rule of a mapping (a disabled one forwards nothing). */
  apply(mapping: PortMapping): { ok: true } | { ok: false; reason: 'port-in-use' | 'invalid' };
  /** Removes the forwarding rule; no-op when absent. */
  remove(key: MappingKey): void;
  /** Current external address (dotted quad), or '' while the WAN has none. */
  externalAddress(): string;
  /** Real WAN counters. */
  counters(): WanCounters;
  /** WAN link state for GetCommonLinkProperties / ConnectionStatus. */
  linkUp(): boolean;
  /** Registers a listener for external-address changes; returns an unsubscribe function. */
  onExternalAddressChange(listener: (address: string) => void): () => void;
  /**
   * Optional: creates or finds the NAT's outbound flow of `request` (with the mapping
   * behaviour and port mappings in force) and holds it for its lifetime. Dynamic state,
   * like any flow: not stored, gone on restart or an external address change. A backend
   * without it cannot answer PCP PEER.
   */
  peer?(request: PeerFlowRequest): PeerFlowResult;
  /**
   * With `peer`: ends the hold `peer` put on the flow (the flow stays, then lives by its
   * idle timer alone); no such flow is a success without `flow`.
   */
  endPeer?(request: PeerFlowKey): PeerEndResult;
}

/**
 * The durable store of mappings (U14). Every method that changes state resolves only once
 * the change is on stable storage, so a SOAP success is never lost by a crash.
 */
export interface MappingStore {
  /** Reads every stored mapping. Rejects with a StoreCorruptError on a corrupt store. */
  load(): Promise<PortMapping[]>;
  /** Adds or replaces (same key) durably. */
  put(mapping: PortMapping): Promise<void>;
  /** Deletes durably; resolves also when absent. */
  delete(key: MappingKey): Promise<void>;
  close(): Promise<void>;
}
