import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createGatewayMetrics, METRIC_FAMILIES, snakeCase } from './metrics.js';
import { statusFixture } from '../testing/index.js';

/** The exposition's lines parsed: HELP and TYPE per family, and samples as name, labels, value. */
function parse(text: string) {
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (m) {
      (m[1] === 'HELP' ? help : type).set(m[2]!, m[3]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { help, type, samples };
}

function value(samples: ReturnType<typeof parse>['samples'], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

test('snake_case of counter keys', () => {
  assert.equal(snakeCase('rxFrames'), 'rx_frames');
  assert.equal(snakeCase('wrong-length'), 'wrong_length');
  assert.equal(snakeCase('arp'), 'arp');
});

test('every family follows the naming conventions and has help', () => {
  for (const f of METRIC_FAMILIES) {
    assert.match(f.name, /^openigd_[a-z0-9_]+$/, f.name);
    if (f.type === 'counter') assert.match(f.name, /_total$/, `${f.name}: a counter ends in _total`);
    else assert.doesNotMatch(f.name, /_total$/, `${f.name}: a gauge does not end in _total`);
    assert.ok(f.help.length > 10, `${f.name}: help`);
    for (const l of f.labelNames) assert.ok(['port', 'reason', 'event', 'direction', 'type', 'origin', 'protocol', 'service', 'action', 'code', 'result'].includes(l), `${f.name}: label ${l} is from the bounded set`);
  }
  assert.equal(new Set(METRIC_FAMILIES.map((f) => f.name)).size, METRIC_FAMILIES.length, 'names are unique');
});

test('the exposition reads the snapshot: types, help, labels and values', async () => {
  const metrics = createGatewayMetrics();
  assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
  const { help, type, samples } = parse(await metrics.render(statusFixture()));
  for (const f of METRIC_FAMILIES) {
    assert.equal(type.get(f.name), f.type, f.name);
    assert.equal(help.get(f.name), f.help, f.name);
  }
  assert.equal(value(samples, 'openigd_router_drops_total', { reason: 'nat-no-mapping' }), 5);
  assert.equal(value(samples, 'openigd_nat_drops_total', { reason: 'no-mapping' }), 5);
  assert.equal(value(samples, 'openigd_nat_drops_total', { reason: 'filtered' }), 0);
  assert.equal(value(samples, 'openigd_link_received_frames_total', { port: 'wan' }), 30);
  assert.equal(value(samples, 'openigd_link_received_bytes_total', { port: 'lan' }), 2000);
  assert.equal(value(samples, 'openigd_router_frames_total', { event: 'forwarded_outbound' }), 10);
  assert.equal(value(samples, 'openigd_nat_flows'), 3);
  assert.equal(value(samples, 'openigd_fragments_total', { port: 'lan', event: 'reassembled' }), 2);
  assert.equal(value(samples, 'openigd_dhcp_leases'), 1);
  assert.equal(value(samples, 'openigd_port_mappings', { origin: 'natpmp', protocol: 'udp' }), 1);
  assert.equal(value(samples, 'openigd_port_mappings_created_total', { origin: 'upnp' }), 1);
  assert.equal(value(samples, 'openigd_port_mappings_created_total', { origin: 'pcp' }), 0);
  assert.equal(value(samples, 'openigd_soap_actions_total', { action: 'GetGenericPortMappingEntry', code: '713' }), 2);
  assert.equal(value(samples, 'openigd_natpmp_responses_total', { result: '0' }), 3);
  assert.equal(value(samples, 'openigd_pcp_responses_total', { result: 'NOT_AUTHORIZED' }), 1);
  assert.equal(value(samples, 'openigd_pcp_drops_total', { reason: 'header_too_short' }), 1);
  assert.equal(value(samples, 'openigd_ssdp_malformed_total', { reason: 'empty' }), 1);
  assert.equal(value(samples, 'openigd_store_commit_duration_seconds_bucket', { le: '0.001' }), 0);
  assert.equal(value(samples, 'openigd_store_commit_duration_seconds_bucket', { le: '0.0025' }), 3);
  assert.equal(value(samples, 'openigd_store_commit_duration_seconds_bucket', { le: '+Inf' }), 3);
  assert.equal(value(samples, 'openigd_store_commit_duration_seconds_count'), 3);
  assert.equal(type.get('openigd_store_commit_duration_seconds'), 'histogram');
  // The process's own: event loop lag, heap, GC.
  for (const name of ['openigd_nodejs_eventloop_lag_seconds', 'openigd_nodejs_heap_size_used_bytes', 'openigd_nodejs_gc_duration_seconds']) {
    assert.ok(type.has(name), name);
  }
  // No label carries an address or a port number: only bounded names.
  for (const s of samples) for (const v of Object.values(s.labels)) assert.doesNotMatch(v, /\d+\.\d+\.\d+\.\d+/, `${s.name}: ${v}`);
});

test('a part that is off has no samples, and a later scrape shows the new values', async () => {
  const metrics = createGatewayMetrics();
  const off = parse(await metrics.render({ ...statusFixture(), igd: null, dhcpServer: null }));
  assert.equal(value(off.samples, 'openigd_port_mappings_created_total', { origin: 'upnp' }), undefined);
  // prom-client always prints an unlabelled family: 0 while its part is off.
  assert.equal(value(off.samples, 'openigd_dhcp_leases'), 0);
  const s = statusFixture();
  const on = parse(await metrics.render({ ...s, drops: { ...s.drops, 'nat-no-mapping': 12 } }));
  assert.equal(value(on.samples, 'openigd_router_drops_total', { reason: 'nat-no-mapping' }), 12);
});

const PROMTOOL = '/usr/bin/promtool';

test('promtool check metrics finds no problem in the exposition', { skip: existsSync(PROMTOOL) ? false : 'needs promtool (Debian\'s prometheus)' }, async () => {
  const text = await createGatewayMetrics().render(statusFixture());
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
  assert.equal((r.stdout + r.stderr).trim(), '');
});

test('overlapping scrapes each read their own snapshot', async () => {
  const metrics = createGatewayMetrics();
  const s = statusFixture();
  const texts = await Promise.all([1, 2, 3].map((n) => metrics.render({ ...s, drops: { 'nat-no-mapping': n } })));
  assert.deepEqual(texts.map((t) => value(parse(t).samples, 'openigd_router_drops_total', { reason: 'nat-no-mapping' })), [1, 2, 3]);
});
