/** `openigd lab up|down|status`: the namespace lab on this machine (see lab/lab.ts). */
import { labUp, labDown, labRecord, LAB_DEFAULT_DIR, LAB_DEFAULT_PREFIX, type LabRecord } from '../lab/lab.js';
import { UsageError, operands, parse, type Command } from './args.js';
import { checkCapabilities } from './capabilities.js';
import { renderFields } from './table.js';

const OPTIONS = {
  prefix: { type: 'string' }, dir: { type: 'string' }, preset: { type: 'string' }, 'wan-dhcp': { type: 'boolean' }, json: { type: 'boolean' },
} as const;

export const labCommand: Command = {
  name: 'lab',
  summary: 'a test network on this machine: two LAN hosts, the gateway, an internet',
  help: `usage: openigd lab up [--prefix P] [--dir D] [--preset NAME] [--wan-dhcp]
       openigd lab down [--prefix P] [--dir D]
       openigd lab status [--prefix P] [--dir D] [--json]
  --prefix P      namespace name prefix, 1-12 of a-z 0-9 - (default ${LAB_DEFAULT_PREFIX})
  --dir D         where the config, state, log and record go (default ${LAB_DEFAULT_DIR})
  --preset NAME   the NAT behaviour preset (nat.preset), e.g. symmetric
  --wan-dhcp      the WAN address by DHCP from a server in the internet namespace
  --json          lab status: the lab's record as JSON (null when it is not up)
`,
  run: async (args) => {
    const { values: v, positionals } = parse('lab', args, OPTIONS);
    const [verb, ...rest] = positionals;
    const prefix = v.prefix ?? LAB_DEFAULT_PREFIX;
    const dir = v.dir ?? LAB_DEFAULT_DIR;
    if (!/^[a-z0-9-]{1,12}$/.test(prefix)) throw new UsageError('--prefix must be 1-12 of a-z, 0-9, -', 'lab');
    if (verb === 'up') {
      operands('lab up', rest, []);
      checkCapabilities();
      const rec = await labUp({ prefix, dir, ...(v.preset ? { nat: { preset: v.preset } } : {}), wanDhcp: v['wan-dhcp'] === true, log: (l) => console.log(`lab: ${l}`) });
      return labTour(rec);
    }
    if (verb === 'down') {
      operands('lab down', rest, []);
      checkCapabilities();
      await labDown(prefix, dir);
      return `lab ${prefix}: down\n`;
    }
    if (verb === 'status') {
      operands('lab status', rest, []);
      const rec = await labRecord(prefix, dir);
      if (v.json) return `${JSON.stringify(rec)}\n`;
      return rec ? labFields(rec) : `lab ${prefix}: not up\n`;
    }
    throw new UsageError(verb === undefined ? 'expects up, down or status' : `unknown verb "${verb}": up, down or status`, 'lab');
  },
};

function labFields(rec: LabRecord): string {
  const n = rec.namespaces;
  return renderFields([
    ['prefix', rec.prefix], ['dir', rec.dir], ['daemon pid', rec.daemonPid], ['admin socket', rec.adminSocket],
    ['namespaces', `${n.gw} ${n.lan} ${n.h1} ${n.h2} ${n.inet}`],
    ['lan', `${rec.lanAddress}; hosts h1 ${rec.hostAddresses.h1 ?? '?'}, h2 ${rec.hostAddresses.h2 ?? '?'}`],
    ['wan', rec.wanAddress ? `${rec.wanAddress} via ${rec.wanGateway}` : `by DHCP (next hop ${rec.wanGateway})`],
    ['servers', rec.servers.join(' ')],
  ]);
}

/** What `lab up` prints: where everything is and what to try. */
function labTour(rec: LabRecord): string {
  const n = rec.namespaces;
  const sock = rec.prefix === LAB_DEFAULT_PREFIX ? '' : ` --prefix ${rec.prefix}`;
  return `
The lab is up. The gateway runs in namespace ${n.gw} (pid ${rec.daemonPid}); its log: ${rec.dir}/openigd.log
  LAN hosts:   ${n.h1} (${rec.hostAddresses.h1 ?? '?'}), ${n.h2} (${rec.hostAddresses.h2 ?? '?'}); gateway ${rec.lanAddress}
  WAN:         ${rec.wanAddress ? `${rec.wanAddress} via ${rec.wanGateway}` : `by DHCP from udhcpd in ${n.inet} (see openigd status)`}; internet server ${rec.servers.join(' and ')} in ${n.inet}

Try:
  ip netns exec ${n.h1} ping -c 3 ${rec.servers[0]}
  ip netns exec ${n.inet} python3 -m http.server -b ${rec.servers[0]} 8000 &   # then:
  ip netns exec ${n.h1} curl http://${rec.servers[0]}:8000/
  ip netns exec ${n.h1} upnpc -i -s                       # the IGD, seen from a LAN host
  ip netns exec ${n.h1} upnpc -i -a ${rec.hostAddresses.h1 ?? '<h1>'} 8080 18080 TCP
  ip netns exec ${n.h1} upnpc -i -l                       # list the mappings
  ip netns exec ${n.h1} curl http://${rec.lanAddress}:5000/    # the gateway's status page
  npx openigd status${sock}                               # the admin API: status, flows, mappings, leases
  npx openigd flows${sock} --proto icmp
  npx openigd mappings${sock}
  curl --unix-socket ${rec.adminSocket} http://x/metrics   # Prometheus
  npx openigd lab down${sock}                             # remove everything
`;
}
