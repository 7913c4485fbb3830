#!/usr/bin/env node
/**
 * `openigd` — the command line.
 *   openigd run --config FILE            run the gateway in the foreground
 *   openigd lab up [--prefix P] [--preset NAME] [--wan-dhcp] [--dir D]
 *   openigd lab down [--prefix P] [--dir D]
 *   openigd lab status [--prefix P] [--dir D]
 *   openigd replay --config FILE --lan PCAP --wan PCAP --out-lan PCAP --out-wan PCAP [--seed N]
 *   openigd conformance --url URL | --discover [...]   check an IGD against the specs (@openigd/conformance)
 * Exits non-zero with one line on stderr for a bad config or a missing capability.
 */
import { existsSync } from 'node:fs';
import { labUp, labDown, labRecord, LAB_DEFAULT_DIR, LAB_DEFAULT_PREFIX } from './lab/lab.js';
import { loadConfig, ConfigError } from './config/config.js';
import { runDaemon } from './daemon.js';
import { replayCli, REPLAY_USAGE, ReplayUsageError } from './replay/replay-command.js';

const USAGE = `usage:
  openigd run --config FILE
  openigd lab up|down|status [--prefix P] [--preset NAME] [--wan-dhcp] [--dir D]
  ${REPLAY_USAGE}
  openigd conformance --url URL | --discover [--interface IF] [--json] [--junit FILE] ...`;

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function fail(message: string, code = 1): never {
  process.stderr.write(`openigd: ${message}\n`);
  process.exit(code);
}

/** Root and /dev/net/tun are needed for TAP devices and namespaces. */
function checkCapabilities(): void {
  if (process.getuid?.() !== 0) fail('must run as root (it creates TAP devices and moves them between network namespaces)');
  if (!existsSync('/dev/net/tun')) fail('/dev/net/tun is missing: load the tun module or run the container with --device /dev/net/tun');
}

async function main(argv: string[]): Promise<void> {
  const [cmd, sub, ...rest] = argv;
  if (cmd === 'conformance') {
    process.exitCode = await (await import('@openigd/conformance')).runConformance(argv.slice(1));
    return;
  }
  if (cmd === 'run') {
    const args = [sub ?? '', ...rest];
    const path = flag(args, '--config');
    if (!path) fail(`run needs --config FILE\n${USAGE}`, 2);
    let config;
    try {
      config = await loadConfig(path);
    } catch (e) {
      if (e instanceof ConfigError) fail(`bad config: ${e.message}`);
      throw e;
    }
    checkCapabilities();
    await runDaemon(config);
    return;
  }
  if (cmd === 'replay') return replayCli(argv.slice(1)).catch((e: unknown) => fail((e as Error).message, e instanceof ReplayUsageError ? 2 : 1));
  if (cmd === 'lab') {
    const prefix = flag(rest, '--prefix') ?? LAB_DEFAULT_PREFIX;
    const dir = flag(rest, '--dir') ?? LAB_DEFAULT_DIR;
    if (!/^[a-z0-9-]{1,12}$/.test(prefix)) fail('--prefix must be 1-12 of a-z, 0-9, -', 2);
    if (sub === 'up') {
      checkCapabilities();
      const preset = flag(rest, '--preset');
      const wanDhcp = rest.includes('--wan-dhcp');
      const rec = await labUp({ prefix, dir, ...(preset ? { nat: { preset } } : {}), wanDhcp, log: (l) => console.log(`lab: ${l}`) });
      const n = rec.namespaces;
      console.log(`
The lab is up. The gateway runs in namespace ${n.gw} (pid ${rec.daemonPid}); its log: ${rec.dir}/openigd.log
  LAN hosts:   ${n.h1} (${rec.hostAddresses.h1 ?? '?'}), ${n.h2} (${rec.hostAddresses.h2 ?? '?'}); gateway ${rec.lanAddress}
  WAN:         ${rec.wanAddress ? `${rec.wanAddress} via ${rec.wanGateway}` : `by DHCP from udhcpd in ${n.inet} (see /status)`}; internet server ${rec.servers.join(' and ')} in ${n.inet}

Try:
  ip netns exec ${n.h1} ping -c 3 ${rec.servers[0]}
  ip netns exec ${n.inet} python3 -m http.server -b ${rec.servers[0]} 8000 &   # then:
  ip netns exec ${n.h1} curl http://${rec.servers[0]}:8000/
  ip netns exec ${n.h1} upnpc -i -s                       # the IGD, seen from a LAN host
  ip netns exec ${n.h1} upnpc -i -a ${rec.hostAddresses.h1 ?? '<h1>'} 8080 18080 TCP
  ip netns exec ${n.h1} upnpc -i -l                       # list the mappings
  ip netns exec ${n.h1} curl http://${rec.lanAddress}:5000/    # the gateway's status page
  curl --unix-socket ${rec.adminSocket} http://x/status     # admin API (and /metrics: Prometheus)
  curl --unix-socket ${rec.adminSocket} http://x/flows
  curl --unix-socket ${rec.adminSocket} http://x/mappings
  ${prefix === LAB_DEFAULT_PREFIX ? 'npm run stop                                           ' : `node gateway/dist/cli.js lab down --prefix ${prefix}`} # remove everything
`);
      return;
    }
    if (sub === 'down') {
      checkCapabilities();
      await labDown(prefix, dir);
      console.log(`lab ${prefix}: down`);
      return;
    }
    if (sub === 'status') {
      const rec = await labRecord(prefix, dir);
      console.log(rec ? JSON.stringify(rec, null, 2) : `lab ${prefix}: not up`);
      return;
    }
  }
  fail(USAGE, 2);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  const err = e as Error & { code?: string };
  fail(err.code ? `${err.message} (${err.code})` : err.message);
});
