#!/usr/bin/env node
// The container's entrypoint. `run` (the default) makes the container's interfaces the
// gateway's ports and runs the daemon; `lab` brings up the namespace lab inside the
// container; anything else is passed to the CLI (`openigd`, also on PATH).
//
// run: for each side (lan, wan) it takes the interface Docker gave the container
// (OPENIGD_ATTACH, default `lan=eth1,wan=eth0`; an interface name or an address it
// carries) and hands it to the gateway: the gateway answers for that interface's address
// with that interface's MAC, so the rest of the Docker network sees no change. The
// interface's address goes, its MAC is replaced by a random one, and a bridge inside
// the container joins it to the gateway's TAP (the bridge itself takes no part: no
// address, no ARP). Nothing is touched before the configuration is known to be good;
// every failure is one line on stderr, exit 1.
//
// Configuration: the YAML at OPENIGD_CONFIG (default /etc/openigd/openigd.yaml) when it
// exists, else nothing; then what attaching learnt (addresses, MACs, TAP names) for the
// keys the file leaves out; then the environment for the common keys (see ENV_KEYS).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync, rmSync, openSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';

const APP = '/opt/openigd';
const CLI = `${APP}/gateway/dist/cli.js`;
const RUN_DIR = '/run/openigd';
const READY = `${RUN_DIR}/ready`;
const CONFIG_OUT = `${RUN_DIR}/openigd.yaml`;
const SIDES = { lan: { tap: 'oi-lan0', bridge: 'br-lan' }, wan: { tap: 'oi-wan0', bridge: 'br-wan' } };

function fail(message) {
  process.stderr.write(`openigd: ${message}\n`);
  process.exit(1);
}

function ip(...args) {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`ip ${args.join(' ')}: ${String(e.stderr || e.message).trim().split('\n')[0]}`);
  }
}

/** CAP_NET_ADMIN (bit 12) in the effective set, and /dev/net/tun openable. */
function checkCapabilities(extra = []) {
  const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'}`);
  for (const [bit, name] of [[12n, 'NET_ADMIN'], ...extra]) {
    if (!(capEff & (1n << bit))) fail(`needs the ${name} capability: run the container with --cap-add ${name}`);
  }
  if (!existsSync('/dev/net/tun')) fail('/dev/net/tun is missing: run the container with --device /dev/net/tun');
  try {
    closeSync(openSync('/dev/net/tun', 'r+'));
  } catch (e) {
    fail(`cannot open /dev/net/tun (${e.code}): run the container with --device /dev/net/tun`);
  }
}

/** `lan=eth1,wan=eth0` → { lan: 'eth1', wan: 'eth0' }; each value an interface name or an address. */
function parseAttach(text) {
  const out = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(lan|wan)=([A-Za-z0-9_.:-]{1,40})$/.exec(part);
    if (!m) fail(`OPENIGD_ATTACH: "${part}" is not lan=IFACE or wan=IFACE (an interface name or one of its addresses)`);
    out[m[1]] = m[2];
  }
  if (!out.lan || !out.wan) fail('OPENIGD_ATTACH must name both sides, e.g. lan=eth1,wan=eth0');
  return out;
}

/** The interface named `which`, or the one carrying the address `which`: name, address, prefix, MAC. */
function findInterface(side, which) {
  const links = JSON.parse(ip('-j', '-4', 'addr', 'show'));
  const link = links.find((l) => l.ifname === which || l.addr_info?.some((a) => a.local === which));
  if (!link) fail(`${side}: no interface is named or carries ${which} (have: ${links.map((l) => l.ifname).join(', ')})`);
  const addr = link.addr_info?.find((a) => a.family === 'inet');
  if (!addr) fail(`${side}: ${link.ifname} has no IPv4 address to take over`);
  const mac = readFileSync(`/sys/class/net/${link.ifname}/address`, 'utf8').trim();
  return { ifname: link.ifname, address: addr.local, prefixLength: addr.prefixlen, mac, mtu: link.mtu };
}

/** The first host of the interface's subnet: where Docker puts a network's gateway. */
function firstHost(address, prefixLength) {
  const n = address.split('.').reduce((a, b) => a * 256 + Number(b), 0);
  const net = Math.floor(n / 2 ** (32 - prefixLength)) * 2 ** (32 - prefixLength) + 1;
  return [24, 16, 8, 0].map((s) => Math.floor(net / 2 ** s) % 256).join('.');
}

/** Environment variables for the common keys: name → [path in the config, how to read it]. */
const ENV_KEYS = {
  OPENIGD_NAT_PRESET: [['nat', 'preset'], String],
  OPENIGD_WAN_GATEWAY: [['wan', 'gateway'], String],
  OPENIGD_LAN_DHCP_RANGE: [['lan', 'dhcp', 'range'], String],
  OPENIGD_IGD_ENABLED: [['igd', 'enabled'], (v) => v === 'true' || v === '1'],
  OPENIGD_FRIENDLY_NAME: [['igd', 'friendlyName'], String],
  OPENIGD_SECURE_MODE: [['igd', 'secureMode'], (v) => v === 'true' || v === '1'],
  OPENIGD_LOG_LEVEL: [['log', 'level'], String],
  OPENIGD_OFFLOAD: [['offload'], (v) => v === 'true' || v === '1'],
};

function setPath(obj, path, value) {
  let o = obj;
  for (const k of path.slice(0, -1)) o = o[k] ??= {};
  o[path.at(-1)] = value;
}

/** Fills `config` from the attached interfaces where the file said nothing, then applies the environment. */
function completeConfig(config, ports) {
  for (const side of ['lan', 'wan']) {
    const p = ports[side];
    config[side] ??= {};
    config[side].tap ??= SIDES[side].tap;
    config[side].address ??= `${p.address}/${p.prefixLength}`;
    config[side].mac ??= p.mac;
    if (p.mtu <= 9000) config[side].mtu ??= p.mtu; // a Docker network's MTU (not loopback's 64 KiB)
  }
  config.local ??= { tap: 'oi-local0' };
  config.state ??= '/var/lib/openigd';
  config.admin ??= { socket: `${RUN_DIR}/admin.sock` };
  if (config.wan.address !== 'dhcp') config.wan.gateway ??= firstHost(ports.wan.address, ports.wan.prefixLength);
  for (const [name, [path, read]] of Object.entries(ENV_KEYS)) {
    if (process.env[name] !== undefined && process.env[name] !== '') setPath(config, path, read(process.env[name]));
  }
  return config;
}

/** Gives `ifname` to the gateway: no address, a random MAC (the gateway keeps the old one), bridged to the TAP later. */
function takeOver(side, port) {
  const { bridge } = SIDES[side];
  const mac = randomBytes(6);
  mac[0] = (mac[0] & 0xfe) | 0x02;
  ip('addr', 'flush', 'dev', port.ifname);
  ip('link', 'set', port.ifname, 'down');
  ip('link', 'set', port.ifname, 'address', [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':'));
  ip('link', 'add', bridge, 'type', 'bridge');
  ip('link', 'set', port.ifname, 'master', bridge, 'up');
  // A Docker bridge in hairpin mode (the engine's --userland-proxy=false) sends the
  // gateway's broadcasts back: learnt on this port, its own MAC would be sent back out.
  ip('link', 'set', port.ifname, 'type', 'bridge_slave', 'learning', 'off');
  // The container's kernel holds the LAN address (on the local TAP) and would answer ARP
  // for it on any interface: not on the bridges, whose frames are the gateway's.
  ip('link', 'set', bridge, 'arp', 'off', 'up');
}

async function waitForTaps(config, child) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) return false;
    if (['lan', 'wan'].every((s) => existsSync(`/sys/class/net/${config[s].tap}`))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  fail('the gateway did not open its TAPs within 15 s');
}

/** Runs `node args` in the foreground, passing SIGTERM/SIGINT on; exits with its status. */
function runChild(args, onStarted) {
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    rmSync(READY, { force: true });
    process.exit(code ?? 128 + (constants.signals[signal] ?? 0));
  });
  if (onStarted) onStarted(child).catch((e) => { child.kill('SIGTERM'); fail(e.message); });
  return child;
}

async function run() {
  checkCapabilities();
  const { parseConfig, ConfigError } = await import(`${APP}/gateway/dist/index.js`);
  const { parse, stringify } = await import(`${APP}/node_modules/yaml/dist/index.js`);
  const file = process.env.OPENIGD_CONFIG ?? '/etc/openigd/openigd.yaml';
  let config = {};
  if (existsSync(file)) {
    try {
      config = parse(readFileSync(file, 'utf8')) ?? {};
    } catch (e) {
      fail(`bad config: ${file}: YAML: ${String(e.message).split('\n')[0]}`);
    }
  } else if (process.env.OPENIGD_CONFIG) fail(`bad config: ${file} does not exist`);
  const attach = parseAttach(process.env.OPENIGD_ATTACH ?? 'lan=eth1,wan=eth0');
  const ports = { lan: findInterface('lan', attach.lan), wan: findInterface('wan', attach.wan) };
  config = completeConfig(config, ports);
  const text = stringify(config);
  try {
    parseConfig(text, file);
  } catch (e) {
    if (e instanceof ConfigError) fail(`bad config: ${e.message}`);
    throw e;
  }
  mkdirSync(RUN_DIR, { recursive: true });
  writeFileSync(CONFIG_OUT, text);
  rmSync(READY, { force: true });
  for (const side of ['lan', 'wan']) takeOver(side, ports[side]);
  runChild([CLI, 'run', '--config', CONFIG_OUT], async (child) => {
    if (!await waitForTaps(config, child)) return;
    for (const side of ['lan', 'wan']) ip('link', 'set', config[side].tap, 'master', SIDES[side].bridge, 'up');
    writeFileSync(READY, `${config.admin.socket}\n`);
  });
}

/** `lab`: the namespace lab inside this container (it makes namespaces: needs SYS_ADMIN too). */
async function lab(args) {
  checkCapabilities([[21n, 'SYS_ADMIN']]);
  const dir = '/run/openigd-lab';
  // Docker mounts /proc/sys read-only; the lab sets sysctls in the namespaces it makes.
  try {
    execFileSync('mount', ['-o', 'remount,rw', '/proc/sys'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    fail(`cannot make /proc/sys writable for the lab's namespaces: ${String(e.stderr ?? e.message).trim().split('\n')[0]}`);
  }
  try {
    execFileSync(process.execPath, [CLI, 'lab', 'up', '--dir', dir, ...args], { stdio: 'inherit' });
  } catch (e) {
    process.exit(e.status ?? 1); // the CLI said why, in one line
  }
  mkdirSync(RUN_DIR, { recursive: true });
  writeFileSync(READY, `${dir}/oi-lab/admin.sock\n`);
  const down = () => {
    rmSync(READY, { force: true });
    execFileSync(process.execPath, [CLI, 'lab', 'down', '--dir', dir], { stdio: 'inherit' });
  };
  if (process.stdin.isTTY) {
    const shell = spawn('bash', ['-i'], { stdio: 'inherit' });
    shell.on('exit', () => { down(); process.exit(0); });
    return;
  }
  process.stdout.write('lab: up; stop the container to take it down\n');
  const stop = () => { down(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  setInterval(() => {}, 1 << 30);
}

const [cmd = 'run', ...rest] = process.argv.slice(2);
try {
  if (cmd === 'run' && rest.length === 0) await run();
  else if (cmd === 'lab') await lab(rest[0] === 'up' ? rest.slice(1) : rest);
  else runChild([CLI, cmd, ...rest]);
} catch (e) {
  fail(e.message);
}
