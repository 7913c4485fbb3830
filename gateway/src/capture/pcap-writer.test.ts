import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameFlag } from '../link/index.js';
import { PcapWriter } from './pcap-writer.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Frames of nat-table's wire fixtures (built by an independent script; tshark agrees
 * with their checksums): 192.168.1.100 → 198.51.100.10.
 *  - TCP PSH|ACK 40000 → 80 with 7 bytes of payload, checksum 0xeaf9;
 *  - UDP 12345 → 53 with "hello", checksum 0x9f49.
 * The partial forms hold in the checksum field what a sender with checksum offload
 * leaves there: the folded, uncomplemented pseudo-header sum (TCP length 27: 0xec6b;
 * UDP length 13: 0xec68).
 */
const TCP_COMPLETE = '02000000000102000000000208004500002f1234400040063c4bc0a80164c633640a9c40005001020305a0b0c0d0501801f6eaf90000474554202f0d0a';
const TCP_PARTIAL = '02000000000102000000000208004500002f1234400040063c4bc0a80164c633640a9c40005001020305a0b0c0d0501801f6ec6b0000474554202f0d0a';
const UDP_COMPLETE = '0200000000010200000000020800450000211234400040113c4ec0a80164c633640a30390035000d9f4968656c6c6f';
const UDP_PARTIAL = '0200000000010200000000020800450000211234400040113c4ec0a80164c633640a30390035000dec6868656c6c6f';
/** csum_start is the L4 header (Ethernet 14 + IPv4 20); csum_offset the field within it. */
const CSUM_START = 34;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'oi-pcap-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('writes a byte-exact pcap header and records', () => withDir(async (dir) => {
  const w = new PcapWriter(join(dir, 'x.pcap'));
  const frame = Uint8Array.from({ length: 60 }, (_, i) => i);
  w.write(frame, 4, 50, 1_700_000_000_123.5);
  w.close();
  const b = await readFile(join(dir, 'x.pcap'));
  assert.equal(b.subarray(0, 24).toString('hex'), 'd4c3b2a1020004000000000000000000ffff000001000000');
  assert.equal(b.subarray(24, 40).toString('hex'), '00f15365' + '6ce20100' + '32000000' + '32000000');
  assert.deepEqual([...b.subarray(40)], [...frame.subarray(4, 54)]);
}));

test('close without sync still writes out every buffered record', () => withDir(async (dir) => {
  const synced = new PcapWriter(join(dir, 'a.pcap'));
  const unsynced = new PcapWriter(join(dir, 'b.pcap'));
  const frame = Uint8Array.from({ length: 60 }, (_, i) => 255 - i);
  for (const w of [synced, unsynced]) for (let k = 0; k < 3; k++) w.write(frame, 0, 60, 1_700_000_000_000 + k);
  synced.close();
  unsynced.close({ sync: false });
  const [a, b] = await Promise.all([readFile(join(dir, 'a.pcap')), readFile(join(dir, 'b.pcap'))]);
  assert.equal(b.length, 24 + 3 * (16 + 60));
  assert.deepEqual(b, a);
}));

test('records partial (offloaded) TCP and UDP checksums completed, and leaves the caller\'s frames as they are', () => withDir(async (dir) => {
  const w = new PcapWriter(join(dir, 'x.pcap'));
  // The frames sit at an offset inside a larger buffer, as in a receive batch.
  const buf = new Uint8Array(512).fill(0xa5);
  const tcp = hex(TCP_PARTIAL);
  const udp = hex(UDP_PARTIAL);
  buf.set(tcp, 7);
  buf.set(udp, 200);
  const before = toHex(buf);
  w.write(buf, 7, tcp.length, 1_700_000_000_000, FrameFlag.csumPartial, CSUM_START, 16);
  w.write(buf, 200, udp.length, 1_700_000_000_001, FrameFlag.csumPartial | FrameFlag.gsoUdpL4, CSUM_START, 6);
  // The same partial frame without the flag is recorded as it is.
  w.write(buf, 7, tcp.length, 1_700_000_000_002);
  w.close();
  assert.equal(toHex(buf), before, 'the forwarded frames are never written to');
  const b = await readFile(join(dir, 'x.pcap'));
  const records: string[] = [];
  for (let at = 24; at < b.length;) {
    const caplen = b.readUInt32LE(at + 8);
    records.push(b.subarray(at + 16, at + 16 + caplen).toString('hex'));
    at += 16 + caplen;
  }
  assert.deepEqual(records, [TCP_COMPLETE, UDP_COMPLETE, TCP_PARTIAL]);
}));

test('a partial checksum is completed over the whole frame even when the snap length cuts the record', () => withDir(async (dir) => {
  const w = new PcapWriter(join(dir, 'x.pcap'), 52);
  const tcp = hex(TCP_PARTIAL);
  w.write(tcp, 0, tcp.length, 0, FrameFlag.csumPartial, CSUM_START, 16);
  // A range past the frame's end is not completed (and does not throw).
  w.write(tcp, 0, tcp.length, 0, FrameFlag.csumPartial, CSUM_START, tcp.length);
  w.close();
  const b = await readFile(join(dir, 'x.pcap'));
  assert.equal(b.readUInt32LE(24 + 8), 52, 'caplen');
  assert.equal(b.readUInt32LE(24 + 12), tcp.length, 'original length');
  assert.equal(b.subarray(40, 40 + 52).toString('hex'), TCP_COMPLETE.slice(0, 104));
  assert.equal(b.subarray(40 + 52 + 16, 40 + 52 + 16 + 52).toString('hex'), TCP_PARTIAL.slice(0, 104));
}));

test('a UDP checksum that completes to 0 is recorded as 0xffff (RFC 768)', () => withDir(async (dir) => {
  // UDP 1 → 2, length 8, no payload, 10.0.0.1 → 10.0.0.2: the full checksum would be
  // ~(pseudo + header) and the field is chosen so that the sum comes out 0xffff.
  const w = new PcapWriter(join(dir, 'x.pcap'));
  const f = hex('02000000000102000000000208004500001c00000000401100000a0000010a00000200010002000800000000');
  // pseudo-header sum of the field plus the header's words (1 + 2 + 8) must fold to 0xffff.
  const field = 0xffff - (0x0001 + 0x0002 + 0x0008);
  f[CSUM_START + 6] = field >> 8;
  f[CSUM_START + 7] = field & 0xff;
  w.write(f, 0, f.length, 0, FrameFlag.csumPartial, CSUM_START, 6);
  w.close();
  const b = await readFile(join(dir, 'x.pcap'));
  assert.equal(b.subarray(40 + CSUM_START + 6, 40 + CSUM_START + 8).toString('hex'), 'ffff');
}));
