/**
 * Checks the fixtures themselves with a plain RFC 1071 loop that shares no code with
 * the views, so a fixture with a wrong checksum cannot hide a bug in checksum.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FIXTURE, hex, naiveChecksum } from './test-fixtures.js';

/** Offset of the IPv4 header in a fixture frame (0x0800 after 12 or 16 bytes), or -1. */
function ipStart(f: Uint8Array): number {
  if (f[12] === 0x08 && f[13] === 0x00) return 14;
  if (f[12] === 0x81 && f[13] === 0x00 && f[16] === 0x08 && f[17] === 0x00) return 18;
  return -1;
}

test('every IPv4 fixture has right header and L4 checksums by an independent recompute', () => {
  let checked = 0;
  for (const [name, h] of Object.entries(FIXTURE)) {
    const f = hex(h);
    const s = ipStart(f);
    if (s < 0) continue;
    const hl = (f[s]! & 0x0f) * 4;
    const total = f[s + 2]! * 256 + f[s + 3]!;
    assert.equal(naiveChecksum(f.subarray(s, s + hl)), 0, `${name}: IPv4 header`);
    const proto = f[s + 9]!;
    const fragmented = (f[s + 6]! & 0x3f) !== 0 || f[s + 7] !== 0;
    if (fragmented) continue;
    const seg = f.subarray(s + hl, s + total);
    const pseudo = f[s + 12]! * 256 + f[s + 13]! + f[s + 14]! * 256 + f[s + 15]! + f[s + 16]! * 256 + f[s + 17]!
      + f[s + 18]! * 256 + f[s + 19]! + proto + seg.length;
    if (proto === 1) assert.equal(naiveChecksum(seg), 0, `${name}: ICMP`);
    else if (proto === 17 && seg[6] === 0 && seg[7] === 0) assert.equal(name, 'udpNoChecksum');
    else assert.equal(naiveChecksum(seg, pseudo), 0, `${name}: L4 with pseudo-header`);
    checked++;
  }
  assert.equal(checked, 9, 'every unfragmented IPv4 fixture');
});

test('the quote inside the port-unreachable fixture is itself a valid IPv4 header', () => {
  const f = hex(FIXTURE.portUnreachable);
  assert.equal(naiveChecksum(f.subarray(42, 62)), 0);
});
