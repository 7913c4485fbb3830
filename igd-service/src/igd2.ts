/**
 * What WANIPConnection:2 adds over the Igd's table (B1), built on its public operations so
 * that every add and delete goes through the same queue, rules, store and events as IGD:1's:
 *
 *   lease rule              0 from a control point is the maximum, 604800 s, and so is
 *                           anything longer (the parser already takes it so: declaration.ts)
 *   AddAnyPortMapping       the asked port, or when another client or mechanism holds it
 *                           the nearest free one (MappingService.allocate), as NewReservedPort;
 *                           every other refusal is answered as AddPortMapping's would be
 *   DeletePortMappingRange  the caller's mappings in the range (all of them with NewManage),
 *                           deleted concurrently (their store writes share syncs); 733 when
 *                           start > end, 730 when none matched
 *   GetListOfPortMappings   the same selection, ordered by external port, at most
 *                           NewNumberOfPorts (0 = all) as a PortMappingList; 733 / 730 alike
 *
 * NewManage: there is no DeviceProtection here, so every control point is unauthenticated;
 * 1 selects every client's mappings, and the Igd's delete policy (secure mode) still refuses
 * another client's, which are skipped. A range delete is not atomic: a store failure part
 * way answers 501 with the earlier deletes done (each is durable on its own).
 * Must not: touch the table except through Igd, or pick a UPnP error code (faults.ts does).
 */
import type { ActionFailure } from './faults.js';
import { actionFailure } from './faults.js';
import type { Igd } from './igd.js';
import type { PortMappingRequest } from './mapping-rules.js';
import { IGD2_MAXIMUM_LEASE_SECONDS } from './declaration.js';
import { buildPortMappingList } from './port-listing.js';
import type { MappingProtocol, PortMapping } from './types.js';

/** Ports AddAnyPortMapping tries before answering 728 (each try after the first follows a conflict). */
const MAX_RESERVE_ATTEMPTS = 16;

/**
 * The lease an IGD:2 request gets: WANIPConnection:2 no longer lets a control point ask for
 * a static mapping; 0 stands for the maximum, 604800 s, and nothing is longer.
 */
export function igd2LeaseSeconds(requestedSeconds: number): number {
  return requestedSeconds === 0 ? IGD2_MAXIMUM_LEASE_SECONDS : Math.min(requestedSeconds, IGD2_MAXIMUM_LEASE_SECONDS);
}

export type AddAnyPortMappingResult = { readonly ok: true; readonly reservedPort: number } | ActionFailure;

/** AddAnyPortMapping for `requester`; `request.leaseSeconds` already follows the v2 lease rule. */
export async function addAnyPortMapping(igd: Igd, request: PortMappingRequest, requester: string): Promise<AddAnyPortMappingResult> {
  if (request.externalPort === 0) {
    return actionFailure('external-port-wildcard-not-permitted', 'a wildcard external port is not supported: ask for a port');
  }
  const tried = new Set<number>();
  let port = request.externalPort;
  for (let attempt = 0; attempt < MAX_RESERVE_ATTEMPTS; attempt++) {
    const added = await igd.addPortMapping({ ...request, externalPort: port }, requester);
    if (added.ok) return { ok: true, reservedPort: port };
    if (added.reason !== 'conflict' && added.reason !== 'conflict-with-other-mechanism') return added;
    tried.add(port);
    const next = igd.mappings.allocate(request.externalPort, request.protocol, tried);
    if (next === undefined) return actionFailure('no-port-maps-available', `no free ${request.protocol} port`);
    port = next;
  }
  return actionFailure('no-port-maps-available', `no ${request.protocol} port reserved in ${MAX_RESERVE_ATTEMPTS} tries`);
}

/** The mappings a range action is about (NewStartPort, NewEndPort, NewProtocol, NewManage). */
export interface PortRangeSelection {
  readonly startPort: number;
  readonly endPort: number;
  readonly protocol: MappingProtocol;
  /** false: only the requester's own mappings (its address is their internal client). */
  readonly manage: boolean;
}

/** The selected mappings, ordered by external port, then remote host. */
export function selectPortMappings(mappings: readonly PortMapping[], selection: PortRangeSelection, requester: string): PortMapping[] {
  return mappings
    .filter((m) => m.protocol === selection.protocol
      && m.externalPort >= selection.startPort && m.externalPort <= selection.endPort
      && (selection.manage || m.internalClient === requester))
    .sort((a, b) => a.externalPort - b.externalPort || (a.remoteHost < b.remoteHost ? -1 : a.remoteHost > b.remoteHost ? 1 : 0));
}

async function selectCurrent(igd: Igd, selection: PortRangeSelection, requester: string): Promise<{ ok: true; mappings: PortMapping[] } | ActionFailure> {
  if (selection.startPort > selection.endPort) {
    return actionFailure('inconsistent-parameters', `start port ${selection.startPort} is after end port ${selection.endPort}`);
  }
  const current = await igd.currentMappings();
  if (!current.ok) return current;
  const mappings = selectPortMappings(current.mappings, selection, requester);
  if (mappings.length === 0) {
    return actionFailure('port-mapping-not-found', `no ${selection.protocol} mapping in ${selection.startPort}-${selection.endPort}`);
  }
  return { ok: true, mappings };
}

/** DeletePortMappingRange for `requester`: how many mappings it deleted. */
export async function deletePortMappingRange(
  igd: Igd, selection: PortRangeSelection, requester: string,
): Promise<{ readonly ok: true; readonly deleted: number } | ActionFailure> {
  const selected = await selectCurrent(igd, selection, requester);
  if (!selected.ok) return selected;
  const results = await Promise.all(selected.mappings.map((m) => igd.deletePortMapping(m, requester)));
  const failed = results.find((r) => !r.ok && r.reason === 'action-failed');
  if (failed && !failed.ok) return failed;
  const deleted = results.filter((r) => r.ok).length;
  if (deleted > 0) return { ok: true, deleted };
  const refused = results.find((r) => !r.ok && r.reason === 'not-authorized');
  if (refused && !refused.ok) return refused;
  return actionFailure('port-mapping-not-found', 'the selected mappings were gone before they could be deleted');
}

/** GetListOfPortMappings for `requester`: at most `numberOfPorts` entries (0 = all) as a PortMappingList. */
export async function listPortMappings(
  igd: Igd, selection: PortRangeSelection, numberOfPorts: number, requester: string,
): Promise<{ readonly ok: true; readonly listing: string } | ActionFailure> {
  const selected = await selectCurrent(igd, selection, requester);
  if (!selected.ok) return selected;
  const chosen = numberOfPorts === 0 ? selected.mappings : selected.mappings.slice(0, numberOfPorts);
  return { ok: true, listing: buildPortMappingList(chosen.map((m) => ({ ...m, leaseSeconds: igd.remainingLeaseSeconds(m) }))) };
}
