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
const NONCE = '0102030405060708090a0b0c';
const PEER = { nonce: NONCE, suggestedExternalPort: 0 };

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
  const r = backend.peer({ protocol: 'UDP', internalClient: HOST, internalPort: 5000, remoteHost: SERVER, remotePort: 3478, lifetimeSeconds: 3600, ...PEER });
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
    backend.peer({ protocol: 'TCP', internalClient, internalPort: 5000, remoteHost, remotePort: 80, lifetimeSeconds: 60, ...PEER });
  for (const [internal, remote] of [[HOST, '::1'], [HOST, '192.168.1.101'], ['10.0.0.5', SERVER], ['192.168.1.0', SERVER], [HOST, '0.0.0.0']]) {
    assert.deepEqual(ask(internal!, remote!), { ok: false, reason: 'invalid' }, `${internal} → ${remote}`);
  }
  table.setExternalAddress(0);
  assert.deepEqual(ask(HOST, SERVER), { ok: false, reason: 'no-external-address' });
  assert.equal(table.size, 0);
});

test('peer: another nonce neither extends nor ends a live hold (answered with what it has left); the same nonce ends it', () => {
  const { table, backend, advance, now } = setup();
  const flow = { protocol: 'UDP', internalClient: HOST, internalPort: 5000, remoteHost: SERVER, remotePort: 3478 } as const;
  const r = backend.peer({ ...flow, lifetimeSeconds: 600, ...PEER });
  assert.ok(r.ok);
  advance(100_500);
  const other = { ...flow, nonce: 'ffffffffffffffffffffffff' };
  assert.deepEqual(backend.peer({ ...other, lifetimeSeconds: 3600, suggestedExternalPort: 0 }), { ok: false, reason: 'held-by-other', remainingSeconds: 500 });
  assert.deepEqual(backend.endPeer(other), { ok: false, reason: 'held-by-other', remainingSeconds: 500 });
  assert.deepEqual(backend.endPeer({ ...flow, nonce: NONCE }), { ok: true, flow: { externalAddress: '203.0.113.2', externalPort: r.externalPort } });
  advance(199_499);
  assert.equal(table.expire(now()), 0, 'the idle timer (300 s from the PEER) still runs');
  advance(1);
  assert.equal(table.expire(now()), 1, 'gone at its idle timeout once the hold is gone, long before the 600 s hold');
  assert.deepEqual(backend.endPeer({ ...flow, nonce: NONCE }), { ok: true, flow: undefined });
  assert.deepEqual(backend.endPeer({ ...flow, remoteHost: '::1', nonce: NONCE }), { ok: true, flow: undefined });
});

test('peer: a free suggested external port is the one the flow gets', () => {
  const { backend } = setup();
  const r = backend.peer({ protocol: 'TCP', internalClient: HOST, internalPort: 40000, remoteHost: SERVER, remotePort: 443, lifetimeSeconds: 60,
    nonce: NONCE, suggestedExternalPort: 51234 });
  assert.deepEqual(r, { ok: true, externalAddress: '203.0.113.2', externalPort: 51234 });
});
