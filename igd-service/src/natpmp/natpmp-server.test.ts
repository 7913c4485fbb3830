/**
 * The NAT-PMP server on loopback: answers come from the bound address and port to the
 * request's source; announcements (sent here to a unicast loopback listener, never to a
 * multicast group) follow the §3.2.1 schedule and restart with a fresh epoch on an external
 * address change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { startNatPmpServer } from './natpmp-server.js';
import { MappingService } from '../mapping/mapping-service.js';
import { MemoryPortMappingBackend, MemoryMappingStore } from '../testing/index.js';
import { PcpResponder } from '../pcp/responder.js';

interface Received { readonly at: number; readonly bytes: Buffer; readonly from: string }

async function listener(): Promise<{ socket: Socket; port: number; got: Received[]; until: (n: number, ms: number) => Promise<void> }> {
  const socket = createSocket('udp4');
  const got: Received[] = [];
  socket.on('message', (bytes, from) => got.push({ at: performance.now(), bytes, from: `${from.address}:${from.port}` }));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const until = async (n: number, ms: number): Promise<void> => {
    const end = performance.now() + ms;
    while (got.length < n && performance.now() < end) await new Promise((r) => setTimeout(r, 5));
    assert.ok(got.length >= n, `${got.length} of ${n} datagrams within ${ms} ms`);
  };
  return { socket, port: socket.address().port, got, until };
}

test('answers a request from its own address and port; announces 10 times with doubling gaps, again after an address change', async (t) => {
  const backend = new MemoryPortMappingBackend({ externalAddress: '203.0.113.7' });
  const mappings = new MappingService({}, { store: new MemoryMappingStore(), backend });
  await mappings.start();
  const announcements = await listener();
  t.after(() => announcements.socket.close());
  const server = await startNatPmpServer({
    lanAddress: '127.0.0.1', lanPrefixLength: 8, port: 0,
    announceAddress: '127.0.0.1', announcePort: announcements.port, announceCount: 10, announceFirstGapMs: 5,
  }, { mappings });
  t.after(() => server.close());

  await announcements.until(10, 8_000);
  // Gaps of 5, 10, 20, ... 1280 ms: the n-th send is at least 5·(2^n − 1) ms after the first
  // (less a few ms: the first may be read late), and all ten take under twice the nominal 2.555 s.
  const first = announcements.got[0]!.at;
  announcements.got.forEach((r, n) => assert.ok(r.at - first >= 5 * (2 ** n - 1) - 10, `send ${n} after ${(r.at - first).toFixed(1)} ms`));
  assert.ok(announcements.got[9]!.at - first < 5_110);
  for (const r of announcements.got) {
    assert.equal(r.from, `127.0.0.1:${server.port}`);
    assert.equal(r.bytes.subarray(0, 4).toString('hex'), '00800000');
    assert.equal(r.bytes.subarray(8).toString('hex'), 'cb007107');
  }

  const client = await listener();
  t.after(() => client.socket.close());
  client.socket.send(Uint8Array.from([0, 2, 0, 0, 0x1f, 0x90, 0x1f, 0x90, 0, 0, 0x0e, 0x10]), server.port, '127.0.0.1');
  await client.until(1, 2_000);
  assert.equal(client.got[0]!.from, `127.0.0.1:${server.port}`);
  assert.equal(client.got[0]!.bytes.subarray(8).toString('hex'), '1f901f90' + '00000e10');
  assert.equal(mappings.list()[0]?.origin, 'natpmp');

  announcements.got.length = 0;
  backend.setExternalAddress('198.51.100.9');
  await announcements.until(3, 2_000);
  assert.equal(announcements.got[0]!.bytes.toString('hex'), '00800000' + '00000000' + 'c6336409', 'new address, epoch 0');
  assert.equal(server.stats().epochResets, 1);
});

test('with PCP: each announcement is followed by a PCP ANNOUNCE with the same epoch; a MAP is answered; drops are counted', async (t) => {
  const backend = new MemoryPortMappingBackend({ externalAddress: '203.0.113.7' });
  const mappings = new MappingService({}, { store: new MemoryMappingStore(), backend });
  await mappings.start();
  const pcp = new PcpResponder(mappings, { lan: '127.0.0.0/8', gatewayAddress: '127.0.0.1' });
  const announcements = await listener();
  t.after(() => announcements.socket.close());
  const server = await startNatPmpServer({
    lanAddress: '127.0.0.1', lanPrefixLength: 8, port: 0,
    announceAddress: '127.0.0.1', announcePort: announcements.port, announceCount: 2, announceFirstGapMs: 5,
  }, { mappings, pcp });
  t.after(() => server.close());
  await announcements.until(4, 4_000);
  assert.deepEqual(announcements.got.map((r) => r.bytes[0]), [0, 2, 0, 2], 'NAT-PMP then PCP, twice');
  const pcpAnnounce = announcements.got[1]!.bytes;
  assert.equal(pcpAnnounce.length, 24);
  assert.equal(pcpAnnounce.subarray(0, 8).toString('hex'), '0280000000000000', 'ANNOUNCE response, SUCCESS, lifetime 0');
  assert.equal(pcpAnnounce.readUInt32BE(8), announcements.got[0]!.bytes.readUInt32BE(4), 'the NAT-PMP epoch');

  const client = await listener();
  t.after(() => client.socket.close());
  const nonce = '0102030405060708090a0b0c';
  const map = Buffer.from(`0201000000000e10${'00000000000000000000ffff7f000001'}${nonce}06000000${'1f90'}${'1f90'}${'0'.repeat(32)}`, 'hex');
  client.socket.send(map, server.port, '127.0.0.1');
  client.socket.send(Buffer.from([2, 1, 0, 0]), server.port, '127.0.0.1');
  await client.until(1, 2_000);
  const answer = client.got[0]!.bytes;
  assert.equal(answer.subarray(0, 4).toString('hex'), '02810000', 'MAP response, SUCCESS');
  assert.equal(answer.readUInt16BE(42), 8080);
  assert.equal(mappings.list()[0]?.origin, 'pcp');
  assert.equal(mappings.list()[0]?.nonce, nonce);
  for (let i = 0; i < 200 && pcp.stats().drops['header-too-short'] === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(pcp.stats(), { requests: 1, results: { SUCCESS: 1 }, drops: { 'too-short': 0, response: 0, 'header-too-short': 1 } });
  assert.equal(server.stats().pcpAnnouncementsSent, 2);
});

test('with PCP: an address change sends each PCP client its MAP mapping with the new address, 3 times, bounded', async (t) => {
  const backend = new MemoryPortMappingBackend({ externalAddress: '203.0.113.7' });
  let now = 1_700_000_000_000;
  const mappings = new MappingService({}, { store: new MemoryMappingStore(), backend, now: () => now });
  await mappings.start();
  const pcp = new PcpResponder(mappings, { lan: '127.0.0.0/8', gatewayAddress: '127.0.0.1' });
  const announcements = await listener();
  t.after(() => announcements.socket.close());
  const clients = await listener();
  t.after(() => clients.socket.close());
  const server = await startNatPmpServer({
    lanAddress: '127.0.0.1', lanPrefixLength: 8, port: 0,
    announceAddress: '127.0.0.1', announcePort: announcements.port, announceCount: 1, announceFirstGapMs: 5,
    pcpUpdates: { clientPort: clients.port, firstGapMs: 20, maxPerSend: 2, rate: { perSecond: 0.001, burst: 5 } },
  }, { mappings, pcp });
  t.after(() => server.close());
  await announcements.until(2, 2_000);

  const nonce = '0102030405060708090a0b0c';
  const ask = (port: number) => Buffer.from(`0201000000000e10${'00000000000000000000ffff7f000001'}${nonce}06000000${port.toString(16).padStart(4, '0').repeat(2)}${'0'.repeat(32)}`, 'hex');
  const answers = await listener();
  t.after(() => answers.socket.close());
  for (const port of [8080, 8081, 8082]) answers.socket.send(ask(port), server.port, '127.0.0.1');
  await answers.until(3, 2_000);
  assert.equal(clients.got.length, 0, 'nothing unsolicited before a change');

  // Losing the address and getting the same one back changes nothing a client knows.
  backend.setExternalAddress('');
  backend.setExternalAddress('203.0.113.7');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(clients.got.length, 0, 'no update for the address clients already have');

  now += 600_000;
  backend.setExternalAddress('198.51.100.9');
  // Two mappings a send (the third counted), three sends, but only 5 tokens in all.
  await clients.until(5, 3_000);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(clients.got.length, 5);
  const first = clients.got[0]!;
  assert.equal(first.from, `127.0.0.1:${server.port}`);
  assert.equal(first.bytes.subarray(0, 4).toString('hex'), '02810000', 'MAP response, SUCCESS');
  assert.equal(first.bytes.readUInt32BE(4), 3000, 'the lifetime left');
  assert.ok(first.bytes.readUInt32BE(8) <= 1, 'the new epoch');
  assert.equal(first.bytes.subarray(24, 36).toString('hex'), nonce);
  assert.equal(first.bytes.readUInt16BE(42), 8080);
  assert.equal(first.bytes.subarray(44, 60).toString('hex'), '00000000000000000000ffffc6336409', 'the new address');
  assert.deepEqual(clients.got.map((r) => r.bytes.readUInt16BE(42)), [8080, 8081, 8080, 8081, 8080]);
  assert.ok(clients.got[2]!.at - first.at >= 15, 'the second send waits its gap');
  const stats = server.stats();
  assert.deepEqual([stats.pcpUpdatesSent, stats.pcpUpdatesSuppressed], [5, 3 + 1]);
});
