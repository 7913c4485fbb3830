/**
 * Fragments: the fragmenter's output against RFC 791 (offsets, MF, sizes, copied options,
 * checksums), and the reassembler's drops: overlaps, bad lengths, over-size datagrams,
 * timeouts and the datagram limit. Any order of fragments put back together byte for
 * byte, and random fragment streams, are fuzz properties (fragment.fuzz.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ipv4Packet } from './ipv4.js';
import { internetChecksum } from './checksum.js';
import { Reassembler, fragmentIpv4 } from './fragment.js';
import { datagram, fragments } from './fragment.fuzz.js';

function feed(r: Reassembler, frag: Uint8Array, nowMs = 0) {
  const ip = new Ipv4Packet();
  assert.equal(ip.attach(frag, 0, frag.length), 'ok');
  return r.add(ip, nowMs);
}

test('fragmenting 4000 bytes at MTU 1500: 1480 + 1480 + 1040, offsets in 8-byte units, MF on all but the last', () => {
  const d = datagram(4000);
  const f = fragments(d, 1500);
  assert.deepEqual(f.map((x) => x.length), [1500, 1500, 1060]);
  const ip = new Ipv4Packet();
  const fields = f.map((x) => {
    ip.attach(x, 0, x.length);
    assert.equal(internetChecksum(x, 0, 20), 0, 'header checksum');
    return [ip.fragmentOffset, ip.moreFragments, ip.identification, ip.totalLength];
  });
  assert.deepEqual(fields, [[0, true, 0x1234, 1500], [1480, true, 0x1234, 1500], [2960, false, 0x1234, 1060]]);
  // Byte for byte: the second fragment's header.
  assert.deepEqual([...f[1]!.subarray(0, 8)], [0x45, 0x00, 0x05, 0xdc, 0x12, 0x34, 0x20, 0xb9]);
});

test('a datagram that fits is passed whole; DF set and too big gives 0 fragments', () => {
  const d = datagram(1000);
  const f = fragments(d, 1500);
  assert.equal(f.length, 1);
  assert.deepEqual(f[0], d);
  const df = datagram(3000);
  df[6] = 0x40;
  assert.equal(fragmentIpv4(df, 0, df.length, 1500, () => assert.fail('nothing may be emitted')), 0);
});

test('options: the first fragment keeps all, later ones only those with the copied flag', () => {
  const payload = 2000;
  const buf = new Uint8Array(28 + payload);
  buf.set(datagram(payload).subarray(0, 20));
  buf[0] = 0x47; // IHL 7: 8 option bytes
  buf.set([0x07, 0x03, 0x04, /* record route, not copied */ 0x83, 0x04, 0x0a, 0x0b, /* LSRR-like, copied */ 0x00], 20);
  buf[2] = (28 + payload) >> 8;
  buf[3] = (28 + payload) & 0xff;
  const f = fragments(buf, 1500);
  assert.equal(f[0]![0], 0x47);
  assert.deepEqual([...f[0]!.subarray(20, 28)], [0x07, 0x03, 0x04, 0x83, 0x04, 0x0a, 0x0b, 0x00]);
  assert.equal(f[1]![0], 0x46);
  assert.deepEqual([...f[1]!.subarray(20, 24)], [0x83, 0x04, 0x0a, 0x0b]);
  for (const x of f) assert.equal(internetChecksum(x, 0, (x[0]! & 15) * 4), 0);
});

test('an overlapping fragment drops the datagram; a later fragment of it starts a new one', () => {
  const f = fragments(datagram(4000), 1500);
  const r = new Reassembler();
  assert.equal(feed(r, f[0]!).kind, 'pending');
  // Same offset as the second fragment but shifted by 8: overlaps the first's range.
  const evil = Uint8Array.from(f[1]!);
  evil[6] = 0x20;
  evil[7] = (1480 - 8) / 8;
  evil[10] = 0; evil[11] = 0;
  const c = internetChecksum(evil, 0, 20);
  evil[10] = c >> 8; evil[11] = c & 0xff;
  assert.deepEqual(feed(r, evil), { kind: 'drop', reason: 'overlap' });
  assert.equal(r.size, 0);
  assert.equal(r.counters.overlap, 1);
});

test('bad lengths (MF with a payload not a multiple of 8, a fragment past the end), over 65535, and time out', () => {
  const f = fragments(datagram(4000), 1500);
  const r = new Reassembler({ timeoutMs: 1000 });
  const odd = f[0]!.slice(0, 1499);
  odd[2] = 0x05; odd[3] = 0xdb;
  assert.deepEqual(feed(r, odd), { kind: 'drop', reason: 'bad-length' });
  feed(r, f[2]!); // the last: the payload is 4000
  const past = Uint8Array.from(f[1]!);
  past[6] = 0x20 | ((4000 / 8) >> 8); // MF, offset 4000 (in 8-byte units)
  past[7] = (4000 / 8) & 0xff;
  assert.deepEqual(feed(r, past), { kind: 'drop', reason: 'bad-length' });
  const huge = Uint8Array.from(f[1]!);
  huge[6] = 0x3f; huge[7] = 0xff; // offset 65528
  assert.deepEqual(feed(r, huge), { kind: 'drop', reason: 'too-big' });
  assert.equal(feed(r, f[0]!, 0).kind, 'pending');
  assert.equal(feed(r, f[1]!, 1500).kind, 'pending', 'the first expired; this one starts over');
  assert.equal(r.counters.timeout, 1);
  assert.equal(r.expire(5000), 1);
  assert.equal(r.size, 0);
});

test('at most maxDatagrams in progress: the oldest goes', () => {
  const r = new Reassembler({ maxDatagrams: 3 });
  for (let id = 0; id < 5; id++) feed(r, fragments(datagram(3000, id), 1500)[0]!);
  assert.equal(r.size, 3);
  assert.equal(r.counters.evicted, 2);
  // The newest three can still complete; the two oldest cannot.
  const last = fragments(datagram(3000, 4), 1500);
  feed(r, last[1]!);
  assert.equal(feed(r, last[2]!).kind, 'done');
});
