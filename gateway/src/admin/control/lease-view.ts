/** `GET /leases`: the LAN DHCP server's leases, with the seconds each has left. */
import { ipv4ToString } from '@openigd/nat-table';
import type { DhcpLease } from '../../dhcp/dhcp-server.js';
import type { LeaseView } from '../../stats.js';

export function leaseViews(leases: readonly DhcpLease[], nowMs: number): LeaseView[] {
  return leases.map((l) => ({
    mac: l.mac, address: ipv4ToString(l.addr), ...(l.hostName ? { hostname: l.hostName } : {}),
    expiresInSeconds: Math.max(0, Math.round((l.expiresAtMs - nowMs) / 1000)), offered: l.offered,
  }));
}
