/**
 * The IGD control plane inside the daemon: device identity and mapping store in the
 * state directory, the Igd replayed into the NAT, the HTTP server (descriptions, SOAP,
 * GENA, the status page) and SSDP, all on the gateway's LAN address — which lives on
 * the local port's kernel side, so only LAN hosts reach them.
 *
 * Start order matters: identity (BOOTID) before SSDP; the store is loaded and replayed
 * before the HTTP server accepts a request; SSDP announces only once the description
 * it points at is served. Stop order is the reverse, with ssdp:byebye first.
 */
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import {
  FileMappingStore, Igd, MappingService, PcpResponder, SsdpAdvertiser, startNatPmpServer, buildRootDescription, buildScpd, igdAdvertisedDevices, resolveDeviceInfo,
  ssdpServerString, startDeviceIdentity, startIgdHttpServer, escapeXmlText, IGD_SERVICE_KEYS,
  type AcceptedConnection, type IgdStats, type GenaStats, type SsdpCounters, type PortMapping, type NatPmpServer, type NatPmpServerStats, type MappingStoreStats, type PcpStats,
} from '@openigd/igd-service';
import type { NatTable } from '@openigd/nat-table';
import type { GatewayConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { LinkCounters } from '../link/link.js';
import { NatPortMappingBackend } from './nat-backend.js';
import { MappingOriginCounter, SoapStats, TimedMappingStore, type LatencyHistogram, type MappingOriginStats, type SoapActionCount } from './igd-stats.js';

export interface IgdRuntimeParts {
  readonly table: NatTable;
  readonly lanAddr: number;
  readonly wanAddr: () => number;
  readonly wanCounters: () => LinkCounters;
  /** Whether the WAN link is up; the daemon calls `linkChanged` when it turns. */
  readonly wanLinkUp: () => boolean;
  /**
   * The gateway's clock (ms since the epoch as of start, monotonic: clock.ts): leases run on
   * it and are stored as its times, so a wall clock set back or forward moves no lease.
   */
  readonly clock: () => number;
  /** The NAT table's clock (the one its packets and `expire` are given), ms. */
  readonly natNowMs: () => number;
  readonly log: Logger;
}

export interface IgdRuntime {
  readonly igd: Igd;
  /** Serves an HTTP connection the gateway's userspace TCP endpoint accepted (see IgdHttpServer.accept). */
  accept(connection: AcceptedConnection): void;
  /** Called every second by the daemon: ends leases that ran out. */
  tick(): void;
  /** The WAN address changed: mappings stay, subscribers get ExternalIPAddress. */
  externalAddressChanged(): void;
  /** The WAN link went down or up: subscribers get ConnectionStatus and PhysicalLinkStatus. */
  linkChanged(): void;
  status(): IgdRuntimeStatus;
  stop(): Promise<void>;
}

/** The control plane's snapshot, for the admin API and the metrics. */
export interface IgdRuntimeStatus {
  readonly url: string; readonly descriptionUrl: string; readonly rootUuid: string; readonly bootId: number; readonly configId: number;
  readonly stats: IgdStats;
  readonly byOrigin: MappingOriginStats;
  readonly soap: readonly SoapActionCount[];
  readonly store: MappingStoreStats & { readonly commitLatency: LatencyHistogram };
  readonly ssdp: SsdpCounters; readonly gena: GenaStats; readonly natpmp: NatPmpServerStats | null;
  /** HTTP requests (SOAP, GENA, descriptions) answered 503: their source spent `igd.requestRate`. */
  readonly httpRateLimited: number;
  /** Control requests answered on the HTTP server's quick path (see IgdHttpServer.quickAnswered). */
  readonly httpQuickAnswered: number;
  /** PCP's answers by result and drops by reason; null without PCP. */
  readonly pcp: PcpStats | null;
}

/** What the description documents say, digested: CONFIGID changes when it does (UDA 1.1). */
function configFingerprint(friendlyName: string, version: 1 | 2): string {
  const h = createHash('sha256');
  h.update(buildRootDescription('00000000-0000-0000-0000-000000000000', resolveDeviceInfo({ friendlyName }), { version }));
  for (const s of IGD_SERVICE_KEYS) h.update(buildScpd(s, version));
  return h.digest('hex').slice(0, 32);
}

const MADE_THROUGH = { upnp: 'UPnP', natpmp: 'NAT-PMP', pcp: 'PCP', admin: 'admin API' } as const;

/** The presentation page: what the gateway is and which mappings it holds, read-only. */
function statusPage(friendlyName: string, igd: Igd, now: number): string {
  const rows = igd.listMappings().map((m: PortMapping) => {
    const lease = m.expiresAtMs === 0 ? 'static' : `${Math.max(0, Math.round((m.expiresAtMs - now) / 1000))} s`;
    return `<tr><td>${m.protocol}</td><td>${m.externalPort}</td><td>${escapeXmlText(m.remoteHost || '*')}</td>`
      + `<td>${escapeXmlText(m.internalClient)}:${m.internalPort}</td><td>${m.enabled ? 'yes' : 'no'}</td>`
      + `<td>${lease}</td><td>${escapeXmlText(m.description)}</td><td>${MADE_THROUGH[m.origin]}</td></tr>`;
  }).join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeXmlText(friendlyName)}</title></head>
<body><h1>${escapeXmlText(friendlyName)}</h1>
<p>External address: ${escapeXmlText(igd.externalAddress() || 'none')} (${igd.connectionStatus()})</p>
<h2>Port mappings (${igd.mappingCount()})</h2>
<table border="1"><tr><th>Protocol</th><th>External port</th><th>Remote host</th><th>Internal client</th><th>Enabled</th><th>Lease</th><th>Description</th><th>Made through</th></tr>
${rows}
</table></body></html>
`;
}

export async function startIgdRuntime(config: GatewayConfig, parts: IgdRuntimeParts): Promise<IgdRuntime> {
  const { log } = parts;
  const lanAddress = config.lan.address.address;
  const identity = await startDeviceIdentity({ directory: config.state, configFingerprint: configFingerprint(config.igd.friendlyName, config.igd.version) });
  if (identity.notStored) log.warn({ error: identity.notStored.message }, 'igd: state directory not writable; BOOTID not stored, mapping changes refused until it is');
  const store = new FileMappingStore({ directory: config.state });
  const timedStore = new TimedMappingStore(store);
  const soap = new SoapStats(config.igd.version);
  const byOrigin = new MappingOriginCounter();
  const backend = new NatPortMappingBackend(parts.table, {
    lanAddr: parts.lanAddr, lanPrefixLength: config.lan.address.prefixLength,
    wanAddr: parts.wanAddr, wanCounters: parts.wanCounters, wanLinkUp: parts.wanLinkUp, nowMs: parts.natNowMs,
  });
  // One table for UPnP, NAT-PMP and PCP, with one access policy.
  const mappings = new MappingService({
    policy: {
      maxMappings: config.igd.maxMappings, clientsMapOnlyThemselves: config.igd.secureMode,
      ...(config.igd.maxMappingsPerClient !== undefined ? { maxMappingsPerClient: config.igd.maxMappingsPerClient } : {}),
      // A LAN client may not publish the gateway itself (its IGD, DHCP, SSDP) on the WAN: 606.
      rules: [{ action: 'deny', clients: `${lanAddress}/32` }, ...config.igd.rules],
      defaultAction: config.igd.defaultAction,
    },
  }, { store: timedStore, backend, now: parts.clock });
  const stopCounting = mappings.onChange(byOrigin.onChange);
  const igd = new Igd({ rootUuid: identity.rootUuid, version: config.igd.version }, { mappings });
  const closers: (() => Promise<void> | void)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) {
      try {
        await c();
      } catch (e) {
        log.error({ error: String(e) }, 'igd: error while stopping');
      }
    }
  };
  closers.push(() => store.close());
  try {
    // A corrupt or unreadable store rejects here and stops the daemon: never run on a guess.
    const report = await igd.start();
    closers.push(() => {
      stopCounting();
      igd.close();
      mappings.close();
    });
    log.info({ replayed: report.replayed, expired: report.expired, refused: report.refused.length }, 'igd: mappings replayed');
    for (const r of report.refused) {
      log.warn({ protocol: r.mapping.protocol, externalPort: r.mapping.externalPort, reason: r.reason }, 'igd: stored mapping not forwarding');
    }

    const server = ssdpServerString();
    const http = await startIgdHttpServer({
      host: lanAddress, port: config.igd.httpPort, rootUuid: identity.rootUuid, server, igdVersion: config.igd.version,
      deviceInfo: { friendlyName: config.igd.friendlyName, serialNumber: identity.rootUuid.slice(0, 8) },
      requestRatePerSource: config.igd.requestRate,
    }, {
      igd,
      onAction: (r) => {
        soap.record(r);
        if (r.ok) log.debug({ service: r.service, action: r.action, client: r.client }, 'igd: action');
        else log.info({ service: r.service, action: r.action, client: r.client, code: r.code ?? null, detail: r.detail ?? null }, 'igd: action failed');
      },
      gena: {
        now: parts.clock,
        onNotifyFailed: (f) => log.warn({
          sid: f.sid, service: f.service, seq: f.seq, callbacks: f.attempts, failuresInARow: f.failuresInARow, dropped: f.dropped,
        }, 'gena: event not delivered'),
      },
      mount: (app) => {
        app.get('/', (_req: Request, res: Response) => {
          res.type('html').send(statusPage(config.igd.friendlyName, igd, parts.clock()));
        });
      },
    });
    closers.push(() => http.close());

    const notifyIntervalMs = config.igd.notifyIntervalSeconds * 1000;
    const ssdp = new SsdpAdvertiser({
      lanAddress, lanPrefixLength: config.lan.address.prefixLength, location: http.descriptionUrl,
      devices: igdAdvertisedDevices(identity.rootUuid, config.igd.version), server, bootId: identity.bootId, configId: identity.configId,
      // max-age must exceed twice the announce period (UDA 1.1 §1.1.2) and be at least 1800 s.
      maxAgeSeconds: Math.max(1800, config.igd.notifyIntervalSeconds * 3), notifyIntervalMs,
    });
    await ssdp.start();
    closers.push(() => ssdp.stop());

    let natpmp: NatPmpServer | null = null;
    let pcp: PcpResponder | null = null;
    if (config.natpmp.enabled) {
      // PCP shares NAT-PMP's socket and epoch (version byte 2), and the table's access policy.
      const lan = `${lanAddress}/${config.lan.address.prefixLength}`;
      if (config.pcp.enabled) pcp = new PcpResponder(mappings, { lan, gatewayAddress: lanAddress, allowThirdParty: config.pcp.allowThirdParty });
      // After the table is replayed: the first announcement tells clients the epoch began.
      const server = await startNatPmpServer({ lanAddress, lanPrefixLength: config.lan.address.prefixLength, requestRatePerSource: config.natpmp.requestRate }, { mappings, ...(pcp ? { pcp } : {}) });
      closers.push(() => server.close());
      natpmp = server;
      log.info({ address: `${lanAddress}:${server.port}`, pcp: pcp !== null, pcpThirdParty: config.pcp.allowThirdParty }, 'nat-pmp running');
    }

    let expiring = false;
    log.info({ description: http.descriptionUrl, version: config.igd.version, uuid: identity.rootUuid, bootId: identity.bootId, mappings: igd.mappingCount() }, 'igd running');
    return {
      igd,
      accept: (connection) => http.accept(connection),
      tick: () => {
        const next = igd.nextExpiryMs();
        if (expiring || next === undefined || next > parts.clock()) return;
        expiring = true;
        void igd.expire().then((gone) => {
          if (gone.length) log.info({ count: gone.length }, 'igd: leases ended');
        }, (e: unknown) => log.error({ error: String(e) }, 'igd: expiry failed')).finally(() => {
          expiring = false;
        });
      },
      externalAddressChanged: () => backend.externalAddressChanged(),
      linkChanged: () => igd.refreshState(),
      status: () => ({
        url: http.url, descriptionUrl: http.descriptionUrl, rootUuid: identity.rootUuid, bootId: identity.bootId,
        configId: identity.configId, stats: igd.stats(), byOrigin: byOrigin.snapshot(igd.listMappings()), soap: soap.snapshot(),
        store: { ...store.stats(), commitLatency: timedStore.commitLatency() }, ssdp: ssdp.counters(), gena: http.gena.stats(), httpRateLimited: http.rateLimited(),
        httpQuickAnswered: http.quickAnswered(),
        natpmp: natpmp?.stats() ?? null,
        pcp: pcp?.stats() ?? null,
      }),
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
