/**
 * Fuzz properties of the SOAP request parser, run by the suite (test/fuzz) and by `npm
 * run fuzz`: random bodies with random SOAPACTION headers, a valid AddPortMapping cut
 * short with one byte changed, and a round trip: any arguments written into an envelope
 * (values escaped as our responses escape them) parse back to the same names and values.
 * `parseSoapRequest` never throws; it answers ok or a malformed / invalid-action reason.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { escapeXmlText, parseSoapRequest, type SoapParseResult } from './soap.js';
import { soapBody } from './testing/test-support.js';

const WANIP = 'urn:schemas-upnp-org:service:WANIPConnection:1';
const ARGS = [
  ['NewRemoteHost', ''], ['NewExternalPort', '4662'], ['NewProtocol', 'TCP'], ['NewInternalPort', '4662'],
  ['NewInternalClient', '192.168.1.10'], ['NewEnabled', '1'], ['NewPortMappingDescription', 'eMule &amp; co'], ['NewLeaseDuration', '0'],
] as const;
const GOOD = new TextEncoder().encode(soapBody(WANIP, 'AddPortMapping', ARGS));

function checkResult(r: SoapParseResult): void {
  if (r.ok) return;
  assert.ok(r.kind === 'malformed' || r.kind === 'invalid-action', JSON.stringify(r));
  assert.equal(typeof r.reason, 'string');
}

/** Text of characters XML allows, with the ones that need escaping and a few outside ASCII often. */
const text = fc.string({
  unit: fc.oneof(fc.char(), fc.constantFrom('&', '<', '>', '"', "'", '\r', '\n', '\t', ' ', 'é', '€', '😀', ']]>', '&amp;')),
  maxLength: 20,
});
const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,15}$/);

export const FUZZ = {
  'soap: random bodies and SOAPACTION headers': () => fc.property(
    fc.uint8Array({ maxLength: 600 }), fc.option(fc.string(), { nil: undefined }),
    (bytes, header) => checkResult(parseSoapRequest(bytes, header))),
  'soap: a valid request cut short and changed in one byte': () => fc.property(
    fc.nat(GOOD.length), fc.nat(GOOD.length - 1), fc.nat(255),
    (cut, at, byte) => {
      const mutated = GOOD.slice(0, cut);
      if (at < mutated.length) mutated[at] = byte;
      checkResult(parseSoapRequest(mutated, `"${WANIP}#AddPortMapping"`));
    }),
  'soap: request round trip (arguments written, then parsed)': () => fc.property(
    fc.uniqueArray(fc.tuple(name, text), { maxLength: 6, selector: ([n]) => n }), name, fc.constantFrom('s', 'SOAP-ENV', 'soap'),
    (args, action, prefix) => {
      const body = soapBody(WANIP, action, args.map(([n, v]) => [n, escapeXmlText(v)] as const), prefix);
      const r = parseSoapRequest(body, `"${WANIP}#${action}"`);
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.request.serviceType, WANIP);
      assert.equal(r.request.actionName, action);
      assert.deepEqual(r.request.badArgs, []);
      assert.deepEqual(r.request.args, new Map(args));
    }),
};
