/**
 * The admin API's view of a running gateway: builds the `GatewayControl` the admin
 * server reads (`/status`, `/flows`, `/mappings`, `/leases`, `/capture`) and acts through
 * (mappings, captures, `POST /wan`) from the gateway's parts and the pieces in control/.
 * It shapes JSON and owns nothing; the Gateway passes its parts in.
 */
import { ipv4ToString, parseIpv4, type NatTable, type NatConfig } from '@openigd/nat-table';
import type { Router } from '../router/router.js';
import type { RouterStatus } from '../router/forwarder.js';
import type { DhcpServer } from '../dhcp/dhcp-server.js';
import type { DhcpClient } from '../dhcp/dhcp-client.js';
import type { IgdRuntime } from '../igd/igd-runtime.js';
import type { ServiceTcp } from '../service-tcp/service-tcp.js';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type { GatewayStatus } from '../stats.js';
import type { CaptureControl } from '../capture/capture-control.js';
import { flowPage } from './control/flow-page.js';
import { serviceMappingControl, tableMappingControl } from './control/mapping-control.js';
import { leaseViews } from './control/lease-view.js';
import type { GatewayControl } from './admin-api.js';

/** What the admin API reads; the optional parts are null when the config leaves them out. */
export interface ControlSources {
  readonly router: Router;
  /** The router's counters with its links' (the Forwarder's `status`). */
  readonly status: () => RouterStatus;
  readonly table: NatTable;
  readonly nat: NatConfig;
  readonly lan: { readonly address: number; readonly prefixLength: number; readonly mac: Uint8Array };
  readonly wanMac: Uint8Array;
  readonly dhcp: () => DhcpServer | null;
  readonly wanDhcp: () => DhcpClient | null;
  readonly igd: () => IgdRuntime | null;
  /** The IGD's userspace TCP endpoint (`igd.tcp: userspace`). */
  readonly igdTcp: () => ServiceTcp | null;
  readonly clock: Clock;
  readonly log: Logger;
  readonly capture: CaptureControl;
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
    ...s.status(),
    wanDhcp: wanDhcp ? { state: wanDhcp.state, ...wanDhcp.counters } : null,
    igd: s.igd()?.status() ?? null,
    igdTcp: s.igdTcp()?.status() ?? null,
  };
}

export function gatewayControl(s: ControlSources): GatewayControl {
  const { router, table, clock, log, capture } = s;
  const igd = s.igd();
  return {
    status: () => collectStatus(s),
    flows: (query) => flowPage(table, clock.now(), query),
    // The IGD starts before the admin API: its mapping service, or the NAT table's mappings without it.
    ...(igd ? serviceMappingControl(igd.igd.mappings) : tableMappingControl(table)),
    leases: () => leaseViews(s.dhcp()?.leases() ?? [], clock.now()),
    capture: () => capture.status(),
    setCapture: async (on) => (on ? capture.start() : capture.stop()),
    setWan: async (c) => {
      const addr = parseIpv4(c.address)!;
      const gw = c.gateway ? parseIpv4(c.gateway)! : router.addrs.wanGateway;
      router.setWan(addr, c.prefixLength, gw);
      s.igd()?.externalAddressChanged();
      log.info({ address: `${c.address}/${c.prefixLength}`, gateway: ipv4ToString(gw) }, 'wan address changed');
    },
  };
}
