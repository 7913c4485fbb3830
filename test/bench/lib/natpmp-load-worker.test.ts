/**
 * The NAT-PMP load worker: its job checks, and a real run against OpenIGD's NAT-PMP server
 * on loopback (announcements sent to a unicast loopback port, never to a multicast group).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { FileMappingStore, MappingService, PcpResponder, startNatPmpServer } from '@openigd/igd-service';
import { MemoryPortMappingBackend } from '@openigd/igd-service/testing';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNatPmpJob, runNatPmpJob } from './natpmp-load-worker.js';

const job = { server: '127.0.0.1', sources: ['127.0.0.1'], count: 10, firstInternalPort: 20000, step: 5, lifetimeSeconds: 60, deadlineMs: 5000 };

test('readNatPmpJob: a good job, and the reason for a bad one', () => {
  assert.deepEqual(readNatPmpJob(JSON.stringify(job)), { ok: true, job });
  assert.equal(readNatPmpJob('{').ok, false);
  // JSON that is not an object (it threw a TypeError before the workers shared parseJobArgument).
  assert.deepEqual(readNatPmpJob('null'), { ok: false, reason: 'the job is not an object' });
  for (const bad of [{ server: 'x' }, { sources: [] }, { count: 0 }, { step: 11 }, { firstInternalPort: 65530 }, { port: 0 }, { deadlineMs: 0 }, { protocol: 'upnp' }]) {
    assert.equal(readNatPmpJob(JSON.stringify({ ...job, ...bad })).ok, false, JSON.stringify(bad));
  }
});

/** A durable MappingService in a temp folder and our NAT-PMP server (with PCP when `withPcp`) on a loopback port; all undone after the test. */
async function startServer(t: TestContext, withPcp: boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'openigd-pmp-worker-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new FileMappingStore({ directory: dir });
  t.after(() => store.close());
  const mappings = new MappingService({}, { store, backend: new MemoryPortMappingBackend() });
  await mappings.start();
  const sink = createSocket('udp4');
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
  t.after(() => sink.close());
  const pcp = withPcp ? new PcpResponder(mappings, { lan: '127.0.0.0/8', gatewayAddress: '127.0.0.1' }) : undefined;
  const server = await startNatPmpServer({ lanAddress: '127.0.0.1', lanPrefixLength: 8, port: 0, announceAddress: '127.0.0.1', announcePort: sink.address().port },
    pcp ? { mappings, pcp } : { mappings });
  t.after(() => server.close());
  return { store, mappings, pcp, port: server.port };
}

test('runNatPmpJob: two clients map 200 ports through the real server, durably, timed per step', async (t) => {
  const { store, mappings, port } = await startServer(t, false);
  const r = await runNatPmpJob({ ...job, port, sources: ['127.0.0.1', '127.0.0.2'], count: 200, step: 50 });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.granted, 200);
  assert.equal(r.failed, 0);
  assert.deepEqual(r.steps.map((s) => s.upTo), [50, 100, 150, 200]);
  assert.equal(mappings.count(), 200);
  assert.equal(store.stats().mappings, 200, 'every granted mapping is in the store');
});

test('runNatPmpJob with protocol pcp: two clients map 200 ports through the real server as PCP, each with its nonce', async (t) => {
  const { mappings, pcp, port } = await startServer(t, true);
  const r = await runNatPmpJob({ ...job, port, sources: ['127.0.0.1', '127.0.0.2'], count: 200, step: 100, protocol: 'pcp' });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual([r.granted, r.failed], [200, 0]);
  assert.equal(mappings.count(), 200);
  assert.ok(mappings.list().every((m) => m.origin === 'pcp' && m.nonce?.length === 24));
  assert.equal(new Set(mappings.list().map((m) => m.nonce)).size, 2, 'one nonce per client');
  assert.deepEqual(pcp!.stats().results, { SUCCESS: 200 });
});
