import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapFormatError, parsePcap, readPcapFile } from './pcap-reader.js';
import { PcapWriter } from './pcap-writer.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Fixtures written by a separate script (Python's struct), and read back by tshark as:
 * LE_US: 1700000000.123456 len 20 cap 20; 1700000001.999999 len 14 cap 14.
 * BE_NS: 1700000000.123456789 len 100 cap 16.
 */
const LE_US = 'd4c3b2a1020004000000000000000000ffff000001000000'
  + '00f1536540e201001400000014000000' + '202122232425262728292a2b2c2d2e2f30313233'
  + '01f153653f420f000e0000000e000000' + '404142434445464748494a4b4c4d';
const BE_NS = 'a1b23c4d00020004000000000000000000040000' + '00000001'
  + '6553f100075bcd150000001000000064' + '606162636465666768696a6b6c6d6e6f';

const frameHex = (f: ReturnType<typeof parsePcap>, i: number): string => toHex(f.buffer.subarray(f.offsets[i]!, f.offsets[i]! + f.lengths[i]!));

test('reads little-endian microsecond pcap byte for byte', () => {
  const f = parsePcap(hex(LE_US));
  assert.equal(f.count, 2);
  assert.equal(f.nanosecond, false);
  assert.equal(f.snapLength, 65535);
  assert.equal(f.truncatedBytes, 0);
  assert.equal(frameHex(f, 0), '202122232425262728292a2b2c2d2e2f30313233');
  assert.equal(frameHex(f, 1), '404142434445464748494a4b4c4d');
  assert.deepEqual([...f.wireLengths], [20, 14]);
  assert.deepEqual([...f.offsets], [40, 76]);
  assert.equal(Math.round(f.timesMs[0]! * 1000), 1_700_000_000_123_456);
  assert.equal(Math.round(f.timesMs[1]! * 1000), 1_700_000_001_999_999);
});

test('reads big-endian nanosecond pcap, with a frame cut by the snap length', () => {
  const f = parsePcap(hex(BE_NS));
  assert.equal(f.count, 1);
  assert.equal(f.nanosecond, true);
  assert.equal(f.lengths[0], 16);
  assert.equal(f.wireLengths[0], 100);
  assert.equal(frameHex(f, 0), '606162636465666768696a6b6c6d6e6f');
  assert.ok(Math.abs(f.timesMs[0]! - 1_700_000_000_123 - 0.456789) < 1e-3, "the nanoseconds, to what a double holds");
});

test('a torn last record is left out and its bytes counted; the records before it are read', () => {
  const whole = hex(LE_US);
  for (const cut of [1, 10, 16, 20]) {
    const f = parsePcap(whole.subarray(0, whole.length - cut));
    assert.equal(f.count, 1, `cut ${cut}`);
    assert.equal(f.truncatedBytes, 30 - cut, `cut ${cut}`);
  }
  assert.equal(parsePcap(whole.subarray(0, 24)).count, 0, 'a header alone is an empty capture');
});

test('bad files are clear errors naming the offset', () => {
  const bad = (bytes: Uint8Array, pattern: RegExp): void => {
    assert.throws(() => parsePcap(bytes, 'x.pcap'), (e: unknown) => e instanceof PcapFormatError && pattern.test(e.message));
  };
  bad(hex('d4c3b2a1'), /^x\.pcap: file shorter than the 24-byte pcap header at byte 4$/);
  bad(hex('0a0d0d0a' + '00'.repeat(20)), /pcapng is not read here/);
  bad(hex('deadbeef' + '00'.repeat(20)), /not a pcap file \(magic 0xdeadbeef\) at byte 0/);
  const withLink = (lt: string): Uint8Array => hex(LE_US.slice(0, 40) + lt + LE_US.slice(48));
  bad(withLink('71000000'), /link type 113 is not Ethernet \(1\) at byte 20/);
  const version = hex(LE_US.slice(0, 8) + '0100' + LE_US.slice(12));
  bad(version, /unsupported pcap version 1\.4 at byte 4/);
  // A first record claiming 16 MiB: not a record.
  bad(hex(LE_US.slice(0, 48) + '00f1536540e20100' + '00000001' + '00000001'), /captured length 16777216 over the limit 65535 at byte 32/);
  bad(hex(LE_US.slice(0, 48) + '00f1536540e20100' + '14000000' + '10000000'), /wire length 16 shorter than captured length 20 at byte 36/);
});

test('what PcapWriter writes reads back with the same bytes and stamps', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'oi-pcapr-'));
  try {
    const path = join(dir, 'x.pcap');
    const w = new PcapWriter(path);
    const frame = Uint8Array.from({ length: 100 }, (_, i) => (i * 7) & 0xff);
    const stamps = [1_700_000_000_000.001, 1_733_420_000_123.457, 1_733_420_000_999.999];
    for (const [i, t] of stamps.entries()) w.write(frame, i, 60 + i, t);
    w.close();
    const f = await readPcapFile(path);
    assert.equal(f.count, 3);
    for (const [i, t] of stamps.entries()) {
      assert.equal(frameHex(f, i), toHex(frame.subarray(i, i + 60 + i)));
      assert.equal(Math.round(f.timesMs[i]! * 1000), Math.round(t * 1000), `stamp ${i} to the µs`);
    }
    // And written again from what was read, the file is the same byte for byte.
    const again = join(dir, 'y.pcap');
    const w2 = new PcapWriter(again);
    for (let i = 0; i < f.count; i++) w2.write(f.buffer, f.offsets[i]!, f.lengths[i]!, f.timesMs[i]!);
    w2.close();
    assert.equal(toHex(await readFile(again)), toHex(await readFile(path)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
