/**
 * The unsolicited MAP responses of RFC 6887 §14.2 ("PCP Mapping Update"), pure: when the
 * server keeps its mappings but the external address changes, each PCP client with a MAP
 * mapping is told the new address by a MAP success response as a renewal would get it
 * (its nonce, protocol, internal and external port, the lifetime left, the new epoch).
 * They go to the client's address (the requester: with THIRD_PARTY that is the client,
 * not the internal host, and the response carries THIRD_PARTY) at the PCP client port.
 *
 * PEER mappings get none: they are NAT flows, flushed when the address changes (their
 * external address is gone from every packet), so there is no kept mapping to update;
 * the ANNOUNCE sent with the new epoch makes their clients ask again.
 *
 * Must not: read a clock or the network (the caller passes both in), or build more than
 * `limit` datagrams.
 */
import type { PortMapping } from '../types.js';
import { remainingLeaseSeconds } from '../mapping/mapping-service.js';
import { PCP_PROTOCOL } from './engine.js';
import { PCP_OPCODE, encodePcpMappingUpdate } from './wire.js';

/** One unsolicited response and the client it goes to. */
export interface PcpUpdateDatagram {
  readonly address: string;
  readonly bytes: Uint8Array;
}

export interface PcpUpdateBatch {
  readonly datagrams: readonly PcpUpdateDatagram[];
  /** PCP mappings left out because `limit` was reached. */
  readonly overLimit: number;
}

const NONCE_TEXT = /^[0-9a-f]{24}$/;

/**
 * The updates for `mappings` (every mapping of the service; those not made by PCP MAP are
 * skipped) with `externalAddress` and `epochSeconds`, at most `limit` of them. Nothing
 * when there is no external address: there is nothing to tell until there is one.
 */
export function pcpMappingUpdates(
  mappings: Iterable<PortMapping>, externalAddress: string, epochSeconds: number, nowMs: number, limit: number,
): PcpUpdateBatch {
  const datagrams: PcpUpdateDatagram[] = [];
  let overLimit = 0;
  if (externalAddress === '') return { datagrams, overLimit };
  for (const m of mappings) {
    if (m.origin !== 'pcp' || m.nonce === undefined || !NONCE_TEXT.test(m.nonce) || m.requester === '' || m.remoteHost !== '') continue;
    if (m.expiresAtMs <= nowMs) continue; // due: the next sweep removes it
    if (datagrams.length >= limit) {
      overLimit++;
      continue;
    }
    const bytes = encodePcpMappingUpdate({
      opcode: PCP_OPCODE.MAP,
      nonce: Buffer.from(m.nonce, 'hex'),
      protocol: PCP_PROTOCOL[m.protocol],
      internalPort: m.internalPort,
      externalPort: m.externalPort,
      externalAddress,
      lifetimeSeconds: remainingLeaseSeconds(m, nowMs),
      epochSeconds,
      ...(m.internalClient !== m.requester ? { thirdParty: m.internalClient } : {}),
    });
    if (bytes !== undefined) datagrams.push({ address: m.requester, bytes });
  }
  return { datagrams, overLimit };
}
