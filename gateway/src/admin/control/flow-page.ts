/**
 * `GET /flows` from the NAT table: one page of the flows that match the query, and how
 * many match in all. The table walks itself and builds objects for the page only.
 */
import { IP_PROTOCOL, ipv4ToString, parseIpv4, type FlowFilter, type FlowInfo, type NatTable } from '@openigd/nat-table';
import type { FlowView } from '../../stats.js';
import type { FlowQuery } from '../admin-requests.js';
import type { FlowPage } from '../admin-api.js';

const PROTOCOL_NAME: Readonly<Record<number, FlowView['protocol']>> = { [IP_PROTOCOL.tcp]: 'tcp', [IP_PROTOCOL.udp]: 'udp', [IP_PROTOCOL.icmp]: 'icmp' };

/** The NAT table's filter for a checked query. */
export function flowFilter(query: FlowQuery): FlowFilter {
  return {
    ...(query.protocol ? { protocol: IP_PROTOCOL[query.protocol] } : {}),
    ...(query.addr !== undefined ? { addr: parseIpv4(query.addr)! } : {}),
    ...(query.port !== undefined ? { port: query.port } : {}),
    ...(query.state ? { tcpState: query.state } : {}),
  };
}

/** A flow as `GET /flows` shows it; `nowMs` is the table's clock. */
export function flowView(f: FlowInfo, nowMs: number): FlowView {
  return {
    protocol: PROTOCOL_NAME[f.protocol] ?? 'icmp',
    internal: `${ipv4ToString(f.internalAddr)}:${f.internalPort}`, external: `${ipv4ToString(f.externalAddr)}:${f.externalPort}`,
    remote: `${ipv4ToString(f.remoteAddr)}:${f.remotePort}`, expiresInMs: Math.round(f.expiresMs - nowMs),
    ...(f.tcpState ? { tcpState: f.tcpState } : {}),
  };
}

export function flowPage(table: NatTable, nowMs: number, query: FlowQuery): FlowPage {
  const { total, flows } = table.query(flowFilter(query), query.offset, query.limit);
  return { total, offset: query.offset, flows: flows.map((f) => flowView(f, nowMs)) };
}
