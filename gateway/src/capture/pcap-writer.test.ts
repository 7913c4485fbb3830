import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter } from './pcap-writer.js';

test('writes a byte-exact pcap header and records', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'oi-pcap-'));
  try {
    const w = new PcapWriter(join(dir, 'x.pcap'));
    const frame = Uint8Array.from({ length: 60 }, (_, i) => i);
    w.write(frame, 4, 50, 1_700_000_000_123.5);
    w.close();
    const b = await readFile(join(dir, 'x.pcap'));
    assert.equal(b.subarray(0, 24).toString('hex'), 'd4c3b2a1020004000000000000000000ffff000001000000');
    assert.equal(b.subarray(24, 40).toString('hex'), '00f15365' + '6ce20100' + '32000000' + '32000000');
    assert.deepEqual([...b.subarray(40)], [...frame.subarray(4, 54)]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
