/**
 * The rules an AddPortMapping / DeletePortMapping must pass, as pure functions of the
 * request, the existing table and the access policy (B3):
 *
 *   1. decideAddPortMapping   the spec's overwrite rule (quoted above it), in ONE function
 *   2. checkAccessPolicy      optional per-client rules, "clients map only themselves",
 *                             static leases only, remote-host and same-port demands, and
 *                             limits on mappings per internal client and in total
 *   3. checkDeletePolicy      who may delete a mapping
 *
 * Outcomes are discriminated unions with a reason; faults.ts maps reasons to UPnP codes.
 * Must not: change state, do I/O, or throw.
 */
import { parseIpv4 } from './ipv4.js';
import type { ActionFailure } from './faults.js';
import { actionFailure } from './faults.js';
import type { PortMapping } from './types.js';

/** What an AddPortMapping asks for, arguments already validated: a mapping's own fields, without its bookkeeping. */
export type PortMappingRequest = Omit<PortMapping, 'expiresAtMs' | 'origin' | 'requester' | 'nonce'>;

export type AddDecision =
  | { readonly ok: true; readonly kind: 'create' }
  /** Same key and internal client: replace; `identical` when nothing but the lease's expiry changes. */
  | { readonly ok: true; readonly kind: 'replace'; readonly previous: PortMapping; readonly identical: boolean }
  | ActionFailure<'conflict'>;

/*
 * WANIPConnection:1, AddPortMapping (the overwrite rule):
 *
 *   "This action creates a new port mapping or overwrites an existing mapping with the same
 *    internal client. If the ExternalPort and PortMappingProtocol pair is already mapped to
 *    another internal client, an error is returned."
 *
 * As a table (our reading of the rule above):
 *
 *   | existing mapping with the same    | InternalClient | action                                  |
 *   | RemoteHost, ExternalPort, Protocol |                |                                         |
 *   |------------------------------------|----------------|-----------------------------------------|
 *   | none                               | –              | create the mapping                      |
 *   | yes                                | same           | replace InternalPort, Enabled,          |
 *   |                                    |                | PortMappingDescription, LeaseDuration   |
 *   | yes                                | different      | 718 ConflictInMappingEntry              |
 *
 * This is how clients enable, disable, rename and renew a mapping (re-adding it over itself),
 * and why changing the internal client takes a delete and an add. The key includes RemoteHost:
 * a mapping for one remote host and a wildcard mapping of the same port are different entries.
 */
export function decideAddPortMapping(existing: PortMapping | undefined, request: PortMappingRequest): AddDecision {
  if (!existing) return { ok: true, kind: 'create' };
  if (existing.internalClient !== request.internalClient) {
    return actionFailure('conflict',
      `${request.protocol} ${request.externalPort} (remote host '${request.remoteHost}') is mapped to ${existing.internalClient}`);
  }
  const identical = existing.internalPort === request.internalPort
    && existing.enabled === request.enabled
    && existing.description === request.description
    && existing.leaseSeconds === request.leaseSeconds;
  return { ok: true, kind: 'replace', previous: existing, identical };
}

// ---- access policy ----------------------------------------------------------------------

/** An inclusive port range. */
export interface AccessPortRange {
  readonly minimum: number;
  readonly maximum: number;
}

/**
 * One rule, first match wins (miniupnpd's `allow|deny ext-ports int-addr/mask int-ports`):
 * it matches a request whose internal client is in `clients` (an address or CIDR block) and
 * whose ports are in the ranges given (absent = any).
 */
export interface AccessRule {
  readonly action: 'allow' | 'deny';
  readonly clients: string;
  readonly externalPorts?: AccessPortRange;
  readonly internalPorts?: AccessPortRange;
}

export interface AccessPolicy {
  /** Checked in order; the first match decides. */
  readonly rules?: readonly AccessRule[];
  /** When no rule matches. Default 'allow'. */
  readonly defaultAction?: 'allow' | 'deny';
  /** The internal client must be the requester's own address (606 otherwise); also for deletes. */
  readonly clientsMapOnlyThemselves?: boolean;
  /** Only leases of 0 are accepted (725 otherwise). */
  readonly staticLeasesOnly?: boolean;
  /** 'wildcard-only': a remote host is refused (726); 'specific-only': the wildcard is refused (715). Default 'any'. */
  readonly remoteHost?: 'any' | 'wildcard-only' | 'specific-only';
  /** The internal port must equal the external port (724). */
  readonly samePortsOnly?: boolean;
  /** Most mappings one internal client may hold (728 beyond). */
  readonly maxMappingsPerClient?: number;
  /** Most mappings in the table (728 beyond). */
  readonly maxMappings?: number;
}

/** The counts a limit is checked against, before the request. */
export interface AccessMappingCounts {
  readonly total: number;
  readonly forInternalClient: number;
}

export type PolicyDecision =
  | { readonly ok: true }
  | ActionFailure<'not-authorized' | 'only-permanent-leases' | 'remote-host-only-wildcard'
    | 'remote-host-wildcard-not-permitted' | 'same-port-values-required' | 'no-port-maps-available'>;

/** True when `address` is inside `block` (`a.b.c.d` or `a.b.c.d/len`); false for any malformed input. */
export function addressInBlock(address: string, block: string): boolean {
  const [base, lengthText, extra] = block.split('/');
  if (extra !== undefined) return false;
  const length = lengthText === undefined ? 32 : /^[0-9]{1,2}$/.test(lengthText) ? Number(lengthText) : -1;
  if (length < 0 || length > 32) return false;
  const a = parseIpv4(address);
  const b = parseIpv4(base);
  if (a === undefined || b === undefined) return false;
  const mask = length === 0 ? 0 : (0xffff_ffff << (32 - length)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

function inRange(port: number, range: AccessPortRange | undefined): boolean {
  return range === undefined || (port >= range.minimum && port <= range.maximum);
}

/** The first matching rule's action, or the default. */
function ruleAction(policy: AccessPolicy, request: PortMappingRequest): 'allow' | 'deny' {
  for (const rule of policy.rules ?? []) {
    if (addressInBlock(request.internalClient, rule.clients)
      && inRange(request.externalPort, rule.externalPorts)
      && inRange(request.internalPort, rule.internalPorts)) {
      return rule.action;
    }
  }
  return policy.defaultAction ?? 'allow';
}

/**
 * Whether the policy lets `requester` (the HTTP peer's address) add or replace this mapping.
 * `isNew` is false when the request replaces an existing entry: limits apply to new entries only.
 */
export function checkAccessPolicy(
  policy: AccessPolicy,
  request: PortMappingRequest,
  requester: string,
  counts: AccessMappingCounts,
  isNew: boolean,
): PolicyDecision {
  if (policy.clientsMapOnlyThemselves && request.internalClient !== requester) {
    return actionFailure('not-authorized', `${requester} may map only itself, not ${request.internalClient}`);
  }
  if (ruleAction(policy, request) === 'deny') {
    return actionFailure('not-authorized', `a rule denies ${request.internalClient}:${request.internalPort} on external port ${request.externalPort}`);
  }
  if (policy.remoteHost === 'wildcard-only' && request.remoteHost !== '') {
    return actionFailure('remote-host-only-wildcard', 'mappings for one remote host are not supported');
  }
  if (policy.remoteHost === 'specific-only' && request.remoteHost === '') {
    return actionFailure('remote-host-wildcard-not-permitted', 'a remote host must be given');
  }
  if (policy.samePortsOnly && request.internalPort !== request.externalPort) {
    return actionFailure('same-port-values-required', 'internal and external port must be equal');
  }
  if (policy.staticLeasesOnly && request.leaseSeconds !== 0) {
    return actionFailure('only-permanent-leases', `lease ${request.leaseSeconds} s refused: only 0 (static) is accepted`);
  }
  if (isNew && policy.maxMappings !== undefined && counts.total >= policy.maxMappings) {
    return actionFailure('no-port-maps-available', `the table holds its maximum of ${policy.maxMappings} mappings`);
  }
  if (isNew && policy.maxMappingsPerClient !== undefined && counts.forInternalClient >= policy.maxMappingsPerClient) {
    return actionFailure('no-port-maps-available', `${request.internalClient} holds its maximum of ${policy.maxMappingsPerClient} mappings`);
  }
  return { ok: true };
}

/** Whether `requester` may delete `mapping`. */
export function checkDeletePolicy(policy: AccessPolicy, mapping: PortMapping, requester: string): { ok: true } | ActionFailure<'not-authorized'> {
  if (policy.clientsMapOnlyThemselves && mapping.internalClient !== requester) {
    return actionFailure('not-authorized', `${requester} may delete only its own mappings`);
  }
  return { ok: true };
}
