/** SSDP messages: byte-exact formatting, parsing of real clients' searches, every drop reason, matching, fuzz. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SSDP_DROP_REASON, SSDP_LIMITS, formatSsdpAlive, formatSsdpByeBye, formatSsdpSearch, formatSsdpSearchResponse,
  parseSsdpMessage, ssdpAdvertisements, ssdpResponseDelayMs, ssdpSearchAnswers,
} from './ssdp-message.js';
import type { SsdpDevice, SsdpSearch } from './ssdp-message.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const ROOT = '11111111-2222-4333-8444-555555555555';
const WAN = '66666666-7777-5888-9999-aaaaaaaaaaaa';
const CONN = 'bbbbbbbb-cccc-5ddd-8eee-ffffffffffff';
const IGD_TREE: SsdpDevice[] = [
  { uuid: ROOT, deviceType: 'urn:schemas-upnp-org:device:InternetGatewayDevice:1', serviceTypes: ['urn:schemas-upnp-org:service:Layer3Forwarding:1'] },
  { uuid: WAN, deviceType: 'urn:schemas-upnp-org:device:WANDevice:1', serviceTypes: ['urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1'] },
  { uuid: CONN, deviceType: 'urn:schemas-upnp-org:device:WANConnectionDevice:2', serviceTypes: ['urn:schemas-upnp-org:service:WANIPConnection:2'] },
];
const FIELDS = {
  location: 'http://192.168.1.1:5000/rootDesc.xml', maxAgeSeconds: 1800, server: 'Linux/6.1 UPnP/1.1 OpenIGD/0.1',
  bootId: 7, configId: 3,
};

test('format: NOTIFY ssdp:alive, byte-exact', () => {
  assert.equal(formatSsdpAlive({ nt: 'upnp:rootdevice', usn: `uuid:${ROOT}::upnp:rootdevice` }, FIELDS),
    'NOTIFY * HTTP/1.1\r\n' +
    'HOST: 239.255.255.250:1900\r\n' +
    'CACHE-CONTROL: max-age=1800\r\n' +
    'LOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n' +
    'NT: upnp:rootdevice\r\n' +
    'NTS: ssdp:alive\r\n' +
    'SERVER: Linux/6.1 UPnP/1.1 OpenIGD/0.1\r\n' +
    'USN: uuid:11111111-2222-4333-8444-555555555555::upnp:rootdevice\r\n' +
    'BOOTID.UPNP.ORG: 7\r\n' +
    'CONFIGID.UPNP.ORG: 3\r\n' +
    '\r\n');
});

test('format: SEARCHPORT.UPNP.ORG only when the search port is not 1900', () => {
  const ad = { nt: `uuid:${ROOT}`, usn: `uuid:${ROOT}` };
  assert.doesNotMatch(formatSsdpAlive(ad, { ...FIELDS, searchPort: 1900 }), /SEARCHPORT/);
  assert.match(formatSsdpAlive(ad, { ...FIELDS, searchPort: 49152 }), /\r\nCONFIGID\.UPNP\.ORG: 3\r\nSEARCHPORT\.UPNP\.ORG: 49152\r\n\r\n$/);
});

test('format: NOTIFY ssdp:byebye, byte-exact, without LOCATION, CACHE-CONTROL or SERVER', () => {
  assert.equal(formatSsdpByeBye({ nt: 'urn:schemas-upnp-org:device:WANDevice:1', usn: `uuid:${WAN}::urn:schemas-upnp-org:device:WANDevice:1` }, FIELDS),
    'NOTIFY * HTTP/1.1\r\n' +
    'HOST: 239.255.255.250:1900\r\n' +
    'NT: urn:schemas-upnp-org:device:WANDevice:1\r\n' +
    'NTS: ssdp:byebye\r\n' +
    'USN: uuid:66666666-7777-5888-9999-aaaaaaaaaaaa::urn:schemas-upnp-org:device:WANDevice:1\r\n' +
    'BOOTID.UPNP.ORG: 7\r\n' +
    'CONFIGID.UPNP.ORG: 3\r\n' +
    '\r\n');
});

test('format: search response, byte-exact, DATE in RFC 1123 from the given clock', () => {
  const answer = { nt: 'urn:schemas-upnp-org:service:WANIPConnection:1', usn: `uuid:${CONN}::urn:schemas-upnp-org:service:WANIPConnection:1` };
  assert.equal(formatSsdpSearchResponse(answer, FIELDS, Date.UTC(2025, 10, 25, 6, 55, 1)),
    'HTTP/1.1 200 OK\r\n' +
    'CACHE-CONTROL: max-age=1800\r\n' +
    'DATE: Tue, 25 Nov 2025 06:55:01 GMT\r\n' +
    'EXT:\r\n' +
    'LOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n' +
    'SERVER: Linux/6.1 UPnP/1.1 OpenIGD/0.1\r\n' +
    'ST: urn:schemas-upnp-org:service:WANIPConnection:1\r\n' +
    'USN: uuid:bbbbbbbb-cccc-5ddd-8eee-ffffffffffff::urn:schemas-upnp-org:service:WANIPConnection:1\r\n' +
    'BOOTID.UPNP.ORG: 7\r\n' +
    'CONFIGID.UPNP.ORG: 3\r\n' +
    '\r\n');
});

test('format: M-SEARCH, byte-exact', () => {
  assert.equal(formatSsdpSearch({ st: 'ssdp:all', mx: 2 }),
    'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\nST: ssdp:all\r\n\r\n');
  assert.equal(formatSsdpSearch({ st: 'upnp:rootdevice', host: '192.168.1.1:1900', userAgent: 'x/1 UPnP/1.1 y/2' }),
    'M-SEARCH * HTTP/1.1\r\nHOST: 192.168.1.1:1900\r\nMAN: "ssdp:discover"\r\nST: upnp:rootdevice\r\nUSER-AGENT: x/1 UPnP/1.1 y/2\r\n\r\n');
});

test('parse: miniupnpc\'s M-SEARCH (multicast, MX 2)', () => {
  const r = parseSsdpMessage(bytes(
    'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n' +
    'MAN: "ssdp:discover"\r\nMX: 2\r\n\r\n'));
  assert.ok(r.ok && r.message.kind === 'search');
  assert.deepEqual(r.message.search, { st: 'urn:schemas-upnp-org:device:InternetGatewayDevice:1', mx: 2, multicast: true });
});

test('parse: header names any case, values trimmed, bare LF, unquoted MAN, no final blank line', () => {
  const r = parseSsdpMessage(bytes('M-SEARCH * HTTP/1.1\nhost:239.255.255.250:1900\nMan:   ssdp:discover  \nst: upnp:rootdevice\nmx: 3'));
  assert.ok(r.ok && r.message.kind === 'search');
  assert.deepEqual(r.message.search, { st: 'upnp:rootdevice', mx: 3, multicast: true });
  assert.equal(r.message.headers.get('man'), 'ssdp:discover');
});

test('parse: unicast search (HOST is the device), MX missing or invalid is reported, not guessed', () => {
  const search = (extra: string): SsdpSearch => {
    const r = parseSsdpMessage(bytes(`M-SEARCH * HTTP/1.1\r\nHOST: 192.168.1.1:1900\r\nMAN: "ssdp:discover"\r\nST: ssdp:all\r\n${extra}\r\n`));
    assert.ok(r.ok && r.message.kind === 'search');
    return r.message.search;
  };
  assert.deepEqual(search(''), { st: 'ssdp:all', mx: 'missing', multicast: false });
  assert.equal(search('MX: 0\r\n').mx, 'invalid');
  assert.equal(search('MX: -1\r\n').mx, 'invalid');
  assert.equal(search('MX: 2.5\r\n').mx, 'invalid');
  assert.equal(search('MX: 120\r\n').mx, 120);
});

test('parse: NOTIFY, responses and other methods are classified, not answered', () => {
  const notify = parseSsdpMessage(bytes(formatSsdpAlive({ nt: 'upnp:rootdevice', usn: 'uuid:x::upnp:rootdevice' }, FIELDS)));
  assert.ok(notify.ok && notify.message.kind === 'notify');
  assert.equal(notify.message.headers.get('nts'), 'ssdp:alive');
  const response = parseSsdpMessage(bytes(formatSsdpSearchResponse({ nt: 'ssdp:all', usn: 'uuid:x' }, FIELDS, 0)));
  assert.ok(response.ok && response.message.kind === 'response' && response.message.status === 200);
  const other = parseSsdpMessage(bytes('SUBSCRIBE /evt HTTP/1.1\r\nHOST: x\r\n\r\n'));
  assert.ok(other.ok && other.message.kind === 'other' && other.message.method === 'SUBSCRIBE');
});

test('parse: every drop reason', () => {
  const search = (headers: string): string => `M-SEARCH * HTTP/1.1\r\n${headers}\r\n`;
  const cases: [Uint8Array, string][] = [
    [new Uint8Array(0), SSDP_DROP_REASON.empty],
    [new Uint8Array(SSDP_LIMITS.datagramBytes + 1).fill(0x41), SSDP_DROP_REASON.tooLarge],
    [new Uint8Array([0x4d, 0x2d, 0x00, 0x01, 0xff]), SSDP_DROP_REASON.binary],
    [new Uint8Array([0x4d, 0x0d, 0x0a, 0xc3, 0x28]), SSDP_DROP_REASON.binary],
    [bytes('\r\nHOST: x\r\n\r\n'), SSDP_DROP_REASON.noStartLine],
    [bytes('hello world\r\n\r\n'), SSDP_DROP_REASON.badStartLine],
    [bytes('M-SEARCH /x HTTP/1.1\r\nHOST: a\r\n\r\n'), SSDP_DROP_REASON.badStartLine],
    [bytes('NOTIFY /x HTTP/1.1\r\n\r\n'), SSDP_DROP_REASON.badStartLine],
    [bytes('M-SEARCH * HTTP/2.0\r\n\r\n'), SSDP_DROP_REASON.badStartLine],
    [bytes(search(`ST: ${'a'.repeat(SSDP_LIMITS.lineBytes)}\r\n`)), SSDP_DROP_REASON.headerTooLong],
    [bytes(`M-SEARCH * HTTP/1.1${' '.repeat(SSDP_LIMITS.lineBytes)}\r\n\r\n`), SSDP_DROP_REASON.headerTooLong],
    [bytes(search(Array.from({ length: SSDP_LIMITS.headerCount + 1 }, (_, i) => `X-${i}: v\r\n`).join(''))), SSDP_DROP_REASON.tooManyHeaders],
    [bytes(search('no colon here\r\n')), SSDP_DROP_REASON.badHeader],
    [bytes(search(': empty name\r\n')), SSDP_DROP_REASON.badHeader],
    [bytes(search(' HOST: folded\r\n')), SSDP_DROP_REASON.badHeader],
    [bytes(search('ST: a\r\nst: b\r\n')), SSDP_DROP_REASON.duplicateHeader],
    [bytes(search('MAN: "ssdp:discover"\r\nST: ssdp:all\r\nMX: 1\r\n')), SSDP_DROP_REASON.missingHost],
    [bytes(search('HOST: 239.255.255.250:1900\r\nST: ssdp:all\r\nMX: 1\r\n')), SSDP_DROP_REASON.missingMan],
    [bytes(search('HOST: 239.255.255.250:1900\r\nMAN: "ssdp:alive"\r\nST: ssdp:all\r\nMX: 1\r\n')), SSDP_DROP_REASON.badMan],
    [bytes(search('HOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n')), SSDP_DROP_REASON.missingSt],
    [bytes(search('HOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nST:\r\nMX: 1\r\n')), SSDP_DROP_REASON.missingSt],
  ];
  for (const [datagram, reason] of cases) {
    assert.deepEqual(parseSsdpMessage(datagram), { ok: false, reason }, `expected ${reason}`);
  }
});

test('advertisements: root, then uuid and type per device, then services — UDA\'s 3 + 2d + k messages', () => {
  const ads = ssdpAdvertisements(IGD_TREE);
  assert.deepEqual(ads.map((a) => a.nt), [
    'upnp:rootdevice',
    `uuid:${ROOT}`, 'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
    `uuid:${WAN}`, 'urn:schemas-upnp-org:device:WANDevice:1',
    `uuid:${CONN}`, 'urn:schemas-upnp-org:device:WANConnectionDevice:2',
    'urn:schemas-upnp-org:service:Layer3Forwarding:1',
    'urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1',
    'urn:schemas-upnp-org:service:WANIPConnection:2',
  ]);
  assert.equal(ads[0].usn, `uuid:${ROOT}::upnp:rootdevice`);
  assert.equal(ads[3].usn, `uuid:${WAN}`);
  assert.equal(ads[9].usn, `uuid:${CONN}::urn:schemas-upnp-org:service:WANIPConnection:2`);
});

test('search answers for every kind of ST, with the asked version for older types', () => {
  const ads = ssdpAdvertisements(IGD_TREE);
  assert.equal(ssdpSearchAnswers('ssdp:all', ads).length, 10);
  assert.deepEqual(ssdpSearchAnswers('upnp:rootdevice', ads), [{ nt: 'upnp:rootdevice', usn: `uuid:${ROOT}::upnp:rootdevice` }]);
  assert.deepEqual(ssdpSearchAnswers(`uuid:${WAN}`, ads), [{ nt: `uuid:${WAN}`, usn: `uuid:${WAN}` }]);
  assert.deepEqual(ssdpSearchAnswers('urn:schemas-upnp-org:device:WANDevice:1', ads),
    [{ nt: 'urn:schemas-upnp-org:device:WANDevice:1', usn: `uuid:${WAN}::urn:schemas-upnp-org:device:WANDevice:1` }]);
  assert.deepEqual(ssdpSearchAnswers('urn:schemas-upnp-org:service:WANIPConnection:1', ads),
    [{ nt: 'urn:schemas-upnp-org:service:WANIPConnection:1', usn: `uuid:${CONN}::urn:schemas-upnp-org:service:WANIPConnection:1` }]);
  assert.equal(ssdpSearchAnswers('urn:schemas-upnp-org:service:WANIPConnection:2', ads).length, 1);
  assert.deepEqual(ssdpSearchAnswers('urn:schemas-upnp-org:device:WANDevice:2', ads), [], 'newer than ours');
  assert.deepEqual(ssdpSearchAnswers('urn:schemas-upnp-org:service:WANPPPConnection:1', ads), []);
  assert.deepEqual(ssdpSearchAnswers('urn:other-org:device:WANDevice:1', ads), [], 'another domain');
  assert.deepEqual(ssdpSearchAnswers('urn:schemas-upnp-org:device:WANDevice:0', ads), [], 'version 0 is not a version');
  assert.deepEqual(ssdpSearchAnswers('uuid:00000000-0000-0000-0000-000000000000', ads), []);
  assert.deepEqual(ssdpSearchAnswers('Upnp:RootDevice', ads), [], 'ST is case-sensitive');
});

test('response delay: unicast at once, multicast within min(MX, 5) s, no MX dropped', () => {
  const s = (mx: SsdpSearch['mx'], multicast: boolean): SsdpSearch => ({ st: 'ssdp:all', mx, multicast });
  assert.equal(ssdpResponseDelayMs(s('missing', false), 0.7), 0);
  assert.equal(ssdpResponseDelayMs(s('missing', true), 0.7), undefined);
  assert.equal(ssdpResponseDelayMs(s('invalid', true), 0.7), undefined);
  assert.equal(ssdpResponseDelayMs(s(3, true), 0.5), 1500);
  assert.equal(ssdpResponseDelayMs(s(3, true), 0), 0);
  assert.ok(ssdpResponseDelayMs(s(120, true), 0.999_999_999)! < 5000);
  assert.equal(ssdpResponseDelayMs(s(120, true), 0.5), 2500);
});

