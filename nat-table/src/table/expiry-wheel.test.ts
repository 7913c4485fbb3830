import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ExpiryWheel } from './expiry-wheel.js';

/** A wheel with an owner that removes what is due by `now` and files the rest again. */
function owner(capacity: number) {
  const wheel = new ExpiryWheel(capacity);
  const at = new Map<number, number>();
  let now = 0;
  const removed: number[] = [];
  const visit = (f: number): void => {
    const t = at.get(f)!;
    if (t <= now) {
      at.delete(f);
      removed.push(f);
    } else {
      wheel.schedule(f, t);
    }
  };
  return {
    wheel,
    at,
    add(f: number, t: number) { at.set(f, t); wheel.schedule(f, t); },
    /** Sweeps at `t`; returns [removed slots (sorted), visits]. */
    sweep(t: number, budget = Infinity): [number[], number] {
      now = t;
      removed.length = 0;
      const visits = wheel.sweep(t, budget, visit);
      return [[...removed].sort((a, b) => a - b), visits];
    },
  };
}

describe('ExpiryWheel', () => {
  test('hands back exactly what is due, to the millisecond', () => {
    const o = owner(4);
    o.add(0, 1500);
    o.add(1, 1501);
    o.add(2, 9000);
    assert.deepEqual(o.sweep(1499)[0], []);
    assert.deepEqual(o.sweep(1500)[0], [0]);
    assert.deepEqual(o.sweep(1501)[0], [1]);
    assert.deepEqual(o.sweep(8999)[0], []);
    assert.deepEqual(o.sweep(9000)[0], [2]);
  });

  test('idle slots far in the future cost no visits; only what is due is looked at', () => {
    const o = owner(100_000);
    for (let f = 0; f < 100_000; f++) o.add(f, 3_000_000);
    o.add(0, 5000);
    const [gone, visits] = o.sweep(5000);
    assert.deepEqual(gone, [0]);
    assert.ok(visits <= 7, `5 empty seconds and one due slot, not 100,000 slots: ${visits} visits`);
  });

  test('a budget leaves the rest for the next sweep, nothing lost', () => {
    const o = owner(10);
    for (let f = 0; f < 10; f++) o.add(f, 1000);
    const all: number[] = [];
    for (let i = 0; i < 5; i++) {
      const [gone, visits] = o.sweep(1000, 4);
      assert.ok(visits <= 4 && gone.length <= 4, `at most 4 visits per sweep: ${visits}`);
      all.push(...gone);
    }
    assert.deepEqual(all.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('a time past the horizon (about 68 minutes) is filed at the horizon and handed back on time', () => {
    const o = owner(2);
    const later = 10 * 3_600_000;
    o.add(0, later);
    for (let t = 0; t < later; t += 600_000) assert.deepEqual(o.sweep(t)[0], []);
    assert.deepEqual(o.sweep(later - 1)[0], []);
    assert.deepEqual(o.sweep(later)[0], [0]);
  });

  test('a clock jump past the horizon hands every slot over once', () => {
    const o = owner(3);
    o.add(0, 1000);
    o.add(1, 5_000_000);
    o.add(2, 365 * 86_400_000);
    const [gone, visits] = o.sweep(30 * 86_400_000);
    assert.deepEqual(gone, [0, 1]);
    assert.equal(visits, 3);
    assert.deepEqual(o.sweep(365 * 86_400_000)[0], [2]);
  });

  test('cancel takes a slot out; scheduleIfSooner moves only to a sooner second', () => {
    const o = owner(3);
    o.add(0, 5000);
    o.add(1, 5000);
    o.wheel.cancel(0);
    o.wheel.cancel(0);
    o.at.set(1, 60_000);
    o.wheel.scheduleIfSooner(1, 60_000);
    o.at.set(2, 2000);
    o.wheel.scheduleIfSooner(2, 2000);
    assert.deepEqual(o.sweep(2000)[0], [2], 'an unfiled slot is filed by scheduleIfSooner');
    assert.deepEqual(o.sweep(5000)[0], [], 'slot 0 was cancelled; slot 1 is filed again, not due');
    o.at.set(1, 7000);
    o.wheel.scheduleIfSooner(1, 7000);
    assert.deepEqual(o.sweep(7000)[0], [1]);
  });

  test('against a plain model: any schedule, cancel and sweep sequence removes what is due and nothing else', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), f: fc.nat(15), dt: fc.nat(9_000_000) }),
      fc.record({ kind: fc.constant('cancel' as const), f: fc.nat(15) }),
      fc.record({ kind: fc.constant('sweep' as const), dt: fc.nat(5_000_000) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const o = owner(16);
      let now = 0;
      const model = new Map<number, number>();
      for (const x of ops) {
        if (x.kind === 'add') {
          o.add(x.f, now + x.dt);
          model.set(x.f, now + x.dt);
        } else if (x.kind === 'cancel') {
          o.wheel.cancel(x.f);
          o.at.delete(x.f);
          model.delete(x.f);
        } else {
          now += x.dt;
          const [gone] = o.sweep(now);
          const due = [...model].filter(([, t]) => t <= now).map(([f]) => f).sort((a, b) => a - b);
          for (const f of due) model.delete(f);
          assert.deepEqual(gone, due);
        }
      }
    }), { numRuns: 2000 });
  });
});
