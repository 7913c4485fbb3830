/**
 * The forwarding paths the benchmark compares, each built in network namespaces of its
 * own: a client namespace, a server address in another namespace, and between them the
 * thing under test.
 *
 *   kernel       client ─veth─ router (ip_forward + nftables masquerade) ─veth─ server
 *   slirp4netns  inner (tap0 of slirp4netns, its default MTU 1500) → slirp4netns running in "outer" → server in outer
 *   slirp4netns-65520  the same with `--mtu=65520` (fewer, larger TCP segments)
 *   pasta        inner (tap0 of pasta)       → pasta running in "outer"       → server in outer
 *   openigd      the gateway's lab: h1 (DHCP) ─ LAN ─ OpenIGD daemon ─ WAN ─ inet (server), brought up
 *                by the `labUp` of the build under test (lib/builds.ts), which runs that build's daemon
 *   openigd-offload  the same with `offload: true` (TSO and checksum offload on the TAPs)
 *
 * In the slirp4netns and pasta paths the server listens on a veth address of the outer
 * namespace (198.51.100.20, not loopback), so their sockets stay on this machine.
 *
 * Each builder registers its undo steps on the `Cleanup` it is given as it goes, so a
 * failure half-way still removes everything once the caller runs it. It must not touch
 * the root namespace or any namespace it did not make, and ends only processes it
 * started, by pid. A path that cannot exist here (tool missing, not root, daemon not
 * loadable) is returned as `{ ok: false, reason }`; an unexpected failure while
 * building one rejects.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { background, must, sh, until, isRoot, type Cleanup } from '../../lib/ns.js';
import { schemaAccepts, type BuildLoad } from './builds.js';

export const PATH_NAMES = ['kernel', 'slirp4netns', 'slirp4netns-65520', 'pasta', 'openigd', 'openigd-offload'] as const;
export type PathName = (typeof PATH_NAMES)[number];

/** The OpenIGD paths: the same lab, with the TAPs' offloads (`offload:` in the config) off and on. */
export const OPENIGD_PATHS = ['openigd', 'openigd-offload'] as const satisfies readonly PathName[];

export const PATH_LABELS = {
  kernel: 'kernel NAT',
  slirp4netns: 'slirp4netns (MTU 1500)',
  'slirp4netns-65520': 'slirp4netns, MTU 65520',
  pasta: 'pasta',
  openigd: 'OpenIGD, offload off',
  'openigd-offload': 'OpenIGD, offload on',
} as const satisfies Record<PathName, string>;

export interface ForwardingPath {
  readonly name: PathName;
  /** Namespace the iperf3 client runs in. */
  readonly clientNs: string;
  /** Namespace and address the iperf3 server listens on. */
  readonly serverNs: string;
  readonly serverAddr: string;
  /**
   * The process that forwards the packets (slirp4netns, pasta, the OpenIGD daemon), whose
   * CPU time the benchmark reads from `/proc/<pid>/stat`; null for the kernel path, whose
   * forwarding runs in softirq context and belongs to no process.
   */
  readonly forwarderPid: number | null;
  /**
   * Kernel threads that do part of this path's work and belong to it alone, counted
   * with the forwarder's CPU: the NAPI threads of the OpenIGD lab's LAN bridge ports,
   * which aggregate datagrams (GRO) before the gateway reads them.
   */
  readonly helperPids: readonly number[];
  /** One line saying how the path is built, for the report. */
  readonly description: string;
}

export type PathSetup = { readonly ok: true; readonly path: ForwardingPath } | { readonly ok: false; readonly reason: string };

/** The server's address in every path we build ourselves (documentation range, RFC 5737). */
const SERVER_ADDR = '198.51.100.20';
/** Where the gateway's lab keeps its files (its default, `LAB_DEFAULT_DIR`). */
const LAB_DIR = '/run/openigd-lab';

/** True when `cmd` is an executable file in one of the PATH directories. */
export async function commandExists(cmd: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

async function missingTools(tools: readonly string[]): Promise<string | null> {
  const missing: string[] = [];
  for (const t of tools) if (!(await commandExists(t))) missing.push(t);
  return missing.length ? `${missing.join(', ')} not installed` : null;
}

/** Creates a namespace with `lo` up and registers its deletion. */
async function addNamespace(name: string, cleanup: Cleanup): Promise<void> {
  await must(null, 'ip', ['netns', 'add', name]);
  cleanup.add(() => must(null, 'ip', ['netns', 'delete', name]));
  await must(null, 'ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

/** The outer namespace of the slirp4netns and pasta paths: a veth pair, one end carrying the server address. */
async function addOuterNamespace(name: string, cleanup: Cleanup): Promise<void> {
  await addNamespace(name, cleanup);
  await must(null, 'ip', ['-n', name, 'link', 'add', 'srv0', 'type', 'veth', 'peer', 'name', 'srv1']);
  await must(null, 'ip', ['-n', name, 'addr', 'add', `${SERVER_ADDR}/24`, 'dev', 'srv0']);
  await must(null, 'ip', ['-n', name, 'link', 'set', 'srv0', 'up']);
  await must(null, 'ip', ['-n', name, 'link', 'set', 'srv1', 'up']);
}

/** Waits until `dev` in `ns` carries an IPv4 address while `alive()` holds; returns it. */
async function waitForAddress(ns: string, dev: string, alive: () => string | null): Promise<string> {
  return until(`an IPv4 address on ${dev} in ${ns}`, async () => {
    const dead = alive();
    if (dead !== null) throw new Error(dead);
    const r = await sh(null, 'ip', ['-n', ns, '-4', '-o', 'addr', 'show', 'dev', dev], 5_000);
    return /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout)?.[1] ?? null;
  }, 10_000, 50);
}

/** 1. The kernel's own NAT: forwarding and an nftables masquerade in a router namespace. */
async function kernelPath(prefix: string, cleanup: Cleanup): Promise<PathSetup> {
  const missing = await missingTools(['ip', 'nft']);
  if (missing) return { ok: false, reason: missing };
  const client = `${prefix}-kc`;
  const router = `${prefix}-kr`;
  const server = `${prefix}-ks`;
  for (const n of [client, router, server]) await addNamespace(n, cleanup);
  await must(null, 'ip', ['-n', client, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', router]);
  await must(null, 'ip', ['-n', router, 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', server]);
  const addrs: [string, string, string][] = [
    [client, 'eth0', '192.168.77.2/24'],
    [router, 'lan0', '192.168.77.1/24'],
    [router, 'wan0', '198.51.100.1/24'],
    [server, 'eth0', `${SERVER_ADDR}/24`],
  ];
  for (const [ns, dev, addr] of addrs) {
    await must(null, 'ip', ['-n', ns, 'addr', 'add', addr, 'dev', dev]);
    await must(null, 'ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }
  // The server has no route back to 192.168.77.0/24: only the masquerade makes replies arrive.
  await must(null, 'ip', ['-n', client, 'route', 'add', 'default', 'via', '192.168.77.1']);
  await must(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  await must(router, 'nft', ['add', 'table', 'ip', 'oi_fb']);
  await must(router, 'nft', ['add', 'chain', 'ip', 'oi_fb', 'postrouting', '{ type nat hook postrouting priority srcnat ; }']);
  await must(router, 'nft', ['add', 'rule', 'ip', 'oi_fb', 'postrouting', 'oifname', 'wan0', 'masquerade']);
  return {
    ok: true,
    path: {
      name: 'kernel', clientNs: client, serverNs: server, serverAddr: SERVER_ADDR, forwarderPid: null, helperPids: [],
      description: `${client} ─veth─ ${router} (ip_forward, nft masquerade, offloads default) ─veth─ ${server}`,
    },
  };
}

/**
 * 2. slirp4netns attached to the inner namespace, running in the outer one; at its default
 * MTU (1500: what `slirp4netns --configure` gives without `--mtu`, and what the issue's
 * figures were measured with) or at 65520.
 */
async function slirpPath(prefix: string, cleanup: Cleanup, mtu: 1500 | 65520): Promise<PathSetup> {
  const missing = await missingTools(['ip', 'slirp4netns']);
  if (missing) return { ok: false, reason: missing };
  const outer = `${prefix}-s${mtu === 1500 ? '' : 'j'}o`;
  const inner = `${prefix}-s${mtu === 1500 ? '' : 'j'}i`;
  await addOuterNamespace(outer, cleanup);
  await addNamespace(inner, cleanup);
  const slirp = background(outer, 'slirp4netns', [
    '--configure', `--mtu=${mtu}`, '--disable-host-loopback', '--netns-type=path', `/run/netns/${inner}`, 'tap0',
  ]);
  cleanup.add(() => slirp.stop());
  const exited = () => (slirp.child.exitCode !== null || slirp.child.signalCode !== null ? `slirp4netns exited: ${slirp.output().trim()}` : null);
  const addr = await waitForAddress(inner, 'tap0', exited);
  const pid = slirp.child.pid;
  if (pid === undefined) return { ok: false, reason: 'slirp4netns has no pid' };
  return {
    ok: true,
    path: {
      name: mtu === 1500 ? 'slirp4netns' : 'slirp4netns-65520', clientNs: inner, serverNs: outer, serverAddr: SERVER_ADDR, forwarderPid: pid, helperPids: [],
      description: `${inner} (tap0 ${addr}, MTU ${mtu}) → slirp4netns pid ${pid} in ${outer} → ${SERVER_ADDR}`,
    },
  };
}

/** 3. pasta attached to the inner namespace, running in the outer one, as root (`--runas 0`). */
async function pastaPath(prefix: string, cleanup: Cleanup): Promise<PathSetup> {
  const missing = await missingTools(['ip', 'pasta']);
  if (missing) return { ok: false, reason: missing };
  const outer = `${prefix}-po`;
  const inner = `${prefix}-pi`;
  await addOuterNamespace(outer, cleanup);
  await addNamespace(inner, cleanup);
  // The guest gets an address of its own (not a copy of the server's), no port forwarding.
  const pasta = background(outer, 'pasta', [
    '--runas', '0', '--foreground', '--quiet', '--config-net',
    '--address', '10.0.2.100', '--netmask', '24', '--gateway', '10.0.2.2', '--interface', 'srv0', '--ns-ifname', 'tap0',
    '-t', 'none', '-u', 'none', '-T', 'none', '-U', 'none', '--netns', `/run/netns/${inner}`,
  ]);
  cleanup.add(() => pasta.stop());
  const exited = () => (pasta.child.exitCode !== null || pasta.child.signalCode !== null
    ? `pasta exited: ${pasta.output().split('\n').filter((l) => !l.startsWith('Failed to send')).join(' ').trim()}`
    : null);
  const addr = await waitForAddress(inner, 'tap0', exited);
  const pid = pasta.child.pid;
  if (pid === undefined) return { ok: false, reason: 'pasta has no pid' };
  return {
    ok: true,
    path: {
      name: 'pasta', clientNs: inner, serverNs: outer, serverAddr: SERVER_ADDR, forwarderPid: pid, helperPids: [],
      description: `${inner} (tap0 ${addr}, MTU 65520) → pasta pid ${pid} in ${outer} → ${SERVER_ADDR}`,
    },
  };
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
}

/**
 * 4. OpenIGD: the gateway's lab; the client in h1 (DHCP address), the server in inet.
 * With `offload` the daemon opens its LAN and WAN TAPs with TSO/checksum offloads (GSO
 * super-frames and partial checksums pass through it); without, the kernel hands it
 * plain frames with complete checksums.
 * The build's gateway is loaded by the caller (`loadBuild`), so that a gateway that does
 * not load (native addon not built) makes its paths "not available" instead of the run fail.
 */
async function openIgdPath(name: 'openigd' | 'openigd-offload', prefix: string, cleanup: Cleanup, build: BuildLoad | null): Promise<PathSetup> {
  const offload = name === 'openigd-offload';
  if (build === null) return { ok: false, reason: 'no OpenIGD build given' };
  if (!build.ok) return build;
  const { gateway } = build.build;
  if (!schemaAccepts(gateway.CONFIG_SCHEMA, ['offload'])) return { ok: false, reason: `build ${build.build.name} has no offload key in its config` };
  const labPrefix = `${prefix}-${offload ? 'lo' : 'l'}`;
  // labDown is safe to run for a lab that never came up or came down already.
  cleanup.add(() => gateway.labDown(labPrefix, LAB_DIR));
  let lab: Awaited<ReturnType<typeof gateway.labUp>>;
  try {
    lab = await gateway.labUp({ prefix: labPrefix, dir: LAB_DIR, nat: { preset: 'rfc' }, extraConfig: `offload: ${offload}` });
  } catch (e) {
    return { ok: false, reason: `lab up failed: ${firstLine(e)}` };
  }
  const server = lab.servers[0];
  if (server === undefined) return { ok: false, reason: 'the lab has no server address' };
  if (!(lab.daemonPid > 0)) return { ok: false, reason: 'the lab has no daemon pid' };
  const { h1, gw, inet } = lab.namespaces;
  return {
    ok: true,
    path: {
      name, clientNs: h1, serverNs: inet, serverAddr: server, forwarderPid: lab.daemonPid, helperPids: lab.lanNapiPids,
      description: `${h1} (${lab.hostAddresses.h1 ?? 'no DHCP address'}) ─ LAN (${lab.lanNapiPids.length > 0 ? `GRO, NAPI threads ${lab.lanNapiPids.join(' ')}` : 'no GRO'}) ─ OpenIGD (${build.build.name}) pid ${lab.daemonPid} in ${gw} (preset rfc, offload ${offload ? 'on' : 'off'}) ─ WAN ${lab.wanAddress} ─ ${inet} ${server}`,
    },
  };
}

/**
 * Builds one path under `prefix` (e.g. from `uniquePrefix('fb')`); undo steps go on
 * `cleanup`. The OpenIGD paths run `build`'s daemon; the others ignore it.
 */
export async function buildPath(name: PathName, prefix: string, cleanup: Cleanup, build: BuildLoad | null): Promise<PathSetup> {
  if (!isRoot()) return { ok: false, reason: 'needs root (network namespaces)' };
  switch (name) {
    case 'kernel': return kernelPath(prefix, cleanup);
    case 'slirp4netns': return slirpPath(prefix, cleanup, 1500);
    case 'slirp4netns-65520': return slirpPath(prefix, cleanup, 65520);
    case 'pasta': return pastaPath(prefix, cleanup);
    case 'openigd':
    case 'openigd-offload': return openIgdPath(name, prefix, cleanup, build);
  }
}
