/**
 * The PCP engine against an in-memory table: MAP new/renew/delete, nonces, static and
 * foreign mappings, PREFER_FAILURE, FILTER, THIRD_PARTY, ADDRESS_MISMATCH, PEER, ANNOUNCE,
 * lifetimes, and that every error leaves the table as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PCP_DEFAULT_POLICY, answerPcp, mergeFilters, nonceHex } from './engine.js';
import type {
  PcpContext, PcpExistingMapping, PcpMappingKey, PcpMappingTable, PcpOutcome, PcpPolicy, PcpTableMapRequest,
  PcpTableFailure, PcpTablePeerEnd, PcpTablePeerFlow, PcpTablePeerRequest, PcpTableRefusal, PcpTableResult,
} from './engine.js';
import { PCP_DROP_REASON, pcpResultName } from './wire.js';
import type { PcpFilter } from './wire.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const EXTERNAL = '203.0.113.2';
const HOST = '192.168.1.100';
const OTHER_HOST = '192.168.1.101';

interface Held {
  key: PcpMappingKey;
  origin: 'pcp' | 'static' | 'other';
  nonce: string | undefined;
  externalPort: number;
  lifetimeSeconds: number;
  filters: readonly PcpFilter[];
  requester: string;
}

/**
 * A mapping table in a Map, just enough to drive the engine: first free external port
 * from 40000, a suggestion honoured when free, `refusal` to make the next calls refuse.
 */
class FakeTable implements PcpMappingTable {
  external: string | undefined = EXTERNAL;
  readonly held = new Map<string, Held>();
  readonly peers: PcpTablePeerRequest[] = [];
  refusal: PcpTableRefusal | undefined;
  grantAtMostSeconds = Infinity;
  maps = 0;

  private id(k: PcpMappingKey): string {
    return `${k.protocol}/${k.internalAddress}/${k.internalPort}`;
  }
  externalAddress(): string | undefined {
    return this.external;
  }
  find(key: PcpMappingKey): PcpExistingMapping | undefined {
    const h = this.held.get(this.id(key));
    if (!h) return undefined;
    return { origin: h.origin, nonce: h.nonce, externalAddress: EXTERNAL, externalPort: h.externalPort, remainingSeconds: h.lifetimeSeconds, filters: h.filters };
  }
  private portFree(protocol: number, port: number, self: string): boolean {
    for (const [id, h] of this.held) if (id !== self && h.key.protocol === protocol && h.externalPort === port) return false;
    return true;
  }
  map(r: PcpTableMapRequest): PcpTableResult {
    this.maps++;
    if (this.refusal) return { ok: false, reason: this.refusal };
    const id = this.id(r.key);
    let port = r.suggestedExternalPort;
    if (port === 0 || !this.portFree(r.key.protocol, port, id)) {
      if (r.exactPort) return { ok: false, reason: 'cannot-provide-external' };
      port = 40000;
      while (!this.portFree(r.key.protocol, port, id)) port++;
    }
    const lifetimeSeconds = Math.min(r.lifetimeSeconds, this.grantAtMostSeconds);
    this.held.set(id, { key: r.key, origin: 'pcp', nonce: r.nonce, externalPort: port, lifetimeSeconds, filters: r.filters, requester: r.requester });
    return { ok: true, externalAddress: EXTERNAL, externalPort: port, lifetimeSeconds };
  }
  unmap(key: PcpMappingKey, nonce: string): { ok: true } | PcpTableFailure {
    const h = this.held.get(this.id(key));
    if (h && h.nonce !== nonce) return { ok: false, reason: 'not-authorized', remainingSeconds: h.lifetimeSeconds };
    this.held.delete(this.id(key));
    return { ok: true };
  }
  /** PEER flows by 5-tuple: the port, and the nonce and lifetime of the hold (none once ended). */
  readonly flows = new Map<string, { externalPort: number; nonce: string | undefined; lifetimeSeconds: number }>();
  private flowId(r: PcpTablePeerFlow): string {
    return `${this.id(r.key)}>${r.remotePeerAddress}:${r.remotePeerPort}`;
  }
  peer(r: PcpTablePeerRequest): PcpTableResult {
    if (this.refusal) return { ok: false, reason: this.refusal };
    this.peers.push(r);
    const flow = this.flows.get(this.flowId(r));
    if (flow?.nonce !== undefined && flow.nonce !== r.nonce) return { ok: false, reason: 'not-authorized', remainingSeconds: flow.lifetimeSeconds };
    const externalPort = flow?.externalPort ?? (r.suggestedExternalPort || 50000);
    this.flows.set(this.flowId(r), { externalPort, nonce: r.nonce, lifetimeSeconds: r.lifetimeSeconds });
    return { ok: true, externalAddress: EXTERNAL, externalPort, lifetimeSeconds: r.lifetimeSeconds };
  }
  endPeer(r: PcpTablePeerFlow): PcpTablePeerEnd {
    const flow = this.flows.get(this.flowId(r));
    if (flow === undefined) return { ok: true, flow: undefined };
    if (flow.nonce !== undefined && flow.nonce !== r.nonce) return { ok: false, reason: 'not-authorized', remainingSeconds: flow.lifetimeSeconds };
    flow.nonce = undefined;
    flow.lifetimeSeconds = 0;
    return { ok: true, flow: { externalAddress: EXTERNAL, externalPort: flow.externalPort } };
  }
  add(h: Partial<Held> & { key: PcpMappingKey; externalPort: number }): void {
    this.held.set(this.id(h.key), { origin: 'pcp', nonce: undefined, lifetimeSeconds: 600, filters: [], requester: h.key.internalAddress, ...h });
  }
  snapshot(): string {
    return JSON.stringify([...this.held.values()]);
  }
}

const NONCE = '0102030405060708090a0b0c';
const OTHER_NONCE = 'ffffffffffffffffffffffff';

function address(a: string): string {
  if (a === '') return '00000000000000000000ffff00000000';
  if (a.includes(':')) return '20010db8000000000000000000000001'; // the one IPv6 address these tests use
  return `00000000000000000000ffff${a.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('')}`;
}
const u16 = (n: number): string => n.toString(16).padStart(4, '0');
const u32 = (n: number): string => n.toString(16).padStart(8, '0');

interface MapFields {
  lifetime?: number; client?: string; nonce?: string; protocol?: number; internalPort?: number;
  suggestedPort?: number; suggestedAddress?: string; options?: string;
}
/** A MAP request laid out as RFC 6887 Figures 2 and 9 (defaults: TCP 8080 → 8080 for 3600 s). */
function mapPacket(f: MapFields = {}): Uint8Array {
  return hex(`02 01 0000 ${u32(f.lifetime ?? 3600)} ${address(f.client ?? HOST)} ${f.nonce ?? NONCE}` +
    ` ${(f.protocol ?? 6).toString(16).padStart(2, '0')} 000000 ${u16(f.internalPort ?? 8080)} ${u16(f.suggestedPort ?? 8080)}` +
    ` ${address(f.suggestedAddress ?? '')} ${f.options ?? ''}`);
}
/** A PEER request (Figure 11): UDP 5000 → 198.51.100.16:3333 by default. */
function peerPacket(f: MapFields & { remotePort?: number } = {}): Uint8Array {
  return hex(`02 02 0000 ${u32(f.lifetime ?? 120)} ${address(f.client ?? HOST)} ${f.nonce ?? NONCE}` +
    ` ${(f.protocol ?? 17).toString(16).padStart(2, '0')} 000000 ${u16(f.internalPort ?? 5000)} ${u16(f.suggestedPort ?? 0)}` +
    ` ${address(f.suggestedAddress ?? '')} ${u16(f.remotePort ?? 3333)} 0000 ${address('198.51.100.16')} ${f.options ?? ''}`);
}
const THIRD_PARTY = (a: string): string => `01 00 0010 ${address(a)}`;
const PREFER_FAILURE = '02 00 0000';
const FILTER = (prefix: number, port: number, a: string): string => `03 00 0014 00 ${prefix.toString(16).padStart(2, '0')} ${u16(port)} ${address(a)}`;

function ctx(table: FakeTable, over: Partial<PcpContext> = {}, policy: Partial<PcpPolicy> = {}): PcpContext {
  return { sourceAddress: HOST, epochSeconds: 1000, table, policy: { ...PCP_DEFAULT_POLICY, ...policy }, ...over };
}

/** The reply's result name, lifetime, assigned port and address; asserts there was a reply. */
function reply(o: PcpOutcome): { result: string; lifetime: number; epoch: number; port: number; address: string; bytes: Uint8Array } {
  assert.equal(o.kind, 'reply');
  const b = (o as { bytes: Uint8Array }).bytes;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.equal(b[0], 2);
  assert.equal(b[1] & 0x80, 0x80, 'R bit');
  assert.equal(pcpResultName(b[3]), pcpResultName((o as { result: number }).result));
  return {
    result: pcpResultName(b[3]),
    lifetime: v.getUint32(4),
    epoch: v.getUint32(8),
    port: b.length >= 60 ? v.getUint16(42) : -1,
    address: b.length >= 60 ? Array.from(b.subarray(56, 60)).join('.') : '',
    bytes: b,
  };
}

test('MAP: a new mapping, byte-exact reply; the table gets a copy of the nonce and the requester', async () => {
  const t = new FakeTable();
  const packet = mapPacket();
  const out = await answerPcp(packet, ctx(t));
  assert.equal(toHex(reply(out).bytes), toHex(hex(
    `02 81 00 00 00000e10 000003e8 000000000000000000000000 ${NONCE} 06 000000 1f90 1f90 ${address(EXTERNAL)}`)));
  const h = t.held.get(`6/${HOST}/8080`);
  assert.ok(h);
  assert.equal(h.nonce, NONCE);
  assert.equal(h.requester, HOST);
  assert.equal(h.lifetimeSeconds, 3600);
});

test('MAP: renewal with the same nonce keeps the port and extends the lifetime, whatever port it suggests', async () => {
  const t = new FakeTable();
  reply(await answerPcp(mapPacket({ suggestedPort: 0 }), ctx(t)));
  t.held.get(`6/${HOST}/8080`)!.lifetimeSeconds = 10;
  const r = reply(await answerPcp(mapPacket({ suggestedPort: 9999, lifetime: 7200 }), ctx(t)));
  assert.deepEqual([r.result, r.port, r.lifetime], ['SUCCESS', 40000, 7200]);
  assert.equal(t.held.get(`6/${HOST}/8080`)!.lifetimeSeconds, 7200);
  assert.equal(t.held.size, 1);
});

test('MAP: another nonce for the same internal endpoint is NOT_AUTHORIZED with the time left, and steals nothing', async () => {
  const t = new FakeTable();
  reply(await answerPcp(mapPacket(), ctx(t)));
  t.held.get(`6/${HOST}/8080`)!.lifetimeSeconds = 1234;
  const before = t.snapshot();
  const r = reply(await answerPcp(mapPacket({ nonce: OTHER_NONCE }), ctx(t)));
  assert.deepEqual([r.result, r.lifetime, r.port], ['NOT_AUTHORIZED', 1234, 8080]);
  assert.equal(toHex(r.bytes.subarray(24, 36)), OTHER_NONCE, 'the error echoes the request');
  const del = reply(await answerPcp(mapPacket({ nonce: OTHER_NONCE, lifetime: 0 }), ctx(t)));
  assert.deepEqual([del.result, del.lifetime], ['NOT_AUTHORIZED', 1234]);
  assert.equal(t.snapshot(), before);
});

test('MAP delete: lifetime 0 removes it and reports its external port; deleting nothing is a success', async () => {
  const t = new FakeTable();
  reply(await answerPcp(mapPacket({ suggestedPort: 0 }), ctx(t)));
  const r = reply(await answerPcp(mapPacket({ lifetime: 0, suggestedPort: 0 }), ctx(t)));
  assert.deepEqual([r.result, r.lifetime, r.port, r.address], ['SUCCESS', 0, 40000, EXTERNAL]);
  assert.equal(t.held.size, 0);
  const again = reply(await answerPcp(mapPacket({ lifetime: 0, suggestedPort: 0 }), ctx(t)));
  assert.deepEqual([again.result, again.lifetime, again.port], ['SUCCESS', 0, 0]);
  const all = reply(await answerPcp(mapPacket({ lifetime: 0, protocol: 0, internalPort: 0, suggestedPort: 0 }), ctx(t)));
  assert.equal(all.result, 'SUCCESS');
});

test('MAP delete works without an external address', async () => {
  const t = new FakeTable();
  reply(await answerPcp(mapPacket(), ctx(t)));
  t.external = undefined;
  assert.equal(reply(await answerPcp(mapPacket({ lifetime: 0 }), ctx(t))).result, 'SUCCESS');
  assert.equal(t.held.size, 0);
});

test('MAP over a static mapping reports it (lifetime all ones) and changes nothing; deleting it is NOT_AUTHORIZED', async () => {
  const t = new FakeTable();
  t.add({ key: { protocol: 6, internalAddress: HOST, internalPort: 8080 }, origin: 'static', externalPort: 8443 });
  const before = t.snapshot();
  const r = reply(await answerPcp(mapPacket(), ctx(t)));
  assert.deepEqual([r.result, r.lifetime, r.port], ['SUCCESS', 0xffffffff, 8443]);
  assert.equal(toHex(r.bytes.subarray(24, 36)), NONCE);
  assert.equal(reply(await answerPcp(mapPacket({ lifetime: 0 }), ctx(t))).result, 'NOT_AUTHORIZED');
  assert.equal(t.snapshot(), before);
  assert.equal(t.maps, 0);
});

test('MAP over a mapping made through another protocol is NOT_AUTHORIZED, for renewal and delete alike', async () => {
  const t = new FakeTable();
  t.add({ key: { protocol: 17, internalAddress: HOST, internalPort: 8080 }, origin: 'other', externalPort: 8080 });
  const before = t.snapshot();
  assert.equal(reply(await answerPcp(mapPacket({ protocol: 17 }), ctx(t))).result, 'NOT_AUTHORIZED');
  assert.equal(reply(await answerPcp(mapPacket({ protocol: 17, lifetime: 0 }), ctx(t))).result, 'NOT_AUTHORIZED');
  assert.equal(t.snapshot(), before);
});

test('PREFER_FAILURE: the exact port when free; CANNOT_PROVIDE_EXTERNAL (short-lived) when not; a hint without it', async () => {
  const t = new FakeTable();
  t.add({ key: { protocol: 6, internalAddress: OTHER_HOST, internalPort: 80 }, externalPort: 8080 });
  const before = t.snapshot();
  const refused = reply(await answerPcp(mapPacket({ options: PREFER_FAILURE }), ctx(t)));
  assert.deepEqual([refused.result, refused.lifetime, refused.port], ['CANNOT_PROVIDE_EXTERNAL', 30, 8080]);
  assert.equal(t.snapshot(), before);
  const free = reply(await answerPcp(mapPacket({ suggestedPort: 8081, options: PREFER_FAILURE }), ctx(t)));
  assert.deepEqual([free.result, free.port], ['SUCCESS', 8081]);
  assert.equal(toHex(free.bytes.subarray(60)), '02000000', 'the option is echoed');
  const hint = reply(await answerPcp(mapPacket({ internalPort: 22 }), ctx(t)));
  assert.deepEqual([hint.result, hint.port], ['SUCCESS', 40000]);
});

test('PREFER_FAILURE: another external address, another port than the existing mapping, or UDP 5351 cannot be provided', async () => {
  const t = new FakeTable();
  const other = reply(await answerPcp(mapPacket({ suggestedAddress: '198.51.100.1', options: PREFER_FAILURE }), ctx(t)));
  assert.equal(other.result, 'CANNOT_PROVIDE_EXTERNAL');
  const ours = reply(await answerPcp(mapPacket({ suggestedAddress: EXTERNAL, options: PREFER_FAILURE }), ctx(t)));
  assert.deepEqual([ours.result, ours.port], ['SUCCESS', 8080]);
  const moved = reply(await answerPcp(mapPacket({ suggestedPort: 8090, options: PREFER_FAILURE }), ctx(t)));
  assert.deepEqual([moved.result, moved.port], ['CANNOT_PROVIDE_EXTERNAL', 8090]);
  assert.equal(t.held.get(`6/${HOST}/8080`)!.externalPort, 8080);
  const pcpPort = reply(await answerPcp(mapPacket({ protocol: 17, suggestedPort: 5351, options: PREFER_FAILURE }), ctx(t)));
  assert.equal(pcpPort.result, 'CANNOT_PROVIDE_EXTERNAL');
  const hinted = reply(await answerPcp(mapPacket({ protocol: 17, suggestedPort: 5350 }), ctx(t)));
  assert.deepEqual([hinted.result, hinted.port], ['SUCCESS', 40000]);
  const tcp = reply(await answerPcp(mapPacket({ internalPort: 9, suggestedPort: 5351, options: PREFER_FAILURE }), ctx(t)));
  assert.deepEqual([tcp.result, tcp.port], ['SUCCESS', 5351], 'only UDP 5350/5351 are the PCP ports');
});

test('MAP: a suggested external address other than ours, without PREFER_FAILURE, gets ours', async () => {
  const t = new FakeTable();
  const r = reply(await answerPcp(mapPacket({ suggestedAddress: '198.51.100.1' }), ctx(t)));
  assert.deepEqual([r.result, r.address], ['SUCCESS', EXTERNAL]);
});

test('FILTER: kept with the mapping, added to by later requests, cleared by prefix 0, left alone without FILTER', async () => {
  const t = new FakeTable();
  const key = `6/${HOST}/8080`;
  const r = reply(await answerPcp(mapPacket({ options: FILTER(120, 80, '198.51.100.0') }), ctx(t)));
  assert.equal(r.result, 'SUCCESS');
  assert.equal(toHex(r.bytes.subarray(60)), toHex(hex(FILTER(120, 80, '198.51.100.0'))));
  assert.deepEqual(t.held.get(key)!.filters, [{ prefixLength: 120, remotePort: 80, remoteAddress: '198.51.100.0' }]);
  reply(await answerPcp(mapPacket({ options: `${FILTER(128, 0, '198.51.100.9')} ${FILTER(120, 80, '198.51.100.0')}` }), ctx(t)));
  assert.equal(t.held.get(key)!.filters.length, 2);
  reply(await answerPcp(mapPacket(), ctx(t)));
  assert.equal(t.held.get(key)!.filters.length, 2);
  reply(await answerPcp(mapPacket({ options: `${FILTER(0, 0, '')} ${FILTER(128, 443, '198.51.100.7')}` }), ctx(t)));
  assert.deepEqual(t.held.get(key)!.filters, [{ prefixLength: 128, remotePort: 443, remoteAddress: '198.51.100.7' }]);
});

test('FILTER: more than the policy allows is EXCESSIVE_REMOTE_PEERS and changes nothing', async () => {
  const t = new FakeTable();
  reply(await answerPcp(mapPacket({ options: FILTER(128, 0, '198.51.100.1') }), ctx(t, {}, { maxFiltersPerMapping: 2 })));
  const before = t.snapshot();
  const r = reply(await answerPcp(mapPacket({ options: `${FILTER(128, 0, '198.51.100.2')} ${FILTER(128, 0, '198.51.100.3')}` }),
    ctx(t, {}, { maxFiltersPerMapping: 2 })));
  assert.deepEqual([r.result, r.lifetime], ['EXCESSIVE_REMOTE_PEERS', 1800]);
  assert.equal(t.snapshot(), before);
});

test('mergeFilters: adds, de-duplicates, clears on prefix 0, keeps the same array when nothing is sent', async () => {
  const a = { prefixLength: 128, remotePort: 0, remoteAddress: '198.51.100.1' };
  const b = { prefixLength: 120, remotePort: 80, remoteAddress: '198.51.100.0' };
  const current = [a];
  assert.equal(mergeFilters(current, []), current);
  assert.deepEqual(mergeFilters(current, [a, b, b]), [a, b]);
  assert.deepEqual(mergeFilters(current, [b, { prefixLength: 0, remotePort: 0, remoteAddress: '::' }]), [b]);
});

test('THIRD_PARTY: off by default (UNSUPP_OPTION); naming the sender is MALFORMED_REQUEST; the policy may refuse', async () => {
  const t = new FakeTable();
  const opt = { options: THIRD_PARTY(OTHER_HOST) };
  assert.equal(reply(await answerPcp(mapPacket(opt), ctx(t))).result, 'UNSUPP_OPTION');
  const on = { thirdPartyEnabled: true, allowThirdParty: (req: string, internal: string) => req === HOST && internal === OTHER_HOST };
  assert.equal(reply(await answerPcp(mapPacket({ options: THIRD_PARTY(HOST) }), ctx(t, {}, on))).result, 'MALFORMED_REQUEST');
  assert.equal(reply(await answerPcp(mapPacket({ options: THIRD_PARTY('192.168.1.102') }), ctx(t, {}, on))).result, 'NOT_AUTHORIZED');
  assert.equal(t.held.size, 0);
  const r = reply(await answerPcp(mapPacket(opt), ctx(t, {}, on)));
  assert.equal(r.result, 'SUCCESS');
  assert.equal(toHex(r.bytes.subarray(60)), toHex(hex(THIRD_PARTY(OTHER_HOST))));
  const h = t.held.get(`6/${OTHER_HOST}/8080`);
  assert.ok(h, 'keyed by the third party');
  assert.equal(h.requester, HOST);
  assert.equal(reply(await answerPcp(peerPacket(opt), ctx(t))).result, 'UNSUPP_OPTION');
});

test('ADDRESS_MISMATCH when the client address field is not the source; ::ffff: sources match', async () => {
  const t = new FakeTable();
  const r = reply(await answerPcp(mapPacket({ client: '10.0.0.5' }), ctx(t)));
  assert.deepEqual([r.result, r.lifetime], ['ADDRESS_MISMATCH', 1800]);
  assert.equal(reply(await answerPcp(mapPacket({ client: '2001:db8::1' }), ctx(t))).result, 'ADDRESS_MISMATCH');
  assert.equal(reply(await answerPcp(peerPacket({ client: '10.0.0.5' }), ctx(t))).result, 'ADDRESS_MISMATCH');
  assert.equal(t.held.size, 0);
  assert.equal(reply(await answerPcp(mapPacket(), ctx(t, { sourceAddress: `::ffff:${HOST}` }))).result, 'SUCCESS');
  assert.equal(reply(await answerPcp(mapPacket({ client: '2001:db8::1', internalPort: 1 }), ctx(t, { sourceAddress: '2001:db8::1' }))).result, 'SUCCESS');
});

test('NETWORK_FAILURE (short-lived) without an external address, for MAP and PEER', async () => {
  const t = new FakeTable();
  t.external = undefined;
  const r = reply(await answerPcp(mapPacket(), ctx(t)));
  assert.deepEqual([r.result, r.lifetime], ['NETWORK_FAILURE', 30]);
  assert.equal(reply(await answerPcp(peerPacket(), ctx(t))).result, 'NETWORK_FAILURE');
  assert.equal(t.held.size, 0);
  // Ending (lifetime 0) needs no address, as a MAP delete does not.
  assert.equal(reply(await answerPcp(peerPacket({ lifetime: 0 }), ctx(t))).result, 'SUCCESS');
  assert.equal(reply(await answerPcp(mapPacket({ lifetime: 0 }), ctx(t))).result, 'SUCCESS');
});

test('protocols: only TCP and UDP (UNSUPP_PROTOCOL); every port of a host is NOT_AUTHORIZED', async () => {
  const t = new FakeTable();
  assert.equal(reply(await answerPcp(mapPacket({ protocol: 1 }), ctx(t))).result, 'UNSUPP_PROTOCOL');
  assert.equal(reply(await answerPcp(mapPacket({ protocol: 0, internalPort: 0 }), ctx(t))).result, 'UNSUPP_PROTOCOL');
  assert.equal(reply(await answerPcp(mapPacket({ internalPort: 0 }), ctx(t))).result, 'NOT_AUTHORIZED');
  assert.equal(reply(await answerPcp(peerPacket({ protocol: 132 }), ctx(t))).result, 'UNSUPP_PROTOCOL');
  assert.equal(t.maps, 0);
});

test('table refusals map to their result codes and lifetimes', async () => {
  const cases: Array<[PcpTableRefusal, string, number]> = [
    ['not-authorized', 'NOT_AUTHORIZED', 1800],
    ['no-resources', 'NO_RESOURCES', 30],
    ['user-ex-quota', 'USER_EX_QUOTA', 30],
    ['cannot-provide-external', 'CANNOT_PROVIDE_EXTERNAL', 30],
    ['network-failure', 'NETWORK_FAILURE', 30],
    ['unsupp-protocol', 'UNSUPP_PROTOCOL', 1800],
  ];
  for (const [refusal, name, lifetime] of cases) {
    const t = new FakeTable();
    t.refusal = refusal;
    const r = reply(await answerPcp(mapPacket(), ctx(t)));
    assert.deepEqual([r.result, r.lifetime], [name, lifetime], refusal);
    assert.equal(reply(await answerPcp(peerPacket(), ctx(t))).result, name);
  }
});

test('lifetimes: raised to the minimum, cut to the maximum, and the table may grant less', async () => {
  const t = new FakeTable();
  assert.equal(reply(await answerPcp(mapPacket({ lifetime: 1 }), ctx(t))).lifetime, 120);
  assert.equal(reply(await answerPcp(mapPacket({ lifetime: 0xfffffffe }), ctx(t))).lifetime, 86400);
  t.grantAtMostSeconds = 600;
  assert.equal(reply(await answerPcp(mapPacket({ lifetime: 3600 }), ctx(t))).lifetime, 600);
  const custom = reply(await answerPcp(mapPacket({ lifetime: 10, internalPort: 1 }), ctx(t, {}, { minLifetimeSeconds: 60 })));
  assert.equal(custom.lifetime, 60);
});

const PEER_TAIL = `0d05 0000 ${address('198.51.100.16')}`;

test('PEER: byte-exact reply with the assigned port (the suggestion, when the table honours it); the table sees the flow', async () => {
  const t = new FakeTable();
  const r = reply(await answerPcp(peerPacket({ suggestedPort: 40001, lifetime: 1 }), ctx(t)));
  assert.equal(toHex(r.bytes), toHex(hex(
    `02 82 00 00 00000078 000003e8 000000000000000000000000 ${NONCE} 11 000000 1388 9c41 ${address(EXTERNAL)} ${PEER_TAIL}`)));
  const p = t.peers[0];
  assert.deepEqual([p.key, p.remotePeerAddress, p.remotePeerPort, p.lifetimeSeconds, p.requester, p.suggestedExternalPort],
    [{ protocol: 17, internalAddress: HOST, internalPort: 5000 }, '198.51.100.16', 3333, 120, HOST, 40001]);
  assert.equal(p.nonce, NONCE);
  // A renewal keeps the flow's port whatever it suggests now.
  assert.equal(reply(await answerPcp(peerPacket({ suggestedPort: 40002, lifetime: 600 }), ctx(t))).port, 40001);
});

test('PEER with another nonce while the hold lasts: NOT_AUTHORIZED with what it has left, the request echoed, the hold unchanged', async () => {
  const t = new FakeTable();
  reply(await answerPcp(peerPacket({ lifetime: 600, suggestedPort: 40001 }), ctx(t)));
  for (const lifetime of [3600, 0]) {
    const r = reply(await answerPcp(peerPacket({ lifetime, nonce: OTHER_NONCE, suggestedPort: 40005 }), ctx(t)));
    assert.equal(toHex(r.bytes), toHex(hex(
      `02 82 00 02 00000258 000003e8 000000000000000000000000 ${OTHER_NONCE} 11 000000 1388 9c45 ${address('')} ${PEER_TAIL}`)));
  }
  assert.deepEqual(t.flows.get(`17/${HOST}/5000>198.51.100.16:3333`), { externalPort: 40001, nonce: NONCE, lifetimeSeconds: 600 });
});

test('PEER lifetime 0 (§15): the hold ends, SUCCESS with lifetime 0 and the flow\'s port; again, or with no flow, still SUCCESS', async () => {
  const t = new FakeTable();
  reply(await answerPcp(peerPacket({ lifetime: 600, suggestedPort: 40001 }), ctx(t)));
  const r = reply(await answerPcp(peerPacket({ lifetime: 0 }), ctx(t)));
  assert.equal(toHex(r.bytes), toHex(hex(
    `02 82 00 00 00000000 000003e8 000000000000000000000000 ${NONCE} 11 000000 1388 9c41 ${address(EXTERNAL)} ${PEER_TAIL}`)));
  assert.equal(t.flows.get(`17/${HOST}/5000>198.51.100.16:3333`)?.nonce, undefined, 'no hold any more');
  assert.deepEqual([reply(await answerPcp(peerPacket({ lifetime: 0 }), ctx(t))).result], ['SUCCESS']);
  // With the hold gone, another client instance may hold the flow.
  assert.equal(reply(await answerPcp(peerPacket({ lifetime: 600, nonce: OTHER_NONCE }), ctx(t))).result, 'SUCCESS');
  const none = reply(await answerPcp(peerPacket({ lifetime: 0, internalPort: 5001, suggestedPort: 7 }), ctx(t)));
  assert.equal(toHex(none.bytes), toHex(hex(
    `02 82 00 00 00000000 000003e8 000000000000000000000000 ${NONCE} 11 000000 1389 0007 ${address('')} ${PEER_TAIL}`)));
  assert.equal(t.peers.length, 2, 'lifetime 0 never asks for a hold');
});

test('ANNOUNCE: a solicited one is answered SUCCESS with lifetime 0 and the epoch', async () => {
  const t = new FakeTable();
  const r = reply(await answerPcp(hex(`02 00 0000 00000e10 ${address(HOST)}`), ctx(t, { epochSeconds: 77 })));
  assert.equal(toHex(r.bytes), toHex(hex('02 80 0000 00000000 0000004d 000000000000000000000000')));
});

test('decode errors are answered with the policy\'s lifetimes; drops are returned with their reason', async () => {
  const t = new FakeTable();
  const v = reply(await answerPcp(hex(`01 01 0000 00000e10 ${address(HOST)}`), ctx(t)));
  assert.deepEqual([v.result, v.lifetime, v.epoch, v.bytes.length], ['UNSUPP_VERSION', 1800, 1000, 24]);
  const op = reply(await answerPcp(hex(`02 05 0000 00000e10 ${address(HOST)} 00000000`), ctx(t)));
  assert.deepEqual([op.result, op.bytes.length], ['UNSUPP_OPCODE', 28]);
  assert.deepEqual(await answerPcp(hex('02'), ctx(t)), { kind: 'drop', reason: PCP_DROP_REASON.tooShort });
  assert.deepEqual(await answerPcp(hex(`02 81 0000 00000e10 ${address(HOST)}`), ctx(t)), { kind: 'drop', reason: PCP_DROP_REASON.response });
  assert.deepEqual(await answerPcp(hex('02 01 0000 00000e10'), ctx(t)), { kind: 'drop', reason: PCP_DROP_REASON.headerTooShort });
});

test('nonceHex: 24 lowercase hex digits', () => {
  assert.equal(nonceHex(hex('00ff10a0 0b0c0d0e 0f1a2b3c')), '00ff10a00b0c0d0e0f1a2b3c');
});

test('an asynchronous table: the answer waits for the write', async () => {
  const t = new FakeTable();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const table: PcpMappingTable = {
    externalAddress: () => t.externalAddress(),
    find: (k) => t.find(k),
    map: async (r) => { await gate; return t.map(r); },
    unmap: async (k, n) => t.unmap(k, n),
    peer: async (r) => t.peer(r),
  };
  let answered = false;
  const pending = answerPcp(mapPacket(), ctx(t, { table })).then((o) => { answered = true; return o; });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(answered, false);
  release();
  assert.equal(reply(await pending).result, 'SUCCESS');
  assert.equal(reply(await answerPcp(mapPacket({ lifetime: 0 }), ctx(t, { table }))).result, 'SUCCESS');
  assert.equal(t.held.size, 0);
});

test('the table\'s own refusal under its lock: its remaining lifetime is answered; a throwing table is NO_RESOURCES', async () => {
  const t = new FakeTable();
  const racing: PcpMappingTable = {
    externalAddress: () => EXTERNAL,
    find: () => undefined, // looked free, but another request took the endpoint before the write
    map: () => ({ ok: false, reason: 'not-authorized', remainingSeconds: 77 }),
    unmap: () => ({ ok: true }),
    peer: () => { throw new Error('backend gone'); },
    endPeer: () => Promise.reject(new Error('backend gone')),
  };
  const r = reply(await answerPcp(mapPacket(), ctx(t, { table: racing })));
  assert.deepEqual([r.result, r.lifetime], ['NOT_AUTHORIZED', 77]);
  const p = reply(await answerPcp(peerPacket(), ctx(t, { table: racing })));
  assert.deepEqual([p.result, p.lifetime], ['NO_RESOURCES', 30]);
  assert.equal(reply(await answerPcp(peerPacket({ lifetime: 0 }), ctx(t, { table: racing }))).result, 'NO_RESOURCES');
  const rejecting = { ...racing, map: () => Promise.reject(new Error('disk full')) };
  assert.equal(reply(await answerPcp(mapPacket(), ctx(t, { table: rejecting }))).result, 'NO_RESOURCES');
});

test('delete: a nonce clash found by the table at write time is NOT_AUTHORIZED with its lifetime', async () => {
  const t = new FakeTable();
  reply(await answerPcp(mapPacket(), ctx(t)));
  const table: PcpMappingTable = { externalAddress: () => EXTERNAL, find: (k) => t.find(k), map: (r) => t.map(r), peer: (r) => t.peer(r),
    unmap: () => ({ ok: false, reason: 'not-authorized', remainingSeconds: 5 }) };
  const r = reply(await answerPcp(mapPacket({ lifetime: 0 }), ctx(t, { table })));
  assert.deepEqual([r.result, r.lifetime], ['NOT_AUTHORIZED', 5]);
  assert.equal(t.held.size, 1);
});

test('a table without peer() answers PEER with UNSUPP_OPCODE, the request echoed', async () => {
  const t = new FakeTable();
  const table: PcpMappingTable = { externalAddress: () => EXTERNAL, find: (k) => t.find(k), map: (r) => t.map(r), unmap: (k, n) => t.unmap(k, n) };
  const r = reply(await answerPcp(peerPacket(), ctx(t, { table })));
  assert.deepEqual([r.result, r.lifetime, r.bytes.length], ['UNSUPP_OPCODE', 1800, 80]);
  const halfway = reply(await answerPcp(peerPacket({ lifetime: 0 }), ctx(t, { table: { ...table, peer: (q) => t.peer(q) } })));
  assert.equal(halfway.result, 'UNSUPP_OPCODE', 'peer without endPeer is no PEER support');
  assert.equal(reply(await answerPcp(mapPacket(), ctx(t, { table }))).result, 'SUCCESS');
});
