/**
 * Choosing an external port the table does not hold: what AddAnyPortMapping needs when the
 * asked port is taken (and what NAT-PMP and PCP need when they assign a port). A pure
 * function of the mappings held, so whichever module owns the table can call it.
 * Must not: look at anything but its arguments, or return a port outside `range`.
 */
import type { MappingKey, MappingProtocol } from './types.js';

/** An inclusive range of external ports to choose from. */
export interface ExternalPortRange {
  readonly minimum: number;
  readonly maximum: number;
}

/**
 * Ports a mapping may be moved to: not the well-known ones (WANIPConnection:2 recommends
 * that an unauthenticated control point gets ports ≥ 1024 only).
 */
export const DYNAMIC_EXTERNAL_PORTS: ExternalPortRange = { minimum: 1024, maximum: 65535 };

/**
 * The free external port of `protocol` nearest to `preferredPort` (tried first, then +1, −1,
 * +2, −2, … as miniupnpd does, so a client asking for 8080 gets 8081 rather than a random
 * port), within `range`, skipping `exclude`. A port counts as held when any mapping of
 * that protocol holds it, whatever its remote host. Undefined when every port of the range
 * is held. Precondition: range within 1..65535, minimum ≤ maximum. O(held + range).
 */
export function findFreeExternalPort(
  held: Iterable<MappingKey>,
  protocol: MappingProtocol,
  preferredPort: number,
  range: ExternalPortRange = DYNAMIC_EXTERNAL_PORTS,
  exclude: ReadonlySet<number> = new Set(),
): number | undefined {
  const taken = new Uint8Array(65536);
  for (const key of held) if (key.protocol === protocol) taken[key.externalPort] = 1;
  const isFree = (port: number): boolean => port >= range.minimum && port <= range.maximum && taken[port] === 0 && !exclude.has(port);
  const start = Math.min(Math.max(preferredPort, range.minimum), range.maximum);
  for (let distance = 0; start + distance <= range.maximum || start - distance >= range.minimum; distance++) {
    if (isFree(start + distance)) return start + distance;
    if (distance > 0 && isFree(start - distance)) return start - distance;
  }
  return undefined;
}
