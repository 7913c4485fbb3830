/**
 * NAT-PMP (RFC 6886) over the mapping service, without sockets: `handle(datagram, source)`
 * resolves with the answer to send back to the source (or undefined: a counted drop), and
 * `announcement()` builds the gratuitous external-address response the server multicasts.
 *
 *   1. decode (natpmp-wire.ts); drops counted by reason; a source outside the LAN is dropped
 *   2. version 2 → the PCP hook (absent: NAT-PMP's Unsupported Version, which RFC 6887 §9
 *      tells PCP clients to read as "this server speaks NAT-PMP only")
 *   3. op 0 → the external address, or result 3 (Network Failure) while there is none
 *   4. op 1/2, lifetime > 0 → MappingService.mapEndpoint for the source address: its mapping
 *      of that internal port is renewed where it is; else the suggested port, else another
 *      (§3.3: "the NAT gateway MUST return an available external port if possible")
 *   5. op 1/2, lifetime 0 → delete that internal port's NAT-PMP mapping, or with internal
 *      port 0 all of the client's NAT-PMP mappings of that protocol (§3.4); a mapping of the
 *      port made through another protocol is not NAT-PMP's to delete: result 2
 *
 * Seconds Since Start of Epoch count from the engine's creation and restart at 0 when the
 * external address changes (clients then renew, and PCP requires it: RFC 6887 §8.5).
 * Must not: throw on any datagram, map an address other than the request's source (§3.3), or
 * grant a lifetime longer than asked (§3.3 "SHOULD NOT offer a lease lifetime greater").
 */
import type { MappingService, PutMappingResult } from '../mapping/mapping-service.js';
import type { ActionFailureReason } from '../faults.js';
import type { MappingProtocol } from '../types.js';
import { addressInBlock } from '../mapping-rules.js';
import { parseIpv4 } from '../ipv4.js';
import {
  NATPMP_RESULT, decodeNatPmpRequest, encodeExternalAddressResponse, encodeMapResponse,
  encodeUnsupportedOpcode, encodeUnsupportedVersion,
} from './natpmp-wire.js';
import type { NatPmpDropReason, NatPmpResult } from './natpmp-wire.js';

/**
 * Where a PCP engine plugs in: the answer to a version-2 datagram, or undefined to drop it
 * (the handler counts its own drops). `epochSeconds` is this server's epoch: NAT-PMP and
 * PCP share one mapping state, so they share its start (RFC 6887 §8.5).
 */
export type PcpHandler = (datagram: Uint8Array, sourceAddress: string, epochSeconds: number) => Promise<Uint8Array | undefined>;

export interface NatPmpEngineOptions {
  /** The LAN, `a.b.c.d/len`: requests from elsewhere are dropped (§3.3: internal interface only). */
  readonly lan: string;
  /** Longest lifetime granted, seconds. Default 86400. */
  readonly maxLifetimeSeconds?: number;
}

export interface NatPmpEngineComponents {
  readonly mappings: MappingService;
  /** A monotonic clock, ms: the epoch's. Default performance.now. */
  readonly monotonicNow?: () => number;
  /** Version-2 datagrams; absent: answered Unsupported Version. */
  readonly pcp?: PcpHandler;
}

export interface NatPmpStats {
  readonly requests: number;
  /** Answers sent, by result code 0–5. */
  readonly results: readonly number[];
  readonly drops: Readonly<Record<NatPmpDropReason | 'not-lan', number>>;
  readonly pcp: number;
  readonly epochResets: number;
}

const DEFAULT_MAX_LIFETIME_SECONDS = 86_400;
const MAX_RESPONSE_BYTES = 16;

const PROTOCOL_OF_OPCODE: Record<1 | 2, MappingProtocol> = { 1: 'UDP', 2: 'TCP' };

/** A mapping-service outcome as a NAT-PMP result code (§3.5). */
export function natPmpResultFor(reason: ActionFailureReason): NatPmpResult {
  switch (reason) {
    case 'no-port-maps-available':
    case 'conflict':
    case 'conflict-with-other-mechanism':
    case 'action-failed':
      return NATPMP_RESULT.outOfResources;
    default:
      return NATPMP_RESULT.notAuthorized;
  }
}

export class NatPmpEngine {
  private readonly mappings: MappingService;
  private readonly monotonicNow: () => number;
  private readonly pcp: PcpHandler | undefined;
  private readonly lan: string;
  private readonly maxLifetimeSeconds: number;
  private epochStartMs: number;
  private readonly counts = {
    requests: 0, pcp: 0, epochResets: 0,
    results: [0, 0, 0, 0, 0, 0],
    drops: { short: 0, oversized: 0, 'wrong-length': 0, response: 0, 'not-lan': 0 } as Record<NatPmpDropReason | 'not-lan', number>,
  };

  constructor(options: NatPmpEngineOptions, components: NatPmpEngineComponents) {
    this.mappings = components.mappings;
    this.monotonicNow = components.monotonicNow ?? (() => performance.now());
    this.pcp = components.pcp;
    this.lan = options.lan;
    this.maxLifetimeSeconds = options.maxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS;
    this.epochStartMs = this.monotonicNow();
  }

  /** Seconds Since Start of Epoch now (§3.6). */
  epochSeconds(): number {
    return Math.min(0xffff_ffff, Math.floor((this.monotonicNow() - this.epochStartMs) / 1000));
  }

  /** Starts a new epoch at 0: the external address changed (or the table was lost). */
  resetEpoch(): void {
    this.epochStartMs = this.monotonicNow();
    this.counts.epochResets++;
  }

  /** The gratuitous §3.2.1 announcement: an op-0 response with the current address and epoch. */
  announcement(): Uint8Array {
    return this.externalAddressResponse();
  }

  /**
   * The answer to one datagram from `sourceAddress` (sent back to its source port), or undefined for a counted
   * drop. The returned bytes are the caller's. Never rejects.
   */
  async handle(datagram: Uint8Array, sourceAddress: string): Promise<Uint8Array | undefined> {
    if (!addressInBlock(sourceAddress, this.lan)) {
      this.counts.drops['not-lan']++;
      return undefined;
    }
    const request = decodeNatPmpRequest(datagram);
    switch (request.kind) {
      case 'drop':
        this.counts.drops[request.reason]++;
        return undefined;
      case 'pcp':
        this.counts.pcp++;
        return this.pcp ? this.pcp(datagram, sourceAddress, this.epochSeconds()) : this.answered(this.unsupportedVersion());
      case 'unsupported-version':
        this.counts.requests++;
        return this.answered(this.unsupportedVersion());
      case 'unsupported-opcode': {
        this.counts.requests++;
        const out = new Uint8Array(Math.max(datagram.length, 4));
        encodeUnsupportedOpcode(out, datagram);
        return this.answered(out);
      }
      case 'external-address':
        this.counts.requests++;
        return this.answered(this.externalAddressResponse());
      case 'map':
        this.counts.requests++;
        return this.answered(await this.map(request.opcode, request.internalPort, request.suggestedExternalPort, request.lifetimeSeconds, sourceAddress));
    }
  }

  stats(): NatPmpStats {
    return { ...this.counts, results: [...this.counts.results], drops: { ...this.counts.drops } };
  }

  // ---- internals -------------------------------------------------------------------------

  private answered(response: Uint8Array): Uint8Array {
    const result = (response[2]! << 8) | response[3]!;
    if (result < this.counts.results.length) this.counts.results[result]!++;
    return response;
  }

  private unsupportedVersion(): Uint8Array {
    const out = new Uint8Array(MAX_RESPONSE_BYTES);
    return out.subarray(0, encodeUnsupportedVersion(out, this.epochSeconds()));
  }

  private externalAddressResponse(): Uint8Array {
    const out = new Uint8Array(MAX_RESPONSE_BYTES);
    const address = this.mappings.backend.externalAddress();
    const result = address === '' ? NATPMP_RESULT.networkFailure : NATPMP_RESULT.success;
    return out.subarray(0, encodeExternalAddressResponse(out, result, this.epochSeconds(), parseIpv4(address) ?? 0));
  }

  private async map(opcode: 1 | 2, internalPort: number, suggestedPort: number, lifetimeSeconds: number, client: string): Promise<Uint8Array> {
    const protocol = PROTOCOL_OF_OPCODE[opcode];
    const answer = (result: NatPmpResult, externalPort = 0, lifetime = 0): Uint8Array => {
      const out = new Uint8Array(MAX_RESPONSE_BYTES);
      encodeMapResponse(out, opcode, result, this.epochSeconds(), internalPort, externalPort, lifetime);
      return out;
    };
    if (lifetimeSeconds === 0) return answer(await this.unmap(protocol, internalPort, client));
    // Internal port 0 names every port only in a deletion; as a mapping it is no port at all.
    if (internalPort === 0) return answer(NATPMP_RESULT.notAuthorized);
    if (this.mappings.backend.externalAddress() === '') return answer(NATPMP_RESULT.networkFailure);
    const granted = Math.min(lifetimeSeconds, this.maxLifetimeSeconds);
    const result: PutMappingResult = await this.mappings.mapEndpoint({
      remoteHost: '', externalPort: suggestedPort, protocol, internalPort, internalClient: client, enabled: true,
      description: `NAT-PMP ${internalPort} ${protocol.toLowerCase()}`, leaseSeconds: granted, origin: 'natpmp', requester: client,
    }, 'preferred');
    if (!result.ok) return answer(natPmpResultFor(result.reason));
    return answer(NATPMP_RESULT.success, result.mapping.externalPort, result.mapping.leaseSeconds);
  }

  /**
   * §3.4: deletes this client's NAT-PMP mapping of the port (0: of every port); absent is
   * success. A port mapped only through UPnP or PCP is, like a manual mapping, not NAT-PMP's
   * to delete: result 2 (with internal port 0 such mappings are left and not counted).
   */
  private async unmap(protocol: MappingProtocol, internalPort: number, client: string): Promise<NatPmpResult> {
    const held = this.mappings.endpointMappings(protocol, client, internalPort);
    const ours = held.filter((m) => m.origin === 'natpmp');
    if (internalPort !== 0 && ours.length === 0 && held.length > 0) return NATPMP_RESULT.notAuthorized;
    let result: NatPmpResult = NATPMP_RESULT.success;
    for (const mapping of ours) {
      const deleted = await this.mappings.delete(mapping, client);
      if (!deleted.ok && deleted.reason !== 'no-such-entry') result = natPmpResultFor(deleted.reason);
    }
    return result;
  }
}
