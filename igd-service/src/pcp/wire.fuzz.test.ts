/**
 * The PCP fuzz properties (wire.fuzz.ts; 10,000 cases each in test/fuzz) are not vacuous:
 * a shorter run of each reaches every drop reason and most result codes, success included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FUZZ, seen } from './wire.fuzz.js';
import { PCP_DROP_REASON, PCP_RESULT } from './wire.js';

test('the fuzz reached every drop reason and most result codes', async () => {
  for (const make of Object.values(FUZZ)) await fc.assert(make(), { numRuns: 2000, seed: 6887 });
  const { drops, results } = seen;
  assert.ok((results.get(PCP_RESULT.SUCCESS) ?? 0) > 100, 'the generator reaches successful MAP/PEER/ANNOUNCE');
  for (const reason of Object.values(PCP_DROP_REASON)) assert.ok((drops.get(reason) ?? 0) > 0, reason);
  for (const code of [
    PCP_RESULT.SUCCESS, PCP_RESULT.UNSUPP_VERSION, PCP_RESULT.MALFORMED_REQUEST, PCP_RESULT.UNSUPP_OPCODE,
    PCP_RESULT.UNSUPP_OPTION, PCP_RESULT.MALFORMED_OPTION, PCP_RESULT.ADDRESS_MISMATCH, PCP_RESULT.UNSUPP_PROTOCOL,
    PCP_RESULT.NOT_AUTHORIZED,
  ]) assert.ok((results.get(code) ?? 0) > 0, `result ${code}`);
});
