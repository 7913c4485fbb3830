/**
 * Fuzz properties of the store's records, run by the suite (test/fuzz) and by `npm run
 * fuzz`: a record line's decoder given random bytes or a record with one byte changed,
 * and the journal's replay given a valid journal cut at any byte, with or without one
 * byte changed. Replay throws nothing but `StoreCorruptError`; a journal only cut short
 * replays exactly the records whose lines are whole and marks the torn tail for
 * truncation; a changed byte never lets a record through that was not written.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StoreCorruptError } from './errors.js';
import { crc32, decodeRecordLine, encodeRecordLine } from './journal.js';
import { FileMappingStore, MAPPING_STORE_FORMAT } from './store.js';
import type { PortMapping } from './types.js';

type Change = { op: 'put'; mapping: PortMapping } | { op: 'delete'; key: { remoteHost: string; externalPort: number; protocol: 'TCP' | 'UDP' } };
interface ParsedJournal { readonly changes: readonly Change[]; readonly tornAt: number | undefined }

/**
 * The store's journal parser. It is private to the store, which calls it from `load()`
 * between file reads; the fuzz calls it on bytes directly, which needs no files.
 */
function replay(bytes: Uint8Array): ParsedJournal {
  const store = new FileMappingStore({ directory: '/nonexistent/openigd-fuzz' });
  return (store as unknown as { parseJournal(b: Uint8Array): ParsedJournal }).parseJournal(bytes);
}

const port = fc.integer({ min: 1, max: 65535 });
const protocol = fc.constantFrom<'TCP' | 'UDP'>('TCP', 'UDP');
const mapping: fc.Arbitrary<PortMapping> = fc.record({
  remoteHost: fc.constantFrom('', '198.51.100.7'), externalPort: port, protocol, internalPort: port,
  internalClient: fc.constantFrom('192.168.1.10', '192.168.1.11'), enabled: fc.boolean(), description: fc.string({ maxLength: 30 }),
  leaseSeconds: fc.integer({ min: 0, max: 604800 }), expiresAtMs: fc.nat(), origin: fc.constant('upnp' as const), requester: fc.constant('192.168.1.10'),
});
const change: fc.Arbitrary<Change> = fc.oneof(
  mapping.map((m): Change => ({ op: 'put', mapping: m })),
  fc.record({ remoteHost: fc.constant(''), externalPort: port, protocol }).map((key): Change => ({ op: 'delete', key })),
);

function journalBytes(generation: number, changes: readonly Change[]): { bytes: Uint8Array; ends: number[] } {
  const lines = [encodeRecordLine({ format: MAPPING_STORE_FORMAT.journal, version: MAPPING_STORE_FORMAT.version, generation }), ...changes.map((c) => encodeRecordLine(c))];
  const bytes = new Uint8Array(lines.reduce((n, l) => n + l.length, 0));
  const ends: number[] = [];
  let at = 0;
  for (const l of lines) {
    bytes.set(l, at);
    at += l.length;
    ends.push(at);
  }
  return { bytes, ends };
}

/** Replays `bytes`; a StoreCorruptError is an answer (null), anything else thrown fails. */
function replayOrCorrupt(bytes: Uint8Array): ParsedJournal | null {
  try {
    return replay(bytes);
  } catch (e) {
    assert.ok(e instanceof StoreCorruptError, `threw ${String(e)}, not a StoreCorruptError`);
    return null;
  }
}

export const FUZZ = {
  'store records: random bytes never pass as a record by accident': () => fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    const r = decodeRecordLine(bytes, 0, bytes.length);
    // Only possible if the bytes really are a checksummed line.
    if (r.ok) assert.equal(parseInt(new TextDecoder().decode(bytes.subarray(0, 8)), 16), crc32(bytes, 9, bytes.length));
  }),
  'store records: a record with one byte changed is refused': () => fc.property(change, fc.nat(), fc.integer({ min: 1, max: 255 }), (c, at, xor) => {
    const line = encodeRecordLine(c);
    const end = line.length - 1; // without the newline
    const bad = line.slice();
    bad[at % end] ^= xor;
    assert.equal(decodeRecordLine(bad, 0, end).ok, false);
  }),
  'store journal: replay of a journal cut short, or cut and changed': () => fc.property(
    fc.nat({ max: 1000 }), fc.array(change, { maxLength: 8 }), fc.nat(), fc.option(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 }))),
    (generation, changes, cutAt, flip) => {
      const { bytes, ends } = journalBytes(generation, changes);
      const cut = bytes.slice(0, cutAt % (bytes.length + 1));
      if (flip && cut.length > 0) cut[flip[0] % cut.length] ^= flip[1];
      const r = replayOrCorrupt(cut);
      const whole = ends.filter((e) => e <= cut.length).length - 1;
      if (!flip) {
        // Cut only: the header must be whole; then exactly the whole records, and the rest is torn.
        if (whole < 0) {
          assert.equal(r, null, 'a journal without its whole header is corrupt');
          return;
        }
        assert.ok(r !== null, 'a journal cut short replays');
        assert.deepEqual(r.changes, changes.slice(0, whole));
        assert.equal(r.tornAt, ends[whole] === cut.length ? undefined : ends[whole]);
        return;
      }
      // Changed: what replays is never a record that was not written, and never past the cut.
      if (r !== null) {
        assert.ok(r.changes.length <= Math.max(0, whole));
        assert.deepEqual(r.changes, changes.slice(0, r.changes.length));
      }
    }),
};
