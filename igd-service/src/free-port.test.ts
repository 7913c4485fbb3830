/** findFreeExternalPort: nearest free port, range bounds, protocols apart, exhaustion. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findFreeExternalPort } from './free-port.js';
import type { MappingKey } from './types.js';

const tcp = (...ports: number[]): MappingKey[] => ports.map((externalPort) => ({ remoteHost: '', externalPort, protocol: 'TCP' }));

test('the preferred port when free, else the nearest above then below', () => {
  assert.equal(findFreeExternalPort([], 'TCP', 8080), 8080);
  assert.equal(findFreeExternalPort(tcp(8080), 'TCP', 8080), 8081);
  assert.equal(findFreeExternalPort(tcp(8080, 8081), 'TCP', 8080), 8079);
  assert.equal(findFreeExternalPort(tcp(8080, 8081, 8079), 'TCP', 8080), 8082);
});

test('a port held for any remote host is held; the other protocol does not count', () => {
  const held: MappingKey[] = [{ remoteHost: '203.0.113.9', externalPort: 5000, protocol: 'UDP' }];
  assert.equal(findFreeExternalPort(held, 'UDP', 5000), 5001);
  assert.equal(findFreeExternalPort(held, 'TCP', 5000), 5000);
});

test('stays inside the range: a preferred port below it starts at its minimum', () => {
  assert.equal(findFreeExternalPort([], 'TCP', 80), 1024);
  assert.equal(findFreeExternalPort(tcp(65535), 'TCP', 65535), 65534);
  assert.equal(findFreeExternalPort(tcp(10, 11), 'UDP', 10, { minimum: 10, maximum: 12 }), 10);
  assert.equal(findFreeExternalPort(tcp(10, 11), 'TCP', 10, { minimum: 10, maximum: 12 }), 12);
});

test('excluded ports are skipped; undefined when the range is full', () => {
  assert.equal(findFreeExternalPort([], 'TCP', 2000, undefined, new Set([2000, 2001])), 1999);
  assert.equal(findFreeExternalPort(tcp(10, 11, 12), 'TCP', 11, { minimum: 10, maximum: 12 }), undefined);
  const all = tcp(...Array.from({ length: 65535 - 1023 }, (_, i) => 1024 + i));
  assert.equal(findFreeExternalPort(all, 'TCP', 40000), undefined);
});
