/**
 * The durable mapping store: round trip, restart, torn last record, mid-file corruption left
 * untouched, compaction, stale journal after a crash during compaction, group commit, a model
 * property test, and a child process SIGKILLed mid-burst whose acknowledged puts all survive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { FileMappingStore, MAPPING_STORE_FILES, mappingStoreKey } from './store.js';
import { encodeRecordLine } from './journal.js';
import { StoreClosedError, StoreCorruptError, StoreInvalidRecordError, StoreIoError } from './errors.js';
import type { MappingKey, PortMapping } from './types.js';

function mapping(externalPort: number, over: Partial<PortMapping> = {}): PortMapping {
  return {
    remoteHost: '', externalPort, protocol: 'TCP', internalPort: externalPort + 1, internalClient: '192.168.1.10',
    enabled: true, description: `m${externalPort}`, leaseSeconds: 0, expiresAtMs: 0, origin: 'upnp', requester: '192.168.1.10', ...over,
  };
}

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'oi-store-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function reload(dir: string, compactMinRecords?: number): Promise<PortMapping[]> {
  const store = new FileMappingStore({ directory: dir, compactMinRecords });
  try {
    return await store.load();
  } finally {
    await store.close();
  }
}

const journalOf = (dir: string): string => join(dir, MAPPING_STORE_FILES.journal);
const snapshotOf = (dir: string): string => join(dir, MAPPING_STORE_FILES.snapshot);

test('round trip: put, replace, delete; a new instance sees every change in order', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: join(dir, 'state') });
  assert.deepEqual(await store.load(), []);
  await store.put(mapping(80));
  await store.put(mapping(443, { protocol: 'UDP', remoteHost: '203.0.113.9', enabled: false, leaseSeconds: 3600, expiresAtMs: 1_700_000_000_000 }));
  await store.put(mapping(22));
  await store.put(mapping(80, { description: 'renamed', internalPort: 8080 }));
  await store.delete({ remoteHost: '', externalPort: 22, protocol: 'TCP' });
  await store.delete({ remoteHost: '', externalPort: 9999, protocol: 'TCP' });
  const expected = [
    mapping(80, { description: 'renamed', internalPort: 8080 }),
    mapping(443, { protocol: 'UDP', remoteHost: '203.0.113.9', enabled: false, leaseSeconds: 3600, expiresAtMs: 1_700_000_000_000 }),
  ];
  assert.deepEqual(await store.load(), expected);
  await store.close();
  assert.deepEqual(await reload(join(dir, 'state')), expected);
}));

test('the key distinguishes remote host and protocol', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  await store.put(mapping(5000));
  await store.put(mapping(5000, { protocol: 'UDP' }));
  await store.put(mapping(5000, { remoteHost: '198.51.100.7' }));
  await store.delete({ remoteHost: '', externalPort: 5000, protocol: 'UDP' });
  await store.close();
  const loaded = await reload(dir);
  assert.deepEqual(loaded.map(mappingStoreKey), ['TCP/5000/', 'TCP/5000/198.51.100.7']);
}));

test('invalid mappings are refused with a reason and nothing is written', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  const before = await readFile(journalOf(dir));
  const bad: [Partial<PortMapping> | Record<string, unknown>, RegExp][] = [
    [{ externalPort: 0 }, /externalPort/],
    [{ externalPort: 70000 }, /externalPort/],
    [{ internalPort: 1.5 }, /internalPort/],
    [{ protocol: 'XYZ' }, /protocol/],
    [{ enabled: 1 }, /enabled/],
    [{ leaseSeconds: -1 }, /leaseSeconds/],
    [{ expiresAtMs: Number.NaN }, /expiresAtMs/],
    [{ description: 'x'.repeat(70_000) }, /exceeds/],
  ];
  for (const [over, reason] of bad) {
    await assert.rejects(store.put({ ...mapping(1000), ...over } as PortMapping), (e: unknown) => {
      assert.ok(e instanceof StoreInvalidRecordError);
      assert.match(e.message, reason);
      return true;
    });
  }
  await assert.rejects(store.delete({ remoteHost: 5 } as unknown as MappingKey), StoreInvalidRecordError);
  assert.deepEqual(await readFile(journalOf(dir)), before);
  await store.close();
}));

test('PCP fields (nonce, FILTER set) round trip; bad filters are refused; a record without them loads without them', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  const filters = [{ remoteAddress: '198.51.100.0', prefixLength: 120, remotePort: 443 }, { remoteAddress: '2001:db8::1', prefixLength: 128, remotePort: 0 }];
  const pcp = mapping(82, { origin: 'pcp', nonce: '0102030405060708090a0b0c', filters, leaseSeconds: 600, expiresAtMs: 1_700_000_000_000 });
  await store.put(pcp);
  await store.put(mapping(83));
  for (const bad of [[{ remoteAddress: '', prefixLength: 128, remotePort: 0 }], [{ remoteAddress: '1.2.3.4', prefixLength: 129, remotePort: 0 }],
    [{ remoteAddress: '1.2.3.4', prefixLength: 128, remotePort: 70000 }], Array.from({ length: 65 }, () => filters[0]), 'x']) {
    await assert.rejects(store.put(mapping(84, { filters: bad } as unknown as Partial<PortMapping>)), StoreInvalidRecordError);
  }
  await store.close();
  const loaded = await reload(dir);
  assert.deepEqual(loaded, [pcp, mapping(83)]);
  assert.equal('filters' in loaded[1]!, false);
}));

test('extra properties of a mapping are not persisted', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  await store.put({ ...mapping(81), secret: 'no' } as PortMapping);
  await store.close();
  assert.deepEqual(await reload(dir), [mapping(81)]);
  assert.doesNotMatch(await readFile(journalOf(dir), 'utf8'), /secret/);
}));

test('changes before load() or after close() reject with StoreClosedError', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await assert.rejects(store.put(mapping(80)), StoreClosedError);
  await store.load();
  await store.close();
  await assert.rejects(store.put(mapping(80)), StoreClosedError);
  await assert.rejects(store.delete(mapping(80)), StoreClosedError);
}));

test('a torn last record (no newline) is tolerated and truncated away; later appends stay valid', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  for (const p of [1, 2, 3]) await store.put(mapping(p));
  await store.close();
  const good = await stat(journalOf(dir));
  const record = encodeRecordLine({ op: 'put', mapping: mapping(4) });
  await appendFile(journalOf(dir), record.subarray(0, record.length - 20));

  const again = new FileMappingStore({ directory: dir });
  assert.deepEqual((await again.load()).map((m) => m.externalPort), [1, 2, 3]);
  assert.equal(again.stats().tornRecordsTruncated, 1);
  assert.equal((await stat(journalOf(dir))).size, good.size);
  await again.put(mapping(5));
  await again.close();
  assert.deepEqual((await reload(dir)).map((m) => m.externalPort), [1, 2, 3, 5]);
}));

test('a torn last record that kept its newline (bad checksum) or is zero-filled is tolerated', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  await store.put(mapping(1));
  await store.close();
  const record = encodeRecordLine({ op: 'put', mapping: mapping(2) });
  record[20] ^= 0x04;
  await appendFile(journalOf(dir), record);
  assert.deepEqual((await reload(dir)).map((m) => m.externalPort), [1]);
  await appendFile(journalOf(dir), new Uint8Array(512));
  assert.deepEqual((await reload(dir)).map((m) => m.externalPort), [1]);
}));

test('mid-file corruption rejects naming file and line; nothing is written, the store refuses changes', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  for (const p of [1, 2, 3, 4]) await store.put(mapping(p));
  await store.close();
  const bytes = await readFile(journalOf(dir));
  const lines = bytes.toString('utf8').split('\n');
  // Line 3 of the file (header, put 1, put 2, …): change one digit of put 2's internal port.
  lines[2] = lines[2].replace('"internalPort":3', '"internalPort":4');
  const corrupt = Buffer.from(lines.join('\n'));
  await writeFile(journalOf(dir), corrupt);
  const filesBefore = (await readdir(dir)).sort();

  const broken = new FileMappingStore({ directory: dir });
  await assert.rejects(broken.load(), (e: unknown) => {
    assert.ok(e instanceof StoreCorruptError);
    assert.equal(e.code, 'ERR_STORE_CORRUPT');
    assert.equal(e.file, journalOf(dir));
    assert.equal(e.line, 3);
    assert.match(e.message, /mappings\.journal line 3 is corrupt: checksum mismatch/);
    return true;
  });
  await assert.rejects(broken.put(mapping(9)), StoreClosedError);
  await assert.rejects(broken.load(), StoreClosedError);
  await broken.close();
  assert.deepEqual(await readFile(journalOf(dir)), corrupt);
  assert.deepEqual((await readdir(dir)).sort(), filesBefore);
}));

test('a last record with a valid checksum but invalid content is corruption, not a torn write', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  await store.put(mapping(1));
  await store.close();
  await appendFile(journalOf(dir), encodeRecordLine({ op: 'put', mapping: { ...mapping(2), externalPort: 70000 } }));
  await assert.rejects(reload(dir), { code: 'ERR_STORE_CORRUPT', line: 3 });
  await rm(journalOf(dir));
  await writeFile(journalOf(dir), Buffer.concat([
    encodeRecordLine({ format: 'openigd-mapping-journal', version: 1, generation: 0 }),
    encodeRecordLine({ op: 'rename' }),
  ]));
  await assert.rejects(reload(dir), { code: 'ERR_STORE_CORRUPT', line: 2, reason: 'unknown record op' });
}));

test('snapshot: unparseable, wrong format version, or count mismatch rejects; file untouched', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  for (const p of [1, 2, 3]) await store.put(mapping(p));
  await store.compact();
  await store.close();
  const good = await readFile(snapshotOf(dir));

  const cases: [Uint8Array, RegExp][] = [
    [Buffer.from('{"not": "a snapshot"}\n'), /line 1 is corrupt: bad header/],
    [Buffer.from(''), /is corrupt: empty file/],
    [Buffer.concat([encodeRecordLine({ format: 'openigd-mapping-snapshot', version: 2, generation: 1, count: 0 })]),
      /format version 2; this build reads version 1/],
    [Buffer.concat([encodeRecordLine({ format: 'openigd-mapping-snapshot', version: 1, generation: 1, count: 5 }),
      encodeRecordLine({ op: 'put', mapping: mapping(1) })]), /header counts 5 mappings, file holds 1/],
    [good.subarray(0, good.length - 3), /line 4 is corrupt: truncated record/],
  ];
  for (const [bytes, message] of cases) {
    await writeFile(snapshotOf(dir), bytes);
    const journalBefore = await readFile(journalOf(dir));
    await assert.rejects(reload(dir), (e: unknown) => {
      assert.ok(e instanceof StoreCorruptError);
      assert.equal(e.file, snapshotOf(dir));
      assert.match(e.message, message);
      return true;
    });
    assert.deepEqual(await readFile(snapshotOf(dir)), Buffer.from(bytes));
    assert.deepEqual(await readFile(journalOf(dir)), journalBefore);
  }
  await writeFile(snapshotOf(dir), good);
  assert.deepEqual((await reload(dir)).map((m) => m.externalPort), [1, 2, 3]);
}));

test('a journal newer than its snapshot (snapshot lost) is corruption', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  await store.put(mapping(1));
  await store.compact();
  await store.put(mapping(2));
  await store.close();
  await rm(snapshotOf(dir));
  await assert.rejects(reload(dir), { code: 'ERR_STORE_CORRUPT', file: journalOf(dir), line: 1 });
}));

test('compaction keeps content and order, leaves no temp files, and bounds the journal', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir, compactMinRecords: 16 });
  await store.load();
  const model = new Map<string, PortMapping>();
  for (let i = 0; i < 400; i++) {
    const port = 1 + (i * 7) % 53;
    if (i % 5 === 4) {
      const key: MappingKey = { remoteHost: '', externalPort: port, protocol: 'TCP' };
      await store.delete(key);
      model.delete(mappingStoreKey(key));
    } else {
      const m = mapping(port, { description: `v${i}` });
      await store.put(m);
      model.set(mappingStoreKey(m), m);
    }
  }
  const stats = store.stats();
  assert.ok(stats.compactions >= 3, `compactions ${stats.compactions}`);
  assert.ok(stats.journalRecords <= Math.max(16, 2 * stats.mappings) + 1);
  assert.equal(stats.generation, stats.compactions);
  await store.close();
  assert.deepEqual((await readdir(dir)).sort(), [MAPPING_STORE_FILES.journal, MAPPING_STORE_FILES.snapshot]);
  assert.deepEqual(await reload(dir), [...model.values()]);
}));

test('leftover temp files from an interrupted write are removed at load, never read', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  await store.put(mapping(1));
  await store.close();
  await writeFile(join(dir, `${MAPPING_STORE_FILES.snapshot}.tmp`), 'half a snapsh');
  await writeFile(join(dir, `${MAPPING_STORE_FILES.journal}.tmp`), 'garbage');
  assert.deepEqual((await reload(dir)).map((m) => m.externalPort), [1]);
  assert.deepEqual((await readdir(dir)).sort(), [MAPPING_STORE_FILES.journal]);
}));

test('crash between the snapshot and the new journal: the stale journal is discarded', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  await store.put(mapping(1));
  await store.put(mapping(2));
  await store.delete({ remoteHost: '', externalPort: 1, protocol: 'TCP' });
  const staleJournal = await readFile(journalOf(dir));
  await store.compact();
  await store.close();
  // What a crash after the snapshot's rename and before the journal's leaves on disk.
  await writeFile(journalOf(dir), staleJournal);
  const again = new FileMappingStore({ directory: dir });
  assert.deepEqual((await again.load()).map((m) => m.externalPort), [2]);
  assert.equal(again.stats().staleJournalsDiscarded, 1);
  await again.put(mapping(3));
  await again.close();
  assert.deepEqual((await reload(dir)).map((m) => m.externalPort), [2, 3]);
}));

test('group commit: concurrent puts share syncs, and each resolves only once synced', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir, compactMinRecords: 100_000 });
  await store.load();
  const puts = Array.from({ length: 300 }, (_, i) => store.put(mapping(i + 1)));
  // recordsWritten counts records only after their synchronous (O_DSYNC) write returned: when put i resolves,
  // at least i + 1 records (FIFO) must have been synced.
  await Promise.all(puts.map((p, i) => p.then(() => {
    const synced = store.stats().recordsWritten;
    assert.ok(synced >= i + 1, `put ${i} resolved with ${synced} records synced`);
  })));
  const stats = store.stats();
  assert.equal(stats.recordsWritten, 300);
  assert.ok(stats.commits < 300, `commits ${stats.commits}`);
  assert.equal(stats.pending, 0);
  await store.close();
  assert.equal((await reload(dir)).length, 300);
}));

test('a failed append stalls the store: that change rejects, the next one re-bases on a fresh snapshot and is stored', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  await store.put(mapping(1));
  // Pull the file out from under the store, as a dying disk would.
  await (store as unknown as { journal: FileHandle }).journal.close();
  await assert.rejects(store.put(mapping(2)), (e: unknown) => e instanceof StoreIoError && e.operation === 'append');
  await store.put(mapping(3));
  assert.equal(store.stats().writeFailures, 1);
  assert.equal(store.stats().recoveries, 1);
  assert.equal(store.stats().generation, 1, 'snapshot 1 written from memory');
  await store.put(mapping(4));
  await store.close();
  assert.deepEqual((await reload(dir)).map((m) => m.externalPort), [1, 3, 4]);
}));

test('while the re-base cannot be written every change rejects, nothing acknowledged is lost, and it recovers once it can', () => withDir(async (dir) => {
  const store = new FileMappingStore({ directory: dir });
  await store.load();
  await store.put(mapping(1));
  await (store as unknown as { journal: FileHandle }).journal.close();
  await assert.rejects(store.put(mapping(2)), StoreIoError);
  // The snapshot's temp file cannot be created while a directory sits at its path.
  const blocker = join(dir, MAPPING_STORE_FILES.snapshot + '.tmp');
  await mkdir(blocker);
  await assert.rejects(store.put(mapping(3)), (e: unknown) => e instanceof StoreIoError && e.operation === 'open');
  await assert.rejects(store.delete(mapping(1)), StoreIoError);
  assert.deepEqual((await reload(dir)).map((m) => m.externalPort), [1], 'a restart now finds what was acknowledged');
  await rm(blocker, { recursive: true });
  await store.put(mapping(5));
  await store.close();
  assert.deepEqual((await reload(dir)).map((m) => m.externalPort), [1, 5]);
}));

test('an unusable state directory rejects with StoreIoError', () => withDir(async (dir) => {
  const notADirectory = join(dir, 'file');
  await writeFile(notADirectory, 'x');
  await assert.rejects(new FileMappingStore({ directory: notADirectory }).load(), StoreIoError);
  await assert.rejects(new FileMappingStore({ directory: join(notADirectory, 'sub') }).load(), StoreIoError);
  const snapshotIsDirectory = join(dir, 'state');
  await mkdir(join(snapshotIsDirectory, MAPPING_STORE_FILES.snapshot), { recursive: true });
  await assert.rejects(new FileMappingStore({ directory: snapshotIsDirectory }).load(), { code: 'ERR_STORE_IO', operation: 'read' });
}));

test('property: any sequence of puts and deletes, any compaction threshold, reloads as the model', async () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('put' as const), port: fc.integer({ min: 1, max: 12 }), udp: fc.boolean(), tag: fc.string({ maxLength: 12 }) }),
    fc.record({ kind: fc.constant('delete' as const), port: fc.integer({ min: 1, max: 12 }), udp: fc.boolean() }),
  );
  await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 20 }), fc.boolean(),
    (ops, threshold, concurrent) => withDir(async (dir) => {
      const store = new FileMappingStore({ directory: dir, compactMinRecords: threshold });
      await store.load();
      const model = new Map<string, PortMapping>();
      const pending: Promise<void>[] = [];
      for (const o of ops) {
        const protocol = o.udp ? 'UDP' : 'TCP';
        let p: Promise<void>;
        if (o.kind === 'put') {
          const m = mapping(o.port, { protocol, description: o.tag });
          model.set(mappingStoreKey(m), m);
          p = store.put(m);
        } else {
          const key: MappingKey = { remoteHost: '', externalPort: o.port, protocol };
          model.delete(mappingStoreKey(key));
          p = store.delete(key);
        }
        if (concurrent) pending.push(p);
        else await p;
      }
      await Promise.all(pending);
      assert.deepEqual(await store.load(), [...model.values()]);
      await store.close();
      assert.deepEqual(await reload(dir, threshold), [...model.values()]);
    })), { numRuns: 60 });
});

/**
 * The child: 8 concurrent writers of unique keys, each printing a key once its put (P) or
 * delete (D) resolved, and announcing each delete (I) before issuing it: a delete issued but
 * not acknowledged may or may not have reached the disk. Each key is also edited once (a put
 * over itself), so the journal outgrows 2 × mappings and compactions (C) run mid-burst.
 */
function crashChildSource(storeUrl: string, dir: string, run: number): string {
  return `
import { FileMappingStore } from ${JSON.stringify(storeUrl)};
setTimeout(() => process.exit(3), 30000).unref();
const store = new FileMappingStore({ directory: ${JSON.stringify(dir)}, compactMinRecords: 64 });
await store.load();
const say = (line) => new Promise((resolve) => process.stdout.write(line + '\\n', resolve));
let compactions = 0;
async function worker(w) {
  for (let i = 0; i < 2500; i++) {
    const port = 1 + ${run} * 20000 + w * 2500 + i;
    await store.put({ remoteHost: '', externalPort: port, protocol: 'UDP', internalPort: 1000, internalClient: '10.0.0.' + (w + 2),
      enabled: true, description: 'run${run} w' + w + ' i' + i, leaseSeconds: 0, expiresAtMs: 0 });
    await say('P ' + port);
    if (i > 0 && (i - 1) % 10 !== 4) {
      await store.put({ remoteHost: '', externalPort: port - 1, protocol: 'UDP', internalPort: 1001, internalClient: '10.0.0.' + (w + 2),
        enabled: false, description: 'run${run} w' + w + ' i' + (i - 1) + ' e', leaseSeconds: 0, expiresAtMs: 0 });
      if (store.stats().compactions > compactions) {
        compactions = store.stats().compactions;
        await say('C ' + compactions);
      }
    }
    if (i % 10 === 9) {
      await say('I ' + (port - 5));
      await store.delete({ remoteHost: '', externalPort: port - 5, protocol: 'UDP' });
      await say('D ' + (port - 5));
    }
  }
}
await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
`;
}

/** Runs the child until `killAfterAcks` acknowledgements (or 20 s), SIGKILLs it, returns every acknowledged line. */
async function runAndKill(
  dir: string, run: number, killAfterAcks: number,
): Promise<{ puts: Set<number>; deletes: Set<number>; deleting: Set<number>; compactions: number }> {
  const storeUrl = new URL('./store.js', import.meta.url).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e', crashChildSource(storeUrl, dir, run)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const puts = new Set<number>();
  const deletes = new Set<number>();
  const deleting = new Set<number>();
  let compactions = 0;
  let acks = 0;
  let buffered = '';
  let stderr = '';
  const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
  try {
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const [kind, port] = line.split(' ');
        if (kind === 'I') {
          deleting.add(Number(port));
          continue;
        }
        if (kind === 'C') {
          compactions = Number(port);
          continue;
        }
        (kind === 'P' ? puts : deletes).add(Number(port));
        if (++acks === killAfterAcks) child.kill('SIGKILL');
      }
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.on('close', (c, s) => resolve([c, s]));
    });
    assert.equal(signal, 'SIGKILL', `child ended with code ${code}: ${stderr}`);
  } finally {
    clearTimeout(guard);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  return { puts, deletes, deleting, compactions };
}

test('crash: a child SIGKILLed mid-burst loses no acknowledged change, three times on one directory', () => withDir(async (dir) => {
  const acked = new Map<number, 'present' | 'absent' | 'either'>();
  let compactionsSeen = 0;
  for (const [run, killAfter] of [[0, 150], [1, 700], [2, 1500]] as const) {
    const { puts, deletes, deleting, compactions } = await runAndKill(dir, run, killAfter);
    compactionsSeen += compactions;
    assert.ok(puts.size + deletes.size >= killAfter, `run ${run}: ${puts.size + deletes.size} acks`);
    for (const p of puts) acked.set(p, 'present');
    for (const p of deleting) acked.set(p, 'either');
    for (const d of deletes) acked.set(d, 'absent');
    assert.ok([...deleting].filter((p) => !deletes.has(p)).length <= 8, 'at most one delete in flight per writer');
    const loaded = new Map((await reload(dir)).map((m) => [m.externalPort, m]));
    for (const [port, state] of acked) {
      if (state !== 'either') assert.equal(loaded.has(port), state === 'present', `port ${port} should be ${state} after run ${run}`);
    }
    for (const m of loaded.values()) assert.match(m.description, /^run\d w\d i\d+( e)?$/);
  }
  assert.ok(compactionsSeen > 0, 'compactions ran during the bursts');
}));
