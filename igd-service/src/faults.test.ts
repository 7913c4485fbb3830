/** Every failure reason maps to the IGD spec's code and description, and codes are unique. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACTION_FAILURE_REASONS, UPNP_ERROR, actionFailure, upnpErrorFor } from './faults.js';

test('the spec codes and descriptions', () => {
  const table = Object.values(UPNP_ERROR).map((e) => [e.code, e.description]);
  assert.deepEqual(table, [
    [401, 'Invalid Action'], [402, 'Invalid Args'], [404, 'Invalid Var'], [501, 'Action Failed'], [606, 'Action not authorized'],
    [713, 'SpecifiedArrayIndexInvalid'], [714, 'NoSuchEntryInArray'], [715, 'WildCardNotPermittedInSrcIP'],
    [716, 'WildCardNotPermittedInExtPort'], [718, 'ConflictInMappingEntry'], [720, 'InvalidDeviceUUID'],
    [721, 'InvalidServiceID'], [724, 'SamePortValuesRequired'], [725, 'OnlyPermanentLeasesSupported'],
    [726, 'RemoteHostOnlySupportsWildcard'], [727, 'ExternalPortOnlySupportsWildcard'], [728, 'NoPortMapsAvailable'],
    [729, 'ConflictWithOtherMechanisms'], [730, 'PortMappingNotFound'], [733, 'InconsistentParameters'],
  ]);
});

test('each reason has its own code in IGD:1, except a port held by another mechanism, told as 718', () => {
  const codes = ACTION_FAILURE_REASONS.filter((r) => r !== 'conflict-with-other-mechanism').map((r) => upnpErrorFor(r).code);
  assert.equal(new Set(codes).size, ACTION_FAILURE_REASONS.length - 1);
  assert.equal(upnpErrorFor('conflict-with-other-mechanism').code, 718);
  assert.equal(upnpErrorFor('conflict').code, 718);
  assert.equal(upnpErrorFor('no-such-entry').code, 714);
  assert.equal(upnpErrorFor('external-port-wildcard-not-permitted').code, 716);
  assert.equal(upnpErrorFor('only-permanent-leases').code, 725);
});

test('IGD:2 answers 729 for another mechanism and never 724–727 (606 instead)', () => {
  assert.equal(upnpErrorFor('conflict-with-other-mechanism', 2).code, 729);
  assert.equal(upnpErrorFor('conflict', 2).code, 718);
  for (const reason of ACTION_FAILURE_REASONS) {
    const code = upnpErrorFor(reason, 2).code;
    assert.ok(code < 724 || code > 727, `${reason} → ${code}`);
  }
  assert.equal(upnpErrorFor('only-permanent-leases', 2).code, 606);
  assert.equal(upnpErrorFor('port-mapping-not-found', 2).code, 730);
  assert.equal(upnpErrorFor('inconsistent-parameters', 2).code, 733);
});

test('actionFailure keeps the detail only when given', () => {
  assert.deepEqual(actionFailure('conflict'), { ok: false, reason: 'conflict' });
  assert.deepEqual(actionFailure('conflict', 'x'), { ok: false, reason: 'conflict', detail: 'x' });
});
