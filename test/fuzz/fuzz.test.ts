/**
 * The suite's fuzzing: every parser's properties (`*.fuzz.ts` beside the code, found by
 * fuzz-runner.ts) SUITE_RUNS times each from a fixed seed. A failure prints its
 * counterexample and the `npm run fuzz` command that replays it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SUITE_RUNS, SUITE_SEED, describeFailure, findFuzzProperties, runProperty } from './fuzz-runner.js';

const entries = await findFuzzProperties();

test('fuzz properties are found in every package', () => {
  for (const pkg of ['nat-table/', 'igd-service/', 'gateway/']) {
    assert.ok(entries.some((e) => e.module.startsWith(pkg)), `no *.fuzz.js in ${pkg}dist (did tsc -b run?)`);
  }
});

for (const entry of entries) {
  test(`fuzz: ${entry.name} (${SUITE_RUNS} cases)`, async () => {
    const o = await runProperty(entry, { numRuns: SUITE_RUNS, seed: SUITE_SEED });
    assert.ok(!o.failed, describeFailure(o));
    assert.equal(o.numRuns, SUITE_RUNS);
  });
}
