/**
 * The reference IGD for the benchmark: Debian's `miniupnpd` (nftables build) running in
 * network namespaces of its own, with a client LAN host and a STUN server of ours.
 *
 *   <p>-lan  eth0 192.168.50.2 ─veth─ lan0 192.168.50.1  <p>-rt  wan0 203.0.113.2 ─veth─ eth0 203.0.113.1  <p>-inet
 *            (the control point)       miniupnpd, nftables                              stund on 198.51.100.10 and .11
 *
 * miniupnpd refuses to map ports when its WAN address is private or reserved (203.0.113.0/24
 * is a documentation range), unless STUN tells it the address is reachable: so the router
 * runs `ext_perform_stun=yes` against `stund` (RFC 3489, two addresses and two ports) in
 * the internet namespace, which sees no NAT and no filtering and so enables forwarding.
 * The nftables tables miniupnpd edits are created inside the router namespace only.
 *
 * miniupnpd runs as a daemon, as routers run it (its pid from the pid file we name), and
 * is ready once it listens and GetExternalIPAddress, asked from the LAN host, gives the
 * STUN address (an empty answer means forwarding stayed off). `-d` is only a debugging
 * option: at debug level miniupnpd 2.3.1 slows by ≈ 5 ms per existing mapping per add.
 *
 * It must not touch the root namespace or any namespace it did not create, and it ends
 * only the processes it started, by pid. Every step registers its undo on the caller's
 * `Cleanup` as it goes, so a failure half-way still removes everything. A harness that
 * cannot exist here (not root, a tool missing, miniupnpd not starting) is returned as
 * `{ ok: false, reason }`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { background, isRoot, must, sh, until, type Cleanup } from '../../lib/ns.js';
import { runSoapWorker, type ControlPoint } from './soap-worker.js';

/** The addresses of the harness; fixed because every harness has namespaces of its own. */
export const MINIUPNPD_ADDRESSES = {
  client: '192.168.50.2',
  routerLan: '192.168.50.1',
  lanPrefixLength: 24,
  routerWan: '203.0.113.2',
  nextHop: '203.0.113.1',
  wanPrefixLength: 24,
  stunPrimary: '198.51.100.10',
  stunSecondary: '198.51.100.11',
} as const;

export const MINIUPNPD_HTTP_PORT = 5555;
export const STUN_PORT = 3478;

/** The nftables table and chains miniupnpd is told to use (its defaults, spelled out). */
export const NFT_NAMES = {
  table: 'filter',
  forwardChain: 'miniupnpd',
  preroutingChain: 'prerouting_miniupnpd',
  postroutingChain: 'postrouting_miniupnpd',
} as const;

export interface MiniupnpdConfigInput {
  readonly lanInterface: string;
  readonly wanInterface: string;
  readonly httpPort: number;
  readonly uuid: string;
  /** The LAN in CIDR form, allowed to map any port; everything else is denied. */
  readonly lanCidr: string;
  readonly stunHost: string;
  readonly stunPort: number;
  /** NAT-PMP/PCP on port 5351 of the LAN interface as well (`enable_natpmp=yes`). Default off. */
  readonly natpmp?: boolean;
}

/**
 * The miniupnpd.conf text: UPnP (NAT-PMP/PCP only with `natpmp`), secure mode off (a client may map for
 * another LAN address), IGD:1 description (what Windows and our OpenIGD advertise), STUN
 * for the external address, the nftables names above, allow the LAN and deny the rest.
 */
export function miniupnpdConfig(c: MiniupnpdConfigInput): string {
  return [
    `ext_ifname=${c.wanInterface}`,
    `listening_ip=${c.lanInterface}`,
    `port=${c.httpPort}`,
    'enable_upnp=yes',
    `enable_natpmp=${c.natpmp ? 'yes' : 'no'}`,
    'secure_mode=no',
    'force_igd_desc_v1=yes',
    'system_uptime=no',
    'notify_interval=60',
    'clean_ruleset_interval=0',
    `uuid=${c.uuid}`,
    'ext_perform_stun=yes',
    `ext_stun_host=${c.stunHost}`,
    `ext_stun_port=${c.stunPort}`,
    `upnp_table_name=${NFT_NAMES.table}`,
    `upnp_nat_table_name=${NFT_NAMES.table}`,
    `upnp_forward_chain=${NFT_NAMES.forwardChain}`,
    `upnp_nat_chain=${NFT_NAMES.preroutingChain}`,
    `upnp_nat_postrouting_chain=${NFT_NAMES.postroutingChain}`,
    `allow 1-65535 ${c.lanCidr} 1-65535`,
    'deny 0-65535 0.0.0.0/0 0-65535',
    '',
  ].join('\n');
}

/**
 * The router's nftables ruleset (for `nft -f`): the chains miniupnpd fills, hooked into
 * forward, prerouting and postrouting. Forwarding is otherwise accepted.
 */
export function nftablesRuleset(): string {
  const n = NFT_NAMES;
  return [
    `table inet ${n.table} {`,
    `  chain ${n.forwardChain} { }`,
    `  chain ${n.preroutingChain} { }`,
    `  chain ${n.postroutingChain} { }`,
    `  chain forward { type filter hook forward priority 0; policy accept; jump ${n.forwardChain}; }`,
    `  chain prerouting { type nat hook prerouting priority -100; policy accept; jump ${n.preroutingChain}; }`,
    `  chain postrouting { type nat hook postrouting priority 100; policy accept; jump ${n.postroutingChain}; }`,
    '}',
    '',
  ].join('\n');
}

/**
 * What miniupnpd's log says about its start: ready once it listens for HTTP with port
 * forwarding enabled, failed when STUN failed or forwarding stays off; null while it
 * says neither yet.
 */
export function startStatus(log: string): { ok: true; externalAddress: string | null } | { ok: false; reason: string } | null {
  const fatal = /[^\n]*(?:Performing STUN failed|Port forwarding is impossible|Port forwarding is now disabled|behind restrictive or symmetric NAT)[^\n]*/.exec(log);
  if (fatal) return { ok: false, reason: fatal[0].replace(/^miniupnpd\[\d+\]:\s*/, '').trim() };
  if (!/HTTP listening on port \d+/.test(log) || !/Port forwarding is now enabled/.test(log)) return null;
  const ext = /public IP address (\d+\.\d+\.\d+\.\d+)/.exec(log);
  return { ok: true, externalAddress: ext?.[1] ?? null };
}

export interface MiniupnpdHarness {
  readonly namespaces: { readonly lan: string; readonly router: string; readonly inet: string };
  /** The LAN host the control point runs in, and its address (the internal client). */
  readonly clientNs: string;
  readonly clientAddress: string;
  readonly descriptionUrl: string;
  readonly control: ControlPoint;
  /** What GetExternalIPAddress answered: the address miniupnpd took from STUN. */
  readonly externalAddress: string;
  readonly version: string;
  /** How it runs: `daemon` (as shipped) or `debug` (`-d`, foreground, log at debug level). */
  readonly mode: 'daemon' | 'debug';
  /** miniupnpd's current pid. */
  pid(): number;
  /** What it printed: in debug mode its whole log; as a daemon only what it said before detaching. */
  log(): Promise<string>;
  /** Stops miniupnpd, empties its nftables chains, and starts it again: an empty table. */
  restart(): Promise<void>;
  /** Stops miniupnpd and the STUN server (also done by the cleanup). */
  stop(): Promise<void>;
}

export type MiniupnpdSetup = { readonly ok: true; readonly harness: MiniupnpdHarness } | { readonly ok: false; readonly reason: string };

export interface MiniupnpdOptions {
  /** Namespace prefix, e.g. from `uniquePrefix('mu')`. */
  readonly prefix: string;
  readonly httpPort?: number;
  /**
   * Run in the foreground with `-d` and keep its debug log. Measured here: miniupnpd
   * 2.3.1 then spends ≈ 5 ms per existing mapping on every add (it walks and logs the
   * rule list), so a benchmark must run it as a daemon (the default).
   */
  readonly debug?: boolean;
  /** Turn on its NAT-PMP/PCP server too. */
  readonly natpmp?: boolean;
  readonly log?: (line: string) => void;
}

type Started = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True while `pid` is a live (not zombie) miniupnpd process. */
async function isMiniupnpd(pid: number): Promise<boolean> {
  try {
    const [stat, cmdline] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/cmdline`, 'utf8')]);
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X' && cmdline.split('\0')[0]?.endsWith('miniupnpd') === true;
  } catch {
    return false;
  }
}

/** Ends the miniupnpd daemon `pid`: SIGTERM, SIGKILL after `graceMs`; resolves when it is gone. */
async function endDaemon(pid: number, graceMs = 3_000): Promise<void> {
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  if (!(await isMiniupnpd(pid))) return;
  send('SIGTERM');
  for (let waitedMs = 0; waitedMs < graceMs && (await isMiniupnpd(pid)); waitedMs += 50) await sleep(50);
  if (!(await isMiniupnpd(pid))) return;
  send('SIGKILL');
  for (let i = 0; i < 40 && (await isMiniupnpd(pid)); i++) await sleep(50);
}

/** Ends a child by pid: SIGTERM, SIGKILL after `graceMs`; resolves when it has exited. */
async function endChild(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

async function commandMissing(cmds: readonly string[]): Promise<string | null> {
  const missing: string[] = [];
  for (const c of cmds) {
    const r = await sh(null, 'sh', ['-c', `command -v ${c}`], 5_000);
    if (r.code !== 0) missing.push(c);
  }
  return missing.length ? `${missing.join(', ')} not installed` : null;
}

const tail = (text: string) => text.trim().split('\n').slice(-3).join(' | ');

/**
 * Builds the namespaces, starts `stund` and `miniupnpd`, waits until miniupnpd answers
 * from the LAN host with its description and the external address it took from STUN,
 * and returns the harness. Undo steps go on `cleanup`; run it even when this rejects or
 * returns `ok: false`.
 */
export async function startMiniupnpd(opts: MiniupnpdOptions, cleanup: Cleanup): Promise<MiniupnpdSetup> {
  const say = opts.log ?? (() => {});
  if (!isRoot()) return { ok: false, reason: 'needs root (network namespaces)' };
  const missing = await commandMissing(['ip', 'nft', 'ss', 'miniupnpd', 'stund']);
  if (missing) return { ok: false, reason: `${missing} (Debian: miniupnpd-nftables, nftables, iproute2, stun-server)` };
  const version = (await sh(null, 'miniupnpd', ['--version'], 5_000)).stdout.split('\n')[0]?.trim() ?? 'unknown';
  const a = MINIUPNPD_ADDRESSES;
  const port = opts.httpPort ?? MINIUPNPD_HTTP_PORT;
  const mode = opts.debug ? 'debug' : 'daemon';
  const ns = { lan: `${opts.prefix}-lan`, router: `${opts.prefix}-rt`, inet: `${opts.prefix}-inet` };

  const dir = await mkdtemp(join(tmpdir(), `${opts.prefix}-`));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  for (const n of [ns.lan, ns.router, ns.inet]) {
    await must(null, 'ip', ['netns', 'add', n]);
    cleanup.add(() => must(null, 'ip', ['netns', 'delete', n]));
    await must(null, 'ip', ['-n', n, 'link', 'set', 'lo', 'up']);
  }
  await must(null, 'ip', ['-n', ns.lan, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', ns.router]);
  await must(null, 'ip', ['-n', ns.router, 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.inet]);
  const addrs: [string, string, string][] = [
    [ns.lan, 'eth0', `${a.client}/${a.lanPrefixLength}`],
    [ns.router, 'lan0', `${a.routerLan}/${a.lanPrefixLength}`],
    [ns.router, 'wan0', `${a.routerWan}/${a.wanPrefixLength}`],
    [ns.inet, 'eth0', `${a.nextHop}/${a.wanPrefixLength}`],
  ];
  for (const [n, dev, addr] of addrs) {
    await must(null, 'ip', ['-n', n, 'addr', 'add', addr, 'dev', dev]);
    await must(null, 'ip', ['-n', n, 'link', 'set', dev, 'up']);
  }
  // The STUN server's two addresses sit on the internet namespace's loopback.
  for (const s of [a.stunPrimary, a.stunSecondary]) await must(null, 'ip', ['-n', ns.inet, 'addr', 'add', `${s}/32`, 'dev', 'lo']);
  await must(null, 'ip', ['-n', ns.lan, 'route', 'add', 'default', 'via', a.routerLan]);
  await must(null, 'ip', ['-n', ns.router, 'route', 'add', 'default', 'via', a.nextHop]);
  await must(ns.router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  await must(ns.inet, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  const rulesetPath = join(dir, 'miniupnpd.nft');
  await writeFile(rulesetPath, nftablesRuleset());
  await must(ns.router, 'nft', ['-f', rulesetPath]);

  const stund = background(ns.inet, 'stund', ['-h', a.stunPrimary, '-a', a.stunSecondary, '-p', String(STUN_PORT), '-o', String(STUN_PORT + 1)]);
  cleanup.add(() => stund.stop());
  await until('stund listening', async () => {
    if (stund.child.exitCode !== null) throw new Error(`stund exited ${stund.child.exitCode}: ${stund.output().trim()}`);
    const r = await sh(ns.inet, 'ss', ['-Hnlu', 'sport', '=', `:${STUN_PORT}`], 5_000);
    return r.stdout.includes(`${a.stunSecondary}:${STUN_PORT}`);
  }, 5_000, 50);
  say(`stund (pid ${stund.child.pid}) on ${a.stunPrimary} and ${a.stunSecondary} in ${ns.inet}`);

  const configPath = join(dir, 'miniupnpd.conf');
  await writeFile(configPath, miniupnpdConfig({
    lanInterface: 'lan0', wanInterface: 'wan0', httpPort: port, uuid: randomUUID(),
    lanCidr: `${a.routerLan.replace(/\.\d+$/, '.0')}/${a.lanPrefixLength}`, stunHost: a.stunPrimary, stunPort: STUN_PORT,
    natpmp: opts.natpmp ?? false,
  }));
  const pidPath = join(dir, 'miniupnpd.pid');
  let run = 0;
  /** The foreground child in debug mode; the daemon's pid (from its pid file) otherwise. */
  let child: ChildProcess | null = null;
  let daemonPid = 0;
  const logOf = () => join(dir, `miniupnpd.${run}.log`);
  const stopMiniupnpd = async () => {
    if (child) await endChild(child);
    if (daemonPid > 0) await endDaemon(daemonPid);
  };
  cleanup.add(stopMiniupnpd);

  const listening = async () => (await sh(ns.router, 'ss', ['-Hntl', 'sport', '=', `:${port}`], 5_000)).stdout.includes(`:${port}`);

  /** Debug mode: `-d` in the foreground, its log in a file; ready once the log says it listens with forwarding on. */
  const launchDebug = async (): Promise<Started> => {
    const fh = await open(logOf(), 'w');
    const c = spawn('ip', ['netns', 'exec', ns.router, 'miniupnpd', '-f', configPath, '-d', '-4', '-P', pidPath], { stdio: ['ignore', fh.fd, fh.fd] });
    await fh.close();
    child = c;
    const text = () => readFile(logOf(), 'utf8').catch(() => '');
    try {
      return await until('miniupnpd listening', async () => {
        const t = await text();
        if (c.exitCode !== null || c.signalCode !== null) return { ok: false as const, reason: `miniupnpd exited (${c.exitCode ?? c.signalCode}): ${tail(t)}` };
        return startStatus(t);
      }, 15_000, 50);
    } catch (e) {
      return { ok: false, reason: `${e instanceof Error ? e.message : String(e)}: ${tail(await text())}` };
    }
  };

  /**
   * Daemon mode, as a router runs it: the process we spawn detaches a daemon and exits;
   * the daemon's pid comes from the pid file we named. Its syslog goes nowhere here, so
   * readiness is its HTTP port listening (it does STUN first); forwarding being on is
   * checked afterwards through GetExternalIPAddress.
   */
  const launchDaemon = async (): Promise<Started> => {
    await rm(pidPath, { force: true });
    const r = await sh(ns.router, 'miniupnpd', ['-f', configPath, '-4', '-P', pidPath], 20_000);
    await writeFile(logOf(), `${r.stdout}${r.stderr}`);
    if (r.code !== 0) return { ok: false, reason: `miniupnpd exited ${r.code}: ${tail(`${r.stdout}\n${r.stderr}`)}` };
    try {
      daemonPid = await until('miniupnpd pid file', async () => {
        const pid = Number((await readFile(pidPath, 'utf8').catch(() => '')).trim());
        return Number.isInteger(pid) && pid > 0 && (await isMiniupnpd(pid)) ? pid : null;
      }, 5_000, 50);
      await until('miniupnpd HTTP port', async () => {
        if (!(await isMiniupnpd(daemonPid))) throw new Error('the daemon exited (STUN failed or bad config; its syslog is not kept)');
        return listening();
      }, 15_000, 50);
      return { ok: true };
    } catch (e) {
      return { ok: false, reason: e instanceof Error ? e.message : String(e) };
    }
  };

  const descriptionUrl = `http://${a.routerLan}:${port}/rootDesc.xml`;
  /** Starts miniupnpd and checks, from the LAN host, its description and external address. */
  const launch = async (): Promise<{ ok: true; control: ControlPoint; externalAddress: string } | { ok: false; reason: string }> => {
    run++;
    const started = mode === 'debug' ? await launchDebug() : await launchDaemon();
    if (!started.ok) return started;
    const d = await runSoapWorker(ns.lan, { mode: 'describe', descriptionUrl }, 15_000);
    if (!d.ok) return { ok: false, reason: `description from ${ns.lan}: ${d.reason}` };
    if (d.mode !== 'describe') return { ok: false, reason: 'the worker answered another job' };
    // An empty answer is miniupnpd's way of saying forwarding is off (no usable external address).
    if (d.externalAddress === '' || d.externalAddress === '0.0.0.0') {
      return { ok: false, reason: `GetExternalIPAddress is ${JSON.stringify(d.externalAddress)}: STUN did not enable port forwarding` };
    }
    return { ok: true, control: d.control, externalAddress: d.externalAddress };
  };

  const first = await launch();
  if (!first.ok) return first;
  const pid = () => (child as ChildProcess | null)?.pid ?? daemonPid;
  say(`miniupnpd (${mode}, pid ${pid()}) in ${ns.router}, external address ${first.externalAddress} (STUN)`);

  const harness: MiniupnpdHarness = {
    namespaces: ns,
    clientNs: ns.lan,
    clientAddress: a.client,
    descriptionUrl,
    control: first.control,
    externalAddress: first.externalAddress,
    version,
    mode,
    pid,
    log: () => readFile(logOf(), 'utf8').catch(() => ''),
    restart: async () => {
      await stopMiniupnpd();
      child = null;
      daemonPid = 0;
      for (const chain of [NFT_NAMES.forwardChain, NFT_NAMES.preroutingChain, NFT_NAMES.postroutingChain]) {
        await must(ns.router, 'nft', ['flush', 'chain', 'inet', NFT_NAMES.table, chain]);
      }
      const again = await launch();
      if (!again.ok) throw new Error(`miniupnpd restart: ${again.reason}`);
      say(`miniupnpd restarted (pid ${pid()}) with an empty table`);
    },
    stop: async () => {
      await stopMiniupnpd();
      await stund.stop();
    },
  };
  return { ok: true, harness };
}
