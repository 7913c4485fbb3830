/**
 * The PCP engine over the real mapping service (MappingServicePcpTable): MAP new, renew
 * keeping FILTERs, delete, another protocol's endpoint, PREFER_FAILURE on a port held
 * through UPnP, another nonce, limits (USER_EX_QUOTA, NO_RESOURCES), igd.rules, and the
 * filters surviving a reload from the store; PEER through the backend's `peer` (and
 * UNSUPP_OPCODE without it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MappingService } from '../mapping/mapping-service.js';
import type { MappingRequest } from '../mapping/mapping-service.js';
import type { AccessPolicy } from '../mapping-rules.js';
import type { PeerFlowRequest, PortMappingBackend } from '../types.js';
import { MemoryPortMappingBackend, ManualClock, MemoryMappingStore } from '../testing/index.js';
import { PCP_DEFAULT_POLICY, answerPcp } from './engine.js';
import type { PcpOutcome } from './engine.js';
import { pcpResultName } from './wire.js';
import { MappingServicePcpTable } from './table.js';

const EXTERNAL = '203.0.113.1';
const HOST = '192.168.1.100';
const OTHER = '192.168.1.101';
const NONCE = '0102030405060708090a0b0c';
const OTHER_NONCE = 'ffffffffffffffffffffffff';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const u16 = (n: number): string => n.toString(16).padStart(4, '0');
const u32 = (n: number): string => n.toString(16).padStart(8, '0');
const v4 = (a: string): string => `00000000000000000000ffff${a.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('')}`;

/** A MAP request (RFC 6887 Figures 2 and 9), TCP by default. */
function mapPacket(f: { lifetime?: number; client?: string; nonce?: string; internalPort?: number; suggestedPort?: number; options?: string } = {}): Uint8Array {
  return hex(`02 01 0000 ${u32(f.lifetime ?? 3600)} ${v4(f.client ?? HOST)} ${f.nonce ?? NONCE} 06 000000`
    + ` ${u16(f.internalPort ?? 8080)} ${u16(f.suggestedPort ?? 8080)} ${v4('0.0.0.0')} ${f.options ?? ''}`);
}
const PREFER_FAILURE = '02 00 0000';
const FILTER = (prefix: number, port: number, a: string): string => `03 00 0014 00 ${prefix.toString(16).padStart(2, '0')} ${u16(port)} ${v4(a)}`;

function reply(o: PcpOutcome): { result: string; lifetime: number; port: number } {
  assert.equal(o.kind, 'reply');
  const b = (o as { bytes: Uint8Array }).bytes;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { result: pcpResultName(b[3]!), lifetime: v.getUint32(4), port: b.length >= 60 ? v.getUint16(42) : -1 };
}

/** A PEER request (RFC 6887 Figure 10): UDP `internalPort` → `remote`:3478. */
function peerPacket(f: { lifetime?: number; internalPort?: number; remote?: string; nonce?: string; suggestedPort?: number } = {}): Uint8Array {
  return hex(`02 02 0000 ${u32(f.lifetime ?? 600)} ${v4(HOST)} ${f.nonce ?? NONCE} 11 000000`
    + ` ${u16(f.internalPort ?? 5000)} ${u16(f.suggestedPort ?? 0)} ${v4('0.0.0.0')} ${u16(3478)} 0000 ${v4(f.remote ?? '198.51.100.7')}`);
}

type Flows = Pick<PortMappingBackend, 'peer' | 'endPeer'>;

async function setup(policy: AccessPolicy = {}, store = new MemoryMappingStore(), flows?: Flows) {
  const clock = new ManualClock();
  const backend = new MemoryPortMappingBackend({ externalAddress: EXTERNAL });
  if (flows !== undefined) Object.assign(backend, flows);
  const service = new MappingService({ policy, allocationRange: { minimum: 40000, maximum: 40009 } }, { store, backend, now: clock.now });
  await service.start();
  const table = new MappingServicePcpTable(service);
  const ask = async (packet: Uint8Array, sourceAddress = HOST) => reply(await answerPcp(packet, { sourceAddress, epochSeconds: 5, table, policy: PCP_DEFAULT_POLICY }));
  return { clock, backend, service, store, table, ask };
}

function upnp(over: Partial<MappingRequest> = {}): MappingRequest {
  return {
    remoteHost: '', externalPort: 8080, protocol: 'TCP', internalPort: 80, internalClient: OTHER, enabled: true,
    description: 'upnp', leaseSeconds: 0, origin: 'upnp', requester: OTHER, ...over,
  };
}

test('MAP new, renew with FILTER and without (the filters stay), delete with lifetime 0', async () => {
  const { service, backend, ask } = await setup();
  assert.deepEqual(await ask(mapPacket()), { result: 'SUCCESS', lifetime: 3600, port: 8080 });
  const [made] = service.list();
  assert.equal(made!.origin, 'pcp');
  assert.equal(made!.nonce, NONCE);
  assert.equal(made!.filters, undefined);

  assert.equal((await ask(mapPacket({ options: FILTER(128, 0, '198.51.100.7') }))).result, 'SUCCESS');
  assert.deepEqual(service.list()[0]!.filters, [{ prefixLength: 128, remotePort: 0, remoteAddress: '198.51.100.7' }]);
  assert.deepEqual(backend.calls.at(-1), { op: 'apply', mapping: service.list()[0] }, 'a filter change reaches the packet path');

  assert.equal((await ask(mapPacket({ suggestedPort: 9999 }))).port, 8080, 'a renewal keeps its port');
  assert.equal(service.list()[0]!.filters?.length, 1, 'a renewal without FILTER keeps them');
  assert.equal((await ask(mapPacket({ options: FILTER(0, 0, '0.0.0.0') }))).result, 'SUCCESS');
  assert.equal(service.list()[0]!.filters, undefined, 'prefix length 0 removes them');

  assert.deepEqual(await ask(mapPacket({ lifetime: 0 })), { result: 'SUCCESS', lifetime: 0, port: 8080 });
  assert.equal(service.count(), 0);
});

test('another nonce from the same client: NOT_AUTHORIZED with the lifetime left, the mapping kept', async () => {
  const { service, clock, ask } = await setup();
  await ask(mapPacket());
  clock.advance(600_000);
  assert.deepEqual(await ask(mapPacket({ nonce: OTHER_NONCE })), { result: 'NOT_AUTHORIZED', lifetime: 3000, port: 8080 });
  assert.deepEqual(await ask(mapPacket({ nonce: OTHER_NONCE, lifetime: 0 })), { result: 'NOT_AUTHORIZED', lifetime: 3000, port: 8080 });
  assert.equal(service.list()[0]!.nonce, NONCE);
});

test('a port held through UPnP: PREFER_FAILURE gets CANNOT_PROVIDE_EXTERNAL, without it another port', async () => {
  const { service, ask } = await setup();
  assert.ok((await service.put(upnp())).ok);
  assert.equal((await ask(mapPacket({ options: PREFER_FAILURE }))).result, 'CANNOT_PROVIDE_EXTERNAL');
  const moved = await ask(mapPacket());
  assert.equal(moved.result, 'SUCCESS');
  assert.notEqual(moved.port, 8080);
  assert.equal(service.count(), 2);
});

test('an internal endpoint mapped through another protocol is not PCP\'s: NOT_AUTHORIZED, untouched', async () => {
  const { service, ask } = await setup();
  assert.ok((await service.put(upnp({ internalClient: HOST, requester: HOST, internalPort: 8080 }))).ok);
  const before = JSON.stringify(service.list());
  assert.equal((await ask(mapPacket())).result, 'NOT_AUTHORIZED');
  assert.equal((await ask(mapPacket({ lifetime: 0 }))).result, 'NOT_AUTHORIZED');
  assert.equal(JSON.stringify(service.list()), before);
});

test('limits: the client\'s own is USER_EX_QUOTA, the table\'s NO_RESOURCES; a rule denying the client NOT_AUTHORIZED', async () => {
  const perClient = await setup({ maxMappingsPerClient: 1 });
  assert.equal((await perClient.ask(mapPacket())).result, 'SUCCESS');
  assert.equal((await perClient.ask(mapPacket({ internalPort: 8081, suggestedPort: 8081 }))).result, 'USER_EX_QUOTA');
  const table = await setup({ maxMappings: 1 });
  assert.ok((await table.service.put(upnp())).ok);
  assert.equal((await table.ask(mapPacket())).result, 'NO_RESOURCES');
  const ruled = await setup({ rules: [{ action: 'deny', clients: `${HOST}/32` }] });
  assert.equal((await ruled.ask(mapPacket())).result, 'NOT_AUTHORIZED');
  assert.equal(ruled.service.count(), 0);
});

test('nonce and filters survive a reload from the store; the renewal after it is recognised', async () => {
  const first = await setup();
  await first.ask(mapPacket({ options: FILTER(120, 443, '198.51.100.0') }));
  const again = await setup({}, first.store);
  const [m] = again.service.list();
  assert.equal(m!.nonce, NONCE);
  assert.deepEqual(m!.filters, [{ prefixLength: 120, remotePort: 443, remoteAddress: '198.51.100.0' }]);
  assert.deepEqual(await again.ask(mapPacket()), { result: 'SUCCESS', lifetime: 3600, port: 8080 });
  assert.equal(again.service.list()[0]!.filters?.length, 1);
});

test('PEER: the backend\'s flow, its port in the reply with the granted lifetime; nothing stored; refusals as result codes', async () => {
  const asked: PeerFlowRequest[] = [];
  const { ask, service, store } = await setup({}, new MemoryMappingStore(), {
    peer: (r) => {
      asked.push(r);
      if (r.remoteHost === '198.51.100.66') return { ok: false, reason: 'no-resources' };
      if (r.remoteHost === '198.51.100.67') return { ok: false, reason: 'invalid' };
      if (r.remoteHost === '198.51.100.68') return { ok: false, reason: 'held-by-other', remainingSeconds: 77 };
      return { ok: true, externalAddress: EXTERNAL, externalPort: 41000 };
    },
    endPeer: () => ({ ok: true, flow: undefined }),
  });
  assert.deepEqual(await ask(peerPacket({ lifetime: 600, suggestedPort: 41234 })), { result: 'SUCCESS', lifetime: 600, port: 41000 });
  assert.deepEqual(asked[0], {
    protocol: 'UDP', internalClient: HOST, internalPort: 5000, remoteHost: '198.51.100.7', remotePort: 3478, lifetimeSeconds: 600,
    nonce: NONCE, suggestedExternalPort: 41234,
  });
  assert.equal(service.count(), 0, 'a PEER flow is not a mapping of the service');
  assert.equal((await store.load()).length, 0, 'nor stored');
  assert.equal((await ask(peerPacket({ remote: '198.51.100.66' }))).result, 'NO_RESOURCES');
  assert.equal((await ask(peerPacket({ remote: '198.51.100.67' }))).result, 'NOT_AUTHORIZED');
  assert.deepEqual(await ask(peerPacket({ remote: '198.51.100.68' })), { result: 'NOT_AUTHORIZED', lifetime: 77, port: 0 });
});

test('PEER lifetime 0: the backend\'s endPeer with the nonce; the flow\'s port with lifetime 0, or the request echoed', async () => {
  const ended: unknown[] = [];
  const { ask } = await setup({}, new MemoryMappingStore(), {
    peer: () => ({ ok: false, reason: 'invalid' }),
    endPeer: (r) => {
      ended.push(r);
      if (r.remoteHost === '198.51.100.68') return { ok: false, reason: 'held-by-other', remainingSeconds: 9 };
      if (r.remoteHost === '198.51.100.69') return { ok: true, flow: undefined };
      return { ok: true, flow: { externalAddress: EXTERNAL, externalPort: 41000 } };
    },
  });
  assert.deepEqual(await ask(peerPacket({ lifetime: 0 })), { result: 'SUCCESS', lifetime: 0, port: 41000 });
  assert.deepEqual(ended[0], { protocol: 'UDP', internalClient: HOST, internalPort: 5000, remoteHost: '198.51.100.7', remotePort: 3478, nonce: NONCE });
  assert.deepEqual(await ask(peerPacket({ lifetime: 0, remote: '198.51.100.69', suggestedPort: 777 })), { result: 'SUCCESS', lifetime: 0, port: 777 });
  assert.deepEqual(await ask(peerPacket({ lifetime: 0, remote: '198.51.100.68' })), { result: 'NOT_AUTHORIZED', lifetime: 9, port: 0 });
});

test('PEER without a backend `peer`: UNSUPP_OPCODE', async () => {
  const { ask, table } = await setup();
  assert.equal(table.peer, undefined);
  assert.equal((await ask(peerPacket())).result, 'UNSUPP_OPCODE');
});
