/**
 * The unsolicited MAP responses of an address change (RFC 6887 §14.2), byte-exact: one per
 * PCP MAP mapping, to its client, with the new address, the lifetime left and the epoch;
 * THIRD_PARTY when the mapping was made for another host; nothing for other protocols,
 * due mappings or without an external address; never more than the limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PortMapping } from '../types.js';
import { pcpMappingUpdates } from './updates.js';

const hex = (s: string): string => s.replace(/[\s|]+/g, '');
const NOW = 1_700_000_000_000;
const NONCE = '0102030405060708090a0b0c';

function mapping(over: Partial<PortMapping> = {}): PortMapping {
  return {
    remoteHost: '', externalPort: 8080, protocol: 'TCP', internalPort: 80, internalClient: '192.168.1.100', enabled: true,
    description: 'PCP 80 tcp', leaseSeconds: 3600, expiresAtMs: NOW + 3_000_000, origin: 'pcp', requester: '192.168.1.100',
    nonce: NONCE, ...over,
  };
}

test('one MAP success response per PCP mapping, to its client, byte-exact', () => {
  const batch = pcpMappingUpdates([mapping()], '198.51.100.99', 2, NOW, 10);
  assert.equal(batch.overLimit, 0);
  assert.equal(batch.datagrams.length, 1);
  assert.equal(batch.datagrams[0]!.address, '192.168.1.100');
  assert.equal(Buffer.from(batch.datagrams[0]!.bytes).toString('hex'), hex(
    `02 81 00 00 | 00000bb8 | 00000002 | 00000000 00000000 00000000 | ${NONCE} | 06 000000 | 0050 | 1f90 | 00000000 00000000 0000ffff c6336463`));
});

test('THIRD_PARTY: to the client that asked, with the internal host in the option', () => {
  const batch = pcpMappingUpdates([mapping({ internalClient: '192.168.1.101', protocol: 'UDP', expiresAtMs: NOW + 1500 })], '198.51.100.99', 0, NOW, 10);
  assert.equal(batch.datagrams[0]!.address, '192.168.1.100');
  assert.equal(Buffer.from(batch.datagrams[0]!.bytes).toString('hex'), hex(
    `02 81 00 00 | 00000002 | 00000000 | 00000000 00000000 00000000 | ${NONCE} | 11 000000 | 0050 | 1f90 | 00000000 00000000 0000ffff c6336463` +
    ' | 01 00 0010 | 00000000 00000000 0000ffff c0a80165'));
});

test('skipped: other protocols, no nonce, a remote host, an unknown client, due mappings; none without an address', () => {
  const skipped = [
    mapping({ origin: 'upnp' }), mapping({ origin: 'natpmp' }), mapping({ nonce: undefined }), mapping({ nonce: 'xyz' }),
    mapping({ remoteHost: '198.51.100.1' }), mapping({ requester: '' }), mapping({ expiresAtMs: NOW }),
  ];
  assert.deepEqual(pcpMappingUpdates(skipped, '198.51.100.99', 0, NOW, 10), { datagrams: [], overLimit: 0 });
  assert.deepEqual(pcpMappingUpdates([mapping()], '', 0, NOW, 10), { datagrams: [], overLimit: 0 });
});

test('at most `limit` datagrams; the rest are counted', () => {
  const many = Array.from({ length: 5 }, (_, i) => mapping({ internalPort: 1000 + i, externalPort: 2000 + i }));
  const batch = pcpMappingUpdates(many, '198.51.100.99', 0, NOW, 3);
  assert.deepEqual([batch.datagrams.length, batch.overLimit], [3, 2]);
  assert.deepEqual(batch.datagrams.map((d) => Buffer.from(d.bytes).readUInt16BE(42)), [2000, 2001, 2002]);
});
