/**
 * The lab: builds on this machine, in network namespaces, a LAN with two hosts
 * (addresses from our DHCP), the gateway's own namespace running the daemon, and an
 * "internet" with a server at two addresses. `labDown` removes everything `labUp`
 * made, using the record it wrote, and is safe to run twice.
 *
 *   h1 ─┐                                     ┌─ inet: 203.0.113.1 (next hop)
 *       ├─ br0 (ns lan) ─ oi-lan0 ═ daemon ═ oi-wan0 ┤   198.51.100.10, .11 (server)
 *   h2 ─┘          (ns gw: oi-local0 192.168.1.1)    └─
 *
 * It touches nothing outside the namespaces whose names start with its prefix.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile, open } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ip, run } from '../exec.js';
import { inNs, listNetns } from './sh.js';

export interface LabOptions {
  /** Namespace name prefix; tests pass a unique one. */
  readonly prefix: string;
  /** Where the config, state, log and record go. */
  readonly dir: string;
  /** Extra YAML lines merged into the generated config's `nat:` section, e.g. `{ preset: symmetric }`. */
  readonly nat?: Readonly<Record<string, unknown>>;
  /** Run `udhcpc` in the hosts (default true). */
  readonly dhcp?: boolean;
  /** Extra top-level YAML appended to the config. */
  readonly extraConfig?: string;
  /** Extra keys of the config's `admin:` section, e.g. `listen: 127.0.0.1:9108, tokenFile: /path`. */
  readonly adminConfig?: string;
  /**
   * The WAN by DHCP (`wan.address: dhcp`): busybox udhcpd in the internet namespace hands
   * out 203.0.113.50–.60 with router 203.0.113.1. `wanAddress` in the record is then ''.
   */
  readonly wanDhcp?: boolean;
  readonly log?: (line: string) => void;
}

export interface LabRecord {
  readonly prefix: string;
  readonly dir: string;
  readonly namespaces: { gw: string; lan: string; h1: string; h2: string; inet: string };
  readonly daemonPid: number;
  /** busybox udhcpd serving the WAN (with `wanDhcp`), else 0. */
  readonly wanDhcpServerPid?: number;
  readonly configPath: string;
  readonly adminSocket: string;
  readonly lanAddress: string;
  readonly wanAddress: string;
  readonly wanGateway: string;
  readonly servers: readonly string[];
  readonly hostAddresses: Record<string, string>;
  /**
   * The kernel threads polling the LAN bridge ports (threaded NAPI, see `lanPortGro`);
   * empty when GRO could not be turned on. Benchmarks count their CPU with the daemon's.
   */
  readonly lanNapiPids: readonly number[];
}

export const LAB_DEFAULT_PREFIX = 'oi-lab';
export const LAB_DEFAULT_DIR = '/run/openigd-lab';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'cli.js');
const UDHCPC_SCRIPT = join(here, '..', '..', 'lab', 'udhcpc-script.sh');

function names(prefix: string): LabRecord['namespaces'] {
  return { gw: `${prefix}-gw`, lan: `${prefix}-lan`, h1: `${prefix}-h1`, h2: `${prefix}-h2`, inet: `${prefix}-inet` };
}

function yamlValue(v: unknown): string {
  return JSON.stringify(v);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 400 && Date.now() < deadline; i++) {
    if (await check()) return;
    if (!alive()) throw new Error(`lab: the daemon exited while waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`lab: timed out after ${timeoutMs} ms waiting for ${what}`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the daemon in the gateway namespace and wires its TAPs into the lab (the LAN TAP
 * onto the bridge, the next hop's address on the WAN TAP); resolves with its pid once it
 * logs that it runs. `spawned` records the pid at once, so a failure is still cleaned up.
 */
async function spawnDaemon(dir: string, ns: LabRecord['namespaces'], configPath: string, wanGateway: string,
  log: (line: string) => void, spawned: (pid: number) => Promise<void>): Promise<number> {
  const logPath = join(dir, 'openigd.log');
  const logFile = await open(logPath, 'a');
  const logStart = (await logFile.stat()).size;
  const child = spawn('ip', ['netns', 'exec', ns.gw, process.execPath, CLI, 'run', '--config', configPath], {
    detached: true, stdio: ['ignore', logFile.fd, logFile.fd],
  });
  child.unref();
  await logFile.close();
  const pid = child.pid ?? 0;
  await spawned(pid);
  log(`daemon started (pid ${pid}), log ${logPath}`);
  const alive = () => pidAlive(pid);
  const tapIn = (n: string, dev: string) => async () => (await ip(n, '-o', 'link', 'show').catch(() => '')).includes(` ${dev}:`);
  await waitFor('the LAN and WAN TAPs', async () => (await tapIn(ns.lan, 'oi-lan0')()) && (await tapIn(ns.inet, 'oi-wan0')()), 15_000, alive);
  await ip(ns.lan, 'link', 'set', 'oi-lan0', 'master', 'br0', 'up');
  await ip(ns.inet, 'addr', 'add', `${wanGateway}/24`, 'dev', 'oi-wan0');
  await ip(ns.inet, 'link', 'set', 'oi-wan0', 'up');
  const running = async (): Promise<boolean> => {
    const text = await readFile(logPath, 'utf8').catch(() => '');
    return text.slice(logStart).includes('"msg":"openigd running"');
  };
  await waitFor('the daemon to report it runs', running, 15_000, alive);
  return pid;
}

/** Starts busybox udhcpd on the WAN TAP's far side (the internet namespace); resolves with its pid. */
async function startWanDhcpServer(dir: string, inet: string): Promise<number> {
  const conf = join(dir, 'udhcpd-wan.conf');
  await writeFile(conf, [
    'start 203.0.113.50', 'end 203.0.113.60', 'interface oi-wan0', 'max_leases 11',
    `lease_file ${join(dir, 'udhcpd-wan.leases')}`, `pidfile ${join(dir, 'udhcpd-wan.pid')}`,
    'opt subnet 255.255.255.0', 'opt router 203.0.113.1', 'opt lease 120', '',
  ].join('\n'));
  await writeFile(join(dir, 'udhcpd-wan.leases'), '');
  const logFile = await open(join(dir, 'udhcpd-wan.log'), 'a');
  const child = spawn('ip', ['netns', 'exec', inet, 'busybox', 'udhcpd', '-f', conf], {
    detached: true, stdio: ['ignore', logFile.fd, logFile.fd],
  });
  child.unref();
  await logFile.close();
  return child.pid ?? 0;
}

/** Builds the lab and starts the daemon in it. Tears down a previous lab of the same prefix first. */
export async function labUp(opts: LabOptions): Promise<LabRecord> {
  const log = opts.log ?? (() => {});
  await labDown(opts.prefix, opts.dir);
  const ns = names(opts.prefix);
  const dir = join(opts.dir, opts.prefix);
  await mkdir(join(dir, 'state'), { recursive: true });
  const lanAddress = '192.168.1.1';
  const wanAddress = '203.0.113.2';
  const wanGateway = '203.0.113.1';
  const servers = ['198.51.100.10', '198.51.100.11'];
  const adminSocket = join(dir, 'admin.sock');
  const configPath = join(dir, 'openigd.yaml');
  const nat = opts.nat ?? { preset: 'rfc' };
  // A record of what exists so far, so a failure half-way is cleaned up by labDown.
  const partial = { prefix: opts.prefix, dir, namespaces: ns, daemonPid: 0 };
  await writeFile(join(dir, 'lab.json'), JSON.stringify(partial));
  try {
    for (const n of Object.values(ns)) {
      await run('ip', ['netns', 'add', n]);
      await ip(n, 'link', 'set', 'lo', 'up');
    }
    // LAN: a bridge in its own namespace, one veth per host.
    await ip(ns.lan, 'link', 'add', 'br0', 'type', 'bridge');
    // With br_netfilter loaded, bridged IPv4 is validated (and malformed frames dropped)
    // before it reaches the gateway; a LAN switch does no such thing.
    await inNs(ns.lan, 'sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0']).catch(() => undefined);
    await ip(ns.lan, 'link', 'set', 'br0', 'up');
    const napiBefore = await napiThreads();
    for (const h of ['h1', 'h2'] as const) {
      await ip(ns[h], 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', h, 'netns', ns.lan);
      await ip(ns.lan, 'link', 'set', h, 'master', 'br0', 'up');
      await ip(ns[h], 'link', 'set', 'eth0', 'up');
      await lanPortGro(ns.lan, h, log);
    }
    // The NAPI threads that appeared for the two ports (named after the device, not the namespace).
    const lanNapiPids = [...await napiThreads()].filter(([pid, dev]) => !napiBefore.has(pid) && (dev === 'h1' || dev === 'h2')).map(([pid]) => pid);
    // Internet: the next hop and a server with two addresses (RFC 5780 needs two).
    // On the namespace's loopback: local delivery, no extra device type needed.
    for (const s of servers) await ip(ns.inet, 'addr', 'add', `${s}/32`, 'dev', 'lo');
    await inNs(ns.inet, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);

    const config = [
      `# Generated by 'openigd lab up' (prefix ${opts.prefix}).`,
      `lan:   { tap: oi-lan0, netns: ${ns.lan}, address: ${lanAddress}/24, dhcp: { range: 192.168.1.100-192.168.1.199 } }`,
      opts.wanDhcp
        ? `wan:   { tap: oi-wan0, netns: ${ns.inet}, address: dhcp }`
        : `wan:   { tap: oi-wan0, netns: ${ns.inet}, address: ${wanAddress}/24, gateway: ${wanGateway} }`,
      `local: { tap: oi-local0 }`,
      `nat:   { ${Object.entries(nat).map(([k, v]) => `${k}: ${yamlValue(v)}`).join(', ')} }`,
      `state: ${join(dir, 'state')}`,
      `admin: { socket: ${adminSocket}${opts.adminConfig ? `, ${opts.adminConfig}` : ''} }`,
      opts.extraConfig ?? '',
    ].join('\n') + '\n';
    await writeFile(configPath, config);

    const pid = await spawnDaemon(dir, ns, configPath, wanGateway, log, async (daemonPid) => {
      await writeFile(join(dir, 'lab.json'), JSON.stringify({ ...partial, daemonPid }));
    });
    let wanDhcpServerPid = 0;
    if (opts.wanDhcp) {
      wanDhcpServerPid = await startWanDhcpServer(dir, ns.inet);
      await writeFile(join(dir, 'lab.json'), JSON.stringify({ ...partial, daemonPid: pid, wanDhcpServerPid }));
      log(`udhcpd serves the WAN from ${ns.inet} (pid ${wanDhcpServerPid})`);
    }

    const hostAddresses: Record<string, string> = {};
    if (opts.dhcp !== false) {
      for (const h of ['h1', 'h2'] as const) {
        const out = await inNs(ns[h], 'udhcpc', ['-i', 'eth0', '-n', '-q', '-f', '-t', '8', '-T', '1', '-x', `hostname:${h}`, '-s', UDHCPC_SCRIPT], 30_000);
        const m = /lease: eth0 (\S+)\//.exec(out);
        if (!m) throw new Error(`lab: ${h} got no DHCP lease: ${out.trim()}`);
        hostAddresses[h] = m[1]!;
        log(`${h} (${ns[h]}) got ${m[1]} by DHCP`);
      }
    }
    const record: LabRecord = {
      prefix: opts.prefix, dir, namespaces: ns, daemonPid: pid, wanDhcpServerPid, configPath, adminSocket,
      lanAddress, wanAddress: opts.wanDhcp ? '' : wanAddress, wanGateway, servers, hostAddresses, lanNapiPids,
    };
    await writeFile(join(dir, 'lab.json'), JSON.stringify(record, null, 2));
    return record;
  } catch (e) {
    const logText = await readFile(join(dir, 'openigd.log'), 'utf8').catch(() => '');
    await labDown(opts.prefix, opts.dir);
    if (logText) (e as Error).message += `\n--- daemon log ---\n${logText.split('\n').slice(-15).join('\n')}`;
    throw e;
  }
}

/** How long a LAN port's NAPI thread may hold aggregated frames while traffic keeps coming, ns. */
const GRO_FLUSH_NS = 50_000;

/**
 * Makes a LAN bridge port receive like a NIC with GRO and interrupt coalescing: GRO
 * with UDP GRO forwarding (`ethtool -K`), polled by a NAPI thread of its own
 * (`threaded`) that, while traffic keeps coming, polls again after at most 50 µs
 * instead of at every frame (`gro_flush_timeout`, `napi_defer_hard_irqs`, as a NIC's
 * rx-usecs would: measured here, a ping's round trip through the lab grows from
 * 0.28 to 0.45 ms on average). A run of datagrams of
 * one flow then crosses the bridge as one UDP GSO super-frame, which the gateway's TAP
 * (offloads on) takes whole: one read, one NAT lookup and one write for up to 64
 * datagrams, segmented again by the kernel at the receiver. Without the thread, veth
 * polls in the sender's own context right after each send and has nothing to
 * aggregate. When it cannot (no `ethtool`, an old kernel) it says so in one log line;
 * the lab works either way.
 */
async function lanPortGro(lanNs: string, port: string, log: (line: string) => void): Promise<void> {
  try {
    await inNs(lanNs, 'ethtool', ['-K', port, 'gro', 'on', 'rx-udp-gro-forwarding', 'on']);
    const sys = `/sys/class/net/${port}`;
    await inNs(lanNs, 'sh', ['-c', `echo 1 > ${sys}/threaded && echo ${GRO_FLUSH_NS} > ${sys}/gro_flush_timeout && echo 2 > ${sys}/napi_defer_hard_irqs`]);
  } catch (e) {
    log(`LAN port ${port}: GRO not enabled (${(e as Error).message.split('\n')[0]}); its UDP reaches the gateway one datagram per frame`);
  }
}

/** The kernel's NAPI threads (comm `napi/<device>-<napi id>`), in any namespace: pid → device name. */
async function napiThreads(): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const m = /^napi\/(.+)-\d+$/.exec((await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '')).trim());
    if (m) found.set(Number(entry), m[1]!);
  }
  return found;
}

/** Stops the lab's daemon (SIGTERM, then SIGKILL after 5 s) and deletes its namespaces and files. */
export async function labDown(prefix: string, baseDir: string): Promise<void> {
  const dir = join(baseDir, prefix);
  const recordPath = join(dir, 'lab.json');
  if (existsSync(recordPath)) {
    const rec = JSON.parse(await readFile(recordPath, 'utf8')) as Partial<LabRecord>;
    const udhcpd = rec.wanDhcpServerPid ?? 0;
    if (udhcpd > 0 && pidAlive(udhcpd)) process.kill(udhcpd, 'SIGTERM');
    const pid = rec.daemonPid ?? 0;
    if (pid > 0 && pidAlive(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
  const ns = names(prefix);
  const existing = new Set(await listNetns());
  for (const n of Object.values(ns)) if (existing.has(n)) await run('ip', ['netns', 'delete', n]);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Stops the lab's daemon with `signal` (SIGTERM: a clean stop; SIGKILL: a crash) and
 * starts it again with the same config and state, as a restart of the gateway would.
 */
export async function labRestartDaemon(prefix: string, baseDir: string, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
  log: (line: string) => void = () => {}): Promise<LabRecord> {
  const rec = await labRecord(prefix, baseDir);
  if (!rec) throw new Error(`lab ${prefix}: not up`);
  if (rec.daemonPid > 0 && pidAlive(rec.daemonPid)) {
    process.kill(rec.daemonPid, signal);
    for (let i = 0; i < 200 && pidAlive(rec.daemonPid); i++) await new Promise((r) => setTimeout(r, 50));
    if (pidAlive(rec.daemonPid)) throw new Error(`lab ${prefix}: daemon ${rec.daemonPid} did not stop on ${signal}`);
  }
  const recordPath = join(rec.dir, 'lab.json');
  let next: LabRecord = { ...rec, daemonPid: 0 };
  await spawnDaemon(rec.dir, rec.namespaces, rec.configPath, rec.wanGateway, log, async (pid) => {
    next = { ...rec, daemonPid: pid };
    await writeFile(recordPath, JSON.stringify(next, null, 2));
  });
  return next;
}

/** Reads the record of a running lab, or null. */
export async function labRecord(prefix: string, baseDir: string): Promise<LabRecord | null> {
  try {
    return JSON.parse(await readFile(join(baseDir, prefix, 'lab.json'), 'utf8')) as LabRecord;
  } catch {
    return null;
  }
}
