/** PCP wire format: byte-exact decode and encode against hand-laid RFC 6887 packets; every drop and error the decoder gives. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PCP_DROP_REASON, PCP_OPCODE, PCP_RESULT, decodePcpRequest, encodePcpAnnounce, encodePcpError,
  encodePcpMappingUpdate, normalizeAddressText,
  encodePcpResponse, isUnspecifiedAt, pcpResultName, readPcpAddress, writePcpAddress,
} from './wire.js';
import type { PcpDecodeResult, PcpMapRequest, PcpPeerRequest, PcpRequest } from './wire.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// Laid out by hand from RFC 6887 Figure 2 (request header) and Figure 9 (MAP).
const CLIENT = '00000000 00000000 0000ffff c0a80164'; // ::ffff:192.168.1.100
const NONCE = '0102030405060708090a0b0c';
const ANY_V4 = '00000000 00000000 0000ffff 00000000'; // ::ffff:0.0.0.0
const MAP_HEADER = `02 01 0000 | 00000e10 | ${CLIENT}`; // version 2, MAP, lifetime 3600
const MAP_BODY = `${NONCE} | 06 000000 | 1f90 | 1f90 | ${ANY_V4}`; // TCP, internal 8080, suggest 8080, any address
const MAP_REQUEST = `${MAP_HEADER} ${MAP_BODY}`;
const PEER_BODY = `${NONCE} | 11 000000 | 1388 | 0000 | ${ANY_V4} | 0d05 0000 | 00000000 00000000 0000ffff c6336410`;
const PEER_REQUEST = `02 02 0000 | 00000078 | ${CLIENT} ${PEER_BODY}`; // UDP 5000 → 198.51.100.16:3333, 120 s
const THIRD_PARTY_OPTION = '01 00 0010 | 00000000 00000000 0000ffff c0a80165'; // for 192.168.1.101
const PREFER_FAILURE_OPTION = '02 00 0000';
const FILTER_OPTION = '03 00 0014 | 00 78 0050 | 00000000 00000000 0000ffff c6336400'; // 198.51.100.0/24 port 80

function request(r: PcpDecodeResult): PcpRequest {
  assert.equal(r.kind, 'request', `expected a request, got ${JSON.stringify(r)}`);
  return (r as { request: PcpRequest }).request;
}
function error(r: PcpDecodeResult): { result: number; parsed: boolean } {
  assert.equal(r.kind, 'error', `expected an error, got ${r.kind}`);
  return r as { result: number; parsed: boolean };
}
const resultOf = (packet: string): string => pcpResultName(error(decodePcpRequest(hex(packet))).result);

test('deconstruct a MAP request', () => {
  const r = request(decodePcpRequest(hex(MAP_REQUEST))) as PcpMapRequest;
  assert.equal(r.opcode, PCP_OPCODE.MAP);
  assert.equal(r.requestedLifetimeSeconds, 3600);
  assert.equal(r.clientAddress, '192.168.1.100');
  assert.equal(toHex(r.nonce), NONCE);
  assert.equal(r.protocol, 6);
  assert.equal(r.internalPort, 8080);
  assert.equal(r.suggestedExternalPort, 8080);
  assert.equal(r.suggestedExternalAddress, undefined);
  assert.equal(r.thirdParty, undefined);
  assert.equal(r.preferFailure, false);
  assert.deepEqual(r.filters, []);
  assert.deepEqual(r.processedOptions, []);
});

test('the nonce is a view into the datagram, not a copy', () => {
  const packet = hex(MAP_REQUEST);
  const r = request(decodePcpRequest(packet)) as PcpMapRequest;
  assert.equal(r.nonce.buffer, packet.buffer);
  assert.equal(r.nonce.byteOffset, packet.byteOffset + 24);
});

test('deconstruct a PEER request', () => {
  const r = request(decodePcpRequest(hex(PEER_REQUEST))) as PcpPeerRequest;
  assert.equal(r.opcode, PCP_OPCODE.PEER);
  assert.equal(r.requestedLifetimeSeconds, 120);
  assert.equal(r.protocol, 17);
  assert.equal(r.internalPort, 5000);
  assert.equal(r.suggestedExternalPort, 0);
  assert.equal(r.remotePeerPort, 3333);
  assert.equal(r.remotePeerAddress, '198.51.100.16');
});

test('deconstruct an ANNOUNCE request (the header alone)', () => {
  const r = request(decodePcpRequest(hex(`02 00 0000 | 00000000 | ${CLIENT}`)));
  assert.equal(r.opcode, PCP_OPCODE.ANNOUNCE);
  assert.equal(r.clientAddress, '192.168.1.100');
});

test('options: THIRD_PARTY, PREFER_FAILURE and FILTER are read, their byte ranges kept', () => {
  const r = request(decodePcpRequest(hex(`${MAP_REQUEST} ${THIRD_PARTY_OPTION} ${PREFER_FAILURE_OPTION} ${FILTER_OPTION}`)));
  assert.equal(r.thirdParty, '192.168.1.101');
  assert.equal(r.preferFailure, true);
  assert.deepEqual(r.filters, [{ prefixLength: 120, remotePort: 80, remoteAddress: '198.51.100.0' }]);
  assert.deepEqual(r.processedOptions, [60, 80, 80, 84, 84, 108]);
});

test('options: FILTER may repeat; prefix 0 (remove all) is accepted', () => {
  const clear = '03 00 0014 | 00 00 0000 | 00000000 00000000 00000000 00000000';
  const r = request(decodePcpRequest(hex(`${MAP_REQUEST} ${FILTER_OPTION} ${clear}`)));
  assert.equal(r.filters.length, 2);
  assert.equal(r.filters[1].prefixLength, 0);
});

test('options: an unknown optional option (code ≥ 128) is skipped, padding included, and not echoed', () => {
  const optional = '80 00 0005 | 0102030405 000000'; // 5 data octets padded to 8
  const r = request(decodePcpRequest(hex(`${MAP_REQUEST} ${optional} ${PREFER_FAILURE_OPTION}`)));
  assert.equal(r.preferFailure, true);
  assert.deepEqual(r.processedOptions, [72, 76]);
});

test('options: each malformed or unsupported option gets its result code', () => {
  const cases: Array<[string, string]> = [
    [`${MAP_REQUEST} 7e 00 0000`, 'UNSUPP_OPTION'], // unknown, mandatory range
    [`${MAP_REQUEST} 00 00 0000`, 'UNSUPP_OPTION'], // code 0 is reserved
    [`${MAP_REQUEST} ${THIRD_PARTY_OPTION} ${THIRD_PARTY_OPTION}`, 'MALFORMED_OPTION'], // only once
    [`${MAP_REQUEST} ${PREFER_FAILURE_OPTION} ${PREFER_FAILURE_OPTION}`, 'MALFORMED_OPTION'],
    [`${MAP_REQUEST} 01 00 000c | 00000000 00000000 0000ffff`, 'MALFORMED_OPTION'], // THIRD_PARTY of 12 octets
    [`${MAP_REQUEST} 02 00 0004 | 00000000`, 'MALFORMED_OPTION'], // PREFER_FAILURE with data
    [`${MAP_REQUEST} 01 00 0010 | 00000000 00000000`, 'MALFORMED_OPTION'], // runs past the datagram
    [`${MAP_REQUEST} 80 00 0009 | 00000000 00000000`, 'MALFORMED_OPTION'], // optional, padded past the end
    [`${MAP_REQUEST} 03 00 0014 | 00 5f 0000 | 00000000 00000000 0000ffff c6336400`, 'MALFORMED_OPTION'], // IPv4 /-1
    [`${MAP_REQUEST} 03 00 0014 | 00 81 0000 | 20010db8 00000000 00000000 00000000`, 'MALFORMED_OPTION'], // /129
    [`02 02 0000 | 00000078 | ${CLIENT} ${PEER_BODY} ${FILTER_OPTION}`, 'UNSUPP_OPTION'], // FILTER is MAP's only
    [`02 02 0000 | 00000078 | ${CLIENT} ${PEER_BODY} ${PREFER_FAILURE_OPTION}`, 'UNSUPP_OPTION'],
    [`02 00 0000 | 00000000 | ${CLIENT} ${THIRD_PARTY_OPTION}`, 'UNSUPP_OPTION'], // ANNOUNCE has none
  ];
  for (const [packet, name] of cases) assert.equal(resultOf(packet), name, packet);
});

test('options: an IPv6 FILTER peer may have a prefix under 96', () => {
  const r = request(decodePcpRequest(hex(`${MAP_REQUEST} 03 00 0014 | 00 20 0000 | 20010db8 00000000 00000000 00000000`)));
  assert.deepEqual(r.filters, [{ prefixLength: 32, remotePort: 0, remoteAddress: '2001:db8::' }]);
});

test('PREFER_FAILURE without a suggested port, or on a delete, is MALFORMED_OPTION; FILTER on a delete too', () => {
  const noPort = `${MAP_HEADER} ${NONCE} | 06 000000 | 1f90 | 0000 | ${ANY_V4} ${PREFER_FAILURE_OPTION}`;
  assert.equal(resultOf(noPort), 'MALFORMED_OPTION');
  const deleteHeader = `02 01 0000 | 00000000 | ${CLIENT}`;
  assert.equal(resultOf(`${deleteHeader} ${MAP_BODY} ${PREFER_FAILURE_OPTION}`), 'MALFORMED_OPTION');
  assert.equal(resultOf(`${deleteHeader} ${MAP_BODY} ${FILTER_OPTION}`), 'MALFORMED_OPTION');
  assert.equal(request(decodePcpRequest(hex(`${deleteHeader} ${MAP_BODY}`))).requestedLifetimeSeconds, 0);
});

test('field rules: protocol 0 with a port, and PEER without protocol, ports or peer, are MALFORMED_REQUEST', () => {
  assert.equal(resultOf(`${MAP_HEADER} ${NONCE} | 00 000000 | 1f90 | 0000 | ${ANY_V4}`), 'MALFORMED_REQUEST');
  const all = request(decodePcpRequest(hex(`${MAP_HEADER} ${NONCE} | 00 000000 | 0000 | 0000 | ${ANY_V4}`))) as PcpMapRequest;
  assert.equal(all.protocol, 0);
  const peer = (proto: string, port: string, remotePort: string, remote: string): string =>
    `02 02 0000 | 00000078 | ${CLIENT} ${NONCE} | ${proto} 000000 | ${port} | 0000 | ${ANY_V4} | ${remotePort} 0000 | ${remote}`;
  const peerIp = '00000000 00000000 0000ffff c6336410';
  assert.equal(resultOf(peer('00', '1388', '0d05', peerIp)), 'MALFORMED_REQUEST');
  assert.equal(resultOf(peer('11', '0000', '0d05', peerIp)), 'MALFORMED_REQUEST');
  assert.equal(resultOf(peer('11', '1388', '0000', peerIp)), 'MALFORMED_REQUEST');
  assert.equal(resultOf(peer('11', '1388', '0d05', ANY_V4)), 'MALFORMED_REQUEST');
});

test('drops: under 2 octets, the R bit, a version-2 header under 24 octets', () => {
  assert.deepEqual(decodePcpRequest(new Uint8Array(0)), { kind: 'drop', reason: PCP_DROP_REASON.tooShort });
  assert.deepEqual(decodePcpRequest(hex('02')), { kind: 'drop', reason: PCP_DROP_REASON.tooShort });
  assert.deepEqual(decodePcpRequest(hex(`02 81 0000 | 00000e10 | ${CLIENT}`)), { kind: 'drop', reason: PCP_DROP_REASON.response });
  assert.deepEqual(decodePcpRequest(hex('01 81')), { kind: 'drop', reason: PCP_DROP_REASON.response }, 'R before version');
  assert.deepEqual(decodePcpRequest(hex('02 01 0000 00000e10 0000')), { kind: 'drop', reason: PCP_DROP_REASON.headerTooShort });
});

test('sizes and opcodes: version, length, multiple of 4, opcode, body length', () => {
  assert.deepEqual(decodePcpRequest(hex('01 01')), { kind: 'error', result: PCP_RESULT.UNSUPP_VERSION, parsed: false });
  assert.deepEqual(decodePcpRequest(hex(`03 01 0000 | 00000e10 | ${CLIENT}`)), { kind: 'error', result: PCP_RESULT.UNSUPP_VERSION, parsed: false });
  assert.deepEqual(decodePcpRequest(hex(`00 00`)), { kind: 'error', result: PCP_RESULT.UNSUPP_VERSION, parsed: false });
  const long = new Uint8Array(1104);
  long.set(hex(MAP_REQUEST));
  assert.deepEqual(decodePcpRequest(long), { kind: 'error', result: PCP_RESULT.MALFORMED_REQUEST, parsed: false });
  const max = new Uint8Array(1100);
  max.set(hex(MAP_REQUEST));
  max.set(hex('80 00 040c'), 60); // one optional option filling the rest: 4 + 1036 octets
  assert.equal(decodePcpRequest(max).kind, 'request');
  assert.deepEqual(decodePcpRequest(hex(`${MAP_REQUEST} 00`)), { kind: 'error', result: PCP_RESULT.MALFORMED_REQUEST, parsed: false });
  assert.deepEqual(decodePcpRequest(hex(`02 03 0000 | 00000e10 | ${CLIENT}`)), { kind: 'error', result: PCP_RESULT.UNSUPP_OPCODE, parsed: true });
  assert.deepEqual(decodePcpRequest(hex(`02 7f 0000 | 00000e10 | ${CLIENT}`)), { kind: 'error', result: PCP_RESULT.UNSUPP_OPCODE, parsed: true });
  assert.deepEqual(decodePcpRequest(hex(`${MAP_HEADER} ${NONCE} 06000000 1f901f90`)), { kind: 'error', result: PCP_RESULT.MALFORMED_REQUEST, parsed: false });
  assert.deepEqual(decodePcpRequest(hex(`02 02 0000 | 00000e10 | ${CLIENT} ${MAP_BODY}`)), { kind: 'error', result: PCP_RESULT.MALFORMED_REQUEST, parsed: false });
});

test('construct a MAP success response, byte-exact (RFC 6887 Figure 3 + Figure 10)', () => {
  const r = request(decodePcpRequest(hex(MAP_REQUEST)));
  const out = encodePcpResponse(r, { result: PCP_RESULT.SUCCESS, lifetimeSeconds: 3600, epochSeconds: 42 },
    { externalPort: 8080, externalAddress: '203.0.113.2' });
  assert.equal(toHex(out), toHex(hex(
    '02 81 00 00 | 00000e10 | 0000002a | 00000000 00000000 00000000 |' +
    `${NONCE} | 06 000000 | 1f90 | 1f90 | 00000000 00000000 0000ffff cb007102`)));
});

test('a success response echoes the processed options, not the skipped optional ones', () => {
  const optional = '80 00 0000';
  const r = request(decodePcpRequest(hex(`${MAP_REQUEST} ${optional} ${FILTER_OPTION} ${optional} ${PREFER_FAILURE_OPTION}`)));
  const out = encodePcpResponse(r, { result: PCP_RESULT.SUCCESS, lifetimeSeconds: 120, epochSeconds: 1 },
    { externalPort: 8080, externalAddress: '203.0.113.2' });
  assert.equal(out.length, 60 + 24 + 4);
  assert.equal(toHex(out.subarray(60)), toHex(hex(`${FILTER_OPTION} ${PREFER_FAILURE_OPTION}`)));
});

test('construct a PEER success response: assigned port and address, the remote peer echoed', () => {
  const r = request(decodePcpRequest(hex(PEER_REQUEST)));
  const out = encodePcpResponse(r, { result: PCP_RESULT.SUCCESS, lifetimeSeconds: 120, epochSeconds: 7 },
    { externalPort: 40000, externalAddress: '203.0.113.2' });
  assert.equal(toHex(out), toHex(hex(
    '02 82 00 00 | 00000078 | 00000007 | 00000000 00000000 00000000 |' +
    `${NONCE} | 11 000000 | 1388 | 9c40 | 00000000 00000000 0000ffff cb007102 | 0d05 0000 | 00000000 00000000 0000ffff c6336410`)));
});

test('construct error responses: a parsed request echoed whole with the tail zeroed; an unparsed one keeps its tail', () => {
  const packet = hex(`${MAP_REQUEST} ${THIRD_PARTY_OPTION}`);
  const parsed = encodePcpError(packet, { result: PCP_RESULT.NOT_AUTHORIZED, lifetimeSeconds: 1800, epochSeconds: 5 }, true);
  assert.equal(toHex(parsed), toHex(hex(
    `02 81 00 02 | 00000708 | 00000005 | 00000000 00000000 00000000 | ${MAP_BODY} ${THIRD_PARTY_OPTION}`)));
  const unparsed = encodePcpError(hex(`${MAP_HEADER} ${NONCE} 06000000`), { result: PCP_RESULT.MALFORMED_REQUEST, lifetimeSeconds: 1800, epochSeconds: 5 }, false);
  assert.equal(toHex(unparsed), toHex(hex(`02 81 00 03 | 00000708 | 00000005 | 00000000 0000ffff c0a80164 | ${NONCE} 06000000`)));
});

test('construct error responses: over 1100 octets or not a multiple of 4 is cut; UNSUPP_VERSION is a 24-octet v2 header', () => {
  const long = new Uint8Array(1200);
  long.set(hex(MAP_REQUEST));
  assert.equal(encodePcpError(long, { result: PCP_RESULT.MALFORMED_REQUEST, lifetimeSeconds: 1, epochSeconds: 1 }, false).length, 1100);
  assert.equal(encodePcpError(hex(`${MAP_REQUEST} 0000`), { result: PCP_RESULT.MALFORMED_REQUEST, lifetimeSeconds: 1, epochSeconds: 1 }, false).length, 60);
  const v1 = encodePcpError(hex(`01 01 0000 | 00000e10 | ${CLIENT} ${MAP_BODY}`), { result: PCP_RESULT.UNSUPP_VERSION, lifetimeSeconds: 1800, epochSeconds: 9 }, false);
  assert.equal(toHex(v1), toHex(hex('02 81 00 01 | 00000708 | 00000009 | 00000000 0000ffff c0a80164')));
  // A NAT-PMP client reading this as its own reply sees result 1 (unsupported version) in octets 2-3.
  const short = encodePcpError(hex('00 00'), { result: PCP_RESULT.UNSUPP_VERSION, lifetimeSeconds: 1800, epochSeconds: 9 }, false);
  assert.equal(toHex(short), toHex(hex('02 80 00 01 | 00000708 | 00000009 | 00000000 00000000 00000000')));
});

test('construct the unsolicited ANNOUNCE', () => {
  assert.equal(toHex(encodePcpAnnounce(0)), toHex(hex('02 80 00 00 | 00000000 | 00000000 | 00000000 00000000 00000000')));
  assert.equal(toHex(encodePcpAnnounce(0x01020304)).slice(16, 24), '01020304');
});

test('addresses: IPv4-mapped only with all 96 prefix bits right; RFC 5952 text otherwise', () => {
  assert.equal(readPcpAddress(hex('00000000 00000000 0000ffff c0a80101'), 0), '192.168.1.1');
  assert.equal(readPcpAddress(hex('00010000 00000000 0000ffff c0a80101'), 0), '1::ffff:c0a8:101');
  assert.equal(readPcpAddress(hex('00000000 00000000 0000fffe c0a80101'), 0), '::fffe:c0a8:101');
  assert.equal(readPcpAddress(hex('20010db8 00000000 00010000 00000001'), 0), '2001:db8::1:0:0:1');
  assert.equal(readPcpAddress(hex('20010db8 00010001 00010001 00010001'), 0), '2001:db8:1:1:1:1:1:1');
  assert.equal(readPcpAddress(hex('fe800000 00000000 00000000 00000001'), 0), 'fe80::1');
  assert.equal(readPcpAddress(new Uint8Array(16), 0), '::');
  assert.equal(isUnspecifiedAt(new Uint8Array(16), 0), true);
  assert.equal(isUnspecifiedAt(hex(ANY_V4), 0), true);
  assert.equal(isUnspecifiedAt(hex('00000000 00000000 0000fffe 00000000'), 0), false);
  assert.equal(isUnspecifiedAt(hex(CLIENT), 0), false);
});

test('addresses: written as ::ffff:a.b.c.d or IPv6, read back the same; nonsense refused', () => {
  const b = new Uint8Array(20);
  for (const a of ['203.0.113.2', '0.0.0.0', '2001:db8::1', '::', 'fe80::1:2', '1:2:3:4:5:6:7:8']) {
    assert.equal(writePcpAddress(b, 4, a), true, a);
    assert.equal(readPcpAddress(b, 4), a);
  }
  assert.equal(writePcpAddress(b, 4, '::ffff:10.0.0.1'), true);
  assert.equal(toHex(b.subarray(4)), toHex(hex('00000000 00000000 0000ffff 0a000001')));
  for (const bad of ['256.1.1.1', 'host', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3', '12345::', '']) {
    assert.equal(writePcpAddress(b, 4, bad), false, bad);
  }
});

test('construct unsolicited MAP and PEER responses for an address change, byte-exact', () => {
  const nonce = hex(NONCE);
  const map = encodePcpMappingUpdate({
    opcode: PCP_OPCODE.MAP, nonce, protocol: 6, internalPort: 8080, externalPort: 8080, externalAddress: '198.51.100.99',
    lifetimeSeconds: 3000, epochSeconds: 0,
  });
  assert.equal(toHex(map!), toHex(hex(
    `02 81 00 00 | 00000bb8 | 00000000 | 00000000 00000000 00000000 | ${NONCE} | 06 000000 | 1f90 | 1f90 | 00000000 00000000 0000ffff c6336463`)));
  const peer = encodePcpMappingUpdate({
    opcode: PCP_OPCODE.PEER, nonce, protocol: 17, internalPort: 5000, externalPort: 40000, externalAddress: '198.51.100.99',
    lifetimeSeconds: 120, epochSeconds: 3, remotePeerPort: 3333, remotePeerAddress: '198.51.100.16',
  });
  assert.equal(toHex(peer!), toHex(hex(
    `02 82 00 00 | 00000078 | 00000003 | 00000000 00000000 00000000 | ${NONCE} | 11 000000 | 1388 | 9c40 | 00000000 00000000 0000ffff c6336463` +
    ' | 0d05 0000 | 00000000 00000000 0000ffff c6336410')));
  const third = encodePcpMappingUpdate({
    opcode: PCP_OPCODE.MAP, nonce, protocol: 6, internalPort: 8080, externalPort: 8080, externalAddress: '198.51.100.99',
    lifetimeSeconds: 3000, epochSeconds: 0, thirdParty: '192.168.1.101',
  });
  assert.equal(toHex(third!), toHex(hex(
    `02 81 00 00 | 00000bb8 | 00000000 | 00000000 00000000 00000000 | ${NONCE} | 06 000000 | 1f90 | 1f90 | 00000000 00000000 0000ffff c6336463` +
    ' | 01 00 0010 | 00000000 00000000 0000ffff c0a80165')), 'the THIRD_PARTY option (§13.1) after the MAP data');
  assert.equal(encodePcpMappingUpdate({ opcode: PCP_OPCODE.MAP, nonce, protocol: 6, internalPort: 1, externalPort: 1, externalAddress: '198.51.100.99', lifetimeSeconds: 1, epochSeconds: 1, thirdParty: 'x' }), undefined);
  assert.equal(encodePcpMappingUpdate({ opcode: PCP_OPCODE.MAP, nonce: nonce.subarray(1), protocol: 6, internalPort: 1, externalPort: 1, externalAddress: '198.51.100.99', lifetimeSeconds: 1, epochSeconds: 1 }), undefined);
  assert.equal(encodePcpMappingUpdate({ opcode: PCP_OPCODE.MAP, nonce, protocol: 6, internalPort: 1, externalPort: 1, externalAddress: 'nope', lifetimeSeconds: 1, epochSeconds: 1 }), undefined);
});

test('socket address text is spelled as the decoder spells the field', () => {
  assert.equal(normalizeAddressText('192.168.1.100'), '192.168.1.100');
  assert.equal(normalizeAddressText('::FFFF:192.168.1.100'), '192.168.1.100');
  assert.equal(normalizeAddressText('fe80::1%eth0'), 'fe80::1');
  assert.equal(normalizeAddressText('2001:DB8::1'), '2001:db8::1');
  assert.equal(normalizeAddressText('::ffff:c0a8:164'), '::ffff:c0a8:164');
});
