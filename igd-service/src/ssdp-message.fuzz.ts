/**
 * Fuzz properties of the SSDP message parser, run by the suite (test/fuzz) and by `npm
 * run fuzz`: random datagrams, header-shaped text, a valid search with one byte changed
 * or cut short. Nothing throws; every drop names a known reason; a parsed message's
 * header names are lower case and its values trimmed. And an M-SEARCH written by
 * `formatSsdpSearch` parses back to its ST and MX.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SSDP_DROP_REASON, formatSsdpSearch, parseSsdpMessage } from './ssdp-message.js';

const REASONS = new Set<string>(Object.values(SSDP_DROP_REASON));
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

function checkParse(datagram: Uint8Array): void {
  const r = parseSsdpMessage(datagram);
  if (!r.ok) {
    assert.ok(REASONS.has(r.reason), r.reason);
    return;
  }
  for (const [name, value] of r.message.headers) {
    assert.equal(name, name.toLowerCase());
    assert.equal(value, value.trim());
  }
}

const line = fc.oneof(
  fc.constantFrom('HOST: 239.255.255.250:1900', 'MAN: "ssdp:discover"', 'MX: 1', 'ST: ssdp:all', 'ST:', 'MX: x', ': :', ''),
  fc.string({ maxLength: 80 }),
  fc.fullUnicodeString({ maxLength: 40 }),
);
const VALID = bytes(formatSsdpSearch({ st: 'ssdp:all', mx: 1 }));
/** An ST as control points send them: a token-ish URN or uuid, no spaces or control bytes. */
const st = fc.stringMatching(/^[A-Za-z0-9:._-]{1,100}$/);

export const FUZZ = {
  'ssdp: random datagrams': () => fc.property(fc.uint8Array({ maxLength: 10_000 }), checkParse),
  'ssdp: header-shaped text': () => fc.property(
    fc.constantFrom('M-SEARCH * HTTP/1.1', 'NOTIFY * HTTP/1.1', 'HTTP/1.1 200 OK', 'M-SEARCH * HTTP/1.0', ''),
    fc.array(line, { maxLength: 80 }), fc.constantFrom('\r\n', '\n'),
    (start, headers, eol) => checkParse(bytes([start, ...headers, '', ''].join(eol)))),
  'ssdp: a valid search changed in one byte or cut short': () => fc.property(fc.nat(VALID.length - 1), fc.nat(255), (at, value) => {
    const b = VALID.slice();
    b[at] = value;
    checkParse(b);
    checkParse(VALID.subarray(0, at));
  }),
  'ssdp: M-SEARCH round trip (formatSsdpSearch → parse)': () => fc.property(st, fc.integer({ min: 1, max: 120 }), (target, mx) => {
    const r = parseSsdpMessage(bytes(formatSsdpSearch({ st: target, mx })));
    assert.ok(r.ok && r.message.kind === 'search', JSON.stringify(r));
    assert.deepEqual(r.message.search, { st: target, mx, multicast: true });
  }),
};
