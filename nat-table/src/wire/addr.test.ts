/** Tests of the address text forms and big-endian helpers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipv4ToString, isMulticast, macToString, parseIpv4, parseMac, prefixMask, readU16, readU32, writeU16, writeU32 } from './addr.js';
import { ip } from './test-fixtures.js';

test('parseIpv4 accepts strict dotted quads and refuses the rest', () => {
  assert.equal(parseIpv4('203.0.113.7'), ip('203.0.113.7'));
  assert.equal(parseIpv4('0.0.0.0'), 0);
  assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
  for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', ' 1.2.3.4', '1.2.3.4 ', '01.2.3.4', '1.2.3.-4', '1..2.3', '', 'a.b.c.d', '1.2.3.4/24']) {
    assert.equal(parseIpv4(bad), null, bad);
  }
  assert.equal(parseIpv4(42 as unknown as string), null);
});

test('ipv4ToString prints unsigned and round-trips', () => {
  assert.equal(ipv4ToString(0xffffffff), '255.255.255.255');
  assert.equal(ipv4ToString(-1), '255.255.255.255');
  assert.equal(ipv4ToString(ip('192.168.1.100')), '192.168.1.100');
  for (const n of [0, 1, 0x7fffffff, 0x80000000, 0xc0a80101, 0xdeadbeef]) assert.equal(parseIpv4(ipv4ToString(n)), n);
});

test('MACs parse and print', () => {
  const m = parseMac('02:00:5E:00:00:fb');
  assert.deepEqual(m, Uint8Array.of(2, 0, 0x5e, 0, 0, 0xfb));
  assert.equal(macToString(m!), '02:00:5e:00:00:fb');
  for (const bad of ['zz:00:00:00:00:00', '02:00:00:00:00', '02-00-00-00-00-00', '02:00:00:00:00:000', '']) {
    assert.equal(parseMac(bad), null, bad);
  }
});

test('big-endian reads and writes; multicast', () => {
  const b = new Uint8Array(6);
  writeU16(b, 0, 0xabcd);
  writeU32(b, 2, 0xfedcba98);
  assert.deepEqual(Array.from(b), [0xab, 0xcd, 0xfe, 0xdc, 0xba, 0x98]);
  assert.equal(readU16(b, 0), 0xabcd);
  assert.equal(readU32(b, 2), 0xfedcba98);
  assert.equal(isMulticast(ip('239.255.255.250')), true);
  assert.equal(isMulticast(ip('224.0.0.1')), true);
  assert.equal(isMulticast(ip('240.0.0.1')), false);
  assert.equal(isMulticast(ip('192.168.1.1')), false);
});

test('prefixMask: 0, 8, 24, 31, 32', () => {
  assert.deepEqual([0, 8, 24, 31, 32].map(prefixMask), [0, 0xff000000, 0xffffff00, 0xfffffffe, 0xffffffff]);
});
