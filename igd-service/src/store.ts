/**
 * The durable port-mapping store (U14): an append-only journal plus a snapshot, in the
 * state directory.
 *
 *   mappings.snapshot  header {format, version, generation G, count} + one `put` per mapping;
 *                      only ever replaced atomically (temp, fsync, rename, fsync dir).
 *   mappings.journal   header {format, version, generation G} + one `put`/`delete` per change,
 *                      appended to a file opened O_DSYNC: every acknowledged change is on
 *                      stable storage before its promise resolves. Changes queued while a sync runs share the next one (group
 *                      commit); none resolves before its own bytes are synced.
 *
 * Compaction, when the journal holds more records than max(compactMinRecords, 2 × mappings),
 * so that its cost per change stays flat as the table grows: write snapshot G+1, then a new
 * empty journal G+1. A crash between the two leaves snapshot G+1 beside journal G, whose
 * changes the snapshot already holds: `load()` discards it. A journal newer than the
 * snapshot is corruption (a snapshot went missing).
 *
 * `load()` tolerates a torn LAST journal record (crash mid-append) and truncates it away;
 * any other bad line rejects with StoreCorruptError naming the file and line, and the store
 * then writes nothing at all: a corrupt file is never overwritten.
 *
 * A failed write or sync (a full disk, a read-only or failing one) rejects the changes of
 * that batch and stalls the store: journal G is no longer appended to, because after a
 * failed (O_DSYNC) write the kernel's view of that file can no longer be trusted. The
 * memory still holds exactly the changes that were acknowledged, so the next change first
 * re-bases: snapshot G+1 written from memory, then an empty journal G+1, which supersede
 * journal G whatever its tail holds; only then is the change appended. While that fails,
 * every change is rejected (StoreIoError) and nothing acknowledged is lost; once the
 * directory takes writes again (room freed, remounted read-write), changes succeed again.
 * `load()` on a directory it can read but not write (read-only) loads the mappings and
 * starts stalled.
 *
 * Must not: resolve a change before it is on disk, keep a mapping in memory that is not on
 * disk, or touch files other than its own two (and their temp files).
 */
import { constants as fsConstants } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  StoreClosedError, StoreCorruptError, StoreInvalidRecordError, StoreIoError,
} from './errors.js';
import {
  RECORD_MAX_BYTES, decodeRecordLine, encodeRecordLine, splitLines,
} from './journal.js';
import type { LineSpan } from './journal.js';
import { TEMP_SUFFIX, ensureDirectoryDurably, replaceFileDurably, writeAll } from './durable-file.js';
import { MAPPING_ORIGINS, MAX_MAPPING_FILTERS } from './types.js';
import type { MappingFilter, MappingKey, MappingOrigin, MappingProtocol, MappingStore, PortMapping } from './types.js';

/** File names inside the state directory. */
export const MAPPING_STORE_FILES = {
  snapshot: 'mappings.snapshot',
  journal: 'mappings.journal',
} as const;

/** Header `format` values and the one version this build reads and writes. */
export const MAPPING_STORE_FORMAT = {
  snapshot: 'openigd-mapping-snapshot',
  journal: 'openigd-mapping-journal',
  version: 1,
} as const;

export interface FileMappingStoreOptions {
  /** The state directory; created (with parents) by `load()` if missing. */
  readonly directory: string;
  /** Compact once the journal holds more than max(this, 2 × mappings) records. Default 1024. */
  readonly compactMinRecords?: number;
}

export interface MappingStoreStats {
  readonly mappings: number;
  readonly generation: number;
  readonly journalRecords: number;
  readonly journalBytes: number;
  /** Changes queued, not yet synced. */
  readonly pending: number;
  /** Synchronous (O_DSYNC) writes to the journal: one per group commit. */
  readonly commits: number;
  readonly recordsWritten: number;
  readonly compactions: number;
  readonly compactionFailures: number;
  /** Torn last records truncated away by `load()`. */
  readonly tornRecordsTruncated: number;
  /** Journals superseded by their snapshot (crash during compaction) discarded by `load()`. */
  readonly staleJournalsDiscarded: number;
  /** Writes that failed (a full, read-only or failing disk): each stalled the store. */
  readonly writeFailures: number;
  /** Re-bases that brought a stalled store back (snapshot + fresh journal from memory). */
  readonly recoveries: number;
}

/** `stalled`: open, but the journal took a failed write; the next change re-bases first. */
type State = 'new' | 'loading' | 'open' | 'stalled' | 'closing' | 'closed' | 'failed';

type Change =
  | { readonly op: 'put'; readonly mapping: PortMapping }
  | { readonly op: 'delete'; readonly key: MappingKey };

interface Pending {
  readonly change: Change;
  readonly line: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Appends, created if missing, each write durable before it returns (O_DSYNC). */
const JOURNAL_OPEN_FLAGS = fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_DSYNC;

/** Most changes written by one group commit. */
const MAX_BATCH_RECORDS = 4096;
const DEFAULT_COMPACT_MIN_RECORDS = 1024;
const MAX_ADDRESS_CHARS = 255;
const MAX_UI4 = 0xffff_ffff;

/** The identity of a mapping as a Map key. */
export function mappingStoreKey(key: MappingKey): string {
  return `${key.protocol}/${key.externalPort}/${key.remoteHost}`;
}

function isPort(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65_535;
}

function isProtocol(v: unknown): v is MappingProtocol {
  return v === 'TCP' || v === 'UDP';
}

function isAddressText(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_ADDRESS_CHARS;
}

function isOrigin(v: unknown): v is MappingOrigin {
  return MAPPING_ORIGINS.includes(v as MappingOrigin);
}

/** One stored FILTER entry, or undefined when it is unfit. */
function checkFilter(v: unknown): MappingFilter | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const fits = isAddressText(o.remoteAddress) && o.remoteAddress !== ''
    && Number.isInteger(o.prefixLength) && (o.prefixLength as number) >= 1 && (o.prefixLength as number) <= 128
    && Number.isInteger(o.remotePort) && (o.remotePort as number) >= 0 && (o.remotePort as number) <= 65_535;
  return fits ? { remoteAddress: o.remoteAddress as string, prefixLength: o.prefixLength as number, remotePort: o.remotePort as number } : undefined;
}

/** The optional `filters` field (added after `nonce`): absent loads as absent. */
function checkFilters(v: unknown): { ok: true; value: Pick<PortMapping, 'filters'> } | { ok: false; reason: string } {
  if (v === undefined) return { ok: true, value: {} };
  if (!Array.isArray(v) || v.length > MAX_MAPPING_FILTERS) return { ok: false, reason: `filters must be an array of at most ${MAX_MAPPING_FILTERS}` };
  const filters: MappingFilter[] = [];
  for (const f of v) {
    const checked = checkFilter(f);
    if (!checked) return { ok: false, reason: 'a filter must have remoteAddress, prefixLength 1..128 and remotePort 0..65535' };
    filters.push(checked);
  }
  return { ok: true, value: { filters } };
}

/** A PCP nonce: 96 bits as 24 lowercase hex digits. */
const NONCE_TEXT = /^[0-9a-f]{24}$/;

/**
 * The fields added after format version 1 was first written (origin, requester, nonce): a
 * record without them was written by UPnP alone and loads as 'upnp' with requester unknown.
 */
function checkBookkeeping(o: Record<string, unknown>): { ok: true; value: Pick<PortMapping, 'origin' | 'requester' | 'nonce'> } | { ok: false; reason: string } {
  const origin = o.origin ?? 'upnp';
  if (!isOrigin(origin)) return { ok: false, reason: `origin must be one of ${MAPPING_ORIGINS.join(', ')}` };
  const requester = o.requester ?? '';
  if (!isAddressText(requester)) return { ok: false, reason: 'requester must be a string of at most 255 characters' };
  if (o.nonce !== undefined && (typeof o.nonce !== 'string' || !NONCE_TEXT.test(o.nonce))) {
    return { ok: false, reason: 'nonce must be 24 lowercase hex digits' };
  }
  return { ok: true, value: { origin, requester, ...(o.nonce !== undefined ? { nonce: o.nonce } : {}) } };
}

/** Checks a key's shape; returns a copy holding only its three fields, or the reason it is unfit. */
export function validateStoredMappingKey(v: unknown): { ok: true; key: MappingKey } | { ok: false; reason: string } {
  if (typeof v !== 'object' || v === null) return { ok: false, reason: 'key is not an object' };
  const o = v as Record<string, unknown>;
  if (!isAddressText(o.remoteHost)) return { ok: false, reason: 'remoteHost must be a string of at most 255 characters' };
  if (!isPort(o.externalPort)) return { ok: false, reason: 'externalPort must be an integer 1..65535' };
  if (!isProtocol(o.protocol)) return { ok: false, reason: 'protocol must be TCP or UDP' };
  return { ok: true, key: { remoteHost: o.remoteHost, externalPort: o.externalPort, protocol: o.protocol } };
}

/** Checks a mapping's shape; returns a copy holding only the PortMapping fields, or the reason it is unfit. */
export function validateStoredMapping(v: unknown): { ok: true; mapping: PortMapping } | { ok: false; reason: string } {
  const key = validateStoredMappingKey(v);
  if (!key.ok) return key;
  const o = v as Record<string, unknown>;
  if (!isPort(o.internalPort)) return { ok: false, reason: 'internalPort must be an integer 1..65535' };
  if (!isAddressText(o.internalClient)) return { ok: false, reason: 'internalClient must be a string of at most 255 characters' };
  if (typeof o.enabled !== 'boolean') return { ok: false, reason: 'enabled must be a boolean' };
  if (typeof o.description !== 'string') return { ok: false, reason: 'description must be a string' };
  const lease = o.leaseSeconds;
  if (!Number.isInteger(lease) || (lease as number) < 0 || (lease as number) > MAX_UI4) {
    return { ok: false, reason: 'leaseSeconds must be an integer 0..4294967295' };
  }
  const expires = o.expiresAtMs;
  if (!Number.isSafeInteger(expires) || (expires as number) < 0) {
    return { ok: false, reason: 'expiresAtMs must be a non-negative integer' };
  }
  const bookkeeping = checkBookkeeping(o);
  if (!bookkeeping.ok) return bookkeeping;
  const filters = checkFilters(o.filters);
  if (!filters.ok) return filters;
  return {
    ok: true,
    mapping: {
      ...key.key,
      internalPort: o.internalPort,
      internalClient: o.internalClient,
      enabled: o.enabled,
      description: o.description,
      leaseSeconds: lease as number,
      expiresAtMs: expires as number,
      ...bookkeeping.value,
      ...filters.value,
    },
  };
}

function checkChange(v: unknown): { ok: true; change: Change } | { ok: false; reason: string } {
  if (typeof v !== 'object' || v === null) return { ok: false, reason: 'record is not an object' };
  const o = v as Record<string, unknown>;
  if (o.op === 'put') {
    const m = validateStoredMapping(o.mapping);
    return m.ok ? { ok: true, change: { op: 'put', mapping: m.mapping } } : { ok: false, reason: `bad put: ${m.reason}` };
  }
  if (o.op === 'delete') {
    const k = validateStoredMappingKey(o.key);
    return k.ok ? { ok: true, change: { op: 'delete', key: k.key } } : { ok: false, reason: `bad delete: ${k.reason}` };
  }
  return { ok: false, reason: 'unknown record op' };
}

interface Header {
  readonly generation: number;
  readonly count: number;
}

function checkHeader(v: unknown, format: string, needsCount: boolean): { ok: true; header: Header } | { ok: false; reason: string } {
  if (typeof v !== 'object' || v === null) return { ok: false, reason: 'header is not an object' };
  const o = v as Record<string, unknown>;
  if (o.format !== format) return { ok: false, reason: `header format is ${JSON.stringify(o.format)}, expected "${format}"` };
  if (o.version !== MAPPING_STORE_FORMAT.version) {
    return { ok: false, reason: `format version ${JSON.stringify(o.version)}; this build reads version ${MAPPING_STORE_FORMAT.version}` };
  }
  if (!Number.isSafeInteger(o.generation) || (o.generation as number) < 0) return { ok: false, reason: 'bad generation' };
  if (needsCount && (!Number.isSafeInteger(o.count) || (o.count as number) < 0)) return { ok: false, reason: 'bad count' };
  return { ok: true, header: { generation: o.generation as number, count: needsCount ? (o.count as number) : 0 } };
}

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StoreIoError(path, 'read', { cause });
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** The journal's changes, parsed; `tornAt` is the byte offset of a torn last record, if any. */
interface ParsedJournal {
  readonly generation: number;
  readonly changes: Change[];
  readonly tornAt: number | undefined;
  readonly bytes: number;
}

/**
 * A MappingStore on a local directory. One instance per directory and process: two
 * writers on the same directory would interleave their journals.
 */
export class FileMappingStore implements MappingStore {
  readonly directory: string;
  private readonly snapshotPath: string;
  private readonly journalPath: string;
  private readonly compactMinRecords: number;

  private state: State = 'new';
  private failure: Error | undefined;
  private readonly mappings = new Map<string, PortMapping>();
  private journal: FileHandle | undefined;
  private generation = 0;
  private journalRecords = 0;
  private journalBytes = 0;
  private queue: Pending[] = [];
  private readonly compactWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private writer: Promise<void> | undefined;
  private compactionBackoffRecords = 0;
  private counters = {
    commits: 0, recordsWritten: 0, compactions: 0, compactionFailures: 0,
    tornRecordsTruncated: 0, staleJournalsDiscarded: 0, writeFailures: 0, recoveries: 0,
  };

  constructor(options: FileMappingStoreOptions) {
    this.directory = options.directory;
    this.snapshotPath = join(options.directory, MAPPING_STORE_FILES.snapshot);
    this.journalPath = join(options.directory, MAPPING_STORE_FILES.journal);
    this.compactMinRecords = Math.max(1, Math.floor(options.compactMinRecords ?? DEFAULT_COMPACT_MIN_RECORDS));
  }

  /**
   * Reads snapshot + journal, repairs only what a crash can leave (a torn last record, a
   * stale journal, temp files), and opens the journal for appends. Must be called once
   * before put/delete; a second call returns the current content. Rejects with
   * StoreCorruptError (nothing written) or StoreIoError.
   */
  async load(): Promise<PortMapping[]> {
    if (this.state === 'open') return [...this.mappings.values()];
    if (this.state !== 'new') throw new StoreClosedError(`mapping store is ${this.state}`, { cause: this.failure });
    this.state = 'loading';
    try {
      await this.open();
      this.state = this.journal ? 'open' : 'stalled';
      return [...this.mappings.values()];
    } catch (error) {
      this.state = 'failed';
      this.failure = error as Error;
      this.mappings.clear();
      throw error;
    }
  }

  /** Adds or replaces (same key) durably; rejects StoreInvalidRecordError, StoreClosedError or StoreIoError. */
  put(mapping: PortMapping): Promise<void> {
    const checked = validateStoredMapping(mapping);
    if (!checked.ok) return Promise.reject(new StoreInvalidRecordError(checked.reason));
    return this.enqueue({ op: 'put', mapping: checked.mapping });
  }

  /** Deletes durably; resolves also when absent. */
  delete(key: MappingKey): Promise<void> {
    const checked = validateStoredMappingKey(key);
    if (!checked.ok) return Promise.reject(new StoreInvalidRecordError(checked.reason));
    return this.enqueue({ op: 'delete', key: checked.key });
  }

  /** Compacts now (snapshot + fresh journal), after the changes already queued; rejects if it failed. */
  compact(): Promise<void> {
    if (!this.takesChanges()) {
      return Promise.reject(new StoreClosedError(`mapping store is ${this.state}`, { cause: this.failure }));
    }
    return new Promise<void>((resolve, reject) => {
      this.compactWaiters.push({ resolve, reject });
      this.kick();
    });
  }

  /** Waits for queued changes, then closes the journal. Later changes reject with StoreClosedError. */
  async close(): Promise<void> {
    if (this.takesChanges()) this.state = 'closing';
    while (this.writer) await this.writer;
    const handle = this.journal;
    this.journal = undefined;
    if (this.state !== 'failed') this.state = 'closed';
    await handle?.close().catch(() => undefined);
  }

  stats(): MappingStoreStats {
    return {
      mappings: this.mappings.size,
      generation: this.generation,
      journalRecords: this.journalRecords,
      journalBytes: this.journalBytes,
      pending: this.queue.length,
      ...this.counters,
    };
  }

  private takesChanges(): boolean {
    return this.state === 'open' || this.state === 'stalled';
  }

  private enqueue(change: Change): Promise<void> {
    if (!this.takesChanges()) {
      return Promise.reject(new StoreClosedError(`mapping store is ${this.state}`, { cause: this.failure }));
    }
    const line = encodeRecordLine(change);
    if (line.length > RECORD_MAX_BYTES) {
      return Promise.reject(new StoreInvalidRecordError(`record of ${line.length} bytes exceeds ${RECORD_MAX_BYTES}`));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ change, line, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.writer) return;
    this.writer = this.drain().finally(() => {
      this.writer = undefined;
      // Work queued between the loop's last check and here would otherwise wait forever.
      if (this.queue.length > 0 || this.compactWaiters.length > 0) this.kick();
    });
  }

  /**
   * The single writer, so appends and compactions never overlap: group-commits whatever is
   * queued, applies it once synced, then compacts when due or asked.
   */
  private async drain(): Promise<void> {
    while (this.queue.length > 0 || this.compactWaiters.length > 0) {
      if (this.state === 'stalled') {
        // Re-base on a fresh snapshot; what is queued now waits for it, and fails with it.
        const waiters = this.compactWaiters.splice(0);
        const error = await this.runCompaction();
        for (const w of waiters) {
          if (error) w.reject(error);
          else w.resolve();
        }
        if (error) {
          this.rejectQueued(error);
          return;
        }
        this.state = 'open';
        this.counters.recoveries++;
        continue;
      }
      if (!this.journal || this.failure) {
        const error = new StoreClosedError('mapping store has stopped', { cause: this.failure });
        this.rejectQueued(error);
        for (const w of this.compactWaiters.splice(0)) w.reject(error);
        return;
      }
      if (this.queue.length > 0) await this.commit(this.journal);
      if (this.failure || this.state !== 'open') continue;
      if (this.compactWaiters.length > 0 || this.compactionDue()) {
        const waiters = this.compactWaiters.splice(0);
        const error = await this.runCompaction();
        for (const w of waiters) {
          if (error) w.reject(error);
          else w.resolve();
        }
      }
    }
  }

  /** Writes and syncs one batch; on failure stalls the store and rejects the batch. */
  private async commit(handle: FileHandle): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH_RECORDS);
    const bytes = concat(batch.map((p) => p.line));
    try {
      // The journal is opened O_DSYNC: a write returns once its data is on stable storage,
      // as write + fdatasync would, in one trip through the thread pool instead of two.
      await writeAll(handle, bytes);
    } catch (cause) {
      const error = new StoreIoError(this.journalPath, 'append', { cause });
      await this.stall(handle);
      for (const p of batch) p.reject(error);
      return;
    }
    this.counters.commits++;
    this.counters.recordsWritten += batch.length;
    this.journalRecords += batch.length;
    this.journalBytes += bytes.length;
    for (const p of batch) this.apply(p.change);
    for (const p of batch) p.resolve();
  }

  private rejectQueued(error: Error): void {
    const queued = this.queue;
    this.queue = [];
    for (const p of queued) p.reject(error);
  }

  /**
   * After a failed append: cuts what the batch may have left behind (best effort, so that a
   * restart before the re-base does not find refused changes in the journal), stops using
   * journal G and waits for the next change to re-base.
   */
  private async stall(handle: FileHandle): Promise<void> {
    this.counters.writeFailures++;
    await handle.truncate(this.journalBytes).then(() => handle.sync()).catch(() => undefined);
    await this.leaveJournal();
  }

  private apply(change: Change): void {
    if (change.op === 'put') this.mappings.set(mappingStoreKey(change.mapping), change.mapping);
    else this.mappings.delete(mappingStoreKey(change.key));
  }

  private compactionDue(): boolean {
    const threshold = Math.max(this.compactMinRecords, 2 * this.mappings.size, this.compactionBackoffRecords);
    return this.journalRecords > threshold;
  }

  /**
   * Snapshot G+1 then journal G+1. A failure before the snapshot's rename leaves G intact and
   * the store keeps appending to journal G (retrying after compactMinRecords more records);
   * any failure after it stalls the store, since journal G is then possibly superseded on
   * disk: the next change re-bases (this again) before it is written.
   */
  private async runCompaction(): Promise<Error | undefined> {
    const next = this.generation + 1;
    const lines: Uint8Array[] = [encodeRecordLine({
      format: MAPPING_STORE_FORMAT.snapshot, version: MAPPING_STORE_FORMAT.version,
      generation: next, count: this.mappings.size,
    })];
    for (const mapping of this.mappings.values()) lines.push(encodeRecordLine({ op: 'put', mapping }));
    try {
      await replaceFileDurably(this.directory, MAPPING_STORE_FILES.snapshot, concat(lines));
    } catch (error) {
      this.counters.compactionFailures++;
      if (error instanceof StoreIoError && error.operation !== 'sync directory') {
        this.compactionBackoffRecords = this.journalRecords + this.compactMinRecords;
        return error;
      }
      await this.leaveJournal();
      return error as Error;
    }
    try {
      const header = this.journalHeader(next);
      await replaceFileDurably(this.directory, MAPPING_STORE_FILES.journal, header);
      const old = this.journal;
      this.journal = await this.openJournal();
      await old?.close().catch(() => undefined);
      this.generation = next;
      this.journalRecords = 0;
      this.journalBytes = header.length;
      this.compactionBackoffRecords = 0;
      this.counters.compactions++;
      return undefined;
    } catch (error) {
      this.counters.compactionFailures++;
      await this.leaveJournal();
      return error as Error;
    }
  }

  /** Stops appending to the current journal: the store is stalled until a re-base succeeds. */
  private async leaveJournal(): Promise<void> {
    this.state = 'stalled';
    const handle = this.journal;
    this.journal = undefined;
    await handle?.close().catch(() => undefined);
  }

  private journalHeader(generation: number): Uint8Array {
    return encodeRecordLine({ format: MAPPING_STORE_FORMAT.journal, version: MAPPING_STORE_FORMAT.version, generation });
  }

  private async openJournal(): Promise<FileHandle> {
    try {
      return await open(this.journalPath, JOURNAL_OPEN_FLAGS, 0o600);
    } catch (cause) {
      throw new StoreIoError(this.journalPath, 'open', { cause });
    }
  }

  private async open(): Promise<void> {
    await ensureDirectoryDurably(this.directory);
    const snapshotBytes = await readOptional(this.snapshotPath);
    const journalBytes = await readOptional(this.journalPath);
    // Parse both before changing anything: a corrupt file must be found before any write.
    const snapshotGeneration = snapshotBytes ? this.readSnapshot(snapshotBytes) : 0;
    const journal = journalBytes ? this.parseJournal(journalBytes) : undefined;
    if (journal && journal.generation > snapshotGeneration) {
      throw new StoreCorruptError(this.journalPath, 1,
        `journal generation ${journal.generation} is newer than snapshot generation ${snapshotGeneration} (snapshot missing or replaced?)`);
    }
    for (const name of [MAPPING_STORE_FILES.snapshot, MAPPING_STORE_FILES.journal]) {
      await unlink(join(this.directory, name + TEMP_SUFFIX)).catch(() => undefined);
    }
    this.generation = snapshotGeneration;
    if (journal && journal.generation === snapshotGeneration) {
      for (const change of journal.changes) this.apply(change);
      this.journalRecords = journal.changes.length;
      this.journalBytes = journal.tornAt ?? journal.bytes;
    }
    // Everything read is in memory now. What follows writes; on a directory that takes no
    // writes (read-only, full) the store starts stalled and re-bases at the first change.
    try {
      if (journal && journal.generation === snapshotGeneration) {
        if (journal.tornAt !== undefined) await this.truncateJournal(journal.tornAt);
      } else {
        if (journal) this.counters.staleJournalsDiscarded++;
        const header = this.journalHeader(snapshotGeneration);
        await replaceFileDurably(this.directory, MAPPING_STORE_FILES.journal, header);
        this.journalRecords = 0;
        this.journalBytes = header.length;
      }
      this.journal = await this.openJournal();
    } catch (error) {
      if (!(error instanceof StoreIoError)) throw error;
      this.counters.writeFailures++;
    }
  }

  private async truncateJournal(length: number): Promise<void> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.journalPath, 'r+');
      await handle.truncate(length);
      await handle.sync();
    } catch (cause) {
      throw new StoreIoError(this.journalPath, 'truncate torn record', { cause });
    } finally {
      await handle?.close().catch(() => undefined);
    }
    this.counters.tornRecordsTruncated++;
  }

  /** Fills `mappings` from the snapshot; returns its generation. Every line must be whole and valid. */
  private readSnapshot(bytes: Uint8Array): number {
    const file = this.snapshotPath;
    const lines = splitLines(bytes);
    if (lines.length === 0) throw new StoreCorruptError(file, 0, 'empty file');
    const header = this.readHeader(file, bytes, lines[0], MAPPING_STORE_FORMAT.snapshot, true);
    for (const span of lines.slice(1)) {
      if (!span.terminated) throw new StoreCorruptError(file, span.number, 'truncated record (a snapshot is written whole)');
      const decoded = decodeRecordLine(bytes, span.start, span.end);
      if (!decoded.ok) throw new StoreCorruptError(file, span.number, decoded.reason);
      const checked = checkChange(decoded.value);
      if (!checked.ok) throw new StoreCorruptError(file, span.number, checked.reason);
      if (checked.change.op !== 'put') throw new StoreCorruptError(file, span.number, 'a snapshot holds only put records');
      const key = mappingStoreKey(checked.change.mapping);
      if (this.mappings.has(key)) throw new StoreCorruptError(file, span.number, `duplicate mapping ${key}`);
      this.mappings.set(key, checked.change.mapping);
    }
    if (this.mappings.size !== header.count) {
      throw new StoreCorruptError(file, 0, `header counts ${header.count} mappings, file holds ${this.mappings.size}`);
    }
    return header.generation;
  }

  /** Parses the journal; only its last line may be bad (torn by a crash mid-append). */
  private parseJournal(bytes: Uint8Array): ParsedJournal {
    const file = this.journalPath;
    const lines = splitLines(bytes);
    if (lines.length === 0) throw new StoreCorruptError(file, 0, 'empty file (the header is written atomically)');
    const header = this.readHeader(file, bytes, lines[0], MAPPING_STORE_FORMAT.journal, false);
    const changes: Change[] = [];
    let tornAt: number | undefined;
    for (let i = 1; i < lines.length; i++) {
      const span = lines[i];
      const last = i === lines.length - 1;
      const decoded = span.terminated ? decodeRecordLine(bytes, span.start, span.end) : undefined;
      const checked = decoded?.ok ? checkChange(decoded.value) : undefined;
      if (checked?.ok) {
        changes.push(checked.change);
        continue;
      }
      // A torn append is a line cut short or with bytes that never reached the disk; a line
      // whose checksum holds but whose content is wrong was written so: that is corruption.
      if (last && !decoded?.ok) {
        tornAt = span.start;
        break;
      }
      const reason = checked && !checked.ok ? checked.reason : decoded && !decoded.ok ? decoded.reason : 'unterminated line';
      throw new StoreCorruptError(file, span.number, reason);
    }
    return { generation: header.generation, changes, tornAt, bytes: bytes.length };
  }

  private readHeader(file: string, bytes: Uint8Array, span: LineSpan, format: string, needsCount: boolean): Header {
    if (!span.terminated) throw new StoreCorruptError(file, 1, 'truncated header (headers are written atomically)');
    const decoded = decodeRecordLine(bytes, span.start, span.end);
    if (!decoded.ok) throw new StoreCorruptError(file, 1, `bad header: ${decoded.reason}`);
    const checked = checkHeader(decoded.value, format, needsCount);
    if (!checked.ok) throw new StoreCorruptError(file, 1, checked.reason);
    return checked.header;
  }
}
