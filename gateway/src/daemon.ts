/**
 * The daemon: the composition root. Builds the NAT table from the config, opens the
 * three TAP links, runs the router with DHCP, the admin API and captures, owns the
 * timers (expiry, ARP retries), and shuts everything down on SIGTERM/SIGINT, removing
 * what it created (the TAPs vanish with their fds; the admin socket is unlinked).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { openSync, fsyncSync, closeSync, writeFileSync, renameSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { NatTable, resolveNatConfig, parseIpv4, ipv4ToString, parseMac, type NatConfigInput } from '@openigd/nat-table';
import type { GatewayConfig } from './config/config.js';
import { ConfigError, readAdminToken } from './config/config.js';
import { TapLink } from './link/tap-link.js';
import type { Link } from './link/link.js';
import { Router, type FrameTap } from './router/router.js';
import { DhcpServer, type DhcpLease } from './dhcp/dhcp-server.js';
import { DhcpClient } from './dhcp/dhcp-client.js';
import { startAdminServer, type AdminServer, type GatewayControl } from './admin/admin-api.js';
import { PcapWriter } from './capture/pcap-writer.js';
import { createLogger, type Logger } from './log.js';
import { startIgdRuntime, type IgdRuntime } from './igd/igd-runtime.js';
import type { FlowView, GatewayStatus } from './stats.js';

/** A stable, locally administered MAC derived from a name (so hosts' ARP caches survive restarts). */
export function derivedMac(name: string): Uint8Array {
  const h = createHash('sha256').update(`openigd:${name}`).digest();
  const mac = Uint8Array.from(h.subarray(0, 6));
  mac[0] = (mac[0]! & 0xfe) | 0x02;
  return mac;
}

function macString(m: Uint8Array): string {
  return Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Leases file: written atomically (temp, fsync, rename) so a crash never leaves half a file. */
function leaseFile(stateDir: string, log: Logger) {
  const path = join(stateDir, 'dhcp-leases.json');
  return {
    path,
    async load(): Promise<DhcpLease[]> {
      try {
        const data = JSON.parse(await readFile(path, 'utf8')) as { leases?: DhcpLease[] };
        return Array.isArray(data.leases) ? data.leases : [];
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('dhcp leases unreadable; starting without them', { path, error: String(e) });
        return [];
      }
    },
    save(leases: readonly DhcpLease[]): void {
      try {
        const tmp = `${path}.tmp`;
        writeFileSync(tmp, JSON.stringify({ version: 1, leases }) + '\n');
        const fd = openSync(tmp, 'r+');
        fsyncSync(fd);
        closeSync(fd);
        renameSync(tmp, path);
      } catch (e) {
        log.error('cannot write dhcp leases', { path, error: String(e) });
      }
    },
  };
}

/** Captured frames are kept whole: GSO super-frames (offload on) reach 64 KiB plus headers. */
const CAPTURE_SNAP_BYTES = 262_144;

export interface RunningDaemon {
  readonly router: Router;
  readonly table: NatTable;
  /** The IGD control plane; null with `igd.enabled: false`. */
  readonly igd: IgdRuntime | null;
  stop(): Promise<void>;
}

/** Starts everything; resolves once the gateway forwards. */
export async function startDaemon(config: GatewayConfig, log: Logger = createLogger(config.log.level)): Promise<RunningDaemon> {
  const nat = resolveNatConfig(config.nat as NatConfigInput);
  if (!nat.ok) throw new ConfigError(`nat.${nat.field}`, nat.problem);
  const wanStatic = config.wan.address === 'dhcp' ? null : config.wan.address;
  if (wanStatic && !config.wan.gateway) throw new ConfigError('wan.gateway', 'is required with a static wan.address');
  await mkdir(config.state, { recursive: true });
  // Before any device is opened: a missing token file stops the start with one line.
  const adminToken = config.admin ? await readAdminToken(config.admin) : null;

  const lanAddr = parseIpv4(config.lan.address.address)!;
  // With `wan.address: dhcp` the WAN has no address (and forwards nothing) until a lease.
  const wanAddr = wanStatic ? parseIpv4(wanStatic.address)! : 0;
  const configuredGateway = config.wan.gateway ? parseIpv4(config.wan.gateway)! : 0;
  const table = new NatTable(nat.config);
  table.setExternalAddress(wanAddr);
  const lanMac = config.lan.mac ? parseMac(config.lan.mac)! : derivedMac(`${config.lan.tap}:lan`);
  const wanMac = config.wan.mac ? parseMac(config.wan.mac)! : derivedMac(`${config.wan.tap}:wan`);
  const localMac = derivedMac(`${config.local.tap}:local`);
  const localKernelMac = config.local.mac ? parseMac(config.local.mac)! : derivedMac(`${config.local.tap}:kernel`);

  const links: Link[] = [];
  const closers: (() => Promise<void> | void)[] = [];
  try {
    links.push(await TapLink.open(config.lan.tap, { ...(config.lan.netns ? { netns: config.lan.netns } : {}), mtu: config.lan.mtu, offloads: config.offload }));
    links.push(await TapLink.open(config.wan.tap, { ...(config.wan.netns ? { netns: config.wan.netns } : {}), mtu: config.wan.mtu, offloads: config.offload }));
    links.push(await TapLink.open(config.local.tap, {
      ...(config.local.netns ? { netns: config.local.netns } : {}),
      kernelMac: macString(localKernelMac), mtu: config.lan.mtu,
      kernelAddresses: [`${config.lan.address.address}/${config.lan.address.prefixLength}`],
    }));
  } catch (e) {
    for (const l of links) await l.close();
    throw e;
  }
  for (const l of links) closers.push(() => l.close());

  let dhcp: DhcpServer | null = null;
  if (config.lan.dhcp) {
    const d = config.lan.dhcp;
    const file = leaseFile(config.state, log);
    dhcp = new DhcpServer({
      serverAddr: lanAddr, prefixLength: config.lan.address.prefixLength, rangeStart: parseIpv4(d.rangeStart)!,
      rangeEnd: parseIpv4(d.rangeEnd)!, leaseSeconds: d.leaseSeconds, dns: d.dns.map((x) => parseIpv4(x)!),
      ...(d.domain ? { domain: d.domain } : {}),
    }, file, await file.load());
  }

  const taps: [FrameTap | null, FrameTap | null, FrameTap | null] = [null, null, null];
  if (config.capture) {
    await mkdir(config.capture.dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (const [i, name] of [[0, 'lan'], [1, 'wan']] as const) {
      const w = new PcapWriter(join(config.capture.dir, `${name}-${stamp}.pcap`), CAPTURE_SNAP_BYTES, (e) => log.error('capture write failed', { port: name, error: e.message }));
      taps[i] = w;
      closers.push(() => w.close());
    }
  }

  const router = new Router({
    lanAddr, lanPrefixLength: config.lan.address.prefixLength, lanMac,
    wanAddr, wanPrefixLength: wanStatic?.prefixLength ?? 0, wanGateway: configuredGateway, wanMac,
    localMac, localKernelMac, wanMtu: config.wan.mtu,
  }, table, [links[0]!, links[1]!, links[2]!], dhcp, taps);
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  router.start(now);

  let igd: IgdRuntime | null = null;
  const timer = setInterval(() => {
    const ms = now();
    const gone = table.expire(ms);
    if (gone) log.debug('flows expired', { count: gone });
    dhcp?.expire(Date.now());
    router.tick(ms);
    wanDhcp?.tick(ms);
    igd?.tick();
  }, 1000);
  closers.push(() => clearInterval(timer));

  let wanDhcp: DhcpClient | null = null;
  if (!wanStatic) {
    const client = new DhcpClient({ mac: wanMac, hostName: 'openigd' }, {
      send: (m, to) => router.sendWanDhcp(m, to),
      lease: (l) => {
        if (l) {
          const gw = l.router || configuredGateway;
          router.setWan(l.address, l.prefixLength, gw);
          log.info('wan lease', { address: `${ipv4ToString(l.address)}/${l.prefixLength}`, gateway: ipv4ToString(gw), server: ipv4ToString(l.server), seconds: l.leaseSeconds });
        } else {
          router.setWan(0, 0, configuredGateway);
          log.warn('wan lease lost: forwarding stops until a new one');
        }
        igd?.externalAddressChanged();
      },
    });
    router.setWanDhcpClient((m, ms) => client.receive(m, ms));
    client.start(now());
    wanDhcp = client;
    closers.push(() => client.release());
  }

  if (config.igd.enabled) {
    try {
      igd = await startIgdRuntime(config, {
        table, lanAddr, wanAddr: () => router.addrs.wanAddr, wanCounters: () => links[1]!.counters, natNowMs: now, log,
      });
    } catch (e) {
      for (const c of closers.reverse()) await c();
      throw e;
    }
    const running = igd;
    closers.push(() => running.stop());
  }

  // The one statistics snapshot (see stats.ts): `/status` and `/metrics` read it.
  const collect = (): GatewayStatus => ({
    lan: { address: `${ipv4ToString(lanAddr)}/${config.lan.address.prefixLength}`, mac: macString(lanMac) },
    wan: { address: `${ipv4ToString(router.addrs.wanAddr)}/${router.addrs.wanPrefixLength}`, gateway: ipv4ToString(router.addrs.wanGateway), mac: macString(wanMac) },
    natBehaviour: { mapping: nat.config.mapping, filtering: nat.config.filtering, portAllocation: nat.config.portAllocation, hairpinning: nat.config.hairpinning },
    dhcpLeases: dhcp?.leases().map((l) => ({ mac: l.mac, address: ipv4ToString(l.addr), expiresAt: new Date(l.expiresAtMs).toISOString(), offered: l.offered })) ?? [],
    dhcpServer: dhcp ? { ...dhcp.counters } : null,
    ...router.status(),
    wanDhcp: wanDhcp ? { state: wanDhcp.state, ...wanDhcp.counters } : null,
    igd: igd?.status() ?? null,
  });
  const control: GatewayControl = {
    status: collect,
    flows: (limit) => table.snapshot(limit).map((f): FlowView => ({
      protocol: f.protocol === 6 ? 'tcp' : f.protocol === 17 ? 'udp' : 'icmp',
      internal: `${ipv4ToString(f.internalAddr)}:${f.internalPort}`, external: `${ipv4ToString(f.externalAddr)}:${f.externalPort}`,
      remote: `${ipv4ToString(f.remoteAddr)}:${f.remotePort}`, expiresInMs: Math.round(f.expiresMs - now()), ...(f.tcpState ? { tcpState: f.tcpState } : {}),
    })),
    mappings: () => igd
      ? igd.igd.listMappings().map((m) => ({ ...m, expiresAt: m.expiresAtMs ? new Date(m.expiresAtMs).toISOString() : null }))
      : table.listPortMappings().map((m) => ({ ...m, remoteHost: m.remoteHost ? ipv4ToString(m.remoteHost) : '', internalClient: ipv4ToString(m.internalClient) })),
    setWan: async (c) => {
      const addr = parseIpv4(c.address)!;
      const gw = c.gateway ? parseIpv4(c.gateway)! : router.addrs.wanGateway;
      router.setWan(addr, c.prefixLength, gw);
      igd?.externalAddressChanged();
      log.info('wan address changed', { address: `${c.address}/${c.prefixLength}`, gateway: ipv4ToString(gw) });
    },
  };
  let admin: AdminServer | null = null;
  if (config.admin) {
    const tcp = config.admin.listen && adminToken ? { ...config.admin.listen, token: adminToken } : undefined;
    admin = await startAdminServer(config.admin.socket, control, tcp).catch(async (e: unknown) => {
      // E.g. admin.listen's port in use: undo what started, and say which listener failed.
      for (const c of closers.reverse()) await c();
      throw new ConfigError(tcp ? 'admin.listen' : 'admin.socket', `cannot listen: ${(e as Error).message}`, { cause: e });
    });
    const running = admin;
    closers.push(() => running.close());
  }

  log.info('openigd running', {
    lan: `${config.lan.tap} ${config.lan.address.address}/${config.lan.address.prefixLength}`,
    wan: wanStatic ? `${config.wan.tap} ${wanStatic.address}/${wanStatic.prefixLength} via ${config.wan.gateway}` : `${config.wan.tap} by DHCP`,
    local: config.local.tap, nat: `${nat.config.mapping}/${nat.config.filtering}`, admin: config.admin?.socket ?? null,
    adminListen: admin?.tcp ? `${admin.tcp.host}:${admin.tcp.port}` : null,
  });

  return {
    router, table, igd,
    stop: async () => {
      for (const c of closers.reverse()) await c();
    },
  };
}

/** `openigd run`: starts, then waits for SIGTERM/SIGINT and stops cleanly. */
export async function runDaemon(config: GatewayConfig): Promise<void> {
  const log = createLogger(config.log.level);
  const d = await startDaemon(config, log);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info('stopping', { signal });
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      void d.stop().then(resolve, (e: unknown) => { log.error('error while stopping', { error: String(e) }); resolve(); });
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  log.info('stopped');
}
