/**
 * The values of the evented state variables (GENA, U15), computed from a snapshot of the
 * IGD's state. The table is typed against the declaration, so adding an evented variable
 * there without a source here does not compile. Must not: hold state or do I/O.
 */
import { eventedVariableNames } from './declaration.js';
import type { IgdEventedVariable, IgdServiceKey, IgdVersion } from './declaration.js';

/** What the evented variables are computed from. */
export interface IgdStateSnapshot {
  readonly connectionStatus: 'Connected' | 'Disconnected';
  /** Dotted quad, or '' while the WAN has none. */
  readonly externalAddress: string;
  readonly mappingCount: number;
  readonly linkUp: boolean;
  readonly defaultConnectionService: string;
  /** Changes of the mapping table so far (IGD:2 SystemUpdateID), wrapped as a ui4 by its source. */
  readonly mappingChanges: number;
}

type EventedSources = {
  readonly [K in IgdServiceKey]: { readonly [V in IgdEventedVariable<K>]: (state: IgdStateSnapshot) => string };
};

const UI2_MAX = 0xffff;

/** One source per evented variable of each service. */
export const EVENTED_SOURCES: EventedSources = {
  wanIpConnection: {
    // An IP_Routed gateway can be nothing else.
    PossibleConnectionTypes: () => 'IP_Routed',
    ConnectionStatus: (s) => s.connectionStatus,
    ExternalIPAddress: (s) => s.externalAddress,
    PortMappingNumberOfEntries: (s) => String(Math.min(s.mappingCount, UI2_MAX)),
    // WANIPConnection:2: changes whenever a port mapping is added, changed or removed.
    SystemUpdateID: (s) => String(s.mappingChanges % 2 ** 32),
  },
  wanCommonInterfaceConfig: {
    PhysicalLinkStatus: (s) => (s.linkUp ? 'Up' : 'Down'),
  },
  layer3Forwarding: {
    DefaultConnectionService: (s) => s.defaultConnectionService,
  },
};

/** Every evented variable of a service in a version with its value, in declaration order. */
export function eventedValues(service: IgdServiceKey, state: IgdStateSnapshot, version: IgdVersion = 1): Array<readonly [string, string]> {
  const sources = EVENTED_SOURCES[service] as Readonly<Record<string, (state: IgdStateSnapshot) => string>>;
  return eventedVariableNames(service, version).map((name) => [name, sources[name](state)] as const);
}
