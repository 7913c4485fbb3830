/**
 * How the CLI shows each kind of admin API answer as text: the status as `key value`
 * lines, flows like `conntrack -L`, mappings, DHCP leases and the capture files as
 * tables. Pure functions of the JSON, so they are tested on fixtures.
 */
import type { FlowPage } from '../admin/admin-api.js';
import type { CaptureStatus, FlowView, GatewayStatus, LeaseView, MappingView } from '../stats.js';
import { duration, renderFields, renderTable, type Column } from './table.js';

/** The gateway at a glance: addresses, NAT behaviour, flows, mappings, traffic, drops by reason. */
export function renderStatus(s: GatewayStatus): string {
  const b = s.natBehaviour;
  const drops = Object.entries(s.drops).filter(([, n]) => n > 0).sort((x, y) => y[1] - x[1]);
  const fields: [string, string | number | boolean][] = [
    ['lan', `${s.lan.address} (${s.lan.mac})`],
    ['wan', s.wan.address ? `${s.wan.address} via ${s.wan.gateway} (${s.wan.mac})` : `no address (${s.wan.mac})`],
    ['wan dhcp', s.wanDhcp ? s.wanDhcp.state : 'off (static)'],
    ['nat', `mapping ${b.mapping}, filtering ${b.filtering}, ports ${b.portAllocation}, hairpinning ${b.hairpinning ? 'on' : 'off'}`],
    ['flows', `${s.nat.flows} (${s.nat.flowsCreated} created, ${s.nat.flowsExpired} expired)`],
    ['forwarded', `${s.stats.forwardedOutbound} out, ${s.stats.forwardedInbound} in, ${s.stats.hairpinned} hairpinned`],
    ['drops', drops.length ? drops.map(([r, n]) => `${r} ${n}`).join(', ') : 0],
    ['dhcp leases', s.dhcpLeases.length],
    ['igd', s.igd ? `${s.igd.url} (${s.igd.stats.mappings} mappings)` : 'off'],
  ];
  for (const name of ['lan', 'wan', 'local'] as const) {
    const l = s.links[name];
    fields.push([`link ${name}`, `${l.name}: rx ${l.rxFrames} frames ${l.rxBytes} B (${l.rxDrops} dropped), tx ${l.txFrames} frames ${l.txBytes} B (${l.txDrops} dropped)`]);
  }
  return renderFields(fields);
}

const FLOW_COLUMNS: readonly Column<FlowView>[] = [
  { title: 'proto', cell: (f) => f.protocol },
  { title: 'internal', cell: (f) => f.internal },
  { title: 'external', cell: (f) => f.external },
  { title: 'remote', cell: (f) => f.remote },
  { title: 'state', cell: (f) => f.tcpState ?? '-' },
  { title: 'expires', cell: (f) => duration(f.expiresInMs / 1000) },
];

/** One page of flows, then which part of how many it is. */
export function renderFlows(page: FlowPage): string {
  const last = page.offset + page.flows.length;
  const range = page.flows.length ? `${page.offset + 1}-${last} of ${page.total}` : `0 of ${page.total}`;
  return `${renderTable(FLOW_COLUMNS, page.flows)}(flows ${range})\n`;
}

const MAPPING_COLUMNS: readonly Column<MappingView>[] = [
  { title: 'proto', cell: (m) => m.protocol },
  { title: 'ext-port', cell: (m) => m.externalPort },
  { title: 'client', cell: (m) => `${m.internalClient}:${m.internalPort}` },
  { title: 'remote', cell: (m) => m.remoteHost || '*' },
  { title: 'enabled', cell: (m) => (m.enabled ? 'yes' : 'no') },
  { title: 'expires', cell: (m) => (m.leaseRemainingSeconds === null ? 'never' : duration(m.leaseRemainingSeconds)) },
  { title: 'origin', cell: (m) => m.origin },
  { title: 'description', cell: (m) => m.description },
];

export function renderMappings(mappings: readonly MappingView[]): string {
  return renderTable(MAPPING_COLUMNS, mappings);
}

export function renderLeases(leases: readonly LeaseView[]): string {
  return renderTable<LeaseView>([
    { title: 'address', cell: (l) => l.address },
    { title: 'mac', cell: (l) => l.mac },
    { title: 'state', cell: (l) => (l.offered ? 'offered' : 'bound') },
    { title: 'expires', cell: (l) => duration(l.expiresInSeconds) },
    { title: 'hostname', cell: (l) => l.hostname ?? '' },
  ], leases);
}

/** Whether captures run and where, then the files being written. */
export function renderCapture(c: CaptureStatus): string {
  const head = `capture ${c.running ? 'running' : 'stopped'} (${c.dir})\n`;
  if (!c.files.length) return head;
  return head + renderTable<CaptureStatus['files'][number]>([
    { title: 'port', cell: (f) => f.port },
    { title: 'frames', cell: (f) => f.frames },
    { title: 'file', cell: (f) => f.path },
  ], c.files);
}
