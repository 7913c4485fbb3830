/**
 * The gateway's one statistics seam: the typed snapshot the daemon's `collect()` builds
 * from its parts' own counters (router, links, NAT table, fragments, DHCP, the IGD
 * control plane). The admin API's `/status` sends it as JSON; the metrics read it on
 * each scrape. Nothing here counts: the parts count, this only names the shape.
 */
import type { PortMapping } from '@openigd/igd-service';
import type { RouterStatus } from './router/forwarder.js';
import type { DhcpClient } from './dhcp/dhcp-client.js';
import type { DhcpServer } from './dhcp/dhcp-server.js';
import type { IgdRuntimeStatus } from './igd/igd-runtime.js';
import type { ServiceTcpStatus } from './service-tcp/service-tcp.js';

export interface DhcpLeaseView {
  readonly mac: string;
  readonly address: string;
  readonly expiresAt: string;
  readonly offered: boolean;
}

/** `GET /status` and what the metrics are made of. `nat` is the NAT table's counters; its behaviour is `natBehaviour`. */
export interface GatewayStatus extends RouterStatus {
  readonly lan: { readonly address: string; readonly mac: string };
  readonly wan: { readonly address: string; readonly gateway: string; readonly mac: string };
  readonly natBehaviour: { readonly mapping: string; readonly filtering: string; readonly portAllocation: string; readonly hairpinning: boolean };
  readonly dhcpLeases: readonly DhcpLeaseView[];
  /** The LAN's DHCP server: messages by type; null without `lan.dhcp`. */
  readonly dhcpServer: Readonly<DhcpServer['counters']> | null;
  /** The WAN's DHCP client; null with a static WAN address. */
  readonly wanDhcp: ({ readonly state: DhcpClient['state'] } & Readonly<DhcpClient['counters']>) | null;
  readonly igd: IgdRuntimeStatus | null;
  /** The userspace TCP endpoint of the IGD's HTTP port; null with `igd.tcp: kernel` or without the IGD. */
  readonly igdTcp: ServiceTcpStatus | null;
}

/** One flow of `GET /flows`. */
export interface FlowView {
  readonly protocol: 'tcp' | 'udp' | 'icmp';
  readonly internal: string;
  readonly external: string;
  readonly remote: string;
  readonly expiresInMs: number;
  readonly tcpState?: string;
}

/**
 * One mapping of `GET /mappings`: the mapping service's record, with when its lease ends
 * (`expiresAt`, `leaseRemainingSeconds`; both null for a static mapping). `origin` says who
 * made it: upnp, natpmp, pcp, admin (the operator), or `nat-table` (the NAT table's own
 * mappings, listed only when the IGD is off).
 */
export type MappingView = Omit<PortMapping, 'origin'> & {
  readonly origin: PortMapping['origin'] | 'nat-table';
  readonly expiresAt: string | null;
  readonly leaseRemainingSeconds: number | null;
};

/** One DHCP lease of `GET /leases`. */
export interface LeaseView {
  readonly mac: string;
  readonly address: string;
  readonly hostname?: string;
  readonly expiresInSeconds: number;
  /** Offered, not yet taken (held 60 s). */
  readonly offered: boolean;
}

/** `GET /capture`: whether frames are being written, and where. */
export interface CaptureStatus {
  readonly running: boolean;
  readonly dir: string;
  readonly files: ReadonlyArray<{ readonly port: 'lan' | 'wan'; readonly path: string; readonly frames: number }>;
}
