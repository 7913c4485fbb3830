import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SourceBuckets } from './source-buckets.js';

test('each source spends its burst, then earns perSecond back; another source is not touched', () => {
  let now = 0;
  const b = new SourceBuckets({ perSecond: 10, burst: 3 }, 16, () => now);
  assert.deepEqual([1, 2, 3, 4].map(() => b.take('a')), [true, true, true, false]);
  assert.equal(b.take('b'), true, 'b has its own bucket');
  now = 100;
  assert.equal(b.take('a'), true, 'one token back after 100 ms');
  assert.equal(b.take('a'), false);
  now = 10_000;
  assert.deepEqual([1, 2, 3, 4].map(() => b.take('a')), [true, true, true, false], 'never more than the burst');
  assert.equal(b.refused, 3);
});

test('the sources tracked are bounded: idle ones are forgotten first, then the oldest', () => {
  let now = 0;
  const b = new SourceBuckets({ perSecond: 1, burst: 2 }, 4, () => now);
  for (let i = 0; i < 4; i++) b.take(`s${i}`);
  for (let i = 0; i < 1000; i++) b.take(`flood${i}`);
  assert.ok(b.size <= 4);
  // A busy source among many new ones keeps being limited as long as it is tracked.
  now = 5000;
  const c = new SourceBuckets({ perSecond: 1, burst: 1 }, 2, () => now);
  assert.equal(c.take('x'), true);
  assert.equal(c.take('x'), false);
  assert.equal(c.take('y'), true);
  assert.equal(c.size, 2);
  assert.equal(c.take('z'), true, 'room made by forgetting the oldest');
  assert.equal(c.size, 2);
});

test('a clock that goes back earns nothing and takes nothing away', () => {
  let now = 1000;
  const b = new SourceBuckets({ perSecond: 1000, burst: 1 }, 4, () => now);
  assert.equal(b.take('a'), true);
  now = 0;
  assert.equal(b.take('a'), false);
  assert.throws(() => new SourceBuckets({ perSecond: 0, burst: 1 }), RangeError);
});
