/**
 * The probe agent on loopback: a TCP probe reaches a listener and brings its answer back,
 * a UDP probe sends the token, a probe to a closed port says why, and bad control lines
 * get a clear error on the same connection, which stays usable.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { createConnection } from 'node:net';
import { agentAddress, parseProbeRequest, ProbeAgentClient, startProbeAgent } from './probe-agent.js';

const agent = await startProbeAgent({ address: '127.0.0.1', port: 0 });
after(() => agent.close());

test('parseProbeRequest refuses what is not a probe, with the reason', () => {
  assert.equal(parseProbeRequest('{'), 'not JSON');
  assert.equal(parseProbeRequest('{"proto":"icmp","address":"127.0.0.1","port":1,"token":"00112233"}'), 'proto must be tcp or udp');
  assert.equal(parseProbeRequest('{"proto":"tcp","address":"localhost","port":1,"token":"00112233"}'), 'address must be an IPv4 address');
  assert.equal(parseProbeRequest('{"proto":"tcp","address":"127.0.0.1","port":0,"token":"00112233"}'), 'port must be 1-65535');
  assert.equal(parseProbeRequest('{"proto":"udp","address":"127.0.0.1","port":9,"token":"xyz"}'), 'token must be 8-64 hex digits');
  assert.deepEqual(parseProbeRequest('{"proto":"udp","address":"127.0.0.1","port":9,"token":"00112233"}'), { proto: 'udp', address: '127.0.0.1', port: 9, token: '00112233' });
});

test('a TCP probe delivers the token and reports the answer; a UDP probe sends it', async () => {
  const got: string[] = [];
  const tcp = createServer((c) => c.on('data', (d) => { got.push(`tcp ${d.toString().trim()}`); c.end('ok\n'); }));
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  const udp = createSocket('udp4');
  udp.on('message', (m) => got.push(`udp ${m.toString()}`));
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  const client = await ProbeAgentClient.connect(agentAddress(agent), 2000);
  try {
    const a = await client.probe({ proto: 'tcp', address: '127.0.0.1', port: (tcp.address() as AddressInfo).port, token: 'aabbccdd' });
    assert.deepEqual(a, { ok: true, detail: 'connected; the LAN side answered "ok"' });
    const b = await client.probe({ proto: 'udp', address: '127.0.0.1', port: udp.address().port, token: '00112233' });
    assert.equal(b.ok, true);
    assert.deepEqual(got, ['tcp aabbccdd', 'udp 00112233', 'udp 00112233', 'udp 00112233']);
  } finally {
    client.close();
    tcp.close();
    udp.close();
  }
});

test('a probe to a closed port fails with the reason', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const client = await ProbeAgentClient.connect(agentAddress(agent), 2000);
  try {
    const a = await client.probe({ proto: 'tcp', address: '127.0.0.1', port, token: 'aabbccdd' });
    assert.equal(a.ok, false);
    assert.match(a.detail, /ECONNREFUSED/);
  } finally {
    client.close();
  }
});

test('a bad control line gets an error line and the connection goes on', async () => {
  const { port } = agentAddress(agent);
  const lines = await new Promise<string[]>((resolve, reject) => {
    const c = createConnection({ host: '127.0.0.1', port });
    let text = '';
    c.on('data', (d) => {
      text += d.toString();
      if (text.split('\n').length > 2) { c.destroy(); resolve(text.trim().split('\n')); }
    });
    c.on('error', reject);
    c.write('hello\n{"proto":"tcp","address":"127.0.0.1","port":70000,"token":"00112233"}\n');
  });
  assert.deepEqual(lines.map((l) => JSON.parse(l) as unknown), [
    { ok: false, detail: 'bad request: not JSON' }, { ok: false, detail: 'bad request: port must be 1-65535' },
  ]);
});
