/**
 * Durable files: the POSIX recipe for replacing a file atomically (write a temp file,
 * fsync it, rename it over the target, fsync the directory) and for creating a directory
 * that survives a crash. The mapping store's snapshot and journal header, the device
 * identity and the gateway's DHCP lease file all go through `replaceFileDurably`.
 */
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { StoreIoError } from './errors.js';

/** Suffix of temp files; a leftover one is from an interrupted write and is never authoritative. */
export const TEMP_SUFFIX = '.tmp';

/** Writes all of `bytes` through `handle` (at its current position / append mode). */
export async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    offset += bytesWritten;
  }
}

/** fsyncs a directory, so that renames and creations in it are durable. */
export async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch (cause) {
    throw new StoreIoError(directory, 'sync directory', { cause });
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Replaces `directory/name` with `bytes` atomically and durably: temp file, fsync, rename,
 * fsync the directory. After it resolves the new content survives a crash; if it rejects
 * (StoreIoError) before the rename, the old file is untouched and the temp file removed.
 */
export async function replaceFileDurably(directory: string, name: string, bytes: Uint8Array): Promise<void> {
  const target = join(directory, name);
  const temp = target + TEMP_SUFFIX;
  let handle: FileHandle | undefined;
  let step = 'open';
  try {
    handle = await open(temp, 'w', 0o600);
    step = 'write';
    await writeAll(handle, bytes);
    step = 'sync';
    await handle.sync();
    step = 'close';
    await handle.close();
    handle = undefined;
    step = 'rename';
    await rename(temp, target);
  } catch (cause) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw new StoreIoError(step === 'rename' ? target : temp, step, { cause });
  }
  await syncDirectory(directory);
}

/**
 * Creates `directory` (and missing parents, mode 0700) and, when it created any, fsyncs each
 * new directory's parent so the new entries survive a crash. Rejects StoreIoError.
 */
export async function ensureDirectoryDurably(directory: string): Promise<void> {
  const target = resolve(directory);
  let first: string | undefined;
  try {
    first = await mkdir(target, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new StoreIoError(directory, 'create directory', { cause });
  }
  if (first === undefined) return;
  for (let dir = target; ; dir = dirname(dir)) {
    await syncDirectory(dirname(dir));
    if (dir === first || dirname(dir) === dir) break;
  }
}
