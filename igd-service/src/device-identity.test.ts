/** Device identity: created once, stable uuid, BOOTID per start, CONFIGID per description change, corrupt file kept. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BOOT_ID_MAX, CONFIG_ID_MAX, DEVICE_IDENTITY_FILE, deriveDeviceUuid, startDeviceIdentity } from './device-identity.js';
import { StoreCorruptError, StoreIoError } from './errors.js';

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'oi-identity-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('first start creates the identity; later starts keep the uuid and increase BOOTID', () => withDir(async (dir) => {
  const state = join(dir, 'state');
  const first = await startDeviceIdentity({ directory: state, configFingerprint: 'a' });
  assert.match(first.rootUuid, UUID);
  assert.deepEqual({ bootId: first.bootId, configId: first.configId, created: first.created }, { bootId: 1, configId: 1, created: true });
  const second = await startDeviceIdentity({ directory: state, configFingerprint: 'a' });
  const third = await startDeviceIdentity({ directory: state, configFingerprint: 'a' });
  assert.equal(second.rootUuid, first.rootUuid);
  assert.deepEqual([second.bootId, third.bootId], [2, 3]);
  assert.deepEqual([second.configId, third.configId, third.created], [1, 1, false]);
  assert.deepEqual(await readdir(state), [DEVICE_IDENTITY_FILE]);
  const onDisk = JSON.parse(await readFile(join(state, DEVICE_IDENTITY_FILE), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(onDisk, {
    format: 'openigd-identity', version: 1, rootUuid: first.rootUuid, bootId: 3, configId: 1, configFingerprint: 'a',
  });
}));

test('CONFIGID increases when the description fingerprint changes, and only then', () => withDir(async (dir) => {
  await startDeviceIdentity({ directory: dir, configFingerprint: 'v1' });
  assert.equal((await startDeviceIdentity({ directory: dir, configFingerprint: 'v2' })).configId, 2);
  assert.equal((await startDeviceIdentity({ directory: dir })).configId, 2);
  assert.equal((await startDeviceIdentity({ directory: dir, configFingerprint: 'v2' })).configId, 2);
  assert.equal((await startDeviceIdentity({ directory: dir, configFingerprint: 'v1' })).configId, 3);
}));

test('the injected uuid source is used on creation only', () => withDir(async (dir) => {
  let calls = 0;
  const randomUuid = (): string => {
    calls++;
    return '0B0A0C0D-1111-4222-8333-444455556666';
  };
  const first = await startDeviceIdentity({ directory: dir }, { randomUuid });
  assert.equal(first.rootUuid, '0b0a0c0d-1111-4222-8333-444455556666');
  await startDeviceIdentity({ directory: dir }, { randomUuid });
  assert.equal(calls, 1);
}));

test('BOOTID and CONFIGID wrap to 1 at their UDA maxima', () => withDir(async (dir) => {
  await writeFile(join(dir, DEVICE_IDENTITY_FILE), JSON.stringify({
    format: 'openigd-identity', version: 1, rootUuid: '0b0a0c0d-1111-4222-8333-444455556666',
    bootId: BOOT_ID_MAX, configId: CONFIG_ID_MAX, configFingerprint: 'old',
  }));
  const next = await startDeviceIdentity({ directory: dir, configFingerprint: 'new' });
  assert.deepEqual([next.bootId, next.configId], [1, 1]);
}));

test('a corrupt identity file rejects with StoreCorruptError and is left as found', () => withDir(async (dir) => {
  const file = join(dir, DEVICE_IDENTITY_FILE);
  const good = { format: 'openigd-identity', version: 1, rootUuid: '0b0a0c0d-1111-4222-8333-444455556666', bootId: 4, configId: 1, configFingerprint: '' };
  const cases: [string, RegExp][] = [
    ['{"rootUuid": "0b0a', /unparseable JSON/],
    ['', /unparseable JSON/],
    ['[]', /format is undefined/],
    [JSON.stringify({ ...good, version: 2 }), /format version 2/],
    [JSON.stringify({ ...good, rootUuid: 'not-a-uuid' }), /rootUuid/],
    [JSON.stringify({ ...good, bootId: -1 }), /bootId/],
    [JSON.stringify({ ...good, configId: CONFIG_ID_MAX + 1 }), /configId/],
  ];
  for (const [content, reason] of cases) {
    await writeFile(file, content);
    await assert.rejects(startDeviceIdentity({ directory: dir }), (e: unknown) => {
      assert.ok(e instanceof StoreCorruptError);
      assert.equal(e.file, file);
      assert.match(e.message, reason);
      return true;
    });
    assert.equal(await readFile(file, 'utf8'), content);
  }
  await writeFile(file, JSON.stringify(good));
  assert.equal((await startDeviceIdentity({ directory: dir })).bootId, 5);
}));

test('an unusable state directory rejects with StoreIoError', () => withDir(async (dir) => {
  await writeFile(join(dir, 'file'), 'x');
  await assert.rejects(startDeviceIdentity({ directory: join(dir, 'file') }), StoreIoError);
}));

test('deriveDeviceUuid: RFC 4122 version 5 (the DNS-namespace vector), stable, distinct per name', () => {
  assert.equal(deriveDeviceUuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com'), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
  const root = '0b0a0c0d-1111-4222-8333-444455556666';
  const wan = deriveDeviceUuid(root, 'WANDevice:1');
  assert.match(wan, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(deriveDeviceUuid(root, 'WANDevice:1'), wan);
  assert.notEqual(deriveDeviceUuid(root, 'WANConnectionDevice:1'), wan);
  assert.notEqual(deriveDeviceUuid('0b0a0c0d-1111-4222-8333-444455556667', 'WANDevice:1'), wan);
});
