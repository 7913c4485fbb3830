/**
 * The admin API's view of a running gateway: builds the `GatewayControl` the admin
 * server reads (`/status`, `/flows`, `/mappings`) and acts through (`POST /wan`) from
 * the gateway's parts. It shapes JSON and owns nothing; the Gateway passes its parts in.
 */
import { ipv4ToString, parseIpv4, type NatTable, type NatConfig } from '@openigd/nat-table';
import type { Router } from '../router/router.js';
import type { DhcpServer } from '../dhcp/dhcp-server.js';
import type { DhcpClient } from '../dhcp/dhcp-client.js';
import type { IgdRuntime } from '../igd/igd-runtime.js';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type { FlowView, GatewayStatus } from '../stats.js';
import type { GatewayControl } from './admin-api.js';

/** What the admin API reads; the optional parts are null when the config leaves them out. */
export interface ControlSources {
  readonly router: Router;
  readonly table: NatTable;
  readonly nat: NatConfig;
  readonly lan: { readonly address: number; readonly prefixLength: number; readonly mac: Uint8Array };
  readonly wanMac: Uint8Array;
  readonly dhcp: () => DhcpServer | null;
  readonly wanDhcp: () => DhcpClient | null;
  readonly igd: () => IgdRuntime | null;
  readonly clock: Clock;
  readonly log: Logger;
}

export function macString(m: Uint8Array): string {
  return Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The one statistics snapshot (see stats.ts): `/status` and `/metrics` read it. */
export function collectStatus(s: ControlSources): GatewayStatus {
  const { router, nat } = s;
  const dhcp = s.dhcp();
  const wanDhcp = s.wanDhcp();
  return {
    lan: { address: `${ipv4ToString(s.lan.address)}/${s.lan.prefixLength}`, mac: macString(s.lan.mac) },
    wan: { address: `${ipv4ToString(router.addrs.wanAddr)}/${router.addrs.wanPrefixLength}`, gateway: ipv4ToString(router.addrs.wanGateway), mac: macString(s.wanMac) },
    natBehaviour: { mapping: nat.mapping, filtering: nat.filtering, portAllocation: nat.portAllocation, hairpinning: nat.hairpinning },
    dhcpLeases: dhcp?.leases().map((l) => ({ mac: l.mac, address: ipv4ToString(l.addr), expiresAt: new Date(l.expiresAtMs).toISOString(), offered: l.offered })) ?? [],
    dhcpServer: dhcp ? { ...dhcp.counters } : null,
    ...router.status(),
    wanDhcp: wanDhcp ? { state: wanDhcp.state, ...wanDhcp.counters } : null,
    igd: s.igd()?.status() ?? null,
  };
}

export function gatewayControl(s: ControlSources): GatewayControl {
  const { router, table, clock, log } = s;
  return {
    status: () => collectStatus(s),
    flows: (limit) => table.snapshot(limit).map((f): FlowView => ({
      protocol: f.protocol === 6 ? 'tcp' : f.protocol === 17 ? 'udp' : 'icmp',
      internal: `${ipv4ToString(f.internalAddr)}:${f.internalPort}`, external: `${ipv4ToString(f.externalAddr)}:${f.externalPort}`,
      remote: `${ipv4ToString(f.remoteAddr)}:${f.remotePort}`, expiresInMs: Math.round(f.expiresMs - clock.now()), ...(f.tcpState ? { tcpState: f.tcpState } : {}),
    })),
    mappings: () => {
      const igd = s.igd();
      return igd
        ? igd.igd.listMappings().map((m) => ({ ...m, expiresAt: m.expiresAtMs ? new Date(m.expiresAtMs).toISOString() : null }))
        : table.listPortMappings().map((m) => ({ ...m, remoteHost: m.remoteHost ? ipv4ToString(m.remoteHost) : '', internalClient: ipv4ToString(m.internalClient) }));
    },
    setWan: async (c) => {
      const addr = parseIpv4(c.address)!;
      const gw = c.gateway ? parseIpv4(c.gateway)! : router.addrs.wanGateway;
      router.setWan(addr, c.prefixLength, gw);
      s.igd()?.externalAddressChanged();
      log.info('wan address changed', { address: `${c.address}/${c.prefixLength}`, gateway: ipv4ToString(gw) });
    },
  };
}
