/**
 * The admin API's new endpoints over its Unix socket, answered by the daemon's own pieces:
 * a real NatTable (flows, paged and filtered), a real MappingService with the file store
 * and the NAT backend (mappings made, changed, disabled and deleted reach the NAT table and
 * the disk, and are evented), DHCP leases, and pcap captures started and stopped. Bad input
 * is a 400 naming the field; a missing mapping 404; a conflict 409 with its reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatTable, parseIpv4, resolveNatConfig, VERDICT } from '@openigd/nat-table';
import { FileMappingStore, MappingService, type MappingChange } from '@openigd/igd-service';
import { startAdminServer, type GatewayControl } from './admin-api.js';
import { statusFixture } from '../testing/index.js';
import { flowPage } from './control/flow-page.js';
import { serviceMappingControl, tableMappingControl } from './control/mapping-control.js';
import { leaseViews } from './control/lease-view.js';
import { NatPortMappingBackend } from '../igd/nat-backend.js';
import { CaptureControl } from '../capture/capture-control.js';
import type { FrameTap } from '../router/forwarder.js';
import type { CaptureStatus, FlowView, MappingView } from '../stats.js';

const WAN = parseIpv4('203.0.113.2')!;
const H1 = parseIpv4('192.168.1.10')!;
const H2 = parseIpv4('192.168.1.11')!;
const S1 = parseIpv4('198.51.100.1')!;
const NOW = 1_000;

interface Reply { status: number; json: unknown }

function call(socketPath: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: text ? { 'content-type': 'application/json' } : {} }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: data ? JSON.parse(data) : null }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'oi-admin-ctl-'));
  const config = resolveNatConfig({ preset: 'rfc' });
  assert.ok(config.ok);
  const table = new NatTable(config.config);
  table.setExternalAddress(WAN);
  const store = new FileMappingStore({ directory: dir });
  const backend = new NatPortMappingBackend(table, {
    lanAddr: parseIpv4('192.168.1.1')!, lanPrefixLength: 24, wanAddr: () => WAN, nowMs: () => NOW,
    wanCounters: () => {
      throw new Error('not used here');
    },
  });
  // Secure mode and a rule denying H2: neither binds the operator.
  const service = new MappingService({ policy: { clientsMapOnlyThemselves: true, rules: [{ action: 'deny', clients: '192.168.1.11/32' }] } }, { store, backend });
  await service.start();
  const changes: MappingChange[] = [];
  service.onChange((c) => changes.push(c));
  const taps: (readonly (FrameTap | null)[])[] = [];
  const capture = new CaptureControl(join(dir, 'captures'), (x) => taps.push(x), () => {});
  const control: GatewayControl = {
    status: statusFixture,
    flows: (q) => flowPage(table, NOW, q),
    ...serviceMappingControl(service),
    leases: () => leaseViews([{ mac: '02:00:00:00:00:01', addr: H1, expiresAtMs: Date.now() + 3_600_000, offered: false }], Date.now()),
    capture: () => capture.status(),
    setCapture: async (on) => (on ? capture.start() : capture.stop()),
    setWan: () => Promise.resolve(),
  };
  const server = await startAdminServer(join(dir, 'admin.sock'), control);
  t.after(async () => {
    capture.stop();
    await server.close();
    service.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const api = (method: string, path: string, body?: unknown) => call(server.socketPath, method, path, body);
  return { dir, table, service, changes, taps, api };
}

test('GET /flows: paged, filtered by proto, addr, port and state, with the count of every match', async (t) => {
  const { table, api } = await setup(t);
  for (let i = 0; i < 250; i++) assert.equal(table.outbound(17, H1, 10_000 + i, S1, 53, 0, NOW), VERDICT.forward);
  assert.equal(table.outbound(6, H2, 4000, S1, 443, 0x02, NOW), VERDICT.forward);
  const page = (q: string) => api('GET', `/flows${q}`).then((r) => { assert.equal(r.status, 200, JSON.stringify(r.json)); return r.json as { total: number; offset: number; flows: FlowView[] }; });
  const first = await page('');
  assert.deepEqual([first.total, first.offset, first.flows.length], [251, 0, 100], 'limit defaults to 100');
  const last = await page('?proto=udp&offset=240&limit=50');
  assert.deepEqual([last.total, last.offset, last.flows.map((f) => f.internal)], [250, 240, Array.from({ length: 10 }, (_, i) => `192.168.1.10:${10_240 + i}`)]);
  const tcp = await page('?addr=192.168.1.11');
  assert.deepEqual(tcp.flows.map((f) => [f.protocol, f.internal, f.remote, f.tcpState]), [['tcp', '192.168.1.11:4000', '198.51.100.1:443', 'syn-sent']]);
  assert.equal((await page('?port=443&state=syn-sent&proto=TCP')).total, 1);
  assert.equal((await page('?state=established')).total, 0);
  assert.equal((await page('?port=10007')).flows[0]?.external.startsWith('203.0.113.2:'), true);
  assert.equal((await page('?limit=10000')).flows.length, 251);
  for (const [q, field] of [['?limit=10001', 'limit'], ['?limit=0', 'limit'], ['?limit=x', 'limit'], ['?offset=-1', 'offset'], ['?proto=sctp', 'proto'],
    ['?addr=300.1.1.1', 'addr'], ['?port=65536', 'port'], ['?state=open', 'state'], ['?proto=udp&state=established', 'state'],
    ['?port=1&port=2', 'port'], ['?colour=red', 'colour']] as const) {
    const r = await api('GET', `/flows${q}`);
    assert.equal(r.status, 400, q);
    assert.equal((r.json as { field: string }).field, field, q);
  }
});

test('mappings through the MappingService: made, listed, changed, disabled and deleted, durable and evented', async (t) => {
  const { dir, table, changes, api } = await setup(t);
  const made = await api('POST', '/mappings', { protocol: 'TCP', externalPort: 8080, internalClient: '192.168.1.11', internalPort: 80, description: 'web' });
  assert.equal(made.status, 201, JSON.stringify(made.json));
  const view = made.json as MappingView;
  assert.deepEqual([view.origin, view.requester, view.enabled, view.leaseSeconds, view.expiresAt, view.leaseRemainingSeconds], ['admin', 'admin', true, 0, null, null]);
  assert.equal(table.getPortMapping(6, 8080, 0)?.internalClient, H2, 'in the NAT table');
  assert.match(await readFile(join(dir, 'mappings.journal'), 'utf8'), /"externalPort":8080/, 'on disk');

  const leased = await api('POST', '/mappings', { protocol: 'UDP', externalPort: 5353, internalClient: '192.168.1.10', internalPort: 5353, leaseSeconds: 600, enabled: false });
  assert.equal(leased.status, 201);
  assert.equal((leased.json as MappingView).leaseRemainingSeconds, 600);
  assert.equal(table.getPortMapping(17, 5353, 0)?.enabled, false);
  assert.deepEqual(((await api('GET', '/mappings')).json as MappingView[]).map((m) => `${m.protocol}/${m.externalPort}`), ['TCP/8080', 'UDP/5353']);

  const again = await api('POST', '/mappings', { protocol: 'TCP', externalPort: 8080, internalClient: '192.168.1.10', internalPort: 81 });
  assert.equal(again.status, 409);
  assert.match((again.json as { error: string }).error, /TCP 8080 is already mapped to 192\.168\.1\.11:80 \(through admin\)/);

  const off = await api('PATCH', '/mappings/tcp/8080', { enabled: false });
  assert.equal(off.status, 200, JSON.stringify(off.json));
  assert.deepEqual([(off.json as MappingView).enabled, (off.json as MappingView).description], [false, 'web']);
  assert.equal(table.getPortMapping(6, 8080, 0)?.enabled, false);
  const moved = await api('PATCH', '/mappings/TCP/8080', { internalClient: '192.168.1.10', internalPort: 8000, enabled: true });
  assert.equal(moved.status, 200, JSON.stringify(moved.json));
  assert.deepEqual([table.getPortMapping(6, 8080, 0)?.internalClient, table.getPortMapping(6, 8080, 0)?.internalPort], [H1, 8000]);
  assert.equal((await api('PATCH', '/mappings/TCP/9999', { enabled: true })).status, 404);

  assert.equal((await api('DELETE', '/mappings/TCP/8080')).status, 204);
  assert.equal(table.getPortMapping(6, 8080, 0), null);
  assert.equal((await api('DELETE', '/mappings/TCP/8080')).status, 404);
  assert.deepEqual(changes.map((c) => c.kind), ['create', 'create', 'replace', 'delete', 'create', 'delete']);
});

test('mapping requests with bad input are 400 naming the field; a port the packet path holds is 409', async (t) => {
  const { api, service } = await setup(t);
  const good = { protocol: 'TCP', externalPort: 8080, internalClient: '192.168.1.10', internalPort: 80 };
  const cases: [unknown, string][] = [
    [{ ...good, protocol: 'tcp' }, 'protocol'], [{ ...good, externalPort: 0 }, 'externalPort'], [{ ...good, externalPort: '80' }, 'externalPort'],
    [{ ...good, internalPort: 70_000 }, 'internalPort'], [{ ...good, internalClient: 'h1' }, 'internalClient'], [{ ...good, leaseSeconds: -1 }, 'leaseSeconds'],
    [{ ...good, leaseSeconds: 1.5 }, 'leaseSeconds'], [{ ...good, enabled: 'yes' }, 'enabled'], [{ ...good, description: 'x'.repeat(257) }, 'description'],
    [{ ...good, remoteHost: '1.2.3.4' }, 'remoteHost'], [{ protocol: 'UDP', externalPort: 1, internalPort: 1 }, 'internalClient'], [[good], '(body)'], ['{"protocol":', '(body)'],
  ];
  for (const [body, field] of cases) {
    const r = await api('POST', '/mappings', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal((r.json as { field: string }).field, field, JSON.stringify(body));
  }
  for (const [path, body, field] of [['/mappings/sctp/80', { enabled: true }, 'protocol'], ['/mappings/TCP/0', { enabled: true }, 'externalPort'],
    ['/mappings/TCP/80', {}, '(body)'], ['/mappings/TCP/80', { protocol: 'UDP' }, 'protocol'], ['/mappings/TCP/80', { internalPort: 0 }, 'internalPort']] as const) {
    const r = await api('PATCH', path, body);
    assert.equal(r.status, 400, path);
    assert.equal((r.json as { field: string }).field, field, `${path} ${JSON.stringify(body)}`);
  }
  assert.equal((await api('DELETE', '/mappings/TCP/x')).status, 400);
  // Outside the LAN: the NAT backend refuses it as invalid.
  const outside = await api('POST', '/mappings', { ...good, internalClient: '10.0.0.5' });
  assert.equal(outside.status, 409);
  assert.match((outside.json as { error: string }).error, /^invalid-args/);
  // A client's UPnP mapping: the operator's POST is a conflict; its PATCH keeps the origin.
  assert.ok((await service.put({ remoteHost: '', protocol: 'UDP', externalPort: 9000, internalClient: '192.168.1.10', internalPort: 9000, enabled: true,
    description: 'game', leaseSeconds: 3600, origin: 'upnp', requester: '192.168.1.10' })).ok);
  assert.equal((await api('POST', '/mappings', { ...good, protocol: 'UDP', externalPort: 9000 })).status, 409);
  const patched = await api('PATCH', '/mappings/UDP/9000', { description: 'renamed' });
  assert.deepEqual([(patched.json as MappingView).origin, (patched.json as MappingView).description], ['upnp', 'renamed']);
  assert.ok(((patched.json as MappingView).leaseRemainingSeconds ?? 0) > 3500);
  assert.equal(service.count(), 1);
});

test('GET /leases and captures on and off', async (t) => {
  const { api, taps } = await setup(t);
  const leases = (await api('GET', '/leases')).json as { mac: string; address: string; expiresInSeconds: number }[];
  assert.deepEqual(leases.map((l) => [l.mac, l.address, l.expiresInSeconds]), [['02:00:00:00:00:01', '192.168.1.10', 3600]]);
  assert.deepEqual(((await api('GET', '/capture')).json as CaptureStatus).running, false);
  const on = await api('POST', '/capture', { on: true });
  assert.equal(on.status, 200);
  const status = on.json as CaptureStatus;
  assert.deepEqual([status.running, status.files.map((f) => f.port)], [true, ['lan', 'wan']]);
  assert.deepEqual(taps.at(-1)?.map((x) => x !== null), [true, true, false], 'the forwarder got a LAN and a WAN tap');
  (taps.at(-1)![0] as FrameTap).write(new Uint8Array(60), 0, 60, Date.now(), 0, 0, 0);
  const off = await api('POST', '/capture', { on: false });
  assert.deepEqual([(off.json as CaptureStatus).running, (off.json as CaptureStatus).files.map((f) => f.frames)], [false, [1, 0]]);
  assert.deepEqual(taps.at(-1), [null, null, null]);
  // A pcap file: the 24-byte header and one 16 + 60-byte record.
  assert.equal((await readFile(status.files[0]!.path)).length, 24 + 16 + 60);
  for (const body of [{}, { on: 'yes' }, { on: true, extra: 1 }]) assert.equal((await api('POST', '/capture', body)).status, 400);
});

test('without the IGD the NAT table\'s mappings are listed and changes are refused with the reason', async () => {
  const config = resolveNatConfig({});
  assert.ok(config.ok);
  const table = new NatTable(config.config);
  assert.equal(table.addPortMapping({ protocol: 17, externalPort: 7000, remoteHost: 0, internalClient: H1, internalPort: 7000, enabled: true }).ok, true);
  const c = tableMappingControl(table);
  assert.deepEqual(c.mappings().map((m) => [m.origin, m.protocol, m.externalPort, m.internalClient]), [['nat-table', 'UDP', 7000, '192.168.1.10']]);
  const r = await c.addMapping({ protocol: 'TCP', externalPort: 1, internalClient: '192.168.1.10', internalPort: 1 });
  assert.ok(!r.ok && r.status === 409 && /igd\.enabled/.test(r.error));
});
