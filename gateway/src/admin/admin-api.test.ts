import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAdminServer, parseWanBody, type WanChange } from './admin-api.js';

function call(socketPath: string, method: string, path: string, body?: string): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('POST /wan bodies are validated field by field', () => {
  assert.deepEqual(parseWanBody({ address: '203.0.113.7/24', gateway: '203.0.113.1' }), { address: '203.0.113.7', prefixLength: 24, gateway: '203.0.113.1' });
  assert.deepEqual(parseWanBody({ address: '203.0.113.7/33' }), { field: 'address', problem: 'prefix length must be 1-32' });
  assert.deepEqual(parseWanBody({ address: '203.0.113.256/24' }), { field: 'address', problem: 'must be "a.b.c.d/n"' });
  assert.deepEqual(parseWanBody({ gateway: '203.0.113.1' }), { field: 'address', problem: 'is required: "a.b.c.d/n"' });
  assert.deepEqual(parseWanBody({ address: '203.0.113.7/24', gateway: 'x' }), { field: 'gateway', problem: 'must be "a.b.c.d"' });
  assert.deepEqual(parseWanBody({ address: '203.0.113.7/24', colour: 1 }), { field: 'colour', problem: 'is not a known field' });
  assert.deepEqual(parseWanBody([1]), { field: '(body)', problem: 'must be a JSON object' });
});

test('the admin API serves status, flows, mappings and changes the WAN on a 0600 socket', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'oi-admin-'));
  const socketPath = join(dir, 'a', 'admin.sock');
  const changes: WanChange[] = [];
  const server = await startAdminServer(socketPath, {
    status: () => ({ wan: '203.0.113.2' }),
    flows: (limit) => Array.from({ length: Math.min(limit, 3) }, (_, i) => ({ i })),
    mappings: () => [{ externalPort: 8080 }],
    setWan: async (c) => { changes.push(c); },
  });
  try {
    assert.equal((await stat(socketPath)).mode & 0o777, 0o600);
    assert.deepEqual(await call(socketPath, 'GET', '/status'), { status: 200, json: { wan: '203.0.113.2' } });
    assert.deepEqual((await call(socketPath, 'GET', '/flows?limit=2')).json, [{ i: 0 }, { i: 1 }]);
    assert.deepEqual((await call(socketPath, 'GET', '/mappings')).json, [{ externalPort: 8080 }]);
    const ok = await call(socketPath, 'POST', '/wan', '{"address":"203.0.113.7/24","gateway":"203.0.113.1"}');
    assert.equal(ok.status, 200);
    assert.deepEqual(changes, [{ address: '203.0.113.7', prefixLength: 24, gateway: '203.0.113.1' }]);
    const bad = await call(socketPath, 'POST', '/wan', '{"address":"nope"}');
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json, { error: 'address: must be "a.b.c.d/n"', field: 'address' });
    const broken = await call(socketPath, 'POST', '/wan', '{"address":');
    assert.equal(broken.status, 400);
    assert.equal((broken.json as { field: string }).field, '(body)');
    assert.equal((await call(socketPath, 'GET', '/nope')).status, 404);
    assert.equal(changes.length, 1);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
