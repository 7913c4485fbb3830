/**
 * The subcommands over the admin API: `status`, `flows`, `mappings`, `leases`, `wan`,
 * `capture`. Each checks its operands, sends one request, and prints a table or, with
 * `--json`, the API's JSON.
 */
import { parseIpv4 } from '@openigd/nat-table';
import type { FlowPage } from '../admin/admin-api.js';
import type { CaptureStatus, GatewayStatus, LeaseView, MappingView } from '../stats.js';
import { UsageError, choiceArg, intArg, operands, type Command } from './args.js';
import { adminCommand, jsonText } from './admin-command.js';
import { renderCapture, renderFlows, renderLeases, renderMappings, renderStatus } from './views.js';

function quadArg(command: string, name: string, text: string): string {
  if (parseIpv4(text) === null) throw new UsageError(`${name} must be an IPv4 address a.b.c.d, not "${text}"`, command);
  return text;
}

/** A command that GETs one resource and prints it: `openigd NAME [--json]`. */
function showCommand<T>(name: string, summary: string, path: string, render: (body: T) => string) {
  return adminCommand({
    name, summary, help: `usage: openigd ${name} [--json]`, options: {},
    step: async ({ positionals, json, client }) => {
      operands(name, positionals, []);
      const body = await (await client()).call('GET', path);
      return json ? jsonText(body) : render(body as T);
    },
  });
}

export const statusCommand = showCommand<GatewayStatus>('status', 'the gateway at a glance: addresses, NAT behaviour, flows, traffic, drops', '/status', renderStatus);

export const leasesCommand = showCommand<LeaseView[]>('leases', 'the LAN DHCP server\'s leases', '/leases', renderLeases);

const FLOW_PROTOCOLS = ['tcp', 'udp', 'icmp'] as const;

export const flowsCommand = adminCommand({
  name: 'flows',
  summary: 'the NAT flow table, filtered and paged (like conntrack -L)',
  help: `usage: openigd flows [--proto P] [--addr A] [--port N] [--state S] [--limit N] [--offset N] [--json]
  --proto P    tcp, udp or icmp
  --addr A     flows with A as their internal, external or remote address
  --port N     flows with N as one of their ports
  --state S    TCP flows in state S (e.g. established)
  --limit N    at most N flows, 1-10000 (default 100)
  --offset N   skip the first N matching flows`,
  options: { proto: { type: 'string' }, addr: { type: 'string' }, port: { type: 'string' }, state: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' } },
  step: async ({ values: v, positionals, json, client }) => {
    operands('flows', positionals, []);
    const q = new URLSearchParams();
    if (v.proto !== undefined) q.set('proto', choiceArg('flows', '--proto', v.proto, FLOW_PROTOCOLS));
    if (v.addr !== undefined) q.set('addr', quadArg('flows', '--addr', v.addr));
    if (v.port !== undefined) q.set('port', String(intArg('flows', '--port', v.port, 0, 65_535)));
    if (v.state !== undefined) q.set('state', v.state);
    if (v.limit !== undefined) q.set('limit', String(intArg('flows', '--limit', v.limit, 1, 10_000)));
    if (v.offset !== undefined) q.set('offset', String(intArg('flows', '--offset', v.offset, 0, 100_000_000)));
    const query = q.toString();
    const body = await (await client()).call('GET', `/flows${query ? `?${query}` : ''}`);
    return json ? jsonText(body) : renderFlows(body as FlowPage);
  },
});

const MAPPING_PROTOCOLS = ['TCP', 'UDP'] as const;

/** `PROTO EXTPORT` operands: the API's path for that mapping and a label for messages. */
function mappingKey(command: string, proto: string, port: string) {
  const protocol = choiceArg(command, 'PROTO', proto, MAPPING_PROTOCOLS);
  const externalPort = intArg(command, 'EXTPORT', port, 1, 65_535);
  return { protocol, externalPort, path: `/mappings/${protocol}/${externalPort}`, label: `${protocol} ${externalPort}` };
}

/** `CLIENT:PORT`. */
function clientArg(command: string, text: string): { internalClient: string; internalPort: number } {
  const m = /^([^:]+):([^:]+)$/.exec(text);
  if (!m) throw new UsageError(`CLIENT:PORT must be a.b.c.d:port, not "${text}"`, command);
  return { internalClient: quadArg(command, 'CLIENT', m[1]!), internalPort: intArg(command, 'PORT', m[2]!, 1, 65_535) };
}

export const mappingsCommand = adminCommand({
  name: 'mappings',
  summary: 'port mappings of every protocol (UPnP, NAT-PMP, PCP): list, add, rm, enable, disable',
  help: `usage: openigd mappings [list] [--json]
       openigd mappings add PROTO EXTPORT CLIENT:PORT [--lease S] [--description D] [--disabled]
       openigd mappings rm PROTO EXTPORT
       openigd mappings enable|disable PROTO EXTPORT
  PROTO            tcp or udp
  EXTPORT          the external port, 1-65535
  CLIENT:PORT      the LAN host and its port, e.g. 192.168.1.100:8080
  --lease S        the lease in seconds (0 or absent: until removed)
  --description D  the mapping's description
  --disabled       add it disabled`,
  options: { lease: { type: 'string' }, description: { type: 'string' }, disabled: { type: 'boolean' } },
  step: async ({ values: v, positionals, json, client }) => {
    const [verb = 'list', ...rest] = positionals;
    const cmd = `mappings ${verb}`;
    if (verb !== 'add' && (v.lease !== undefined || v.description !== undefined || v.disabled)) {
      throw new UsageError('--lease, --description and --disabled go with add', cmd);
    }
    if (verb === 'list') {
      operands(cmd, rest, []);
      const body = await (await client()).call('GET', '/mappings');
      return json ? jsonText(body) : renderMappings(body as MappingView[]);
    }
    if (verb === 'add') {
      const [proto, port, target] = operands(cmd, rest, ['PROTO', 'EXTPORT', 'CLIENT:PORT']);
      const { protocol, externalPort, label } = mappingKey(cmd, proto!, port!);
      const mapping = {
        protocol, externalPort, ...clientArg(cmd, target!),
        ...(v.description !== undefined ? { description: v.description } : {}),
        ...(v.lease !== undefined ? { leaseSeconds: intArg(cmd, '--lease', v.lease, 0, 604_800) } : {}),
        ...(v.disabled ? { enabled: false } : {}),
      };
      const body = await (await client()).call('POST', '/mappings', mapping);
      return json ? jsonText(body) : `added ${label} -> ${mapping.internalClient}:${mapping.internalPort}\n`;
    }
    if (verb === 'rm' || verb === 'enable' || verb === 'disable') {
      const [proto, port] = operands(cmd, rest, ['PROTO', 'EXTPORT']);
      const { path, label } = mappingKey(cmd, proto!, port!);
      const body = verb === 'rm'
        ? await (await client()).call('DELETE', path)
        : await (await client()).call('PATCH', path, { enabled: verb === 'enable' });
      if (json) return body === null ? '' : jsonText(body);
      return `${verb === 'rm' ? 'removed' : `${verb}d`} ${label}\n`;
    }
    throw new UsageError(`unknown verb "${verb}": list, add, rm, enable or disable`, 'mappings');
  },
});

export const wanCommand = adminCommand({
  name: 'wan',
  summary: 'change the WAN address at run time (as a new DHCP lease would)',
  help: `usage: openigd wan set ADDR/LEN [GW]
  ADDR/LEN   the new WAN address and prefix length, e.g. 203.0.113.7/24
  GW         the next hop (default: unchanged)`,
  options: {},
  step: async ({ positionals, json, client }) => {
    const [verb, ...rest] = positionals;
    if (verb !== 'set') throw new UsageError(verb === undefined ? 'expects set ADDR/LEN [GW]' : `unknown verb "${verb}": set`, 'wan');
    if (rest.length < 1 || rest.length > 2) throw new UsageError('expects set ADDR/LEN [GW]', 'wan set');
    const [address, gateway] = rest as [string, string | undefined];
    const m = /^([^/]+)\/(\d{1,2})$/.exec(address);
    if (!m) throw new UsageError(`ADDR/LEN must be a.b.c.d/n, not "${address}"`, 'wan set');
    quadArg('wan set', 'ADDR', m[1]!);
    intArg('wan set', 'LEN', m[2]!, 1, 32);
    if (gateway !== undefined) quadArg('wan set', 'GW', gateway);
    const body = await (await client()).call('POST', '/wan', { address, ...(gateway !== undefined ? { gateway } : {}) });
    return json ? jsonText(body) : `wan ${address}${gateway !== undefined ? ` via ${gateway}` : ''}\n`;
  },
});

export const captureCommand = adminCommand({
  name: 'capture',
  summary: 'pcap captures of the LAN and WAN ports: status, start, stop',
  help: `usage: openigd capture [status|start|stop] [--json]
  status   whether captures run, where, and the files being written (the default)
  start    open a pcap file per port (LAN, WAN) in the capture directory
  stop     close them`,
  options: {},
  step: async ({ positionals, json, client }) => {
    const [verb = 'status', ...rest] = positionals;
    const cmd = `capture ${verb}`;
    operands(cmd, rest, []);
    let body: unknown;
    if (verb === 'status') body = await (await client()).call('GET', '/capture');
    else if (verb === 'start' || verb === 'stop') body = await (await client()).call('POST', '/capture', { on: verb === 'start' });
    else throw new UsageError(`unknown verb "${verb}": status, start or stop`, 'capture');
    return json ? jsonText(body) : renderCapture(body as CaptureStatus);
  },
});

export const ADMIN_COMMANDS: readonly Command[] = [statusCommand, flowsCommand, mappingsCommand, leasesCommand, wanCommand, captureCommand];
