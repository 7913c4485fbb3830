/** Every failure reason maps to the IGD spec's code and description, and codes are unique. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACTION_FAILURE_REASONS, UPNP_ERROR, actionFailure, upnpErrorFor } from './faults.js';

test('the spec codes and descriptions', () => {
  const table = Object.values(UPNP_ERROR).map((e) => [e.code, e.description]);
  assert.deepEqual(table, [
    [401, 'Invalid Action'], [402, 'Invalid Args'], [501, 'Action Failed'], [606, 'Action not authorized'],
    [713, 'SpecifiedArrayIndexInvalid'], [714, 'NoSuchEntryInArray'], [715, 'WildCardNotPermittedInSrcIP'],
    [716, 'WildCardNotPermittedInExtPort'], [718, 'ConflictInMappingEntry'], [720, 'InvalidDeviceUUID'],
    [721, 'InvalidServiceID'], [724, 'SamePortValuesRequired'], [725, 'OnlyPermanentLeasesSupported'],
    [726, 'RemoteHostOnlySupportsWildcard'], [727, 'ExternalPortOnlySupportsWildcard'], [728, 'NoPortMapsAvailable'],
  ]);
});

test('each reason has its own code', () => {
  const codes = ACTION_FAILURE_REASONS.map((r) => upnpErrorFor(r).code);
  assert.equal(new Set(codes).size, ACTION_FAILURE_REASONS.length);
  assert.equal(upnpErrorFor('conflict').code, 718);
  assert.equal(upnpErrorFor('no-such-entry').code, 714);
  assert.equal(upnpErrorFor('external-port-wildcard-not-permitted').code, 716);
  assert.equal(upnpErrorFor('only-permanent-leases').code, 725);
});

test('actionFailure keeps the detail only when given', () => {
  assert.deepEqual(actionFailure('conflict'), { ok: false, reason: 'conflict' });
  assert.deepEqual(actionFailure('conflict', 'x'), { ok: false, reason: 'conflict', detail: 'x' });
});
