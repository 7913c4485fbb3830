/** The DHCP lease file: saves queued and written durably, the newest list wins, a bad file is not fatal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../log.js';
import { LeaseFile, LEASE_FILE_NAME } from './lease-file.js';
import type { DhcpLease } from './dhcp-server.js';

const lease = (n: number): DhcpLease => ({ mac: `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`, addr: 0x0a000064 + n, expiresAtMs: 1_000_000 + n, offered: false });

async function withDir(f: (dir: string, logged: string[]) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'oi-leases-'));
  const logged: string[] = [];
  try {
    await f(dir, logged);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('LeaseFile: saves in a row end with the newest list on disk, no temp file, and load reads it back', () => withDir(async (dir) => {
  const file = new LeaseFile(dir, createLogger('error', () => undefined));
  for (let n = 1; n <= 5; n++) file.save([lease(n), lease(n + 1)].slice(0, n % 2 + 1));
  file.save([lease(7), lease(8)]);
  await file.flush();
  assert.deepEqual(JSON.parse(await readFile(join(dir, LEASE_FILE_NAME), 'utf8')), { version: 1, leases: [lease(7), lease(8)] });
  assert.deepEqual(await readdir(dir), [LEASE_FILE_NAME]);
  assert.deepEqual(await new LeaseFile(dir, createLogger('error', () => undefined)).load(), [lease(7), lease(8)]);
}));

test('LeaseFile: a missing file loads as no leases, silently; an unreadable one with a warning', () => withDir(async (dir, logged) => {
  const file = new LeaseFile(dir, createLogger('warn', (l) => { logged.push(l); }));
  assert.deepEqual(await file.load(), []);
  assert.equal(logged.length, 0);
  await writeFile(join(dir, LEASE_FILE_NAME), '{ not json');
  assert.deepEqual(await file.load(), []);
  assert.match(logged[0]!, /dhcp leases unreadable/);
}));

test('LeaseFile: a write that fails is logged, and the next save works once it can', () => withDir(async (dir, logged) => {
  const missing = join(dir, 'not-yet');
  const file = new LeaseFile(missing, createLogger('error', (l) => { logged.push(l); }));
  file.save([lease(1)]);
  await file.flush();
  assert.match(logged[0]!, /cannot write dhcp leases/);
  await mkdir(missing);
  file.save([lease(2)]);
  await file.flush();
  assert.deepEqual(JSON.parse(await readFile(join(missing, LEASE_FILE_NAME), 'utf8')).leases, [lease(2)]);
}));
