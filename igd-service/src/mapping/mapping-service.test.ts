/**
 * The protocol-neutral table: origin and requester recorded, one table across protocols
 * (a key held through one is a conflict naming it for the others), endpoint mappings with
 * server-chosen ports (renew, suggestion, allocation, exact, nonce), per-client limits over
 * every protocol, change events, and journals written before these fields existed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MappingService } from './mapping-service.js';
import { Igd } from '../igd.js';
import { upnpErrorFor } from '../faults.js';
import type { MappingChange, MappingRequest } from './mapping-service.js';
import type { AccessPolicy } from '../mapping-rules.js';
import { MemoryPortMappingBackend, ManualClock, MemoryMappingStore } from '../testing/index.js';
import { FileMappingStore } from '../store.js';

const HOST = '192.168.1.10';
const OTHER = '192.168.1.11';

function req(overrides: Partial<MappingRequest> = {}): MappingRequest {
  return {
    remoteHost: '', externalPort: 5000, protocol: 'UDP', internalPort: 5000, internalClient: HOST,
    enabled: true, description: '', leaseSeconds: 3600, origin: 'natpmp', requester: HOST, ...overrides,
  };
}

async function setup(policy: AccessPolicy = {}, backend = new MemoryPortMappingBackend()) {
  const clock = new ManualClock();
  const store = new MemoryMappingStore();
  const service = new MappingService({ policy, allocationRange: { minimum: 40000, maximum: 40003 } }, { store, backend, now: clock.now });
  const changes: MappingChange[] = [];
  service.onChange((c) => changes.push(c));
  await service.start();
  return { clock, store, backend, service, changes };
}

function outcome(r: { ok: boolean; reason?: string }): string {
  return r.ok ? 'ok' : r.reason ?? '';
}

test('a mapping records the protocol and the address that made it, durably, and raises a change', async () => {
  const { service, store, changes } = await setup();
  const r = await service.put(req({ origin: 'upnp', requester: OTHER }));
  assert.ok(r.ok);
  assert.equal(r.mapping.origin, 'upnp');
  assert.equal(r.mapping.requester, OTHER);
  assert.deepEqual(store.data.get('UDP/5000/'), r.mapping);
  assert.deepEqual(changes.map((c) => c.kind), ['create']);
});

test('one table: a key held through one protocol is a conflict naming it for another, even for the same client', async () => {
  const { service } = await setup();
  assert.ok((await service.put(req({ origin: 'upnp' }))).ok);
  const r = await service.put(req({ origin: 'natpmp' }));
  assert.ok(!r.ok && r.reason === 'conflict-with-other-mechanism' && 'heldBy' in r && r.heldBy === 'upnp');
  // The endpoint path moves on to a free port instead.
  const any = await service.mapEndpoint(req({ origin: 'natpmp' }), 'preferred');
  assert.ok(any.ok);
  assert.equal(any.mapping.externalPort, 40000);
  assert.equal(service.count(), 2);
});

test('UPnP through the Igd: a NAT-PMP port is 718 to an IGD:1 client, 729 to an IGD:2 one', async () => {
  const { service } = await setup();
  assert.ok((await service.mapEndpoint(req({ externalPort: 6000 }), 'preferred')).ok);
  const igd = new Igd({ rootUuid: '0b0a0c0d-1111-4222-8333-444455556666', version: 2 }, { mappings: service });
  await igd.start();
  const r = await igd.addPortMapping({ remoteHost: '', externalPort: 6000, protocol: 'UDP', internalPort: 6000, internalClient: HOST,
    enabled: true, description: 'upnp', leaseSeconds: 0 }, HOST);
  assert.ok(!r.ok);
  assert.deepEqual([upnpErrorFor(r.reason, 1).code, upnpErrorFor(r.reason, 2).code], [718, 729]);
});

test('mapEndpoint: honours a free suggestion, renews the endpoint at its port, allocates when taken, exact fails', async () => {
  const { service, clock } = await setup();
  const first = await service.mapEndpoint(req({ externalPort: 6000 }), 'preferred');
  assert.ok(first.ok && first.kind === 'create' && first.mapping.externalPort === 6000);
  clock.advance(10_000);
  // Same endpoint, another suggestion: the existing mapping is renewed where it is.
  const again = await service.mapEndpoint(req({ externalPort: 7000 }), 'preferred');
  assert.ok(again.ok && again.kind === 'renew' && again.mapping.externalPort === 6000);
  assert.equal(again.mapping.expiresAtMs, clock.nowMs + 3_600_000);
  // Another client suggesting the taken port gets another one.
  const other = await service.mapEndpoint(req({ internalClient: OTHER, requester: OTHER, externalPort: 6000 }), 'preferred');
  assert.ok(other.ok && other.mapping.externalPort === 40000);
  // The same client's other internal port does not re-point the first mapping.
  const second = await service.mapEndpoint(req({ internalPort: 5001, externalPort: 6000 }), 'preferred');
  assert.ok(second.ok && second.mapping.externalPort === 40001);
  assert.equal(service.get({ remoteHost: '', externalPort: 6000, protocol: 'UDP' })?.internalPort, 5000);
  // 'exact' (PCP PREFER_FAILURE): the taken port is a conflict, nothing else is tried.
  const exact = await service.mapEndpoint(req({ internalPort: 5002, externalPort: 6000 }), 'exact');
  assert.equal(outcome(exact), 'conflict');
  assert.equal(service.count(), 3);
});

test('mapEndpoint: concurrent requests of different clients never get the same port; the range runs out cleanly', async () => {
  const { service } = await setup();
  const results = await Promise.all([1, 2, 3, 4, 5].map((n) =>
    service.mapEndpoint(req({ internalClient: `192.168.1.${20 + n}`, requester: `192.168.1.${20 + n}`, externalPort: 0 }), 'preferred')));
  const ports = results.filter((r) => r.ok).map((r) => (r.ok ? r.mapping.externalPort : 0));
  assert.deepEqual([...ports].sort(), [40000, 40001, 40002, 40003]);
  assert.deepEqual(results.filter((r) => !r.ok).map(outcome), ['no-port-maps-available']);
});

test('mapEndpoint: concurrent requests of one endpoint make one mapping', async () => {
  const { service } = await setup();
  const results = await Promise.all([0, 1, 2].map(() => service.mapEndpoint(req({ externalPort: 0 }), 'preferred')));
  assert.deepEqual(results.map((r) => (r.ok ? r.kind : r.reason)), ['create', 'renew', 'renew']);
  assert.equal(service.count(), 1);
});

test('allocate: skips ports held by a mapping of any remote host and wraps; the backend refusing a port moves on', async () => {
  const backend = new MemoryPortMappingBackend();
  backend.reservePort('TCP', 40001);
  const { service } = await setup({}, backend);
  assert.ok((await service.put(req({ protocol: 'TCP', externalPort: 40000, remoteHost: '198.51.100.7', origin: 'upnp' }))).ok);
  assert.equal(service.allocate(40000, 'TCP'), 40001);
  assert.equal(service.allocate(40000, 'UDP'), 40000, 'per protocol');
  assert.equal(service.allocate(40003, 'TCP'), 40003);
  const r = await service.mapEndpoint(req({ protocol: 'TCP', externalPort: 40000 }), 'preferred');
  assert.ok(r.ok && r.mapping.externalPort === 40002, 'the backend held 40001');
});

test('allocate: the nearest free port (+1, -1, +2, ...) within the range, skipping exclude; undefined when full', async () => {
  const { service } = await setup();
  for (const port of [40001, 40002]) assert.ok((await service.put(req({ protocol: 'TCP', externalPort: port, internalPort: port }))).ok);
  assert.equal(service.allocate(40001, 'TCP'), 40000, '+1 is held: -1');
  assert.equal(service.allocate(40001, 'TCP', new Set([40000])), 40003);
  assert.equal(service.allocate(1, 'TCP'), 1, 'a free preferred port outside the range is given');
  assert.equal(service.allocate(40002, 'TCP', new Set([40003])), 40000);
  assert.equal(service.allocate(40001, 'TCP', new Set([40000, 40003])), undefined);
  assert.equal(service.allocate(0, 'TCP'), 40000, 'no preference: the bottom of the range');
});

test('a PCP mapping answers another nonce with not-authorized and the mapping it keeps', async () => {
  const { service } = await setup();
  const nonce = '0123456789abcdef01234567';
  assert.ok((await service.mapEndpoint(req({ origin: 'pcp', nonce }), 'preferred')).ok);
  const stolen = await service.mapEndpoint(req({ origin: 'pcp', nonce: 'ffffffffffffffffffffffff' }), 'preferred');
  assert.ok(!stolen.ok && stolen.reason === 'not-authorized' && 'mapping' in stolen && stolen.mapping.nonce === nonce);
  assert.ok((await service.mapEndpoint(req({ origin: 'pcp', nonce }), 'preferred')).ok);
});

test('per-client limits count every protocol together', async () => {
  const { service } = await setup({ maxMappingsPerClient: 2 });
  assert.ok((await service.put(req({ origin: 'upnp', externalPort: 1 }))).ok);
  assert.ok((await service.mapEndpoint(req({ internalPort: 2 }), 'preferred')).ok);
  const full = await service.mapEndpoint(req({ internalPort: 3 }), 'preferred');
  assert.ok(!full.ok && full.reason === 'no-port-maps-available' && 'limit' in full && full.limit === 'per-client');
  assert.ok((await service.mapEndpoint(req({ internalClient: OTHER, requester: OTHER, internalPort: 3 }), 'preferred')).ok);
});

test('endpointMappings finds a client\'s mappings by internal port, or all of a protocol with port 0; expiry emits one change', async () => {
  const { service, clock, changes } = await setup();
  await service.mapEndpoint(req({ internalPort: 1, leaseSeconds: 10 }), 'preferred');
  await service.mapEndpoint(req({ internalPort: 2, leaseSeconds: 10 }), 'preferred');
  await service.mapEndpoint(req({ internalPort: 2, protocol: 'TCP' }), 'preferred');
  assert.equal(service.endpointMappings('UDP', HOST, 2).length, 1);
  assert.equal(service.endpointMappings('UDP', HOST, 0).length, 2);
  clock.advance(10_000);
  assert.equal(service.endpointMappings('UDP', HOST, 0).length, 0, 'due mappings count as gone');
  assert.equal((await service.expire()).length, 2);
  assert.deepEqual(changes.map((c) => `${c.kind}:${c.mappings.length}`), ['create:1', 'create:1', 'create:1', 'expire:2']);
});

// ---- journals written before origin/requester/nonce existed -----------------------------

const FIXTURES = fileURLToPath(new URL('../../test-fixtures/', import.meta.url));

/** SHA-256 of the fixture files as the code of commit cf64fcb wrote them: a changed fixture fails here. */
const FIXTURE_SHA256: Record<string, string> = {
  'store-v1/mappings.journal': '8b5075da104fea56eef8d8135bd9464c63eb2ac2adf614d84806c8d9d0965315',
  'store-v1-compacted/mappings.journal': '9f72ffd33a3c5b46532a84a7480f42ea5c205510f85131481eaafb137b5c6ebb',
  'store-v1-compacted/mappings.snapshot': '1ee783f4cf2e3b3fe952e06df0a54155a9bf999cb7da136390bac7e614d73ab1',
};

async function loadFixture(name: string): Promise<{ mappings: Awaited<ReturnType<FileMappingStore['load']>>; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'openigd-fixture-'));
  await cp(join(FIXTURES, name), dir, { recursive: true });
  const store = new FileMappingStore({ directory: dir });
  const mappings = await store.load();
  await store.close();
  return { mappings, dir };
}

test('the fixtures are the bytes the version before origin/requester wrote', async () => {
  for (const [file, sha] of Object.entries(FIXTURE_SHA256)) {
    const digest = createHash('sha256').update(await readFile(join(FIXTURES, file))).digest('hex');
    assert.equal(digest, sha, file);
  }
});

test('a journal written before origin/requester existed loads as UPnP mappings, and the table replays it', async () => {
  const { mappings, dir } = await loadFixture('store-v1');
  try {
    assert.deepEqual(mappings.map((m) => `${m.protocol}/${m.externalPort}/${m.remoteHost}>${m.internalPort}`),
      ['TCP/4662/>80', 'TCP/4664/>4665', 'TCP/4665/>4666', 'TCP/4666/>4667', 'UDP/4672/198.51.100.7>4673']);
    assert.ok(mappings.every((m) => m.origin === 'upnp' && m.requester === '' && m.nonce === undefined));
    const udp = mappings[4]!;
    assert.equal(udp.description, 'ünïcode "quoted"');
    assert.equal(udp.enabled, false);
    assert.equal(udp.expiresAtMs, 4102444800000);
    // The service replays it and writes new records with the new fields beside the old ones.
    const store = new FileMappingStore({ directory: dir });
    const service = new MappingService({}, { store, backend: new MemoryPortMappingBackend(), now: () => 1_800_000_000_000 });
    assert.equal((await service.start()).replayed, 5);
    assert.ok((await service.mapEndpoint(req(), 'preferred')).ok);
    await store.close();
    const reread = new FileMappingStore({ directory: dir });
    const all = await reread.load();
    await reread.close();
    assert.deepEqual(all.map((m) => m.origin), ['upnp', 'upnp', 'upnp', 'upnp', 'upnp', 'natpmp']);
    assert.equal(all[5]!.requester, HOST);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a compacted store (snapshot + journal) written before origin/requester existed loads', async () => {
  const { mappings, dir } = await loadFixture('store-v1-compacted');
  try {
    assert.deepEqual(mappings.map((m) => [m.protocol, m.externalPort, m.expiresAtMs, m.origin]),
      [['UDP', 5000, 4102444805000, 'upnp'], ['TCP', 5001, 0, 'upnp']]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the operator (admin API) maps and deletes past the clients\' access policy, but not past another protocol\'s key', async () => {
  const { service, store } = await setup({ clientsMapOnlyThemselves: true, rules: [{ action: 'deny', clients: `${HOST}/32` }], defaultAction: 'allow' });
  const asClient = await service.put(req({ origin: 'upnp', requester: OTHER }));
  assert.equal(outcome(asClient), 'not-authorized');
  const made = await service.put(req({ origin: 'admin', requester: 'admin', operator: true, leaseSeconds: 0 }));
  assert.ok(made.ok);
  assert.equal(made.mapping.origin, 'admin');
  assert.equal('operator' in made.mapping, false, 'operator is how it was asked, not part of the mapping');
  assert.deepEqual(store.data.get('UDP/5000/'), made.mapping);
  const upnp = await service.put(req({ origin: 'upnp', requester: HOST }));
  assert.ok(!upnp.ok && upnp.reason === 'conflict-with-other-mechanism' && 'heldBy' in upnp && upnp.heldBy === 'admin');
  assert.equal(outcome(await service.delete(req(), OTHER)), 'not-authorized');
  assert.equal(outcome(await service.delete(req(), 'admin', true)), 'ok');
  assert.equal(service.count(), 0);
});
