/** The durable-file primitives: atomic replace and durable directory creation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDirectoryDurably, replaceFileDurably } from './durable-file.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

test('replaceFileDurably: replaces content, leaves no temp file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'oi-journal-'));
  try {
    await writeFile(join(dir, 'f'), 'old');
    await replaceFileDurably(dir, 'f', text('new content'));
    assert.equal(await readFile(join(dir, 'f'), 'utf8'), 'new content');
    assert.deepEqual(await readdir(dir), ['f']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('replaceFileDurably: a missing directory rejects with StoreIoError and creates nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'oi-journal-'));
  try {
    await assert.rejects(replaceFileDurably(join(dir, 'missing'), 'f', text('x')), { code: 'ERR_STORE_IO', operation: 'open' });
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('ensureDirectoryDurably: creates nested directories 0700, is idempotent, refuses a file in the way', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'oi-journal-'));
  try {
    const nested = join(dir, 'a', 'b', 'c');
    await ensureDirectoryDurably(nested);
    assert.equal((await stat(nested)).mode & 0o777, 0o700);
    await ensureDirectoryDurably(nested);
    await writeFile(join(dir, 'f'), 'x');
    await assert.rejects(ensureDirectoryDurably(join(dir, 'f', 'g')), { code: 'ERR_STORE_IO', operation: 'create directory' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
