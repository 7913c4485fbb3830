/**
 * The NAT-PMP engine over a real MappingService (in-memory store and backend), driven by
 * requests written from RFC 6886's figures: external address, map, renew, another port when
 * the suggested one is taken (also through UPnP), delete one and delete all, result codes,
 * the epoch, the access policy, version 2, and a fuzz run over the decoder and engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NatPmpEngine } from './natpmp-engine.js';
import { FUZZ, seen } from './natpmp-engine.fuzz.js';
import { MappingService } from '../mapping/mapping-service.js';
import type { AccessPolicy } from '../mapping-rules.js';
import { MemoryPortMappingBackend, ManualClock, MemoryMappingStore } from '../testing/index.js';

const HOST = '192.168.1.10';
const OTHER = '192.168.1.11';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/** A §3.3 request: version 0, op, reserved, internal port, suggested external port, lifetime. */
function mapRequest(op: 1 | 2, internalPort: number, suggested: number, lifetime: number): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint8(1, op);
  v.setUint16(4, internalPort);
  v.setUint16(6, suggested);
  v.setUint32(8, lifetime);
  return b;
}

/** A §3.3 response's fields. */
function mapAnswer(b: Uint8Array | undefined) {
  assert.ok(b, 'an answer');
  assert.equal(b.length, 16);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { op: v.getUint8(1), result: v.getUint16(2), epoch: v.getUint32(4), internal: v.getUint16(8), external: v.getUint16(10), lifetime: v.getUint32(12) };
}

async function setup(policy: AccessPolicy = {}) {
  const clock = new ManualClock();
  let monotonicMs = 5_000;
  const backend = new MemoryPortMappingBackend({ externalAddress: '203.0.113.7' });
  const service = new MappingService({ policy }, { store: new MemoryMappingStore(), backend, now: clock.now });
  await service.start();
  const engine = new NatPmpEngine({ lan: '192.168.1.0/24' }, { mappings: service, monotonicNow: () => monotonicMs });
  const advance = (ms: number): void => {
    monotonicMs += ms;
    clock.advance(ms);
  };
  return { service, backend, engine, advance, clock };
}

test('op 0 answers the external address and the seconds since the epoch; none yet: result 3 and 0.0.0.0', async () => {
  const { engine, backend, advance } = await setup();
  advance(3_500);
  assert.equal(Buffer.from((await engine.handle(hex('0000'), HOST))!).toString('hex'), '00800000' + '00000003' + 'cb007107');
  backend.setExternalAddress('');
  assert.equal(Buffer.from((await engine.handle(hex('0000'), HOST))!).toString('hex'), '00800003' + '00000003' + '00000000');
});

test('map: the suggested port when free, recorded as NAT-PMP for the source address; a retry gets the same answer', async () => {
  const { engine, service, backend } = await setup();
  const a = mapAnswer(await engine.handle(mapRequest(2, 8080, 18080, 7200), HOST));
  assert.deepEqual(a, { op: 130, result: 0, epoch: 0, internal: 8080, external: 18080, lifetime: 7200 });
  const m = service.get({ remoteHost: '', externalPort: 18080, protocol: 'TCP' });
  assert.equal(m?.origin, 'natpmp');
  assert.equal(m?.internalClient, HOST);
  assert.equal(m?.requester, HOST);
  assert.equal(backend.rule({ remoteHost: '', externalPort: 18080, protocol: 'TCP' })?.internalPort, 8080);
  // A lost answer: the retransmission (or a renewal suggesting another port) returns the same mapping.
  assert.equal(mapAnswer(await engine.handle(mapRequest(2, 8080, 18080, 7200), HOST)).external, 18080);
  assert.equal(mapAnswer(await engine.handle(mapRequest(2, 8080, 0, 3600), HOST)).external, 18080);
  assert.equal(service.count(), 1);
  // UDP is its own mapping (§3.3: MUST NOT create the other protocol's).
  assert.equal(mapAnswer(await engine.handle(mapRequest(1, 8080, 18080, 60), HOST)).external, 18080);
  assert.equal(service.count(), 2);
});

test('a port taken (by another client, or through UPnP) gets another port; the companion port is reserved', async () => {
  const { engine, service } = await setup();
  assert.equal(mapAnswer(await engine.handle(mapRequest(1, 5000, 5000, 60), HOST)).external, 5000);
  const other = mapAnswer(await engine.handle(mapRequest(1, 5000, 5000, 60), OTHER));
  assert.equal(other.result, 0);
  assert.notEqual(other.external, 5000);
  // TCP 5000 is HOST's companion: OTHER may not take it, HOST may.
  assert.notEqual(mapAnswer(await engine.handle(mapRequest(2, 5000, 5000, 60), OTHER)).external, 5000);
  assert.equal(mapAnswer(await engine.handle(mapRequest(2, 5000, 5000, 60), HOST)).external, 5000);
  assert.ok((await service.put({ remoteHost: '', externalPort: 6000, protocol: 'UDP', internalPort: 6000, internalClient: OTHER,
    enabled: true, description: 'upnp', leaseSeconds: 0, origin: 'upnp', requester: OTHER })).ok);
  const moved = mapAnswer(await engine.handle(mapRequest(1, 6000, 6000, 60), HOST));
  assert.equal(moved.result, 0);
  assert.notEqual(moved.external, 6000);
  assert.equal(service.get({ remoteHost: '', externalPort: 6000, protocol: 'UDP' })?.origin, 'upnp', 'the UPnP mapping stays');
});

test('the lifetime granted is never more than asked, and at most a day', async () => {
  const { engine } = await setup();
  assert.equal(mapAnswer(await engine.handle(mapRequest(1, 1, 0, 1), HOST)).lifetime, 1);
  assert.equal(mapAnswer(await engine.handle(mapRequest(1, 2, 0, 0xffffffff), HOST)).lifetime, 86_400);
});

test('lifetime 0 deletes: one port (absent is success too), or with internal port 0 all of the client\'s of that protocol', async () => {
  const { engine, service } = await setup();
  for (const port of [1000, 1001, 1002]) await engine.handle(mapRequest(1, port, port, 60), HOST);
  await engine.handle(mapRequest(2, 1000, 1000, 60), HOST);
  await engine.handle(mapRequest(1, 1000, 1000, 60), OTHER);
  assert.deepEqual(mapAnswer(await engine.handle(mapRequest(1, 1001, 0, 0), HOST)),
    { op: 129, result: 0, epoch: 0, internal: 1001, external: 0, lifetime: 0 });
  assert.equal(mapAnswer(await engine.handle(mapRequest(1, 1001, 0, 0), HOST)).result, 0, 'a repeated delete answers the same');
  assert.deepEqual(mapAnswer(await engine.handle(mapRequest(1, 0, 0, 0), HOST)),
    { op: 129, result: 0, epoch: 0, internal: 0, external: 0, lifetime: 0 });
  assert.deepEqual(service.list().map((m) => `${m.protocol}/${m.internalClient}/${m.internalPort}`).sort(),
    [`TCP/${HOST}/1000`, `UDP/${OTHER}/1000`]);
});

test('a port mapped through UPnP is not NAT-PMP\'s to delete: result 2', async () => {
  const { engine, service } = await setup();
  await service.put({ remoteHost: '', externalPort: 7000, protocol: 'TCP', internalPort: 7000, internalClient: HOST,
    enabled: true, description: 'upnp', leaseSeconds: 0, origin: 'upnp', requester: HOST });
  assert.equal(mapAnswer(await engine.handle(mapRequest(2, 7000, 0, 0), HOST)).result, 2);
  assert.equal(mapAnswer(await engine.handle(mapRequest(2, 0, 0, 0), HOST)).result, 0);
  assert.equal(service.count(), 1);
});

test('result codes: rules deny → 2, limits → 4, no external address → 3, internal port 0 → 2', async () => {
  const { engine, backend } = await setup({ rules: [{ action: 'deny', clients: `${OTHER}/32` }], maxMappingsPerClient: 1 });
  assert.equal(mapAnswer(await engine.handle(mapRequest(1, 1, 0, 60), OTHER)).result, 2);
  assert.equal(mapAnswer(await engine.handle(mapRequest(1, 1, 0, 60), HOST)).result, 0);
  const full = mapAnswer(await engine.handle(mapRequest(1, 2, 0, 60), HOST));
  assert.deepEqual([full.result, full.internal, full.external, full.lifetime], [4, 2, 0, 0]);
  assert.equal(mapAnswer(await engine.handle(mapRequest(1, 0, 0, 60), HOST)).result, 2);
  backend.setExternalAddress('');
  assert.equal(mapAnswer(await engine.handle(mapRequest(2, 3, 0, 60), HOST)).result, 3);
});

test('unsupported version (also 2, PCP, without a PCP engine) → result 1; unknown opcode echoed with 5; responses and strangers dropped', async () => {
  const { engine, advance } = await setup();
  advance(2_000);
  assert.equal(Buffer.from((await engine.handle(hex('0100'), HOST))!).toString('hex'), '00800001' + '00000002');
  const pcpAnnounce = new Uint8Array(24);
  pcpAnnounce[0] = 2;
  assert.equal(Buffer.from((await engine.handle(pcpAnnounce, HOST))!).toString('hex'), '00800001' + '00000002');
  assert.equal(Buffer.from((await engine.handle(hex('0003 abcd'), HOST))!).toString('hex'), '0083' + '0005');
  assert.equal(await engine.handle(hex('0080 0000 00000000 00000000'), HOST), undefined);
  assert.equal(await engine.handle(hex('0000'), '10.0.0.1'), undefined);
  assert.equal(await engine.handle(hex('00'), HOST), undefined);
  const s = engine.stats();
  assert.deepEqual([s.drops.response, s.drops['not-lan'], s.drops.short, s.pcp], [1, 1, 1, 1]);
  assert.deepEqual(s.results, [0, 2, 0, 0, 0, 1]);
});

test('version 2 goes to the PCP hook with the datagram, its source and this epoch', async () => {
  const { service, advance } = await setup();
  const seen: Array<[number, string, number]> = [];
  const engine = new NatPmpEngine({ lan: '192.168.1.0/24' }, {
    mappings: service, monotonicNow: () => 0,
    pcp: (datagram, source, epoch) => {
      seen.push([datagram.length, source, epoch]);
      return Promise.resolve(Uint8Array.of(2, 0x80));
    },
  });
  advance(1);
  const announce = new Uint8Array(24);
  announce[0] = 2;
  assert.deepEqual(await engine.handle(announce, HOST), Uint8Array.of(2, 0x80));
  assert.deepEqual(seen, [[24, HOST, 0]]);
  assert.equal(engine.stats().pcp, 1);
});

test('the epoch counts seconds and restarts at 0 on resetEpoch (an external address change)', async () => {
  const { engine, advance } = await setup();
  advance(10_999);
  assert.equal(engine.epochSeconds(), 10);
  engine.resetEpoch();
  assert.equal(engine.epochSeconds(), 0);
  advance(1_000);
  assert.equal(Buffer.from(engine.announcement()).toString('hex'), '00800000' + '00000001' + 'cb007107');
});

test('the fuzz property (natpmp-engine.fuzz.ts; 10,000 cases in test/fuzz) reaches answers, not only drops', async () => {
  const before = seen.answered;
  await fc.assert(FUZZ['natpmp: random, truncated and oversized datagrams'](), { numRuns: 2000, seed: 6886 });
  assert.ok(seen.answered - before > 100, `answered ${seen.answered - before} of 2000`);
});
