/** Record format fixtures (CRC-32 check value, byte-exact lines), line splitting. The decoder's fuzz properties are in journal.fuzz.ts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  crc32, decodeRecordLine, encodeRecordLine, splitLines, RECORD_MAX_BYTES,
} from './journal.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

test('crc32: the CRC-32/ISO-HDLC check value and the empty input', () => {
  assert.equal(crc32(text('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(text('The quick brown fox jumps over the lazy dog')), 0x414fa339);
  assert.equal(crc32(text('xx123456789yy'), 2, 11), 0xcbf43926);
});

test('encodeRecordLine: byte-exact line (checksum, space, JSON, newline)', () => {
  const line = encodeRecordLine({ op: 'delete', key: { remoteHost: '', externalPort: 80, protocol: 'TCP' } });
  const json = '{"op":"delete","key":{"remoteHost":"","externalPort":80,"protocol":"TCP"}}';
  const expected = `${crc32(text(json)).toString(16).padStart(8, '0')} ${json}\n`;
  assert.equal(new TextDecoder().decode(line), expected);
  assert.equal(new TextDecoder().decode(encodeRecordLine({ a: 1 })), '561bacaf {"a":1}\n');
});

test('decodeRecordLine: round trip, including newlines and non-ASCII inside strings', () => {
  const value = { op: 'put', description: 'line1\nline2 — ünïcode ✓ \u2028' };
  const line = encodeRecordLine(value);
  assert.equal(line.indexOf(0x0a), line.length - 1, 'one line only');
  assert.deepEqual(decodeRecordLine(line, 0, line.length - 1), { ok: true, value });
});

test('decodeRecordLine: checksum mismatch, bad checksum field, short line, bad JSON', () => {
  const line = encodeRecordLine({ a: 1 });
  const flipped = line.slice();
  flipped[12] ^= 0x01;
  assert.deepEqual(decodeRecordLine(flipped, 0, flipped.length - 1), { ok: false, reason: 'checksum mismatch' });
  const upper = text('561BACAF {"a":1}');
  assert.deepEqual(decodeRecordLine(upper, 0, upper.length), { ok: false, reason: 'bad checksum field' });
  assert.deepEqual(decodeRecordLine(text('abc'), 0, 3), { ok: false, reason: 'not a record line' });
  const json = '{"a":';
  const bad = text(`${crc32(text(json)).toString(16).padStart(8, '0')} ${json}`);
  assert.deepEqual(decodeRecordLine(bad, 0, bad.length), { ok: false, reason: 'unparseable JSON' });
  const long = new Uint8Array(RECORD_MAX_BYTES + 1).fill(0x61);
  assert.deepEqual(decodeRecordLine(long, 0, long.length), { ok: false, reason: 'record too long' });
});

test('splitLines: terminated lines, unterminated tail, empty input', () => {
  assert.deepEqual(splitLines(text('')), []);
  assert.deepEqual(splitLines(text('ab\ncd\nef')), [
    { start: 0, end: 2, terminated: true, number: 1 },
    { start: 3, end: 5, terminated: true, number: 2 },
    { start: 6, end: 8, terminated: false, number: 3 },
  ]);
  assert.deepEqual(splitLines(text('\n')), [{ start: 0, end: 0, terminated: true, number: 1 }]);
});

