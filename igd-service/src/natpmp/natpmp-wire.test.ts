/**
 * The NAT-PMP codec against byte-exact fixtures written from RFC 6886's figures (§3.2, §3.3,
 * §3.5 and Errata ID 3618), and the decoder's drop reasons.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NATPMP_RESULT, decodeNatPmpRequest, encodeExternalAddressResponse, encodeMapResponse, encodeUnsupportedOpcode,
  encodeUnsupportedVersion,
} from './natpmp-wire.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('decodes the §3.2 external-address request (2 bytes)', () => {
  assert.deepEqual(decodeNatPmpRequest(hex('00 00')), { kind: 'external-address' });
});

test('decodes §3.3 map requests: UDP and TCP, ports and lifetime big-endian, reserved ignored', () => {
  // vers 0, op 1, reserved 0xffff, internal 0x1a0b (6667), suggested 0xc350 (50000), lifetime 7200
  assert.deepEqual(decodeNatPmpRequest(hex('00 01 ffff 1a0b c350 00001c20')),
    { kind: 'map', opcode: 1, internalPort: 6667, suggestedExternalPort: 50000, lifetimeSeconds: 7200 });
  assert.deepEqual(decodeNatPmpRequest(hex('00 02 0000 0050 0000 ffffffff')),
    { kind: 'map', opcode: 2, internalPort: 80, suggestedExternalPort: 0, lifetimeSeconds: 0xffffffff });
});

test('versions, opcodes and lengths: the §3.5 order', () => {
  assert.deepEqual(decodeNatPmpRequest(hex('')), { kind: 'drop', reason: 'short' });
  assert.deepEqual(decodeNatPmpRequest(hex('00')), { kind: 'drop', reason: 'short' });
  assert.deepEqual(decodeNatPmpRequest(hex('01 00')), { kind: 'unsupported-version', version: 1 });
  assert.deepEqual(decodeNatPmpRequest(hex('ff 00 00 00')), { kind: 'unsupported-version', version: 255 });
  assert.deepEqual(decodeNatPmpRequest(hex('02 01')), { kind: 'pcp' });
  assert.deepEqual(decodeNatPmpRequest(hex('00 80 0000 00000000 00000000')), { kind: 'drop', reason: 'response' });
  assert.deepEqual(decodeNatPmpRequest(hex('00 81')), { kind: 'drop', reason: 'response' });
  assert.deepEqual(decodeNatPmpRequest(hex('00 03')), { kind: 'unsupported-opcode', opcode: 3 });
  assert.deepEqual(decodeNatPmpRequest(hex('00 7f 1234')), { kind: 'unsupported-opcode', opcode: 127 });
  assert.deepEqual(decodeNatPmpRequest(hex('00 00 00')), { kind: 'drop', reason: 'wrong-length' });
  assert.deepEqual(decodeNatPmpRequest(hex('00 01 0000 0050 0050')), { kind: 'drop', reason: 'short' });
  assert.deepEqual(decodeNatPmpRequest(hex('00 02 0000 0050 0050 00000e10 00')), { kind: 'drop', reason: 'wrong-length' });
  assert.deepEqual(decodeNatPmpRequest(new Uint8Array(1101)), { kind: 'drop', reason: 'oversized' });
});

test('encodes the §3.2 external-address response: 128+0, result, epoch, address; address 0 on error', () => {
  const out = new Uint8Array(16);
  const n = encodeExternalAddressResponse(out, NATPMP_RESULT.success, 0x01020304, 0xcb007101);
  assert.equal(toHex(out.subarray(0, n)), '00800000' + '01020304' + 'cb007101');
  const e = encodeExternalAddressResponse(out, NATPMP_RESULT.networkFailure, 7, 0xcb007101);
  assert.equal(toHex(out.subarray(0, e)), '00800003' + '00000007' + '00000000');
});

test('encodes the §3.3 map response: 128+op, result, epoch, internal, mapped external, lifetime', () => {
  const out = new Uint8Array(16);
  assert.equal(encodeMapResponse(out, 1, NATPMP_RESULT.success, 42, 6667, 50000, 3600), 16);
  assert.equal(toHex(out), '00810000' + '0000002a' + '1a0b' + 'c350' + '00000e10');
  encodeMapResponse(out, 2, NATPMP_RESULT.outOfResources, 1, 80, 0, 0);
  assert.equal(toHex(out), '00820004' + '00000001' + '0050' + '0000' + '00000000');
  // Ports above 255 keep their high byte (miniupnpd #196 truncated them).
  encodeMapResponse(out, 2, NATPMP_RESULT.success, 0, 0xfffe, 0x1234, 1);
  assert.equal(toHex(out.subarray(8, 12)), 'fffe1234');
});

test('encodes §3.5 Unsupported Version as 8 bytes with opcode 128 (Errata ID 3618)', () => {
  const out = new Uint8Array(16);
  const n = encodeUnsupportedVersion(out, 0x00010002);
  assert.equal(toHex(out.subarray(0, n)), '00800001' + '00010002');
});

test('encodes §3.5 Unsupported Opcode as the whole request with the top bit set and result 5', () => {
  const request = hex('00 09 0000 deadbeef cafe');
  const out = new Uint8Array(request.length);
  const n = encodeUnsupportedOpcode(out, request);
  assert.equal(toHex(out.subarray(0, n)), '0089' + '0005' + 'deadbeefcafe');
  const short = new Uint8Array(4);
  assert.equal(encodeUnsupportedOpcode(short, hex('00 09')), 4);
  assert.equal(toHex(short), '00890005');
});
