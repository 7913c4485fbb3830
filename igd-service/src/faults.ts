/**
 * UPnP error codes (UDA 1.0 §3.2.2 and the WANIPConnection:1 and :2 / Layer3Forwarding:1
 * specs) and the ONE exhaustive switch that maps a domain outcome (`{ ok: false, reason }`)
 * to a code, for the IGD version the request speaks: WANIPConnection:2 retires 724–727 ("MUST
 * NOT be used by WANIPConnection:2 services") in favour of 606, and adds 729 for a port
 * another mechanism holds, which an IGD:1 client is told as 718.
 * Everything below the SOAP boundary speaks in reasons; only soap.ts turns a code into the
 * fault document. Must not: build XML, or be bypassed by code that picks a number itself.
 */
import type { IgdVersion } from './declaration.js';

/** Every UPnP error this IGD can answer, with the description the specs spell. */
export const UPNP_ERROR = {
  invalidAction: { code: 401, description: 'Invalid Action' },
  invalidArgs: { code: 402, description: 'Invalid Args' },
  invalidVar: { code: 404, description: 'Invalid Var' },
  actionFailed: { code: 501, description: 'Action Failed' },
  actionNotAuthorized: { code: 606, description: 'Action not authorized' },
  specifiedArrayIndexInvalid: { code: 713, description: 'SpecifiedArrayIndexInvalid' },
  noSuchEntryInArray: { code: 714, description: 'NoSuchEntryInArray' },
  wildCardNotPermittedInSrcIp: { code: 715, description: 'WildCardNotPermittedInSrcIP' },
  wildCardNotPermittedInExtPort: { code: 716, description: 'WildCardNotPermittedInExtPort' },
  conflictInMappingEntry: { code: 718, description: 'ConflictInMappingEntry' },
  invalidDeviceUuid: { code: 720, description: 'InvalidDeviceUUID' },
  invalidServiceId: { code: 721, description: 'InvalidServiceID' },
  samePortValuesRequired: { code: 724, description: 'SamePortValuesRequired' },
  onlyPermanentLeasesSupported: { code: 725, description: 'OnlyPermanentLeasesSupported' },
  remoteHostOnlySupportsWildcard: { code: 726, description: 'RemoteHostOnlySupportsWildcard' },
  // 727 ExternalPortOnlySupportsWildcard is spec'd for gateways that accept only wildcard
  // external ports; we never do, so no reason maps to it. It is listed for completeness.
  externalPortOnlySupportsWildcard: { code: 727, description: 'ExternalPortOnlySupportsWildcard' },
  noPortMapsAvailable: { code: 728, description: 'NoPortMapsAvailable' },
  conflictWithOtherMechanisms: { code: 729, description: 'ConflictWithOtherMechanisms' },
  portMappingNotFound: { code: 730, description: 'PortMappingNotFound' },
  inconsistentParameters: { code: 733, description: 'InconsistentParameters' },
} as const;

export type UpnpError = (typeof UPNP_ERROR)[keyof typeof UPNP_ERROR];

/** Why an action did not succeed, in domain words: every reason the IGD gives. */
export const ACTION_FAILURE_REASONS = [
  'invalid-action',
  'invalid-args',
  'invalid-var',
  'action-failed',
  'not-authorized',
  'array-index-invalid',
  'no-such-entry',
  'remote-host-wildcard-not-permitted',
  'external-port-wildcard-not-permitted',
  'conflict',
  'invalid-device-uuid',
  'invalid-service-id',
  'same-port-values-required',
  'only-permanent-leases',
  'remote-host-only-wildcard',
  'no-port-maps-available',
  'conflict-with-other-mechanism',
  'port-mapping-not-found',
  'inconsistent-parameters',
] as const;

export type ActionFailureReason = (typeof ACTION_FAILURE_REASONS)[number];

/** A failed outcome. `detail` is for logs and tests; it never goes on the wire. */
export interface ActionFailure<R extends ActionFailureReason = ActionFailureReason> {
  readonly ok: false;
  readonly reason: R;
  readonly detail?: string;
}

/** Shorthand for building a failure. */
export function actionFailure<R extends ActionFailureReason>(reason: R, detail?: string): ActionFailure<R> {
  return detail === undefined ? { ok: false, reason } : { ok: false, reason, detail };
}

/** The UPnP error for a reason in an IGD version (default 1): the one place a reason becomes a number. */
export function upnpErrorFor(reason: ActionFailureReason, version: IgdVersion = 1): UpnpError {
  const v2 = version === 2;
  switch (reason) {
    case 'invalid-action': return UPNP_ERROR.invalidAction;
    case 'invalid-args': return UPNP_ERROR.invalidArgs;
    case 'invalid-var': return UPNP_ERROR.invalidVar;
    case 'action-failed': return UPNP_ERROR.actionFailed;
    case 'not-authorized': return UPNP_ERROR.actionNotAuthorized;
    case 'array-index-invalid': return UPNP_ERROR.specifiedArrayIndexInvalid;
    case 'no-such-entry': return UPNP_ERROR.noSuchEntryInArray;
    case 'remote-host-wildcard-not-permitted': return UPNP_ERROR.wildCardNotPermittedInSrcIp;
    case 'external-port-wildcard-not-permitted': return UPNP_ERROR.wildCardNotPermittedInExtPort;
    case 'conflict': return UPNP_ERROR.conflictInMappingEntry;
    case 'invalid-device-uuid': return UPNP_ERROR.invalidDeviceUuid;
    case 'invalid-service-id': return UPNP_ERROR.invalidServiceId;
    case 'same-port-values-required': return v2 ? UPNP_ERROR.actionNotAuthorized : UPNP_ERROR.samePortValuesRequired;
    case 'only-permanent-leases': return v2 ? UPNP_ERROR.actionNotAuthorized : UPNP_ERROR.onlyPermanentLeasesSupported;
    case 'remote-host-only-wildcard': return v2 ? UPNP_ERROR.actionNotAuthorized : UPNP_ERROR.remoteHostOnlySupportsWildcard;
    case 'no-port-maps-available': return UPNP_ERROR.noPortMapsAvailable;
    case 'conflict-with-other-mechanism': return v2 ? UPNP_ERROR.conflictWithOtherMechanisms : UPNP_ERROR.conflictInMappingEntry;
    case 'port-mapping-not-found': return UPNP_ERROR.portMappingNotFound;
    case 'inconsistent-parameters': return UPNP_ERROR.inconsistentParameters;
    default: {
      const unreachable: never = reason;
      throw new Error(`unmapped action failure reason ${String(unreachable)}`);
    }
  }
}
