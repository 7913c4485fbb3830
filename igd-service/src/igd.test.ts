/**
 * The Igd table with a manual clock, an in-memory store and the in-memory backend: order,
 * overwrite, leases and renewal, NewEnabled, durability before success, replay at start,
 * external-address changes and the events they raise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Igd } from './igd.js';
import type { IgdStateChange } from './igd.js';
import type { AccessPolicy, PortMappingRequest } from './mapping-rules.js';
import { MemoryPortMappingBackend, ManualClock, MemoryMappingStore } from './testing/index.js';
import { MappingService } from './mapping/mapping-service.js';
import type { PortMapping } from './types.js';

const ROOT_UUID = '0b0a0c0d-1111-4222-8333-444455556666';
const HOST = '192.168.1.10';

function req(overrides: Partial<PortMappingRequest> = {}): PortMappingRequest {
  return {
    remoteHost: '', externalPort: 4662, protocol: 'TCP', internalPort: 4662, internalClient: HOST,
    enabled: true, description: 'eMule', leaseSeconds: 0, ...overrides,
  };
}

async function setup(options: { policy?: AccessPolicy; stored?: PortMapping[]; backend?: MemoryPortMappingBackend } = {}) {
  const clock = new ManualClock();
  const store = new MemoryMappingStore(options.stored);
  const backend = options.backend ?? new MemoryPortMappingBackend();
  const igd = new Igd({ rootUuid: ROOT_UUID }, { mappings: new MappingService({ policy: options.policy }, { store, backend, now: clock.now }) });
  const events: IgdStateChange[] = [];
  igd.onStateChange((c) => events.push(c));
  const report = await igd.start();
  return { clock, store, backend, igd, events, report };
}

function outcome(r: { ok: boolean; reason?: string }): string {
  return r.ok ? 'ok' : r.reason ?? '';
}

test('add, list by index in insertion order, look up, delete', async () => {
  const { igd, store, backend } = await setup();
  assert.equal(outcome(await igd.addPortMapping(req(), HOST)), 'ok');
  assert.equal(outcome(await igd.addPortMapping(req({ externalPort: 4672, protocol: 'UDP' }), HOST)), 'ok');
  assert.equal(outcome(await igd.addPortMapping(req({ externalPort: 4662, remoteHost: '198.51.100.7' }), HOST)), 'ok');
  assert.equal(igd.mappingCount(), 3);
  const listed = [];
  for (let i = 0; i < 10; i++) {
    const r = await igd.getGenericPortMapping(i);
    if (!r.ok) {
      assert.equal(r.reason, 'array-index-invalid');
      break;
    }
    listed.push(`${r.mapping.protocol}/${r.mapping.externalPort}/${r.mapping.remoteHost}`);
  }
  assert.deepEqual(listed, ['TCP/4662/', 'UDP/4672/', 'TCP/4662/198.51.100.7']);
  const specific = await igd.getSpecificPortMapping({ remoteHost: '198.51.100.7', externalPort: 4662, protocol: 'TCP' });
  assert.ok(specific.ok);
  assert.equal(specific.remainingLeaseSeconds, 0);
  assert.equal(outcome(await igd.getSpecificPortMapping({ remoteHost: '198.51.100.8', externalPort: 4662, protocol: 'TCP' })), 'no-such-entry');
  assert.equal(store.data.size, 3);
  assert.equal(backend.allRules().length, 3);

  assert.equal(outcome(await igd.deletePortMapping({ remoteHost: '', externalPort: 4662, protocol: 'TCP' }, HOST)), 'ok');
  assert.equal(outcome(await igd.deletePortMapping({ remoteHost: '', externalPort: 4662, protocol: 'TCP' }, HOST)), 'no-such-entry');
  assert.equal(store.data.size, 2);
  assert.equal(backend.rule({ remoteHost: '', externalPort: 4662, protocol: 'TCP' }), undefined);
  assert.ok(backend.rule({ remoteHost: '198.51.100.7', externalPort: 4662, protocol: 'TCP' }));
  const first = await igd.getGenericPortMapping(0);
  assert.ok(first.ok);
  assert.equal(first.mapping.externalPort, 4672);
});

test('wildcard external port (716) and conflicts with another internal client (718)', async () => {
  const { igd, store } = await setup();
  assert.equal(outcome(await igd.addPortMapping(req({ externalPort: 0 }), HOST)), 'external-port-wildcard-not-permitted');
  assert.equal(outcome(await igd.deletePortMapping({ remoteHost: '', externalPort: 0, protocol: 'TCP' }, HOST)), 'external-port-wildcard-not-permitted');
  assert.equal(outcome(await igd.getSpecificPortMapping({ remoteHost: '', externalPort: 0, protocol: 'TCP' })), 'external-port-wildcard-not-permitted');
  await igd.addPortMapping(req(), HOST);
  assert.equal(outcome(await igd.addPortMapping(req({ internalClient: '192.168.1.11' }), '192.168.1.11')), 'conflict');
  const kept = await igd.getGenericPortMapping(0);
  assert.ok(kept.ok);
  assert.equal(kept.mapping.internalClient, HOST);
  assert.equal(store.puts, 1);
});

test('concurrent adds of one key by two clients: exactly one wins, the other gets 718', async () => {
  const { igd } = await setup();
  const results = await Promise.all([
    igd.addPortMapping(req(), HOST),
    igd.addPortMapping(req({ internalClient: '192.168.1.11' }), '192.168.1.11'),
  ]);
  assert.deepEqual(results.map(outcome).sort(), ['conflict', 'ok']);
  assert.equal(igd.mappingCount(), 1);
});

test('changes of different keys overlap (their store writes can share a sync); limits count those in flight', async () => {
  const { igd, store } = await setup({ policy: { maxMappings: 2 } });
  store.hold();
  const adds = [1001, 1002, 1003].map((port) => igd.addPortMapping(req({ externalPort: port }), HOST));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(store.waiting(), 2);
  store.release();
  assert.deepEqual((await Promise.all(adds)).map(outcome), ['ok', 'ok', 'no-port-maps-available']);
  assert.equal(igd.mappingCount(), 2);
});

test('changes of one key wait for each other', async () => {
  const { igd, store } = await setup();
  store.hold();
  const first = igd.addPortMapping(req({ description: 'first' }), HOST);
  const second = igd.addPortMapping(req({ description: 'second' }), HOST);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(store.waiting(), 1);
  store.release();
  assert.deepEqual([outcome(await first), outcome(await second)], ['ok', 'ok']);
  assert.equal(igd.listMappings()[0].description, 'second');
});

test('expiry leaves a key whose change is in flight to that change', async () => {
  const { igd, store, clock, backend } = await setup();
  await igd.addPortMapping(req({ leaseSeconds: 10 }), HOST);
  clock.advance(5_000);
  store.hold();
  const change = igd.addPortMapping(req({ leaseSeconds: 10, description: 'again' }), HOST);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(backend.rule(req())?.description, 'again');
  clock.advance(6_000);
  // The old entry is due, but its key has a change in flight: removing it now would take the
  // new rule out of the backend.
  assert.deepEqual(await igd.expire(), []);
  assert.equal(backend.rule(req())?.description, 'again');
  assert.equal(outcome(await igd.getSpecificPortMapping(req())), 'no-such-entry');
  store.release();
  assert.equal(outcome(await change), 'ok');
  const found = await igd.getSpecificPortMapping(req());
  assert.ok(found.ok);
  assert.equal(found.mapping.description, 'again');
  assert.equal(found.remainingLeaseSeconds, 4);
  clock.advance(4_000);
  assert.equal((await igd.expire()).length, 1);
  assert.equal(backend.rule(req()), undefined);
});

test('NewEnabled: a disabled mapping stays listed and the backend gets enabled=false', async () => {
  const { igd, backend } = await setup();
  await igd.addPortMapping(req(), HOST);
  const r = await igd.addPortMapping(req({ enabled: false }), HOST);
  assert.ok(r.ok);
  assert.equal(r.kind, 'replace');
  const listed = await igd.getGenericPortMapping(0);
  assert.ok(listed.ok);
  assert.equal(listed.mapping.enabled, false);
  assert.equal(backend.rule(req())?.enabled, false);
  await igd.addPortMapping(req({ enabled: true }), HOST);
  assert.equal(backend.rule(req())?.enabled, true);
  assert.equal(igd.mappingCount(), 1);
});

test('leases: expiry with the manual clock removes from table, backend and store', async () => {
  const { igd, clock, store, backend } = await setup();
  await igd.addPortMapping(req({ leaseSeconds: 60 }), HOST);
  await igd.addPortMapping(req({ externalPort: 5000, leaseSeconds: 0 }), HOST);
  assert.equal(igd.nextExpiryMs(), clock.nowMs + 60_000);
  clock.advance(30_000);
  const half = await igd.getSpecificPortMapping(req());
  assert.ok(half.ok);
  assert.equal(half.remainingLeaseSeconds, 30);
  assert.deepEqual(await igd.expire(), []);
  clock.advance(30_000);
  const removed = await igd.expire();
  assert.deepEqual(removed.map((m) => m.externalPort), [4662]);
  assert.equal(igd.mappingCount(), 1);
  assert.equal(store.data.size, 1);
  assert.equal(backend.rule(req()), undefined);
  assert.equal(igd.nextExpiryMs(), undefined);
  assert.equal(igd.stats().expired, 1);
});

test('leases: a read after the expiry time no longer sees the mapping even before expire() ran', async () => {
  const { igd, clock } = await setup();
  await igd.addPortMapping(req({ leaseSeconds: 10 }), HOST);
  clock.advance(10_000);
  assert.equal(outcome(await igd.getGenericPortMapping(0)), 'array-index-invalid');
  assert.equal(outcome(await igd.getSpecificPortMapping(req())), 'no-such-entry');
});

test('renewal: an identical add with a lease moves the expiry with one store write and no backend call', async () => {
  const { igd, clock, store, backend, events } = await setup();
  await igd.addPortMapping(req({ leaseSeconds: 60 }), HOST);
  const putsBefore = store.puts;
  const callsBefore = backend.calls.length;
  const eventsBefore = events.length;
  clock.advance(50_000);
  const renewed = await igd.addPortMapping(req({ leaseSeconds: 60 }), HOST);
  assert.ok(renewed.ok);
  assert.equal(renewed.kind, 'renew');
  assert.equal(store.puts, putsBefore + 1);
  assert.equal(backend.calls.length, callsBefore);
  assert.equal(events.length, eventsBefore);
  clock.advance(50_000);
  assert.deepEqual(await igd.expire(), []);
  assert.equal(igd.mappingCount(), 1);
  clock.advance(10_000);
  assert.equal((await igd.expire()).length, 1);
});

test('renewal: an identical static add writes nothing at all', async () => {
  const { igd, store, backend } = await setup();
  await igd.addPortMapping(req(), HOST);
  const puts = store.puts;
  const calls = backend.calls.length;
  const again = await igd.addPortMapping(req(), HOST);
  assert.ok(again.ok);
  assert.equal(again.kind, 'renew');
  assert.equal(store.puts, puts);
  assert.equal(backend.calls.length, calls);
});

test('a failed store write answers action-failed and undoes the backend change', async () => {
  const { igd, store, backend } = await setup();
  store.failPuts = 1;
  assert.equal(outcome(await igd.addPortMapping(req(), HOST)), 'action-failed');
  assert.equal(igd.mappingCount(), 0);
  assert.equal(backend.rule(req()), undefined);

  await igd.addPortMapping(req(), HOST);
  store.failPuts = 1;
  assert.equal(outcome(await igd.addPortMapping(req({ description: 'renamed', enabled: false }), HOST)), 'action-failed');
  const kept = await igd.getGenericPortMapping(0);
  assert.ok(kept.ok);
  assert.equal(kept.mapping.description, 'eMule');
  assert.deepEqual(backend.rule(req()), kept.mapping);

  store.failDeletes = 1;
  assert.equal(outcome(await igd.deletePortMapping(req(), HOST)), 'action-failed');
  assert.equal(igd.mappingCount(), 1);
  assert.ok(backend.rule(req()));
  assert.equal(igd.stats().storeFailures, 3);
});

test('the backend refusing a port (held by another mechanism) is a conflict', async () => {
  const backend = new MemoryPortMappingBackend();
  backend.reservePort('UDP', 5351);
  const { igd, store } = await setup({ backend });
  assert.equal(outcome(await igd.addPortMapping(req({ externalPort: 5351, protocol: 'UDP' }), HOST)), 'conflict-with-other-mechanism');
  assert.equal(store.puts, 0);
});

test('start replays stored mappings, drops expired ones, reports refused ones and keeps them listed', async () => {
  const clock = new ManualClock();
  const backend = new MemoryPortMappingBackend();
  backend.reservePort('TCP', 22);
  const stored: PortMapping[] = [
    { ...req(), expiresAtMs: 0, origin: 'upnp', requester: HOST },
    { ...req({ externalPort: 6000, leaseSeconds: 60 }), expiresAtMs: clock.nowMs - 1, origin: 'upnp', requester: HOST },
    { ...req({ externalPort: 6001, leaseSeconds: 60, enabled: false }), expiresAtMs: clock.nowMs + 30_000, origin: 'upnp', requester: HOST },
    { ...req({ externalPort: 22 }), expiresAtMs: 0, origin: 'upnp', requester: HOST },
  ];
  const store = new MemoryMappingStore(stored);
  const igd = new Igd({ rootUuid: ROOT_UUID }, { mappings: new MappingService({}, { store, backend, now: clock.now }) });
  const report = await igd.start();
  assert.equal(report.replayed, 3);
  assert.equal(report.expired, 1);
  assert.deepEqual(report.refused.map((r) => [r.mapping.externalPort, r.reason]), [[22, 'port-in-use']]);
  assert.deepEqual(igd.listMappings().map((m) => m.externalPort), [4662, 6001, 22]);
  assert.equal(backend.rule({ remoteHost: '', externalPort: 6001, protocol: 'TCP' })?.enabled, false);
  assert.equal(store.data.size, 3);
  assert.equal(igd.nextExpiryMs(), clock.nowMs + 30_000);
  await assert.rejects(igd.start());
});

test('the external address changes: every mapping stays, ExternalIPAddress and ConnectionStatus are evented', async () => {
  const { igd, backend, events } = await setup();
  await igd.addPortMapping(req(), HOST);
  assert.deepEqual(events.splice(0), [{ service: 'wanIpConnection', variables: [['PortMappingNumberOfEntries', '1']] }]);
  backend.setExternalAddress('198.51.100.20');
  assert.equal(igd.externalAddress(), '198.51.100.20');
  assert.equal(igd.mappingCount(), 1);
  assert.ok(backend.rule(req()));
  assert.deepEqual(events.splice(0), [{ service: 'wanIpConnection', variables: [['ExternalIPAddress', '198.51.100.20']] }]);
  backend.setExternalAddress('');
  assert.deepEqual(events.splice(0), [{
    service: 'wanIpConnection', variables: [['ConnectionStatus', 'Disconnected'], ['ExternalIPAddress', '']],
  }]);
  assert.equal(igd.connectionStatus(), 'Disconnected');
  assert.equal(igd.mappingCount(), 1);
  igd.close();
  backend.setExternalAddress('198.51.100.21');
  assert.equal(events.length, 0);
});

test('uptime counts from when the connection was last seen to come up', async () => {
  const { igd, clock, backend } = await setup();
  clock.advance(5_000);
  assert.equal(igd.uptimeSeconds(), 5);
  backend.setExternalAddress('');
  assert.equal(igd.uptimeSeconds(), 0);
  clock.advance(5_000);
  backend.setExternalAddress('198.51.100.30');
  clock.advance(2_500);
  assert.equal(igd.uptimeSeconds(), 2);
});

test('the evented state of each service', async () => {
  const { igd } = await setup();
  assert.deepEqual(igd.eventedState('wanIpConnection'), [
    ['PossibleConnectionTypes', 'IP_Routed'], ['ConnectionStatus', 'Connected'],
    ['ExternalIPAddress', '203.0.113.1'], ['PortMappingNumberOfEntries', '0'],
  ]);
  assert.deepEqual(igd.eventedState('wanCommonInterfaceConfig'), [['PhysicalLinkStatus', 'Up']]);
  assert.equal(igd.eventedState('layer3Forwarding')[0][0], 'DefaultConnectionService');
});

test('policy limits count mappings per internal client and in total', async () => {
  const { igd } = await setup({ policy: { maxMappingsPerClient: 2, maxMappings: 3 } });
  assert.equal(outcome(await igd.addPortMapping(req({ externalPort: 1001 }), HOST)), 'ok');
  assert.equal(outcome(await igd.addPortMapping(req({ externalPort: 1002 }), HOST)), 'ok');
  assert.equal(outcome(await igd.addPortMapping(req({ externalPort: 1003 }), HOST)), 'no-port-maps-available');
  assert.equal(outcome(await igd.addPortMapping(req({ externalPort: 1002, description: 'replace is fine' }), HOST)), 'ok');
  assert.equal(outcome(await igd.addPortMapping(req({ externalPort: 1003, internalClient: '192.168.1.11' }), HOST)), 'ok');
  assert.equal(outcome(await igd.addPortMapping(req({ externalPort: 1004, internalClient: '192.168.1.12' }), HOST)), 'no-port-maps-available');
  await igd.deletePortMapping(req({ externalPort: 1001 }), HOST);
  assert.equal(outcome(await igd.addPortMapping(req({ externalPort: 1001 }), HOST)), 'ok');
});

test('before start() every action answers action-failed', async () => {
  const igd = new Igd({ rootUuid: ROOT_UUID }, { mappings: new MappingService({}, { store: new MemoryMappingStore(), backend: new MemoryPortMappingBackend() }) });
  assert.equal(outcome(await igd.addPortMapping(req(), HOST)), 'action-failed');
  assert.equal(outcome(await igd.getGenericPortMapping(0)), 'action-failed');
  assert.equal(outcome(await igd.deletePortMapping(req(), HOST)), 'action-failed');
});
