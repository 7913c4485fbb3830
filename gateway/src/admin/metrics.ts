/**
 * Prometheus metrics (prom-client) read from the gateway's statistics snapshot at scrape
 * time: every family is a counter or gauge whose `collect` copies numbers out of the
 * one `GatewayStatus` taken for the scrape. The packet path never calls prom-client;
 * it only bumps its own plain counters. Labels are bounded sets (port, reason,
 * protocol, action, fault code), never a flow or a client. Plus the process's own
 * metrics (event loop lag, heap, GC) from prom-client's defaults. A part that is off
 * (no IGD, no DHCP server) has no labelled samples; its unlabelled families read 0,
 * since prom-client always prints those.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { GatewayStatus } from '../stats.js';
import type { LinkStatus } from '../router/forwarder.js';

type Labels = Record<string, string>;
type Sample = readonly [Labels, number];

/** One metric family: its name, type, help, label names, and its samples in a snapshot. */
export interface MetricFamily {
  readonly name: string;
  readonly type: 'counter' | 'gauge';
  readonly help: string;
  readonly labelNames: readonly string[];
  samples(s: GatewayStatus): Iterable<Sample>;
}

/** `rxFrames` → `rx_frames`. */
export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/-/g, '_');
}

const PORTS = ['lan', 'wan', 'local'] as const;
const FRAGMENT_PORTS = ['lan', 'wan'] as const;

function counter(name: string, help: string, labelNames: readonly string[], samples: (s: GatewayStatus) => Iterable<Sample>): MetricFamily {
  return { name, type: 'counter', help, labelNames, samples };
}
function gauge(name: string, help: string, labelNames: readonly string[], samples: (s: GatewayStatus) => Iterable<Sample>): MetricFamily {
  return { name, type: 'gauge', help, labelNames, samples };
}
/** One unlabelled sample, absent when the part is off (`null`). */
function one(v: number | undefined): Sample[] {
  return v === undefined ? [] : [[{}, v]];
}
/** Every numeric field of a record as a sample labelled `label`=snake_case(key). */
function byKey(record: object | null | undefined, label: string, skip: readonly string[] = []): Sample[] {
  if (!record) return [];
  return Object.entries(record).filter(([k, v]) => typeof v === 'number' && !skip.includes(k))
    .map(([k, v]) => [{ [label]: snakeCase(k) }, v as number] as const);
}

const LINK_FIELDS: readonly { key: keyof Omit<LinkStatus, 'name'>; name: string; help: string }[] = [
  { key: 'rxFrames', name: 'openigd_link_received_frames_total', help: 'Frames received from the link and handed to the router (a GSO super-frame counts once).' },
  { key: 'rxBytes', name: 'openigd_link_received_bytes_total', help: 'Ethernet bytes received from the link.' },
  { key: 'rxBatches', name: 'openigd_link_received_batches_total', help: 'Batches of frames received from the link.' },
  { key: 'rxDrops', name: 'openigd_link_receive_drops_total', help: 'Frames received but not delivered (truncated, runt, bad header).' },
  { key: 'rxGsoFrames', name: 'openigd_link_received_gso_frames_total', help: 'GSO super-frames among the received frames.' },
  { key: 'txFrames', name: 'openigd_link_sent_frames_total', help: 'Frames written to the link (segments count each).' },
  { key: 'txBytes', name: 'openigd_link_sent_bytes_total', help: 'Ethernet bytes written to the link.' },
  { key: 'txBatches', name: 'openigd_link_sent_batches_total', help: 'Batches of frames written to the link.' },
  { key: 'txDrops', name: 'openigd_link_send_drops_total', help: 'Frames asked for but not written (buffer, queue full, refused, closed).' },
  { key: 'txSoftwareGso', name: 'openigd_link_software_gso_total', help: 'Super-frames segmented in software because the device has no GSO.' },
  { key: 'txSoftwareCsum', name: 'openigd_link_software_checksums_total', help: 'Partial checksums completed in software because the device has no offload.' },
  { key: 'txCoalesced', name: 'openigd_link_coalesced_frames_total', help: 'Super-frames written in place of runs of UDP datagrams.' },
];

const linkFamilies = LINK_FIELDS.map((f) => counter(f.name, f.help, ['port'], (s) => PORTS.map((p) => [{ port: p }, s.links[p][f.key]] as const)));

const routerFamilies: MetricFamily[] = [
  counter('openigd_router_frames_total', 'Frames the router handled, by what it did with them.', ['event'], (s) => byKey(s.stats, 'event')),
  counter('openigd_router_drops_total', 'Frames the router dropped, by reason.', ['reason'], (s) => Object.entries(s.drops).map(([r, v]) => [{ reason: r }, v] as const)),
  gauge('openigd_neighbours', 'Entries in the ARP neighbour cache.', ['port'], (s) => FRAGMENT_PORTS.map((p) => [{ port: p }, s.neighbours[p]] as const)),
  counter('openigd_neighbour_held_drops_total', 'Frames dropped while waiting for an ARP answer.', [], (s) => one(s.neighbours.heldDropped)),
  gauge('openigd_fragments_in_progress', 'Datagrams being reassembled from fragments.', ['port'], (s) => FRAGMENT_PORTS.map((p) => [{ port: p }, s.fragments[p].inProgress] as const)),
  counter('openigd_fragments_total', 'Fragment reassembly events, by port and event.', ['port', 'event'],
    (s) => FRAGMENT_PORTS.flatMap((p) => byKey(s.fragments[p], 'event', ['inProgress']).map(([l, v]) => [{ port: p, ...l }, v] as const))),
];

const natFamilies: MetricFamily[] = [
  gauge('openigd_nat_flows', 'Flows in the NAT table.', [], (s) => one(s.nat.flows)),
  counter('openigd_nat_flow_events_total', 'NAT flows created, expired and flushed.', ['event'],
    (s) => [[{ event: 'created' }, s.nat.flowsCreated], [{ event: 'expired' }, s.nat.flowsExpired], [{ event: 'flushed' }, s.nat.flowsFlushed]]),
  counter('openigd_nat_translated_total', 'Packets the NAT table translated, by direction.', ['direction'],
    (s) => [[{ direction: 'outbound' }, s.nat.translatedOutbound], [{ direction: 'inbound' }, s.nat.translatedInbound], [{ direction: 'hairpin' }, s.nat.hairpinned]]),
  counter('openigd_nat_drops_total', 'Packets the NAT table refused, by reason.', ['reason'], (s) => Object.entries(s.nat.drops).map(([r, v]) => [{ reason: r }, v] as const)),
];

const dhcpFamilies: MetricFamily[] = [
  gauge('openigd_dhcp_leases', 'DHCP leases (and offers) held on the LAN.', [], (s) => (s.dhcpServer ? one(s.dhcpLeases.length) : [])),
  counter('openigd_dhcp_server_messages_total', 'DHCP server messages and outcomes on the LAN, by type.', ['type'], (s) => byKey(s.dhcpServer, 'type')),
  counter('openigd_dhcp_client_events_total', 'The WAN DHCP client\'s messages and lease events.', ['event'], (s) => byKey(s.wanDhcp, 'event')),
];

const igdFamilies: MetricFamily[] = [
  gauge('openigd_port_mappings', 'Port mappings held, by the protocol that made them and transport.', ['origin', 'protocol'],
    (s) => (s.igd?.byOrigin.held ?? []).map((h) => [{ origin: h.origin, protocol: h.protocol.toLowerCase() }, h.count] as const)),
  counter('openigd_port_mappings_created_total', 'Port mappings created, by the protocol that made them.', ['origin'],
    (s) => Object.entries(s.igd?.byOrigin.created ?? {}).map(([o, v]) => [{ origin: o }, v] as const)),
  counter('openigd_port_mapping_events_total', 'Port mapping table changes and failures, by event.', ['event'], (s) => byKey(s.igd?.stats, 'event', ['mappings'])),
  counter('openigd_soap_actions_total', 'UPnP SOAP actions answered, by service, action and fault code (0: success).', ['service', 'action', 'code'],
    (s) => (s.igd?.soap ?? []).map((a) => [{ service: a.service, action: a.action, code: String(a.code) }, a.count] as const)),
  gauge('openigd_gena_subscriptions', 'GENA event subscriptions held.', [], (s) => one(s.igd?.gena.subscriptions)),
  counter('openigd_gena_events_total', 'GENA subscription and notification events.', ['event'], (s) => byKey(s.igd?.gena, 'event', ['subscriptions'])),
  counter('openigd_ssdp_malformed_total', 'Malformed SSDP datagrams, by reason.', ['reason'], (s) => byKey(s.igd?.ssdp.malformed, 'reason')),
  counter('openigd_http_rate_limited_total', 'HTTP requests to the IGD answered 503: their source spent igd.requestRate.', [], (s) => one(s.igd?.httpRateLimited)),
  counter('openigd_http_quick_answered_total', 'Control requests the IGD answered on its quick path (a plain POST with Connection: close); the rest go through node:http.', [],
    (s) => one(s.igd?.httpQuickAnswered)),
  counter('openigd_ssdp_events_total', 'SSDP datagrams received and sent, by event.', ['event'], (s) => byKey(s.igd?.ssdp, 'event')),
  counter('openigd_natpmp_requests_total', 'NAT-PMP requests received.', [], (s) => one(s.igd?.natpmp?.requests)),
  counter('openigd_natpmp_responses_total', 'NAT-PMP answers sent, by result code.', ['result'],
    (s) => (s.igd?.natpmp?.results ?? []).map((v, code) => [{ result: String(code) }, v] as const)),
  counter('openigd_natpmp_drops_total', 'NAT-PMP datagrams dropped unanswered, by reason.', ['reason'], (s) => byKey(s.igd?.natpmp?.drops, 'reason')),
  counter('openigd_natpmp_events_total', 'NAT-PMP announcements, PCP datagrams and mapping updates (sent, suppressed), epoch resets and send errors.', ['event'],
    (s) => byKey(s.igd?.natpmp, 'event', ['requests'])),
  counter('openigd_pcp_responses_total', 'PCP answers sent, by result name (RFC 6887 §7.4).', ['result'],
    (s) => Object.entries(s.igd?.pcp?.results ?? {}).map(([name, v]) => [{ result: name }, v] as const)),
  counter('openigd_pcp_drops_total', 'PCP datagrams dropped unanswered, by reason.', ['reason'], (s) => byKey(s.igd?.pcp?.drops, 'reason')),
  gauge('openigd_igd_tcp_connections', 'Connections open on the IGD\'s userspace TCP endpoint (igd.tcp: userspace).', [], (s) => one(s.igdTcp?.open)),
  counter('openigd_igd_tcp_events_total', 'The IGD\'s userspace TCP endpoint: connections accepted, refused, reset and timed out, retransmissions, dropped segments, bytes.', ['event'],
    (s) => byKey(s.igdTcp, 'event', ['open'])),
  counter('openigd_store_commits_total', 'Group commits of the mapping store (one synchronous O_DSYNC write each).', [], (s) => one(s.igd?.store.commits)),
  gauge('openigd_store_journal_bytes', 'Size of the mapping store\'s journal.', [], (s) => one(s.igd?.store.journalBytes)),
];

/** Every family of the gateway, in the order they are served. */
export const METRIC_FAMILIES: readonly MetricFamily[] = [...linkFamilies, ...routerFamilies, ...natFamilies, ...dhcpFamilies, ...igdFamilies];

export interface GatewayMetrics {
  readonly contentType: string;
  /** The text exposition of `status` and the process's own metrics. */
  render(status: GatewayStatus): Promise<string>;
}

/** A registry with every family reading the snapshot handed to `render`, and prom-client's process metrics. */
export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'openigd_' });
  // These three are gauges named `_total`, which promtool rejects; the per-type gauges
  // (`…_active_handles{type}` and the like) say the same.
  for (const n of ['active_handles_total', 'active_requests_total', 'active_resources_total']) registry.removeSingleMetric(`openigd_nodejs_${n}`);
  let current: GatewayStatus | null = null;
  for (const f of METRIC_FAMILIES) register(registry, f, () => current);
  registry.registerMetric(commitLatencyHistogram(() => current));
  return {
    contentType: registry.contentType,
    render: (status) => {
      // prom-client calls every collect() synchronously inside metrics(), so each scrape
      // reads its own snapshot; it is kept (not cleared) so that a scrape overlapping
      // another could at worst read the newer one, never none.
      current = status;
      return registry.metrics();
    },
  };
}

/** A prom-client counter or gauge whose value is set from the snapshot at collect time. */
function register(registry: Registry, f: MetricFamily, snapshot: () => GatewayStatus | null): void {
  const config = {
    name: f.name, help: f.help, labelNames: f.labelNames, registers: [registry],
    collect(this: Counter | Gauge) {
      this.reset();
      const s = snapshot();
      if (!s) return;
      for (const [labels, v] of f.samples(s)) {
        if (this instanceof Gauge) this.set(labels, v);
        else this.inc(labels, v);
      }
    },
  };
  if (f.type === 'counter') new Counter(config);
  else new Gauge(config);
}

/** A sample line of a hand-built family: prom-client's registry prints `metricName{labels} value`. */
interface RawSample { readonly metricName: string; readonly labels: Labels; readonly value: number }

/**
 * The store's commit latency as a Prometheus histogram, from the store's own buckets at
 * collect time (prom-client's Histogram can only observe, not be set). The registry
 * calls only `get()` of a metric it prints; prom-client's types name the type as an
 * enum where the code wants the string, hence the one cast.
 */
function commitLatencyHistogram(snapshot: () => GatewayStatus | null): Metric {
  const name = 'openigd_store_commit_duration_seconds';
  const help = 'Time a mapping change waited for its durable commit.';
  const get = async () => {
    const h = snapshot()?.igd?.store.commitLatency;
    const values: RawSample[] = [];
    if (h) {
      let cumulative = 0;
      h.buckets.forEach((le, i) => {
        cumulative += h.counts[i]!;
        values.push({ metricName: `${name}_bucket`, labels: { le: String(le) }, value: cumulative });
      });
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: h.count },
        { metricName: `${name}_sum`, labels: {}, value: h.sumSeconds }, { metricName: `${name}_count`, labels: {}, value: h.count });
    }
    return { name, help, type: 'histogram', aggregator: 'sum', values };
  };
  return { name, help, type: 'histogram', aggregator: 'sum', get } as unknown as Metric;
}
