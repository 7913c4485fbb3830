/**
 * The gateway as one object built from its parts: the config, a logger and a clock.
 * `start()` builds the NAT table, opens the three TAP links, the DHCP server's lease
 * file, the router and the forwarder that does its I/O, the captures, the timer, the WAN DHCP client, the IGD and the admin
 * API, in that order. Every resource pushes its undo onto one cleanup stack as it is
 * acquired; if any step fails, the stack unwinds (newest first) before the error goes
 * up, so a failed start leaves no TAP, timer, socket or open file behind. `stop()`
 * unwinds the same stack.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { NatTable, resolveNatConfig, parseIpv4, ipv4ToString, parseMac, type NatConfig } from '@openigd/nat-table';
import { ConfigError, readAdminToken, type GatewayConfig } from './config/config.js';
import { TapLink } from './link/tap-link.js';
import type { Link, LinkState } from './link/link.js';
import { PORT, Router, type RouterAddresses } from './router/router.js';
import { ServiceTcp } from './service-tcp/service-tcp.js';
import { Forwarder } from './router/forwarder.js';
import { DhcpServer } from './dhcp/dhcp-server.js';
import { DhcpClient } from './dhcp/dhcp-client.js';
import { LeaseFile } from './dhcp/lease-file.js';
import { startAdminServer, type AdminServer } from './admin/admin-api.js';
import { gatewayControl, macString } from './admin/gateway-control.js';
import { CaptureControl, CaptureStartError } from './capture/capture-control.js';
import type { Logger } from './log.js';
import type { Clock } from './clock.js';
import { CleanupStack } from './cleanup.js';
import { startIgdRuntime, type IgdRuntime } from './igd/igd-runtime.js';

/** How often the timer expires flows, leases and ARP entries. */
const TICK_MS = 1000;
/** Connections the IGD's userspace TCP endpoint holds at once (the kernel path's HTTP server allows as many). */
const SERVICE_TCP_MAX_CONNECTIONS = 128;

/** A stable, locally administered MAC derived from a name (so hosts' ARP caches survive restarts). */
export function derivedMac(name: string): Uint8Array {
  const h = createHash('sha256').update(`openigd:${name}`).digest();
  const mac = Uint8Array.from(h.subarray(0, 6));
  mac[0] = (mac[0]! & 0xfe) | 0x02;
  return mac;
}

export interface GatewayParts {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly clock: Clock;
}

/** What a running gateway offers its owner (the CLI, the lab, tests). */
export interface RunningDaemon {
  readonly router: Router;
  readonly table: NatTable;
  /** The IGD control plane; null with `igd.enabled: false`. */
  readonly igd: IgdRuntime | null;
  /** Settles (never rejects) when the gateway cannot go on: one of its TAPs was deleted. */
  readonly failed: Promise<Error>;
  stop(): Promise<void>;
}

const PORT_NAMES = ['lan', 'wan', 'local'] as const;

/** The addresses and MACs the config gives or implies, checked before anything opens. */
export interface Plan {
  readonly nat: NatConfig;
  readonly wanStatic: { readonly address: string; readonly prefixLength: number } | null;
  readonly lanAddr: number;
  readonly wanAddr: number;
  readonly configuredGateway: number;
  readonly lanMac: Uint8Array;
  readonly wanMac: Uint8Array;
  readonly localMac: Uint8Array;
  readonly localKernelMac: Uint8Array;
}

/** The checks `checkConfig` cannot make alone (the NAT section against nat-table's rules). */
export function planOf(config: GatewayConfig): Plan {
  const nat = resolveNatConfig(config.nat);
  if (!nat.ok) throw new ConfigError(`nat.${nat.field}`, nat.problem);
  const wanStatic = config.wan.address === 'dhcp' ? null : config.wan.address;
  if (wanStatic && !config.wan.gateway) throw new ConfigError('wan.gateway', 'is required with a static wan.address');
  return {
    nat: nat.config, wanStatic,
    lanAddr: parseIpv4(config.lan.address.address)!,
    // With `wan.address: dhcp` the WAN has no address (and forwards nothing) until a lease.
    wanAddr: wanStatic ? parseIpv4(wanStatic.address)! : 0,
    configuredGateway: config.wan.gateway ? parseIpv4(config.wan.gateway)! : 0,
    lanMac: config.lan.mac ? parseMac(config.lan.mac)! : derivedMac(`${config.lan.tap}:lan`),
    wanMac: config.wan.mac ? parseMac(config.wan.mac)! : derivedMac(`${config.wan.tap}:wan`),
    localMac: derivedMac(`${config.local.tap}:local`),
    localKernelMac: config.local.mac ? parseMac(config.local.mac)! : derivedMac(`${config.local.tap}:kernel`),
  };
}

/** The router's addresses and MACs, from the config and its plan (the daemon's and the replay's router alike). */
export function routerAddresses(config: GatewayConfig, plan: Plan): RouterAddresses {
  return {
    lanAddr: plan.lanAddr, lanPrefixLength: config.lan.address.prefixLength, lanMac: plan.lanMac,
    wanAddr: plan.wanAddr, wanPrefixLength: plan.wanStatic?.prefixLength ?? 0, wanGateway: plan.configuredGateway, wanMac: plan.wanMac,
    localMac: plan.localMac, localKernelMac: plan.localKernelMac, lanMtu: config.lan.mtu, wanMtu: config.wan.mtu,
  };
}

/** What a started gateway is made of. */
interface Parts {
  readonly router: Router;
  /** The router's I/O: its links, its captures. */
  readonly forwarder: Forwarder;
  readonly table: NatTable;
  readonly capture: CaptureControl;
}

/** A file-system failure at start as one line naming the config key: `capture.dir: cannot create /x (EACCES)`. */
function pathError(field: string, what: string, path: string, cause: unknown): ConfigError {
  return new ConfigError(field, `cannot ${what} ${path} (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, { cause });
}

export class Gateway implements RunningDaemon {
  private readonly cleanup = new CleanupStack();
  private parts: Parts | null = null;
  private dhcp: DhcpServer | null = null;
  private wanDhcp: DhcpClient | null = null;
  private igdRuntime: IgdRuntime | null = null;
  private serviceTcp: ServiceTcp | null = null;
  private links: readonly Link[] = [];
  /** The WAN TAP's kernel side, as last seen (see watchWan). */
  private wanUp = true;
  /** False once reading it failed: then it is not read again (see watchWan). */
  private wanStateReadable = true;
  private fail: (e: Error) => void = () => {};
  readonly failed = new Promise<Error>((resolve) => {
    let once = false;
    this.fail = (e) => {
      if (once) return;
      once = true;
      resolve(e);
    };
  });

  constructor(private readonly partsGiven: GatewayParts) {}

  get router(): Router {
    return this.running().router;
  }

  get table(): NatTable {
    return this.running().table;
  }

  get igd(): IgdRuntime | null {
    return this.igdRuntime;
  }

  /** Starts everything; resolves once the gateway forwards. On failure nothing it opened stays open. */
  async start(): Promise<void> {
    if (this.parts || this.cleanup.size > 0) throw new Error('the gateway is already started');
    try {
      await this.acquire();
    } catch (e) {
      await this.release();
      throw e;
    }
  }

  /** Stops everything started, newest first. */
  async stop(): Promise<void> {
    await this.release();
  }

  private running(): Parts {
    if (!this.parts) throw new Error('the gateway is not running');
    return this.parts;
  }

  private async release(): Promise<void> {
    await this.cleanup.unwind((what, e) => this.partsGiven.log.error({ part: what, error: String(e) }, 'error while stopping'));
    this.parts = null;
    this.dhcp = null;
    this.wanDhcp = null;
    this.igdRuntime = null;
  }

  private async acquire(): Promise<void> {
    const { config, log, clock } = this.partsGiven;
    const plan = planOf(config);
    await mkdir(config.state, { recursive: true }).catch((e: unknown) => { throw pathError('state', 'create', config.state, e); });
    // Before any device is opened: a missing token file stops the start with one line.
    const adminToken = config.admin ? await readAdminToken(config.admin) : null;

    const table = new NatTable(plan.nat);
    table.setExternalAddress(plan.wanAddr);
    const links = await this.openLinks(plan);
    this.dhcp = await this.openDhcpServer(plan);
    const router = new Router(routerAddresses(config, plan), table, clock, this.dhcp);
    const forwarder = new Forwarder(router, links, clock);
    const capture = await this.openCaptures(forwarder);
    this.parts = { router, forwarder, table, capture };
    this.links = links;
    forwarder.start((port, e) => this.linkGone(port, e.code));
    this.startTimer();
    if (!plan.wanStatic) this.startWanDhcp(plan);
    if (config.igd.enabled) await this.startIgd(plan, links[1]);
    const admin = config.admin ? await this.startAdmin(plan, adminToken) : null;

    log.info({
      lan: `${config.lan.tap} ${config.lan.address.address}/${config.lan.address.prefixLength}`,
      wan: plan.wanStatic ? `${config.wan.tap} ${plan.wanStatic.address}/${plan.wanStatic.prefixLength} via ${config.wan.gateway}` : `${config.wan.tap} by DHCP`,
      local: config.local.tap, nat: `${plan.nat.mapping}/${plan.nat.filtering}`, admin: config.admin?.socket ?? null,
      adminListen: admin?.tcp ? `${admin.tcp.host}:${admin.tcp.port}` : null,
    }, 'openigd running');
  }

  /** LAN and WAN with offloads as configured; the local port without, its kernel side holding the LAN address. */
  private async openLinks(plan: Plan): Promise<[Link, Link, Link]> {
    const { config } = this.partsGiven;
    const netns = (ns: string | undefined) => (ns ? { netns: ns } : {});
    const open = async (name: string, options: Parameters<typeof TapLink.open>[1]): Promise<Link> => {
      const link = await TapLink.open(name, options);
      this.cleanup.defer(`link ${name}`, () => link.close());
      return link;
    };
    const lan = await open(config.lan.tap, { ...netns(config.lan.netns), mtu: config.lan.mtu, offloads: config.offload });
    const wan = await open(config.wan.tap, { ...netns(config.wan.netns), mtu: config.wan.mtu, offloads: config.offload });
    const local = await open(config.local.tap, {
      ...netns(config.local.netns), kernelMac: macString(plan.localKernelMac), mtu: config.lan.mtu,
      kernelAddresses: [`${config.lan.address.address}/${config.lan.address.prefixLength}`],
    });
    return [lan, wan, local];
  }

  private async openDhcpServer(plan: Plan): Promise<DhcpServer | null> {
    const { config, log } = this.partsGiven;
    const d = config.lan.dhcp;
    if (!d) return null;
    const file = new LeaseFile(config.state, log);
    // The last lease change is written before the gateway says it stopped.
    this.cleanup.defer('dhcp lease file', () => file.flush());
    return new DhcpServer({
      serverAddr: plan.lanAddr, prefixLength: config.lan.address.prefixLength, rangeStart: parseIpv4(d.rangeStart)!,
      rangeEnd: parseIpv4(d.rangeEnd)!, leaseSeconds: d.leaseSeconds, dns: d.dns.map((x) => parseIpv4(x)!),
      ...(d.domain ? { domain: d.domain } : {}),
    }, file, await file.load());
  }

  /** Captures on and off at run time (`POST /capture`); one from the start with `capture`. */
  private async openCaptures(forwarder: Forwarder): Promise<CaptureControl> {
    const { config, log, clock } = this.partsGiven;
    const capture = new CaptureControl(config.capture?.dir ?? join(config.state, 'captures'), (taps) => forwarder.setTaps(taps),
      (port, e) => log.error({ port, error: e.message }, 'capture write failed'), () => clock.now());
    this.cleanup.defer('capture', () => { capture.stop(); });
    if (config.capture) {
      await capture.start().catch((e: unknown) => { throw e instanceof CaptureStartError ? pathError('capture.dir', e.step, e.path, e.cause) : e; });
    }
    return capture;
  }

  /** The one periodic timer: flows, DHCP leases, ARP and reassembly, the WAN lease, IGD leases. */
  private startTimer(): void {
    const { log, clock } = this.partsGiven;
    const { forwarder, table } = this.running();
    const timer = setInterval(() => {
      const ms = clock.now();
      const gone = table.expire(ms);
      if (gone) log.debug({ count: gone }, 'flows expired');
      this.dhcp?.expire(ms);
      forwarder.tick();
      this.wanDhcp?.tick(ms);
      this.igdRuntime?.tick();
      this.watchWan();
    }, TICK_MS);
    this.cleanup.defer('timer', () => clearInterval(timer));
  }

  /**
   * A TAP deleted under us (reading stopped, or its kernel side is gone): the gateway can
   * no longer forward through it, so it says which one, once, and `failed` settles (the
   * CLI stops and exits 1, for a supervisor to restart it).
   */
  private linkGone(port: number, why: string): void {
    const tap = this.links[port]?.name ?? '?';
    this.partsGiven.log.error({ port: PORT_NAMES[port], tap, reason: why }, 'link gone: the TAP was removed; stopping');
    this.fail(new Error(`TAP ${tap} (${PORT_NAMES[port]}) was removed: ${why}`));
  }

  /** The WAN TAP's kernel side down or up: logged, and the IGD events ConnectionStatus and PhysicalLinkStatus. */
  private watchWan(): void {
    const wan = this.links[1];
    if (!wan || !this.wanStateReadable) return;
    let state: LinkState;
    try {
      state = wan.kernelState?.() ?? 'up';
    } catch (e) {
      // E.g. EPERM: the TAP's kernel side is in another namespace and entering it needs
      // CAP_SYS_ADMIN. The link is then taken as up, as before there was a watch.
      this.wanStateReadable = false;
      this.partsGiven.log.warn({ tap: wan.name, error: (e as Error).message }, 'wan link state unreadable: taken as up from now on');
      return;
    }
    if (state === 'gone') return this.linkGone(1, 'deleted');
    if ((state === 'up') === this.wanUp) return;
    this.wanUp = state === 'up';
    const { log } = this.partsGiven;
    if (this.wanUp) log.info({ tap: wan.name }, 'wan link up');
    else log.warn({ tap: wan.name }, 'wan link down: nothing is forwarded to the WAN until it is up');
    this.igdRuntime?.linkChanged();
  }

  /** `wan.address: dhcp`: the client sets the router's WAN address as leases come and go. */
  private startWanDhcp(plan: Plan): void {
    const { log, clock } = this.partsGiven;
    const { router, forwarder } = this.running();
    const client = new DhcpClient({ mac: plan.wanMac, hostName: 'openigd' }, {
      send: (m, to) => forwarder.sendWanDhcp(m, to),
      lease: (l) => {
        if (l) {
          const gw = l.router || plan.configuredGateway;
          router.setWan(l.address, l.prefixLength, gw);
          log.info({ address: `${ipv4ToString(l.address)}/${l.prefixLength}`, gateway: ipv4ToString(gw), server: ipv4ToString(l.server), seconds: l.leaseSeconds }, 'wan lease');
        } else {
          router.setWan(0, 0, plan.configuredGateway);
          log.warn('wan lease lost: forwarding stops until a new one');
        }
        this.igdRuntime?.externalAddressChanged();
      },
    });
    router.setWanDhcpClient((m, ms) => client.receive(m, ms));
    client.start(clock.now());
    this.wanDhcp = client;
    this.cleanup.defer('wan dhcp client', () => client.release());
  }

  private async startIgd(plan: Plan, wan: Link): Promise<void> {
    const { config, log, clock } = this.partsGiven;
    const { router, table } = this.running();
    const igd = await startIgdRuntime(config, {
      table, lanAddr: plan.lanAddr, wanAddr: () => router.addrs.wanAddr, wanCounters: () => wan.counters,
      // Whole milliseconds: lease ends are stored as integers.
      wanLinkUp: () => this.wanUp, clock: () => Math.floor(clock.now()), natNowMs: () => clock.now(), log,
    });
    this.igdRuntime = igd;
    this.cleanup.defer('igd', () => igd.stop());
    if (config.igd.tcp === 'userspace') this.startServiceTcp(plan, igd);
  }

  /**
   * The IGD's HTTP port served by the router's own TCP endpoint (`igd.tcp: userspace`):
   * LAN segments to it are answered in the daemon, without the local port; each
   * connection goes to the IGD's HTTP server like an accepted socket.
   */
  private startServiceTcp(plan: Plan, igd: IgdRuntime): void {
    const { config, clock } = this.partsGiven;
    const { router, forwarder } = this.running();
    const service = new ServiceTcp({
      addr: plan.lanAddr, mac: plan.lanMac, port: config.igd.httpPort, mtu: config.lan.mtu, maxConnections: SERVICE_TCP_MAX_CONNECTIONS,
      now: () => clock.now(), transmit: (batch) => forwarder.transmit(PORT.lan, batch), accept: (socket) => igd.accept(socket),
    });
    router.setService(service);
    this.serviceTcp = service;
    this.cleanup.defer('igd tcp endpoint', () => {
      router.setService(null);
      service.close();
      this.serviceTcp = null;
    });
  }

  private async startAdmin(plan: Plan, token: string | null): Promise<AdminServer> {
    const { config, log, clock } = this.partsGiven;
    const admin = config.admin!;
    const { router, forwarder, table, capture } = this.running();
    const control = gatewayControl({
      router, status: () => forwarder.status(), table, nat: plan.nat, lan: { address: plan.lanAddr, prefixLength: config.lan.address.prefixLength, mac: plan.lanMac },
      wanMac: plan.wanMac, dhcp: () => this.dhcp, wanDhcp: () => this.wanDhcp, igd: () => this.igdRuntime, igdTcp: () => this.serviceTcp, clock, log, capture,
    });
    const tcp = admin.listen && token ? { ...admin.listen, token } : undefined;
    let server: AdminServer;
    try {
      server = await startAdminServer(admin.socket, control, tcp);
    } catch (e) {
      // E.g. the socket's directory cannot be made, or admin.listen's port is in use: say which.
      const field = typeof (e as { port?: unknown }).port === 'number' ? 'admin.listen' : 'admin.socket';
      throw new ConfigError(field, `cannot listen: ${(e as Error).message}`, { cause: e });
    }
    this.cleanup.defer('admin api', () => server.close());
    return server;
  }
}
