/**
 * Fuzz properties of the DHCP codec, run by the suite (test/fuzz) and by `npm run fuzz`.
 * Random bytes (half of them given a valid fixed header and cookie, so the options are
 * read) never make `parseDhcp` throw: it returns one of its reasons or a message whose
 * fields are in range; a parsed message emitted again parses to the same message. And
 * any message `emitDhcp` is given, with options of any length, parses back equal.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DHCP_OPTION, dhcpBufferLength, emitDhcp, parseDhcp, type DhcpMessage, type DhcpMessageType } from './dhcp-message.js';

const REASONS = ['truncated', 'bad-op', 'bad-hardware', 'bad-cookie', 'bad-option', 'no-message-type'];
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });

function reEmitted(m: DhcpMessage): DhcpMessage | string {
  const buf = new Uint8Array(dhcpBufferLength(m));
  assert.equal(emitDhcp(m, buf), buf.length, 'emit fills the length it asked for');
  return parseDhcp(buf);
}

function checkMessage(m: DhcpMessage): void {
  assert.ok(m.op === 1 || m.op === 2);
  for (const n of [m.xid, m.ciaddr, m.yiaddr, m.siaddr, m.giaddr]) assert.ok(Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff);
  assert.ok(m.secs >= 0 && m.secs <= 0xffff && m.flags >= 0 && m.flags <= 0xffff);
  assert.equal(m.chaddr.length, 6);
  assert.ok(m.messageType >= 1 && m.messageType <= 8);
  for (const code of m.options.keys()) assert.ok(code !== DHCP_OPTION.pad && code !== DHCP_OPTION.end, `option ${code} kept`);
}

/** A fixed header with a valid op, hardware type, length and cookie over random bytes. */
function withHeader(b: Uint8Array, op: 1 | 2): Uint8Array {
  const out = new Uint8Array(Math.max(b.length, 240));
  out.set(b);
  out[0] = op; out[1] = 1; out[2] = 6;
  out.set([0x63, 0x82, 0x53, 0x63], 236);
  return out;
}

/** Options as a client or server writes them: code, length, value; maybe pads, maybe no end. */
const optionBytes = fc.array(fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 254 }), fc.uint8Array({ maxLength: 40 })).map(([c, v]) => [c, v.length, ...v]),
  fc.constant([DHCP_OPTION.messageType, 1, 1]), fc.constant([DHCP_OPTION.messageType, 1, 3]), fc.constant([DHCP_OPTION.pad]),
  fc.constant([DHCP_OPTION.end]), fc.uint8Array({ maxLength: 3 }).map((v) => [...v])), { maxLength: 12 });

const message: fc.Arbitrary<DhcpMessage> = fc.record({
  op: fc.constantFrom<1 | 2>(1, 2), xid: u32, secs: u16, flags: u16, ciaddr: u32, yiaddr: u32, siaddr: u32, giaddr: u32,
  chaddr: fc.uint8Array({ minLength: 6, maxLength: 6 }),
  messageType: fc.integer({ min: 1, max: 8 }).map((t) => t as DhcpMessageType),
  options: fc.array(fc.tuple(fc.integer({ min: 1, max: 254 }).filter((c) => c !== DHCP_OPTION.messageType), fc.oneof(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ maxLength: 600, size: 'max' }))), { maxLength: 6 })
    .map((entries) => new Map(entries)),
});

export const FUZZ = {
  'dhcp: random and header-shaped bytes': () => fc.property(
    fc.oneof(
      fc.uint8Array({ maxLength: 600 }),
      fc.tuple(fc.uint8Array({ maxLength: 240, size: 'max' }), fc.constantFrom<1 | 2>(1, 2), optionBytes)
        .map(([b, op, opts]) => { const h = withHeader(b, op).subarray(0, 240); const out = new Uint8Array(240 + opts.flat().length); out.set(h); out.set(opts.flat(), 240); return out; })),
    (bytes) => {
      const m = parseDhcp(bytes);
      if (typeof m === 'string') {
        assert.ok(REASONS.includes(m), m);
        return;
      }
      checkMessage(m);
      assert.deepEqual(reEmitted(m), m, 'a parsed message emitted again parses to the same');
    }),
  'dhcp: any message round-trips through emit and parse': () => fc.property(message, (m) => {
    // The parsed options hold the message type too.
    assert.deepEqual(reEmitted(m), { ...m, options: new Map([[DHCP_OPTION.messageType, Uint8Array.of(m.messageType)], ...m.options]) });
  }),
};
