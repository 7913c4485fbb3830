/**
 * Fuzz properties of PCP, run by the suite (test/fuzz) and by `npm run fuzz`: random
 * bytes, well-formed requests with random fields and options, and those truncated,
 * padded past 1100 octets or bit-flipped, through decode and the engine. Nothing throws;
 * every datagram is a counted drop or an answer that is a well-formed PCP response to it.
 * `seen` counts the drop reasons and result codes reached (wire.fuzz.test.ts checks
 * that the generators reach them all).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PCP_DEFAULT_POLICY, answerPcp } from './engine.js';
import type {
  PcpContext, PcpExistingMapping, PcpMappingKey, PcpMappingTable, PcpOutcome, PcpTableMapRequest, PcpTablePeerEnd, PcpTablePeerRequest, PcpTableResult,
} from './engine.js';
import { PCP_DROP_REASON, PCP_RESULT } from './wire.js';

const HOST = '192.168.1.100';

/** Grants everything, remembers MAP mappings by key so renewals and nonce checks happen. */
class GrantingTable implements PcpMappingTable {
  readonly held = new Map<string, PcpExistingMapping>();
  private next = 40000;
  externalAddress(): string { return '203.0.113.2'; }
  find(key: PcpMappingKey): PcpExistingMapping | undefined {
    return this.held.get(`${key.protocol}/${key.internalAddress}/${key.internalPort}`);
  }
  map(r: PcpTableMapRequest): PcpTableResult {
    const port = r.suggestedExternalPort || this.next++;
    this.held.set(`${r.key.protocol}/${r.key.internalAddress}/${r.key.internalPort}`, {
      origin: 'pcp', nonce: r.nonce, externalAddress: '203.0.113.2', externalPort: port, remainingSeconds: r.lifetimeSeconds, filters: r.filters,
    });
    return { ok: true, externalAddress: '203.0.113.2', externalPort: port, lifetimeSeconds: r.lifetimeSeconds };
  }
  unmap(key: PcpMappingKey): { ok: true } {
    this.held.delete(`${key.protocol}/${key.internalAddress}/${key.internalPort}`);
    return { ok: true };
  }
  peer(r: PcpTablePeerRequest): PcpTableResult {
    return { ok: true, externalAddress: '203.0.113.2', externalPort: r.suggestedExternalPort || 50000, lifetimeSeconds: r.lifetimeSeconds };
  }
  endPeer(): PcpTablePeerEnd {
    return { ok: true, flow: { externalAddress: '203.0.113.2', externalPort: 50000 } };
  }
}

const BODY_BYTES: Record<number, number> = { 0: 0, 1: 36, 2: 56 };
const drops = new Map<string, number>();
const results = new Map<number, number>();
export const seen = { drops, results };

/** Answers `packet`, then checks the answer is a drop with a known reason or a well-formed response. */
async function check(packet: Uint8Array, ctx: PcpContext): Promise<void> {
  const copy = packet.slice();
  let out: PcpOutcome;
  try {
    out = await answerPcp(packet, ctx);
  } catch (e) {
    assert.fail(`threw ${String(e)} on ${Buffer.from(packet).toString('hex')}`);
  }
  assert.deepEqual(packet, copy, 'the request is only read');
  if (out.kind === 'drop') {
    assert.ok(Object.values(PCP_DROP_REASON).includes(out.reason));
    drops.set(out.reason, (drops.get(out.reason) ?? 0) + 1);
    return;
  }
  const b = out.bytes;
  const why = `reply ${Buffer.from(b).toString('hex')} to ${Buffer.from(packet).toString('hex')}`;
  assert.ok(b.length >= 24 && b.length <= 1100 && b.length % 4 === 0, why);
  assert.equal(b[0], 2, why);
  assert.equal(b[1], packet[1] | 0x80, why);
  assert.equal(b[2], 0, why);
  assert.equal(b[3], out.result, why);
  // This table refuses nothing: NO_RESOURCES could only be the engine catching its own throw.
  assert.notEqual(out.result, PCP_RESULT.NO_RESOURCES, why);
  assert.ok(out.result >= PCP_RESULT.SUCCESS && out.result <= PCP_RESULT.EXCESSIVE_REMOTE_PEERS, why);
  results.set(out.result, (results.get(out.result) ?? 0) + 1);
  if (out.result === PCP_RESULT.SUCCESS) {
    assert.ok(b.length >= 24 + BODY_BYTES[packet[1]], why);
    assert.deepEqual(b.subarray(12, 24), new Uint8Array(12), why);
  }
}

const client = fc.oneof(
  { weight: 8, arbitrary: fc.constant([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 100]) }, // the source
  { weight: 1, arbitrary: fc.constant([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]) },
  { weight: 1, arbitrary: fc.constant([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) },
);
/** MAP/PEER fields from small sets, so that requests meet each other's mappings (renewals, nonce clashes). */
const mappingFields = fc.record({
  nonce: fc.constantFrom(1, 2),
  internalPort: fc.constantFrom(0, 80, 8080),
  suggestedPort: fc.constantFrom(0, 80, 5351, 40000),
  remotePort: fc.constantFrom(0, 3333),
});
const option = fc.record({
  code: fc.oneof(fc.constantFrom(1, 2, 3, 0, 0x7e, 0x80, 0xff), fc.integer({ min: 0, max: 255 })),
  data: fc.oneof(
    fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.constant(new Uint8Array(0)),
    fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.uint8Array({ maxLength: 40 }),
  ),
  lengthDelta: fc.constantFrom(0, 0, 0, 0, -1, 1, 4, 300),
});

/** A version-2 request with a random opcode, fields and options: most reach the engine's logic. */
const structured = fc.record({
  opcode: fc.oneof(fc.constantFrom(0, 1, 1, 2), fc.integer({ min: 0, max: 255 })),
  lifetime: fc.oneof(fc.constantFrom(0, 1, 120, 3600, 0xffffffff), fc.nat()),
  client,
  body: fc.uint8Array({ minLength: 56, maxLength: 56 }),
  protocol: fc.constantFrom(0, 6, 17, 17, 1),
  fields: fc.option(mappingFields, { freq: 4 }),
  options: fc.array(option, { maxLength: 5 }),
}).map((r) => {
  const bodyBytes = BODY_BYTES[r.opcode & 0x7f] ?? 0;
  const parts: number[] = [2, r.opcode, 0, 0, r.lifetime >>> 24, (r.lifetime >>> 16) & 0xff, (r.lifetime >>> 8) & 0xff, r.lifetime & 0xff, ...r.client];
  const body = [...r.body.subarray(0, bodyBytes)];
  if (bodyBytes > 0) body[12] = r.protocol;
  if (bodyBytes > 0 && r.fields !== null) {
    const f = r.fields;
    body.fill(f.nonce, 0, 12);
    body.splice(16, 4, f.internalPort >> 8, f.internalPort & 0xff, f.suggestedPort >> 8, f.suggestedPort & 0xff);
    body.splice(20, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0);
    if (bodyBytes === 56) body.splice(36, 2, f.remotePort >> 8, f.remotePort & 0xff);
  }
  parts.push(...body);
  for (const o of r.options) {
    const len = Math.max(0, o.data.length + o.lengthDelta);
    parts.push(o.code, 0, len >> 8, len & 0xff, ...o.data);
    while (parts.length % 4 !== 0) parts.push(0);
  }
  return Uint8Array.from(parts);
});

/** A structured request cut short, grown past 1100 octets, or with a few bits flipped. */
const damaged = fc.tuple(structured, fc.nat(), fc.constantFrom('truncate', 'grow', 'flip', 'odd')).map(([p, n, how]) => {
  if (how === 'truncate') return p.subarray(0, n % (p.length + 1));
  if (how === 'odd') return Uint8Array.from([...p, n & 0xff]);
  if (how === 'grow') {
    const big = new Uint8Array(1100 + 4 * (1 + (n % 100)));
    big.set(p);
    return big;
  }
  const out = p.slice();
  for (let i = 0; i < 3; i++) out[(n >>> (i * 7)) % out.length] ^= 1 << (n % 8);
  return out;
});

const thirdParty = { ...PCP_DEFAULT_POLICY, thirdPartyEnabled: true, allowThirdParty: () => true };

export const FUZZ = {
  'pcp: random bytes': () => {
    const table = new GrantingTable();
    return fc.asyncProperty(fc.uint8Array({ maxLength: 1200 }), (b) => check(b, { sourceAddress: HOST, epochSeconds: 5, table, policy: PCP_DEFAULT_POLICY }));
  },
  'pcp: well-formed requests with random fields and options': () => {
    const table = new GrantingTable();
    return fc.asyncProperty(structured, (b) => check(b, { sourceAddress: HOST, epochSeconds: 5, table, policy: thirdParty }));
  },
  'pcp: truncated, oversized and bit-flipped requests': () => {
    const table = new GrantingTable();
    return fc.asyncProperty(damaged, (b) => check(b, { sourceAddress: HOST, epochSeconds: 5, table, policy: PCP_DEFAULT_POLICY }));
  },
};
