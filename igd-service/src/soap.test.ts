/**
 * SOAP parsing (any envelope prefix, quoted or unquoted SOAPACTION, DTDs refused, corrupt
 * input never throws) and the exact bytes of a response and of a UPnP fault.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UPNP_ERROR } from './faults.js';
import { SaxesParser } from 'saxes';
import {
  buildSoapFault, buildSoapResponse, escapeXmlText, parseEnvelopeWithSaxes, parsePlainEnvelope, parseSoapActionHeader, parseSoapRequest,
  repairBareMarkup,
} from './soap.js';
import { soapBody } from './testing/index.js';

const WANIP = 'urn:schemas-upnp-org:service:WANIPConnection:1';
const ADD = `"${WANIP}#AddPortMapping"`;
const ARGS = [
  ['NewRemoteHost', ''], ['NewExternalPort', '4662'], ['NewProtocol', 'TCP'], ['NewInternalPort', '4662'],
  ['NewInternalClient', '192.168.1.10'], ['NewEnabled', '1'], ['NewPortMappingDescription', 'eMule &amp; co'],
  ['NewLeaseDuration', '0'],
] as const;

test('any envelope prefix: s, SOAP-ENV, a default namespace', () => {
  for (const prefix of ['s', 'SOAP-ENV', 'soap']) {
    const r = parseSoapRequest(soapBody(WANIP, 'AddPortMapping', ARGS, prefix), ADD);
    assert.ok(r.ok, prefix);
    assert.equal(r.request.serviceType, WANIP);
    assert.equal(r.request.actionName, 'AddPortMapping');
    assert.equal(r.request.args.get('NewPortMappingDescription'), 'eMule & co');
    assert.equal(r.request.args.get('NewRemoteHost'), '');
    assert.equal(r.request.args.size, 8);
  }
  const defaultNs = '<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>'
    + `<GetExternalIPAddress xmlns="${WANIP}"/></Body></Envelope>`;
  const r = parseSoapRequest(defaultNs, `${WANIP}#GetExternalIPAddress`);
  assert.ok(r.ok);
  assert.equal(r.request.args.size, 0);
});

test('SOAPACTION quoted or unquoted; missing, malformed or disagreeing → invalid-action', () => {
  assert.deepEqual(parseSoapActionHeader(ADD), { serviceType: WANIP, actionName: 'AddPortMapping' });
  assert.deepEqual(parseSoapActionHeader(` ${WANIP}#AddPortMapping `), { serviceType: WANIP, actionName: 'AddPortMapping' });
  assert.equal(parseSoapActionHeader('"#AddPortMapping"'), undefined);
  assert.equal(parseSoapActionHeader(`"${WANIP}#"`), undefined);
  assert.equal(parseSoapActionHeader(undefined), undefined);
  const body = soapBody(WANIP, 'AddPortMapping', ARGS);
  for (const header of [undefined, '', `"${WANIP}#DeletePortMapping"`, '"urn:schemas-upnp-org:service:WANIPConnection:2#AddPortMapping"']) {
    const r = parseSoapRequest(body, header);
    assert.equal(r.ok ? 'ok' : r.kind, 'invalid-action', String(header));
  }
  assert.equal(parseSoapRequest(body, `${WANIP}#AddPortMapping`).ok, true);
});

test('arguments: CDATA, prefixed arguments, duplicates and structured values are reported', () => {
  const body = (inner: string): string => '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
    + `<u:DeletePortMapping xmlns:u="${WANIP}">${inner}</u:DeletePortMapping></s:Body></s:Envelope>`;
  const header = `${WANIP}#DeletePortMapping`;
  const cdata = parseSoapRequest(body('<NewRemoteHost><![CDATA[]]></NewRemoteHost><u:NewExternalPort>80</u:NewExternalPort>'), header);
  assert.ok(cdata.ok);
  assert.deepEqual([...cdata.request.args], [['NewRemoteHost', ''], ['NewExternalPort', '80']]);
  const dup = parseSoapRequest(body('<NewExternalPort>80</NewExternalPort><NewExternalPort>81</NewExternalPort>'), header);
  assert.ok(dup.ok);
  assert.deepEqual(dup.request.badArgs, ['NewExternalPort']);
  const nested = parseSoapRequest(body('<NewExternalPort><x>80</x></NewExternalPort>'), header);
  assert.ok(nested.ok);
  assert.deepEqual(nested.request.badArgs, ['NewExternalPort']);
});

test('a header element is skipped; the action is the Body child', () => {
  const xml = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h:X xmlns:h="urn:h">1</h:X></s:Header>'
    + `<s:Body><u:GetExternalIPAddress xmlns:u="${WANIP}"></u:GetExternalIPAddress></s:Body></s:Envelope>`;
  const r = parseSoapRequest(xml, `${WANIP}#GetExternalIPAddress`);
  assert.ok(r.ok);
  assert.equal(r.request.actionName, 'GetExternalIPAddress');
});

test('DTDs and entities are refused, never expanded', () => {
  const header = `${WANIP}#GetExternalIPAddress`;
  const bodies = [
    `<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY x "y">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddress xmlns:u="${WANIP}">&x;</u:GetExternalIPAddress></s:Body></s:Envelope>`,
    `<!doctype x SYSTEM "file:///etc/passwd"><x/>`,
    `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:DeletePortMapping xmlns:u="${WANIP}"><NewRemoteHost>&ext;</NewRemoteHost></u:DeletePortMapping></s:Body></s:Envelope>`,
  ];
  for (const body of bodies) {
    const r = parseSoapRequest(body, header);
    assert.equal(r.ok ? 'ok' : r.kind, 'malformed', body.slice(0, 40));
  }
});

test("miniupnpc's unescaped values: a bare & or < that cannot start markup is read as itself", () => {
  // What `upnpc -e 'Tom & Jerry <3' -a 192.168.1.10 4662 4662 TCP` sends: the value as typed.
  const sent = ARGS.map(([n, v]) => [n, n === 'NewPortMappingDescription' ? 'Tom & Jerry <3 R&D' : v] as const);
  const r = parseSoapRequest(soapBody(WANIP, 'AddPortMapping', sent), ADD);
  assert.ok(r.ok);
  assert.equal(r.request.args.get('NewPortMappingDescription'), 'Tom & Jerry <3 R&D');
  assert.equal(r.request.args.size, 8);
  // References keep their meaning; CDATA, comments and PIs are not touched.
  assert.equal(repairBareMarkup('<a>&amp;&#38;&#x26;&lt; & &;</a>'), '<a>&amp;&#38;&#x26;&lt; &amp; &amp;;</a>');
  assert.equal(repairBareMarkup('<a><![CDATA[x & < y]]><!-- & < --><?pi & < ?> < </a>'), '<a><![CDATA[x & < y]]><!-- & < --><?pi & < ?> &lt; </a>');
  const cdata = parseSoapRequest(soapBody(WANIP, 'AddPortMapping', [...ARGS.slice(0, 6), ['NewPortMappingDescription', '<![CDATA[a & b < c]]>'], ARGS[7]]), ADD);
  assert.ok(cdata.ok);
  assert.equal(cdata.request.args.get('NewPortMappingDescription'), 'a & b < c');
  // What still cannot be read one way only stays malformed: `<b` is a tag; `&ext;` an undeclared entity.
  for (const value of ['a<b', '&ext;']) {
    const bad = parseSoapRequest(soapBody(WANIP, 'AddPortMapping', [...ARGS.slice(0, 6), ['NewPortMappingDescription', value], ARGS[7]]), ADD);
    assert.equal(bad.ok ? 'ok' : bad.kind, 'malformed', value);
  }
});

test('property: well-formed requests pass the repair unchanged; unescaped values read back exactly', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (value) => {
    const body = soapBody(WANIP, 'AddPortMapping', [...ARGS.slice(0, 6), ['NewPortMappingDescription', escapeXmlText(value)], ARGS[7]]);
    assert.equal(repairBareMarkup(body), body);
  }), { numRuns: 1000 });
  const unescaped = fc.string({ unit: fc.constantFrom(' ', '&', '<', ';', '1', '>', '-', '=', '"'), maxLength: 20 });
  fc.assert(fc.property(unescaped, (value) => {
    const r = parseSoapRequest(soapBody(WANIP, 'AddPortMapping', [...ARGS.slice(0, 6), ['NewPortMappingDescription', value], ARGS[7]]), ADD);
    assert.ok(r.ok, value);
    assert.equal(r.request.args.get('NewPortMappingDescription'), value);
  }), { numRuns: 1000 });
});

test('malformed envelopes → malformed', () => {
  const header = `${WANIP}#GetExternalIPAddress`;
  const full = soapBody(WANIP, 'GetExternalIPAddress', []);
  const cases = [
    '', 'not xml', '<a/>', full.slice(0, full.length - 20),
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body></s:Body></s:Envelope>',
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetExternalIPAddress/></s:Body></s:Envelope>',
    `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:A xmlns:u="${WANIP}"/><u:B xmlns:u="${WANIP}"/></s:Body></s:Envelope>`,
    '<s:Envelope xmlns:s="urn:not-soap"><s:Body/></s:Envelope>',
    '<x:Envelope><x:Body/></x:Envelope>',
  ];
  for (const body of cases) {
    const r = parseSoapRequest(body, header);
    assert.equal(r.ok ? 'ok' : r.kind, 'malformed', JSON.stringify(body.slice(0, 60)));
  }
  assert.equal(parseSoapRequest(new Uint8Array([0x3c, 0xff, 0xfe, 0x3e]), header).ok, false);
});

test('the response envelope, byte for byte', () => {
  assert.equal(buildSoapResponse(WANIP, 'GetExternalIPAddress', [['NewExternalIPAddress', '203.0.113.1']]),
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    + 's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
    + `<u:GetExternalIPAddressResponse xmlns:u="${WANIP}"><NewExternalIPAddress>203.0.113.1</NewExternalIPAddress>`
    + '</u:GetExternalIPAddressResponse></s:Body></s:Envelope>');
  assert.equal(buildSoapResponse(WANIP, 'AddPortMapping', []),
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    + 's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
    + `<u:AddPortMappingResponse xmlns:u="${WANIP}"></u:AddPortMappingResponse></s:Body></s:Envelope>`);
  const escaped = buildSoapResponse(WANIP, 'GetSpecificPortMappingEntry', [['NewPortMappingDescription', 'a<b>&c'], ['NewRemoteHost', '']]);
  assert.match(escaped, /<NewPortMappingDescription>a&lt;b&gt;&amp;c<\/NewPortMappingDescription><NewRemoteHost><\/NewRemoteHost>/);
});

test('the UPnP fault, byte for byte', () => {
  assert.equal(buildSoapFault(UPNP_ERROR.conflictInMappingEntry),
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    + 's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault>'
    + '<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>'
    + '<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode>'
    + '<errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail>'
    + '</s:Fault></s:Body></s:Envelope>');
});

test('any text survives a response: an XML parser reads back exactly the value, minus characters XML forbids', () => {
  // eslint-disable-next-line no-control-regex
  const forbidden = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (value) => {
    const xml = buildSoapResponse(WANIP, 'GetSpecificPortMappingEntry', [['NewPortMappingDescription', value]]);
    const parser = new SaxesParser();
    let text = '';
    let inArg = false;
    parser.on('error', (e) => {
      throw e;
    });
    parser.on('opentag', (t) => { inArg = t.name === 'NewPortMappingDescription'; });
    parser.on('closetag', () => { inArg = false; });
    parser.on('text', (t) => { if (inArg) text += t; });
    parser.write(xml).close();
    assert.equal(text, value.replace(forbidden, ''));
    assert.equal(escapeXmlText(value).includes('<'), false);
  }), { numRuns: 2000 });
});

test('the envelopes control points send take the plain path', () => {
  const crlf = `<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">`
    + `<s:Body><u:GetGenericPortMappingEntry xmlns:u="${WANIP}"><NewPortMappingIndex>0</NewPortMappingIndex></u:GetGenericPortMappingEntry></s:Body></s:Envelope>\r\n`;
  const spaced = `<?xml version="1.0" encoding="utf-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" `
    + `SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">\n <SOAP-ENV:Body>\n  <m:GetExternalIPAddress xmlns:m="${WANIP}">\n  </m:GetExternalIPAddress>\n`
    + ' </SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n';
  for (const text of [repairBareMarkup(soapBody(WANIP, 'AddPortMapping', ARGS)), crlf, spaced, repairBareMarkup(soapBody(WANIP, 'AddPortMapping', [['NewPortMappingDescription', 'Tom & Jerry <3']]))]) {
    const plain = parsePlainEnvelope(text);
    assert.ok(plain?.ok, text);
    assert.deepEqual(plain, parseEnvelopeWithSaxes(text));
  }
  // Left to saxes: a comment, CDATA, a character reference, a default namespace.
  for (const text of [
    soapBody(WANIP, 'AddPortMapping', [['NewRemoteHost', '<!-- x -->']]), soapBody(WANIP, 'AddPortMapping', [['NewRemoteHost', '<![CDATA[a]]>']]),
    soapBody(WANIP, 'AddPortMapping', [['NewRemoteHost', '&#65;']]),
    `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><GetExternalIPAddress xmlns="${WANIP}"/></Body></Envelope>`,
  ]) assert.equal(parsePlainEnvelope(text), undefined, text);
});

test('the plain path reads every envelope it accepts as saxes does (generated envelopes)', () => {
  const pick = <T>(...xs: T[]) => fc.constantFrom(...xs);
  // The first choice four times in five: most envelopes are plain, and each oddity is tried alone.
  const mostly = <T>(usual: T, ...odd: T[]) => fc.oneof({ arbitrary: fc.constant(usual), weight: 4 }, { arbitrary: fc.constantFrom(...odd), weight: 1 });
  const space = fc.array(pick(' ', '\t', '\r', '\n', '\r\n'), { maxLength: 2 }).map((a) => a.join(''));
  const prefix = mostly('s', 'SOAP-ENV', 'soap', 'xmlp', 'u', 'm', 's1');
  const name = mostly('NewRemoteHost', 'NewExternalPort', 'New.Port-2', 'a', '_x', 'u:NewX', 'NewRemoteHost ');
  const char = mostly('a', 'a', 'Z', '0', ' ', '&', '&amp;', '&lt;', '&gt;', '&quot;', '&apos;', '&#65;', '&#x41;', '&bogus;', '<', '>', ']]>', ']', '\r', '\n', '\t',
    '\u0001', '\u00e9', '\u20ac', '\ud83d\ude00', '\ud800', '\ufffe', '<!-- c -->', '<![CDATA[x<]]>', '<b/>', '"', "'");
  const value = fc.array(char, { maxLength: 6 }).map((a) => a.join(''));
  const arg = fc.tuple(name, value, fc.boolean(), space).map(([n, v, empty, sp]) => (empty && v === '' ? `<${n}${sp}/>` : `<${n}>${v}</${n}${sp}>`));
  const envelope = fc.record({
    decl: mostly('<?xml version="1.0"?>', '', '<?xml version="1.0"?>', "<?xml version='1.0'?>", '<?xml version="1.0" encoding="utf-8"?>', '<?xml version="1.1"?>', ' <?xml version="1.0"?>', '\ufeff'),
    p: prefix, q: mostly('u', 's', 'SOAP-ENV', 'xmlq', 'm'), envNs: mostly('http://schemas.xmlsoap.org/soap/envelope/', 'urn:other'),
    style: mostly(' P:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"', '', ' P:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"', ' P:encodingStyle="a" P:encodingStyle="b"', ' encodingStyle="x"', " P:encodingStyle='x'"),
    extra: mostly('', ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"', ' xmlns:Q="urn:q"', ' xmlns:P="urn:again"', ' xmlns:xml="http://www.w3.org/XML/1998/namespace"'),
    serviceType: mostly(WANIP, '', 'urn:a&amp;b', 'urn:x\ty'),
    header: mostly('', '<P:Header></P:Header>'),
    args: fc.array(arg, { maxLength: 4 }), s1: space, s2: space, s3: space, after: mostly('', '\n', '</P:Body>', '<!-- t -->', 'x'),
    action: pick('GetExternalIPAddress', 'AddPortMapping', 'A.b-c'),
  }).map((e) => {
    const env = `${e.decl}${e.s1}<P:Envelope xmlns:P="${e.envNs}"${e.style}${e.extra}>${e.s2}${e.header}<P:Body>${e.s3}`
      + `<Q:${e.action} xmlns:Q="${e.serviceType}">${e.args.join(e.s1)}</Q:${e.action}>${e.s2}</P:Body>${e.s3}</P:Envelope>${e.after}`;
    return env.replaceAll('P:', `${e.p}:`).replaceAll(':P=', `:${e.p}=`).replaceAll('Q:', `${e.q}:`).replaceAll(':Q=', `:${e.q}=`);
  });
  let plainCount = 0;
  fc.assert(fc.property(envelope, (raw) => {
    const text = repairBareMarkup(raw);
    const plain = parsePlainEnvelope(text);
    if (plain === undefined) return;
    plainCount++;
    assert.deepEqual(plain, parseEnvelopeWithSaxes(text), JSON.stringify(text));
  }), { numRuns: 20_000 });
  assert.ok(plainCount > 1_000, `only ${plainCount} envelopes took the plain path`);
});
