/** The overwrite rule's table, row by row, and each access-policy outcome. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressInBlock, checkAccessPolicy, checkDeletePolicy, decideAddPortMapping } from './mapping-rules.js';
import type { AccessPolicy, PortMappingRequest } from './mapping-rules.js';
import type { PortMapping } from './types.js';

const request: PortMappingRequest = {
  remoteHost: '', externalPort: 4662, protocol: 'TCP', internalPort: 4662, internalClient: '192.168.1.10',
  enabled: true, description: 'eMule', leaseSeconds: 0,
};
const existing: PortMapping = { ...request, expiresAtMs: 0, origin: 'upnp', requester: '192.168.1.10' };

function outcome(r: { ok: boolean; reason?: string; kind?: string }): string {
  return r.ok ? (r.kind ?? 'ok') : r.reason ?? '';
}

test('overwrite rule: no entry → create', () => {
  assert.deepEqual(decideAddPortMapping(undefined, request), { ok: true, kind: 'create' });
});

test('overwrite rule: same internal client → replace (enable, disable, rename, new internal port, renew)', () => {
  assert.deepEqual(decideAddPortMapping(existing, request), { ok: true, kind: 'replace', previous: existing, identical: true });
  for (const change of [{ enabled: false }, { description: 'renamed' }, { internalPort: 4663 }, { leaseSeconds: 3600 }]) {
    assert.deepEqual(decideAddPortMapping(existing, { ...request, ...change }),
      { ok: true, kind: 'replace', previous: existing, identical: false }, JSON.stringify(change));
  }
});

test('overwrite rule: another internal client → conflict (718)', () => {
  assert.equal(outcome(decideAddPortMapping(existing, { ...request, internalClient: '192.168.1.11' })), 'conflict');
});

test('addressInBlock: addresses and CIDR blocks; malformed input is no match', () => {
  assert.equal(addressInBlock('192.168.1.10', '192.168.1.0/24'), true);
  assert.equal(addressInBlock('192.168.2.10', '192.168.1.0/24'), false);
  assert.equal(addressInBlock('192.168.1.10', '192.168.1.10'), true);
  assert.equal(addressInBlock('10.1.2.3', '0.0.0.0/0'), true);
  for (const bad of ['192.168.1.0/33', '192.168.1.0/x', 'lan', '192.168.1.0/24/1', '']) assert.equal(addressInBlock('192.168.1.10', bad), false, bad);
  assert.equal(addressInBlock('nonsense', '0.0.0.0/0'), false);
});

const counts = { total: 0, forInternalClient: 0 };

test('policy: allowed by default; rules match client block and port ranges, first match wins', () => {
  assert.deepEqual(checkAccessPolicy({}, request, '192.168.1.10', counts, true), { ok: true });
  const policy: AccessPolicy = {
    rules: [
      { action: 'allow', clients: '192.168.1.0/24', externalPorts: { minimum: 1024, maximum: 65535 } },
      { action: 'deny', clients: '0.0.0.0/0' },
    ],
  };
  assert.equal(outcome(checkAccessPolicy(policy, request, '192.168.1.10', counts, true)), 'ok');
  assert.equal(outcome(checkAccessPolicy(policy, { ...request, externalPort: 80 }, '192.168.1.10', counts, true)), 'not-authorized');
  assert.equal(outcome(checkAccessPolicy(policy, { ...request, internalClient: '10.0.0.5' }, '10.0.0.5', counts, true)), 'not-authorized');
  assert.equal(outcome(checkAccessPolicy({ defaultAction: 'deny' }, request, '192.168.1.10', counts, true)), 'not-authorized');
});

test('policy: clients map only themselves (606), also for deletes', () => {
  const policy: AccessPolicy = { clientsMapOnlyThemselves: true };
  assert.equal(outcome(checkAccessPolicy(policy, request, '192.168.1.10', counts, true)), 'ok');
  assert.equal(outcome(checkAccessPolicy(policy, request, '192.168.1.99', counts, true)), 'not-authorized');
  assert.equal(outcome(checkDeletePolicy(policy, existing, '192.168.1.99')), 'not-authorized');
  assert.equal(outcome(checkDeletePolicy(policy, existing, '192.168.1.10')), 'ok');
  assert.equal(outcome(checkDeletePolicy({}, existing, '192.168.1.99')), 'ok');
});

test('policy: static leases only (725), remote host demands (726, 715), same ports (724)', () => {
  assert.equal(outcome(checkAccessPolicy({ staticLeasesOnly: true }, { ...request, leaseSeconds: 3600 }, '192.168.1.10', counts, true)), 'only-permanent-leases');
  assert.equal(outcome(checkAccessPolicy({ staticLeasesOnly: true }, request, '192.168.1.10', counts, true)), 'ok');
  assert.equal(outcome(checkAccessPolicy({ remoteHost: 'wildcard-only' }, { ...request, remoteHost: '198.51.100.7' }, '192.168.1.10', counts, true)), 'remote-host-only-wildcard');
  assert.equal(outcome(checkAccessPolicy({ remoteHost: 'specific-only' }, request, '192.168.1.10', counts, true)), 'remote-host-wildcard-not-permitted');
  assert.equal(outcome(checkAccessPolicy({ samePortsOnly: true }, { ...request, internalPort: 80 }, '192.168.1.10', counts, true)), 'same-port-values-required');
});

test('policy: limits on the table and per internal client (728) apply to new entries only', () => {
  assert.equal(outcome(checkAccessPolicy({ maxMappings: 2 }, request, '192.168.1.10', { total: 2, forInternalClient: 0 }, true)), 'no-port-maps-available');
  assert.equal(outcome(checkAccessPolicy({ maxMappings: 2 }, request, '192.168.1.10', { total: 2, forInternalClient: 1 }, false)), 'ok');
  assert.equal(outcome(checkAccessPolicy({ maxMappingsPerClient: 1 }, request, '192.168.1.10', { total: 5, forInternalClient: 1 }, true)), 'no-port-maps-available');
  assert.equal(outcome(checkAccessPolicy({ maxMappingsPerClient: 1 }, request, '192.168.1.10', { total: 5, forInternalClient: 0 }, true)), 'ok');
});
