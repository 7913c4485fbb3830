/**
 * NatPortMappingBackend.peer over a real NatTable with a manual clock: the flow PEER opens
 * is the one the host's first packet uses, held for the lifetime on the NAT's own clock;
 * addresses the NAT cannot use are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NatTable, VERDICT, parseIpv4, resolveNatConfig } from '@openigd/nat-table';
import { NatPortMappingBackend } from './nat-backend.js';

const WAN = parseIpv4('203.0.113.2')!;
const HOST = '192.168.1.100';
const SERVER = '198.51.100.10';

function setup() {
  const config = resolveNatConfig({ preset: 'rfc' });
  assert.ok(config.ok);
  const table = new NatTable(config.config);
  table.setExternalAddress(WAN);
  let now = 1_000_000;
  const backend = new NatPortMappingBackend(table, {
    lanAddr: parseIpv4('192.168.1.1')!, lanPrefixLength: 24, wanAddr: () => WAN, nowMs: () => now,
    wanCounters: () => {
      throw new Error('not used here');
    },
  });
  return { table, backend, advance: (ms: number) => (now += ms), now: () => now };
}

test('peer: the external endpoint the first packet then leaves from, held for the lifetime on the NAT clock', () => {
  const { table, backend, advance, now } = setup();
  const r = backend.peer({ protocol: 'UDP', internalClient: HOST, internalPort: 5000, remoteHost: SERVER, remotePort: 3478, lifetimeSeconds: 3600 });
  assert.ok(r.ok);
  assert.equal(r.externalAddress, '203.0.113.2');
  assert.equal(table.outbound(17, parseIpv4(HOST)!, 5000, parseIpv4(SERVER)!, 3478, 0, now()), VERDICT.forward);
  assert.equal(table.result.port, r.externalPort);
  advance(3_599_000);
  assert.equal(table.expire(now()), 0, 'held past the 300 s UDP timeout');
  advance(1000);
  assert.equal(table.expire(now()), 1);
});

test('peer: refuses what the NAT cannot use, and says when there is no external address', () => {
  const { table, backend } = setup();
  const ask = (internalClient: string, remoteHost: string) =>
    backend.peer({ protocol: 'TCP', internalClient, internalPort: 5000, remoteHost, remotePort: 80, lifetimeSeconds: 60 });
  for (const [internal, remote] of [[HOST, '::1'], [HOST, '192.168.1.101'], ['10.0.0.5', SERVER], ['192.168.1.0', SERVER], [HOST, '0.0.0.0']]) {
    assert.deepEqual(ask(internal!, remote!), { ok: false, reason: 'invalid' }, `${internal} → ${remote}`);
  }
  table.setExternalAddress(0);
  assert.deepEqual(ask(HOST, SERVER), { ok: false, reason: 'no-external-address' });
  assert.equal(table.size, 0);
});
