import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAdminServer, parseWanBody, bearerTokenMatches, type WanChange, type GatewayControl, type ControlOutcome } from './admin-api.js';
import { statusFixture } from '../testing/index.js';
import type { FlowView, MappingView } from '../stats.js';

const NAT_MAPPING: MappingView = {
  protocol: 'TCP', externalPort: 8080, internalClient: '192.168.1.10', internalPort: 80, remoteHost: '', enabled: true, description: '',
  leaseSeconds: 0, expiresAtMs: 0, origin: 'nat-table', requester: '', expiresAt: null, leaseRemainingSeconds: null,
};
const NO: ControlOutcome<never> = { ok: false, status: 409, error: 'not here' };

function control(changes: WanChange[]): GatewayControl {
  return {
    status: statusFixture,
    flows: (q) => ({
      total: 3, offset: q.offset, flows: Array.from({ length: Math.max(0, Math.min(q.limit, 3 - q.offset)) }, (_, i): FlowView => ({
        protocol: 'udp', internal: '192.168.1.10:5000', external: '203.0.113.2:5000', remote: '198.51.100.1:53', expiresInMs: q.offset + i,
      })),
    }),
    mappings: () => [NAT_MAPPING],
    addMapping: () => Promise.resolve(NO),
    updateMapping: () => Promise.resolve(NO),
    deleteMapping: () => Promise.resolve(NO),
    leases: () => [],
    capture: () => ({ running: false, dir: '/tmp/x', files: [] }),
    setCapture: () => Promise.reject(new Error('no capture here')),
    setWan: async (c) => { changes.push(c); },
  };
}

/** A GET over TCP with an optional Authorization header: the status and the body text. */
function get(port: number, path: string, authorization?: string): Promise<{ status: number; type: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: authorization ? { authorization } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text }));
    });
    req.on('error', reject);
    req.end();
  });
}

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
  const server = await startAdminServer(socketPath, control(changes));
  try {
    assert.equal(server.tcp, null);
    assert.equal((await stat(socketPath)).mode & 0o777, 0o600);
    assert.deepEqual(await call(socketPath, 'GET', '/status'), { status: 200, json: JSON.parse(JSON.stringify(statusFixture())) });
    const page = (await call(socketPath, 'GET', '/flows?limit=2&offset=1')).json as { total: number; offset: number; flows: FlowView[] };
    assert.deepEqual([page.total, page.offset, page.flows.map((f) => f.expiresInMs)], [3, 1, [1, 2]]);
    assert.deepEqual((await call(socketPath, 'GET', '/mappings')).json, [NAT_MAPPING]);
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

test('bearer tokens match only exactly, whatever their length', () => {
  assert.equal(bearerTokenMatches('Bearer s3cret-token', 's3cret-token'), true);
  assert.equal(bearerTokenMatches('bearer s3cret-token', 's3cret-token'), true);
  assert.equal(bearerTokenMatches('Bearer s3cret-toke', 's3cret-token'), false);
  assert.equal(bearerTokenMatches('Bearer s3cret-token-and-more', 's3cret-token'), false);
  assert.equal(bearerTokenMatches('Basic czNjcmV0LXRva2Vu', 's3cret-token'), false);
  assert.equal(bearerTokenMatches('s3cret-token', 's3cret-token'), false);
  assert.equal(bearerTokenMatches('Bearer ', 's3cret-token'), false);
  assert.equal(bearerTokenMatches(undefined, 's3cret-token'), false);
});

test('on TCP the admin API answers 401 without the bearer token and serves /metrics with it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'oi-admin-'));
  const token = 'test-token-0123456789';
  const server = await startAdminServer(join(dir, 'admin.sock'), control([]), { host: '127.0.0.1', port: 0, token });
  try {
    const port = server.tcp!.port;
    assert.ok(port > 0);
    for (const auth of [undefined, 'Bearer wrong', `Basic ${Buffer.from(`x:${token}`).toString('base64')}`]) {
      const r = await get(port, '/metrics', auth);
      assert.equal(r.status, 401, `${auth}: ${r.text}`);
      assert.doesNotMatch(r.text, /openigd_/);
    }
    assert.equal((await get(port, '/status')).status, 401);
    // The page's own files hold no data: served without the token; what they read is not.
    const page = await get(port, '/');
    assert.deepEqual([page.status, page.type], [200, 'text/html; charset=utf-8']);
    assert.match(page.text, /<script src="app.js" defer><\/script>/);
    assert.equal((await get(port, '/app.js')).status, 200);
    assert.match((await get(port, '/style.css')).type, /^text\/css/);
    for (const path of ['/flows', '/mappings', '/leases', '/capture', '/web/app.js', '/../package.json']) assert.equal((await get(port, path)).status, 401, path);
    const ok = await get(port, '/metrics', `Bearer ${token}`);
    assert.equal(ok.status, 200);
    assert.match(ok.type, /^text\/plain; version=0\.0\.4/);
    assert.match(ok.text, /^openigd_router_drops_total\{reason="nat-no-mapping"\} 5$/m);
    const st = await get(port, '/status', `Bearer ${token}`);
    assert.equal((JSON.parse(st.text) as { wan: { address: string } }).wan.address, '203.0.113.2/24');
    // The Unix socket needs no token: its file mode is the access control.
    assert.equal((await call(server.socketPath, 'GET', '/status')).status, 200);
    assert.equal((await call(server.socketPath, 'GET', '/leases')).status, 200);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
