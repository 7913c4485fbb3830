/**
 * The PCP engine's table (PcpMappingTable, engine.ts) over the protocol-neutral mapping
 * service: PCP's explicit mappings are the service's wildcard-remote-host mappings of one
 * internal endpoint with origin 'pcp', its nonce and its FILTER set stored on them (so a
 * renewal without FILTER keeps them, and they survive restarts).
 *
 *   find    the endpoint's wildcard mapping: PCP's own first, else one made through UPnP or
 *           NAT-PMP, reported as 'other'. PCP does not take over, renew, report as its own or
 *           delete a mapping of another protocol: the engine answers NOT_AUTHORIZED (a
 *           success would promise a lifetime only that protocol's client controls).
 *   map     mapEndpoint(origin 'pcp', nonce, filters), 'exact' for PREFER_FAILURE or a
 *           renewal. Refusals: another nonce → not-authorized with what the mapping has
 *           left (§11.3); the port taken → cannot-provide-external when exact, else
 *           not-authorized; the client's own limit → user-ex-quota, the table's or no free
 *           port → no-resources; igd.rules and the backend refusing the address → not-authorized.
 *   unmap   delete the endpoint's PCP mapping made with that nonce; absent is removed.
 *   peer    the backend's `peer` (the NAT's outbound flow, made as the first packet would
 *           and held for the lifetime): the same external port the host's traffic to that
 *           peer uses, its explicit mapping's port when it has one. A PEER mapping is
 *           dynamic NAT state, like any flow: the mapping service does not store it, list
 *           it or count it against limits, and it is gone after a restart or an external
 *           address change. It opens nothing inbound beyond what that flow opens under the
 *           configured filtering. The nonce is the hold's: while it lasts, another nonce
 *           is refused (not-authorized with the seconds the hold has left) and changes
 *           nothing (§12.3). The suggested external port is passed on: the NAT takes it
 *           for a new flow when its mapping behaviour leaves the choice open and the port
 *           is free. Refusals: no external address → network-failure; no free port or
 *           flow slot → no-resources; an address the NAT cannot use (IPv6, a LAN peer, an
 *           internal host outside the LAN) → not-authorized. A backend without `peer`
 *           and `endPeer` leaves them undefined: PEER is then UNSUPP_OPCODE.
 *   endPeer the backend's `endPeer` (PEER lifetime 0): the hold ends and the flow lives on
 *           by its idle timer; the same nonce rule.
 *
 * The service's per-key locks make map/unmap's checks and writes
 * atomic per endpoint; the endpoint's other-protocol check in `find` is not under that lock.
 * Must not: throw for a domain outcome, or change a mapping whose origin is not 'pcp'.
 */
import type { MappingService, PutMappingResult } from '../mapping/mapping-service.js';
import { remainingLeaseSeconds } from '../mapping/mapping-service.js';
import type { MappingProtocol, PeerFlowKey, PeerFlowResult, PortMapping } from '../types.js';
import { PCP_PROTOCOL } from './engine.js';
import type {
  PcpExistingMapping, PcpMappingKey, PcpMappingTable, PcpTableFailure, PcpTableMapRequest, PcpTablePeerEnd, PcpTablePeerFlow,
  PcpTablePeerRequest, PcpTableRefusal, PcpTableResult,
} from './engine.js';

function protocolName(protocol: number): MappingProtocol | undefined {
  if (protocol === PCP_PROTOCOL.TCP) return 'TCP';
  if (protocol === PCP_PROTOCOL.UDP) return 'UDP';
  return undefined;
}

function failure(reason: PcpTableRefusal, remainingSeconds?: number): PcpTableFailure {
  return remainingSeconds === undefined ? { ok: false, reason } : { ok: false, reason, remainingSeconds };
}

const PEER_REFUSAL: Record<Exclude<Extract<PeerFlowResult, { ok: false }>['reason'], 'held-by-other'>, PcpTableRefusal> = {
  'invalid': 'not-authorized',
  'no-external-address': 'network-failure',
  'no-resources': 'no-resources',
  'client-quota': 'user-ex-quota',
};

/** The backend's name for the flow a PEER request names; undefined for a protocol it has no flows of. */
function peerFlowKey(r: PcpTablePeerFlow): PeerFlowKey | undefined {
  const protocol = protocolName(r.key.protocol);
  if (protocol === undefined) return undefined;
  return {
    protocol, internalClient: r.key.internalAddress, internalPort: r.key.internalPort,
    remoteHost: r.remotePeerAddress, remotePort: r.remotePeerPort, nonce: r.nonce,
  };
}

export class MappingServicePcpTable implements PcpMappingTable {
  /** PEER through the backend's outbound flows; undefined when the backend has none. */
  readonly peer: ((r: PcpTablePeerRequest) => PcpTableResult) | undefined;
  readonly endPeer: ((r: PcpTablePeerFlow) => PcpTablePeerEnd) | undefined;

  constructor(private readonly mappings: MappingService) {
    const flows = mappings.backend.peer !== undefined && mappings.backend.endPeer !== undefined;
    this.peer = flows ? (r) => this.openPeerFlow(r) : undefined;
    this.endPeer = flows ? (r) => this.endPeerFlow(r) : undefined;
  }

  externalAddress(): string | undefined {
    const address = this.mappings.backend.externalAddress();
    return address === '' ? undefined : address;
  }

  find(key: PcpMappingKey): PcpExistingMapping | undefined {
    const mapping = this.endpointMapping(key, 'any');
    if (mapping === undefined) return undefined;
    return {
      origin: mapping.origin === 'pcp' ? 'pcp' : 'other',
      nonce: mapping.nonce,
      externalAddress: this.mappings.backend.externalAddress(),
      externalPort: mapping.externalPort,
      remainingSeconds: remainingLeaseSeconds(mapping, this.mappings.clock()),
      filters: mapping.filters ?? [],
    };
  }

  async map(r: PcpTableMapRequest): Promise<PcpTableResult> {
    const protocol = protocolName(r.key.protocol);
    if (protocol === undefined) return failure('unsupp-protocol');
    const result = await this.mappings.mapEndpoint({
      remoteHost: '', externalPort: r.suggestedExternalPort, protocol, internalPort: r.key.internalPort,
      internalClient: r.key.internalAddress, enabled: true, description: `PCP ${r.key.internalPort} ${protocol.toLowerCase()}`,
      leaseSeconds: r.lifetimeSeconds, origin: 'pcp', requester: r.requester, nonce: r.nonce, filters: r.filters,
    }, r.exactPort ? 'exact' : 'preferred');
    if (result.ok) {
      return { ok: true, externalAddress: this.mappings.backend.externalAddress(), externalPort: result.mapping.externalPort, lifetimeSeconds: result.mapping.leaseSeconds };
    }
    return this.refusal(result, r.exactPort);
  }

  async unmap(key: PcpMappingKey, nonce: string): Promise<{ readonly ok: true } | PcpTableFailure> {
    const mapping = this.endpointMapping(key, 'pcp');
    if (mapping === undefined) return { ok: true };
    if (mapping.nonce !== nonce) return failure('not-authorized', remainingLeaseSeconds(mapping, this.mappings.clock()));
    // The engine has authorised the requester (itself or an allowed third party) for this endpoint.
    const deleted = await this.mappings.delete(mapping, mapping.internalClient);
    if (deleted.ok || deleted.reason === 'no-such-entry') return { ok: true };
    return failure(deleted.reason === 'not-authorized' ? 'not-authorized' : 'no-resources');
  }

  private openPeerFlow(r: PcpTablePeerRequest): PcpTableResult {
    const flow = peerFlowKey(r);
    if (flow === undefined) return failure('unsupp-protocol');
    const opened = this.mappings.backend.peer!({ ...flow, lifetimeSeconds: r.lifetimeSeconds, suggestedExternalPort: r.suggestedExternalPort });
    if (!opened.ok) {
      return opened.reason === 'held-by-other' ? failure('not-authorized', opened.remainingSeconds) : failure(PEER_REFUSAL[opened.reason]);
    }
    return { ok: true, externalAddress: opened.externalAddress, externalPort: opened.externalPort, lifetimeSeconds: r.lifetimeSeconds };
  }

  private endPeerFlow(r: PcpTablePeerFlow): PcpTablePeerEnd {
    const flow = peerFlowKey(r);
    if (flow === undefined) return { ok: true, flow: undefined };
    const ended = this.mappings.backend.endPeer!(flow);
    return ended.ok ? ended : failure('not-authorized', ended.remainingSeconds);
  }

  /** The endpoint's wildcard mapping: its PCP one, or with 'any' that failing the first of another protocol. */
  private endpointMapping(key: PcpMappingKey, origin: 'pcp' | 'any'): PortMapping | undefined {
    const protocol = protocolName(key.protocol);
    if (protocol === undefined) return undefined;
    const held = this.mappings.endpointMappings(protocol, key.internalAddress, key.internalPort).filter((m) => m.remoteHost === '');
    return held.find((m) => m.origin === 'pcp') ?? (origin === 'any' ? held[0] : undefined);
  }

  /** A mapping-service refusal as the engine's reason (see the header). */
  private refusal(result: Exclude<PutMappingResult, { ok: true }>, exact: boolean): PcpTableFailure {
    if ('mapping' in result) return failure('not-authorized', remainingLeaseSeconds(result.mapping, this.mappings.clock()));
    if ('limit' in result) return failure(result.limit === 'per-client' ? 'user-ex-quota' : 'no-resources');
    switch (result.reason) {
      case 'conflict':
      case 'conflict-with-other-mechanism':
        return failure(exact ? 'cannot-provide-external' : 'not-authorized');
      case 'no-port-maps-available':
      case 'action-failed':
        return failure('no-resources');
      default:
        return failure('not-authorized');
    }
  }
}
