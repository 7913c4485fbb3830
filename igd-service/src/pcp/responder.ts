/**
 * PCP behind the NAT-PMP socket: the handler the NAT-PMP engine calls for a version-2
 * datagram (answerPcp over the mapping service, with the shared epoch), the unsolicited
 * ANNOUNCE the server multicasts, the unsolicited MAP responses it sends each client
 * after an external address change (§14.2, updates.ts), and the counts /status shows
 * (answers by result code, drops by reason).
 *
 * Policy: THIRD_PARTY is off unless configured; when on, a LAN host may act for another
 * LAN host (never for the gateway itself or outside the LAN), and the mapping service's
 * igd.rules then apply to that host as to any other internal client.
 * Must not: throw or reject for any datagram (answerPcp never rejects).
 */
import type { MappingService } from '../mapping/mapping-service.js';
import { addressInBlock } from '../mapping-rules.js';
import type { PcpHandler } from '../natpmp/natpmp-engine.js';
import { PCP_DEFAULT_POLICY, answerPcp } from './engine.js';
import type { PcpPolicy } from './engine.js';
import { MappingServicePcpTable } from './table.js';
import { pcpMappingUpdates } from './updates.js';
import type { PcpUpdateBatch } from './updates.js';
import { PCP_DROP_REASON, encodePcpAnnounce, pcpResultName } from './wire.js';
import type { PcpDropReason } from './wire.js';

export interface PcpResponderOptions {
  /** The LAN, `a.b.c.d/len`, and the gateway's address on it: the hosts THIRD_PARTY may name. */
  readonly lan: string;
  readonly gatewayAddress: string;
  /** THIRD_PARTY honoured (RFC 6887 §13.1); default false: answered UNSUPP_OPTION. */
  readonly allowThirdParty?: boolean;
}

export interface PcpStats {
  /** Datagrams answered. */
  readonly requests: number;
  /** Answers by result name (SUCCESS, NOT_AUTHORIZED, ...). */
  readonly results: Readonly<Record<string, number>>;
  /** Datagrams dropped unanswered, by reason. */
  readonly drops: Readonly<Record<PcpDropReason, number>>;
}

export class PcpResponder {
  readonly policy: PcpPolicy;
  private readonly table: MappingServicePcpTable;
  private readonly counts = {
    requests: 0,
    results: {} as Record<string, number>,
    drops: Object.fromEntries(Object.values(PCP_DROP_REASON).map((r) => [r, 0])) as Record<PcpDropReason, number>,
  };

  constructor(private readonly mappings: MappingService, options: PcpResponderOptions) {
    this.table = new MappingServicePcpTable(mappings);
    const thirdParty = options.allowThirdParty ?? false;
    this.policy = {
      ...PCP_DEFAULT_POLICY,
      thirdPartyEnabled: thirdParty,
      allowThirdParty: (_requester, internal) => thirdParty && internal !== options.gatewayAddress && addressInBlock(internal, options.lan),
    };
  }

  /** The NAT-PMP engine's hook for version-2 datagrams. */
  readonly handle: PcpHandler = async (datagram, sourceAddress, epochSeconds) => {
    const outcome = await answerPcp(datagram, { sourceAddress, epochSeconds, table: this.table, policy: this.policy });
    if (outcome.kind === 'drop') {
      this.counts.drops[outcome.reason]++;
      return undefined;
    }
    this.counts.requests++;
    const name = pcpResultName(outcome.result);
    this.counts.results[name] = (this.counts.results[name] ?? 0) + 1;
    return outcome.bytes;
  };

  /** The unsolicited ANNOUNCE (§14.1.3) with the epoch of its moment. */
  announcement(epochSeconds: number): Uint8Array {
    return encodePcpAnnounce(epochSeconds);
  }

  /**
   * The unsolicited MAP responses (§14.2) for the mappings PCP holds now, with the
   * current external address, lifetimes as they are now, and `epochSeconds`; at most `limit`.
   */
  mappingUpdates(epochSeconds: number, limit: number): PcpUpdateBatch {
    return pcpMappingUpdates(this.mappings.list(), this.mappings.backend.externalAddress(), epochSeconds, this.mappings.clock(), limit);
  }

  stats(): PcpStats {
    return { requests: this.counts.requests, results: { ...this.counts.results }, drops: { ...this.counts.drops } };
  }
}
