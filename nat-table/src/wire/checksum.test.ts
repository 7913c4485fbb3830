/** Tests of the checksum arithmetic: RFC 1071's example, odd lengths, RFC 1624 updates against full recomputes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { adjust16, adjust32, adjustPartial16, adjustPartial32, fold, internetChecksum, pseudoHeaderSum, sum16 } from './checksum.js';
import { naiveChecksum } from './test-fixtures.js';

const RUNS = 5000;

test('RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', () => {
  const b = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
  assert.equal(fold(sum16(b, 0, 8)), 0xddf2);
  assert.equal(internetChecksum(b, 0, 8), 0x220d);
});

test('sum16 handles odd lengths, offsets, initial values and empty ranges', () => {
  const b = Uint8Array.of(9, 0x12, 0x34, 0x56);
  assert.equal(sum16(b, 1, 3), 0x1234 + 0x5600);
  assert.equal(sum16(b, 1, 3, 7), 0x1234 + 0x5600 + 7);
  assert.equal(sum16(b, 2, 0), 0);
  assert.equal(internetChecksum(b, 0, 0), 0xffff);
  const sub = b.subarray(1);
  assert.equal(sum16(sub, 0, 3), 0x1234 + 0x5600, 'reads relative to the subarray');
});

test('internetChecksum equals an independent implementation on random data', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1600 }), fc.nat({ max: 0xfffff }), (bytes, extra) => {
    assert.equal(internetChecksum(bytes, 0, bytes.length, extra), naiveChecksum(bytes, extra));
  }), { numRuns: 2000 });
});

test('fold folds large accumulators', () => {
  assert.equal(fold(0), 0);
  assert.equal(fold(0xffff), 0xffff);
  assert.equal(fold(0x10000), 1);
  assert.equal(fold(0x1fffe), 0xffff);
  assert.equal(fold(2 ** 40 + 5), fold(fold(2 ** 40) + 5));
});

test('pseudoHeaderSum adds the address words, protocol and length', () => {
  assert.equal(pseudoHeaderSum(0xc0a80164, 0xc633640a, 17, 13), 0xc0a8 + 0x0164 + 0xc633 + 0x640a + 17 + 13);
});

/** Ones' complement has two zeros; a checksum field may legitimately hold either only where a recompute shows so. */
const sameOnes = (a: number, b: number): boolean => a === b || (a === 0xffff && b === 0) || (a === 0 && b === 0xffff);

test(`RFC 1624 adjust16 equals a full recompute (${RUNS} random messages and words)`, () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 2, maxLength: 80 }), fc.nat(), fc.integer({ min: 0, max: 0xffff }), (bytes, at, w) => {
    const words = bytes.length >> 1;
    const i = (at % words) * 2;
    const before = internetChecksum(bytes, 0, bytes.length);
    const old = (bytes[i]! << 8) | bytes[i + 1]!;
    bytes[i] = w >> 8; bytes[i + 1] = w & 255;
    const after = naiveChecksum(bytes);
    const inc = adjust16(before, old, w);
    if (bytes.some((x) => x !== 0)) assert.equal(inc, after);
    else assert.ok(sameOnes(inc, after));
  }), { numRuns: RUNS });
});

test(`RFC 1624 adjust32 equals a full recompute (${RUNS} random messages)`, () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  fc.assert(fc.property(u32, u32, u32, u32, (a, b, c, n) => {
    const buf = Uint8Array.of(a >>> 24, a >>> 16, a >>> 8, a, b >>> 24, b >>> 16, b >>> 8, b, c >>> 24, c >>> 16, c >>> 8, c);
    const before = internetChecksum(buf, 0, 12);
    buf[0] = n >>> 24; buf[1] = n >>> 16; buf[2] = n >>> 8; buf[3] = n;
    const after = naiveChecksum(buf);
    const inc = adjust32(before, a, n);
    if (buf.some((x) => x !== 0)) assert.equal(inc, after);
    else assert.ok(sameOnes(inc, after));
  }), { numRuns: RUNS });
});

test(`partial adjust equals the folded pseudo-header sum of the new words (${RUNS} runs)`, () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  fc.assert(fc.property(u32, u32, fc.constantFrom(6, 17), fc.integer({ min: 8, max: 0xffff }), u32, u32, (s, d, proto, len, ns, nd) => {
    let p = fold(pseudoHeaderSum(s, d, proto, len));
    p = adjustPartial32(p, s, ns);
    p = adjustPartial16(p, d >>> 16, nd >>> 16);
    p = adjustPartial16(p, d & 0xffff, nd & 0xffff);
    const want = fold(pseudoHeaderSum(ns, nd, proto, len));
    assert.equal(p, want);
  }), { numRuns: RUNS });
});
