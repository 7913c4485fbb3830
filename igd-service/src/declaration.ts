/**
 * The one table of the IGD services we offer (U2, U3, U5–U10, U15, U16, B1), by version: for
 * each service its type, id, URL paths, actions (in and out arguments in spec order, each
 * naming its related state variable) and state variables (data type, allowed values or
 * range, whether evented). The SCPD XML (scpd.ts), argument validation (action-arguments.ts),
 * the SOAP dispatch (actions.ts) and the evented variables (evented-state.ts, gena.ts) are
 * all derived from it, so they can never disagree; the type helpers at the bottom make the
 * action handlers and event sources exhaustive at compile time.
 *
 * Version 2 is version 1 plus what WANIPConnection:2 adds (three actions, SystemUpdateID,
 * two argument types, the lease range); WANCommonInterfaceConfig and Layer3Forwarding stay
 * at :1, as InternetGatewayDevice:2 allows. The handler types are those of the newest
 * version (a superset); which actions a request may call is decided by its version's table.
 *
 * Facts: UPnP InternetGatewayDevice:1 and :2, WANIPConnection:1 and :2,
 * WANCommonInterfaceConfig:1, Layer3Forwarding:1 (UPnP Forum specifications). Must not:
 * hold behaviour or state; it is data.
 */

/** The IGD versions we can serve (`igd.version`). */
export type IgdVersion = 1 | 2;

/** UPnP data types used by these services (UDA 1.0 §2.3). */
export type UpnpDataType = 'ui2' | 'ui4' | 'string' | 'boolean';

/** Extra syntax a `string` variable's values must have (checked on input only). */
export type UpnpStringFormat = 'ipv4' | 'ipv4-or-empty';

export interface StateVariableDeclaration {
  readonly name: string;
  readonly dataType: UpnpDataType;
  /** Whether the variable is evented (GENA). */
  readonly sendEvents: boolean;
  /** allowedValueList of a string variable. */
  readonly allowedValues?: readonly string[];
  /** Input matching of allowedValues ignores ASCII case; the declared spelling is what we use. */
  readonly allowedValuesIgnoreCase?: boolean;
  /** allowedValueRange of a numeric variable. */
  readonly range?: { readonly minimum: number; readonly maximum: number; readonly step?: number };
  /** Syntax of a string variable's input values beyond the SCPD (an address). */
  readonly format?: UpnpStringFormat;
  /** An input above `range.maximum` is taken as the maximum instead of refused (IGD:2 leases). */
  readonly clampToMaximum?: boolean;
  /** The value is an XML document carried as a string: answered in a CDATA section. */
  readonly xmlDocument?: boolean;
}

export interface ArgumentDeclaration {
  readonly name: string;
  readonly relatedStateVariable: string;
}

export interface ActionDeclaration {
  readonly name: string;
  /** In arguments, in spec order. */
  readonly inArgs: readonly ArgumentDeclaration[];
  /** Out arguments, in spec order (the order they are answered in). */
  readonly outArgs: readonly ArgumentDeclaration[];
}

export interface ServiceDeclaration {
  readonly serviceType: string;
  readonly serviceId: string;
  /** Paths on our HTTP server; the description names them relative to its own URL. */
  readonly scpdPath: string;
  readonly controlPath: string;
  readonly eventSubPath: string;
  readonly actions: readonly ActionDeclaration[];
  readonly stateVariables: readonly StateVariableDeclaration[];
}

/** A port mapping's key as the mapping actions take it, in spec order (WANIPConnection:1 §2.4). */
const MAPPING_KEY_ARGS = [
  { name: 'NewRemoteHost', relatedStateVariable: 'RemoteHost' },
  { name: 'NewExternalPort', relatedStateVariable: 'ExternalPort' },
  { name: 'NewProtocol', relatedStateVariable: 'PortMappingProtocol' },
] as const satisfies readonly ArgumentDeclaration[];

/** The rest of a port-mapping entry, in spec order: after the key in GetGeneric/Add, alone in GetSpecific's answer. */
const MAPPING_ENTRY_ARGS = [
  { name: 'NewInternalPort', relatedStateVariable: 'InternalPort' },
  { name: 'NewInternalClient', relatedStateVariable: 'InternalClient' },
  { name: 'NewEnabled', relatedStateVariable: 'PortMappingEnabled' },
  { name: 'NewPortMappingDescription', relatedStateVariable: 'PortMappingDescription' },
  { name: 'NewLeaseDuration', relatedStateVariable: 'PortMappingLeaseDuration' },
] as const satisfies readonly ArgumentDeclaration[];

/** The SOAP envelope namespace and encoding style (UDA 1.0 §3.2). */
export const SOAP_ENVELOPE_NAMESPACE = 'http://schemas.xmlsoap.org/soap/envelope/';
export const SOAP_ENCODING_STYLE = 'http://schemas.xmlsoap.org/soap/encoding/';
/** Namespace of the UPnPError detail of a fault (UDA 1.0 §3.2.2). */
export const UPNP_CONTROL_NAMESPACE = 'urn:schemas-upnp-org:control-1-0';
/** Namespace of a GENA property set (UDA 1.0 §4.2.1). */
export const UPNP_EVENT_NAMESPACE = 'urn:schemas-upnp-org:event-1-0';
/** Namespace of description documents. */
export const UPNP_DEVICE_NAMESPACE = 'urn:schemas-upnp-org:device-1-0';
export const UPNP_SERVICE_NAMESPACE = 'urn:schemas-upnp-org:service-1-0';

/** WANIPConnection:1. */
const WAN_IP_CONNECTION_1 = {
  serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:1',
  serviceId: 'urn:upnp-org:serviceId:WANIPConn1',
  scpdPath: '/WANIPCn.xml',
  controlPath: '/ctl/IPConn',
  eventSubPath: '/evt/IPConn',
  actions: [
    {
      name: 'SetConnectionType',
      inArgs: [{ name: 'NewConnectionType', relatedStateVariable: 'ConnectionType' }],
      outArgs: [],
    },
    {
      name: 'GetConnectionTypeInfo',
      inArgs: [],
      outArgs: [
        { name: 'NewConnectionType', relatedStateVariable: 'ConnectionType' },
        { name: 'NewPossibleConnectionTypes', relatedStateVariable: 'PossibleConnectionTypes' },
      ],
    },
    { name: 'RequestConnection', inArgs: [], outArgs: [] },
    { name: 'ForceTermination', inArgs: [], outArgs: [] },
    {
      name: 'GetStatusInfo',
      inArgs: [],
      outArgs: [
        { name: 'NewConnectionStatus', relatedStateVariable: 'ConnectionStatus' },
        { name: 'NewLastConnectionError', relatedStateVariable: 'LastConnectionError' },
        { name: 'NewUptime', relatedStateVariable: 'Uptime' },
      ],
    },
    {
      name: 'GetNATRSIPStatus',
      inArgs: [],
      outArgs: [
        { name: 'NewRSIPAvailable', relatedStateVariable: 'RSIPAvailable' },
        { name: 'NewNATEnabled', relatedStateVariable: 'NATEnabled' },
      ],
    },
    {
      name: 'GetGenericPortMappingEntry',
      inArgs: [{ name: 'NewPortMappingIndex', relatedStateVariable: 'PortMappingNumberOfEntries' }],
      outArgs: [...MAPPING_KEY_ARGS, ...MAPPING_ENTRY_ARGS],
    },
    {
      name: 'GetSpecificPortMappingEntry',
      inArgs: MAPPING_KEY_ARGS,
      outArgs: MAPPING_ENTRY_ARGS,
    },
    {
      name: 'AddPortMapping',
      inArgs: [...MAPPING_KEY_ARGS, ...MAPPING_ENTRY_ARGS],
      outArgs: [],
    },
    {
      name: 'DeletePortMapping',
      inArgs: MAPPING_KEY_ARGS,
      outArgs: [],
    },
    {
      name: 'GetExternalIPAddress',
      inArgs: [],
      outArgs: [{ name: 'NewExternalIPAddress', relatedStateVariable: 'ExternalIPAddress' }],
    },
  ],
  stateVariables: [
    // The spec gives ConnectionType no allowedValueList: its values are those of PossibleConnectionTypes.
    { name: 'ConnectionType', dataType: 'string', sendEvents: false },
    {
      name: 'PossibleConnectionTypes', dataType: 'string', sendEvents: true,
      allowedValues: ['Unconfigured', 'IP_Routed', 'IP_Bridged'],
    },
    {
      name: 'ConnectionStatus', dataType: 'string', sendEvents: true,
      allowedValues: ['Unconfigured', 'Connecting', 'Connected', 'PendingDisconnect', 'Disconnecting', 'Disconnected'],
    },
    { name: 'Uptime', dataType: 'ui4', sendEvents: false },
    {
      name: 'LastConnectionError', dataType: 'string', sendEvents: false,
      allowedValues: [
        'ERROR_NONE', 'ERROR_COMMAND_ABORTED', 'ERROR_NOT_ENABLED_FOR_INTERNET', 'ERROR_USER_DISCONNECT',
        'ERROR_ISP_DISCONNECT', 'ERROR_IDLE_DISCONNECT', 'ERROR_FORCED_DISCONNECT', 'ERROR_NO_CARRIER',
        'ERROR_IP_CONFIGURATION', 'ERROR_UNKNOWN',
      ],
    },
    { name: 'RSIPAvailable', dataType: 'boolean', sendEvents: false },
    { name: 'NATEnabled', dataType: 'boolean', sendEvents: false },
    { name: 'ExternalIPAddress', dataType: 'string', sendEvents: true },
    { name: 'PortMappingNumberOfEntries', dataType: 'ui2', sendEvents: true },
    { name: 'PortMappingEnabled', dataType: 'boolean', sendEvents: false },
    { name: 'PortMappingLeaseDuration', dataType: 'ui4', sendEvents: false },
    { name: 'RemoteHost', dataType: 'string', sendEvents: false, format: 'ipv4-or-empty' },
    // 0 is the spec's wildcard external port: a valid ui2 that the actions refuse with 716.
    { name: 'ExternalPort', dataType: 'ui2', sendEvents: false },
    { name: 'InternalPort', dataType: 'ui2', sendEvents: false, range: { minimum: 1, maximum: 65535, step: 1 } },
    {
      name: 'PortMappingProtocol', dataType: 'string', sendEvents: false,
      allowedValues: ['TCP', 'UDP'], allowedValuesIgnoreCase: true,
    },
    { name: 'InternalClient', dataType: 'string', sendEvents: false, format: 'ipv4' },
    { name: 'PortMappingDescription', dataType: 'string', sendEvents: false },
  ],
} as const satisfies ServiceDeclaration;

/** WANCommonInterfaceConfig:1 (the same in both IGD versions). */
const WAN_COMMON_INTERFACE_CONFIG_1 = {
  serviceType: 'urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1',
  serviceId: 'urn:upnp-org:serviceId:WANCommonIFC1',
  scpdPath: '/WANCfg.xml',
  controlPath: '/ctl/CmnIfCfg',
  eventSubPath: '/evt/CmnIfCfg',
  actions: [
    {
      name: 'GetCommonLinkProperties',
      inArgs: [],
      outArgs: [
        { name: 'NewWANAccessType', relatedStateVariable: 'WANAccessType' },
        { name: 'NewLayer1UpstreamMaxBitRate', relatedStateVariable: 'Layer1UpstreamMaxBitRate' },
        { name: 'NewLayer1DownstreamMaxBitRate', relatedStateVariable: 'Layer1DownstreamMaxBitRate' },
        { name: 'NewPhysicalLinkStatus', relatedStateVariable: 'PhysicalLinkStatus' },
      ],
    },
    { name: 'GetTotalBytesSent', inArgs: [], outArgs: [{ name: 'NewTotalBytesSent', relatedStateVariable: 'TotalBytesSent' }] },
    {
      name: 'GetTotalBytesReceived', inArgs: [],
      outArgs: [{ name: 'NewTotalBytesReceived', relatedStateVariable: 'TotalBytesReceived' }],
    },
    {
      name: 'GetTotalPacketsSent', inArgs: [],
      outArgs: [{ name: 'NewTotalPacketsSent', relatedStateVariable: 'TotalPacketsSent' }],
    },
    {
      name: 'GetTotalPacketsReceived', inArgs: [],
      outArgs: [{ name: 'NewTotalPacketsReceived', relatedStateVariable: 'TotalPacketsReceived' }],
    },
  ],
  stateVariables: [
    { name: 'WANAccessType', dataType: 'string', sendEvents: false, allowedValues: ['DSL', 'POTS', 'Cable', 'Ethernet'] },
    { name: 'Layer1UpstreamMaxBitRate', dataType: 'ui4', sendEvents: false },
    { name: 'Layer1DownstreamMaxBitRate', dataType: 'ui4', sendEvents: false },
    {
      name: 'PhysicalLinkStatus', dataType: 'string', sendEvents: true,
      allowedValues: ['Up', 'Down', 'Initializing', 'Unavailable'],
    },
    { name: 'TotalBytesSent', dataType: 'ui4', sendEvents: false },
    { name: 'TotalBytesReceived', dataType: 'ui4', sendEvents: false },
    { name: 'TotalPacketsSent', dataType: 'ui4', sendEvents: false },
    { name: 'TotalPacketsReceived', dataType: 'ui4', sendEvents: false },
  ],
} as const satisfies ServiceDeclaration;

/** Layer3Forwarding:1 (the same in both IGD versions). */
const LAYER3_FORWARDING_1 = {
  serviceType: 'urn:schemas-upnp-org:service:Layer3Forwarding:1',
  serviceId: 'urn:upnp-org:serviceId:L3Forwarding1',
  scpdPath: '/L3F.xml',
  controlPath: '/ctl/L3F',
  eventSubPath: '/evt/L3F',
  actions: [
    {
      name: 'SetDefaultConnectionService',
      inArgs: [{ name: 'NewDefaultConnectionService', relatedStateVariable: 'DefaultConnectionService' }],
      outArgs: [],
    },
    {
      name: 'GetDefaultConnectionService',
      inArgs: [],
      outArgs: [{ name: 'NewDefaultConnectionService', relatedStateVariable: 'DefaultConnectionService' }],
    },
  ],
  stateVariables: [
    { name: 'DefaultConnectionService', dataType: 'string', sendEvents: true },
  ],
} as const satisfies ServiceDeclaration;

/** The in arguments that pick mappings by a range of external ports (WANIPConnection:2 DeletePortMappingRange, GetListOfPortMappings). */
const PORT_RANGE_ARGS = [
  { name: 'NewStartPort', relatedStateVariable: 'ExternalPort' },
  { name: 'NewEndPort', relatedStateVariable: 'ExternalPort' },
  { name: 'NewProtocol', relatedStateVariable: 'PortMappingProtocol' },
  { name: 'NewManage', relatedStateVariable: 'A_ARG_TYPE_Manage' },
] as const satisfies readonly ArgumentDeclaration[];

/**
 * WANIPConnection:2 gives PortMappingLeaseDuration the range 0–604800 s (a week). A request
 * above the maximum is taken as the maximum here rather than refused, and 0 from a control
 * point means the maximum too (igd2.ts).
 */
export const IGD2_MAXIMUM_LEASE_SECONDS = 604_800;

const IGD2_LEASE_DURATION = {
  name: 'PortMappingLeaseDuration', dataType: 'ui4', sendEvents: false,
  range: { minimum: 0, maximum: IGD2_MAXIMUM_LEASE_SECONDS }, clampToMaximum: true,
} as const satisfies StateVariableDeclaration;

/** WANIPConnection:2: version 1 plus AddAnyPortMapping, DeletePortMappingRange, GetListOfPortMappings and their variables. */
const WAN_IP_CONNECTION_2 = {
  ...WAN_IP_CONNECTION_1,
  serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:2',
  actions: [
    ...WAN_IP_CONNECTION_1.actions,
    { name: 'DeletePortMappingRange', inArgs: PORT_RANGE_ARGS, outArgs: [] },
    {
      name: 'GetListOfPortMappings',
      inArgs: [...PORT_RANGE_ARGS, { name: 'NewNumberOfPorts', relatedStateVariable: 'PortMappingNumberOfEntries' }],
      outArgs: [{ name: 'NewPortListing', relatedStateVariable: 'A_ARG_TYPE_PortListing' }],
    },
    {
      name: 'AddAnyPortMapping',
      inArgs: [...MAPPING_KEY_ARGS, ...MAPPING_ENTRY_ARGS],
      outArgs: [{ name: 'NewReservedPort', relatedStateVariable: 'ExternalPort' }],
    },
  ],
  stateVariables: [
    ...WAN_IP_CONNECTION_1.stateVariables.map((v) => (v.name === 'PortMappingLeaseDuration' ? IGD2_LEASE_DURATION : v)),
    { name: 'SystemUpdateID', dataType: 'ui4', sendEvents: true },
    { name: 'A_ARG_TYPE_Manage', dataType: 'boolean', sendEvents: false },
    { name: 'A_ARG_TYPE_PortListing', dataType: 'string', sendEvents: false, xmlDocument: true },
  ],
} as const satisfies ServiceDeclaration;

/** The services of each IGD version, keyed by the name the code uses for them. */
export const IGD_SERVICES_BY_VERSION = {
  1: { wanIpConnection: WAN_IP_CONNECTION_1, wanCommonInterfaceConfig: WAN_COMMON_INTERFACE_CONFIG_1, layer3Forwarding: LAYER3_FORWARDING_1 },
  2: { wanIpConnection: WAN_IP_CONNECTION_2, wanCommonInterfaceConfig: WAN_COMMON_INTERFACE_CONFIG_1, layer3Forwarding: LAYER3_FORWARDING_1 },
} as const satisfies Record<IgdVersion, Record<string, ServiceDeclaration>>;

/** The IGD:1 services (the default version). */
export const IGD_SERVICES = IGD_SERVICES_BY_VERSION[1];

// ---- types derived from the table ------------------------------------------------------

/** The newest version's table: a superset of the older ones, so handlers cover every action. */
type Services = (typeof IGD_SERVICES_BY_VERSION)[2];

/** 'wanIpConnection' | 'wanCommonInterfaceConfig' | 'layer3Forwarding'. */
export type IgdServiceKey = keyof Services;

/** Every service key, in description order of their devices (root first). */
export const IGD_SERVICE_KEYS = ['layer3Forwarding', 'wanCommonInterfaceConfig', 'wanIpConnection'] as const satisfies readonly IgdServiceKey[];

type ActionsOf<K extends IgdServiceKey> = Services[K]['actions'][number];

/** The action names of one service. */
export type IgdActionName<K extends IgdServiceKey> = ActionsOf<K>['name'];

type ActionOf<K extends IgdServiceKey, A extends IgdActionName<K>> = Extract<ActionsOf<K>, { readonly name: A }>;
type VariableOf<K extends IgdServiceKey, V> = Extract<Services[K]['stateVariables'][number], { readonly name: V }>;

/** The JavaScript value of a state variable: numbers, booleans, a string (union of its allowed values if it has them). */
export type UpnpValueOf<V> =
  V extends { readonly dataType: 'ui2' | 'ui4' } ? number
    : V extends { readonly dataType: 'boolean' } ? boolean
      : V extends { readonly allowedValues: readonly (infer S)[] } ? S
        : string;

type ArgumentValues<K extends IgdServiceKey, L extends readonly ArgumentDeclaration[]> = {
  readonly [Arg in L[number] as Arg['name']]: UpnpValueOf<VariableOf<K, Arg['relatedStateVariable']>>;
};

/** The parsed in arguments of an action, by argument name. */
export type IgdActionInput<K extends IgdServiceKey, A extends IgdActionName<K>> = ArgumentValues<K, ActionOf<K, A>['inArgs']>;
/** The out arguments of an action, by argument name. */
export type IgdActionOutput<K extends IgdServiceKey, A extends IgdActionName<K>> = ArgumentValues<K, ActionOf<K, A>['outArgs']>;

/** Names of the evented state variables of a service. */
export type IgdEventedVariable<K extends IgdServiceKey> =
  Extract<Services[K]['stateVariables'][number], { readonly sendEvents: true }>['name'];

/** A parsed argument or state variable value. */
export type UpnpValue = number | boolean | string;

/** The service declared at a key in a version (typed loosely, for generic code such as the SCPD builder). */
export function serviceDeclaration(key: IgdServiceKey, version: IgdVersion = 1): ServiceDeclaration {
  return IGD_SERVICES_BY_VERSION[version][key];
}

/** A service declaration's actions and state variables by name (the first of a name), made at first use. */
interface DeclarationIndex {
  readonly actions: ReadonlyMap<string, ActionDeclaration>;
  readonly variables: ReadonlyMap<string, StateVariableDeclaration>;
}
const DECLARATION_INDEXES = new WeakMap<ServiceDeclaration, DeclarationIndex>();

function byName<T extends { readonly name: string }>(items: readonly T[]): Map<string, T> {
  const map = new Map<string, T>();
  for (const item of items) if (!map.has(item.name)) map.set(item.name, item);
  return map;
}

/** Every control request looks up its action and the variables of its arguments: by name, not by a walk of the lists. */
function declarationIndex(key: IgdServiceKey, version: IgdVersion): DeclarationIndex {
  const declaration = serviceDeclaration(key, version);
  let index = DECLARATION_INDEXES.get(declaration);
  if (index === undefined) {
    index = { actions: byName(declaration.actions), variables: byName(declaration.stateVariables) };
    DECLARATION_INDEXES.set(declaration, index);
  }
  return index;
}

/** The action of a service by name, or undefined when the service declares none of that name. */
export function findActionDeclaration(key: IgdServiceKey, actionName: string, version: IgdVersion = 1): ActionDeclaration | undefined {
  return declarationIndex(key, version).actions.get(actionName);
}

/** A state variable of a service by name. */
export function findStateVariable(key: IgdServiceKey, name: string, version: IgdVersion = 1): StateVariableDeclaration | undefined {
  return declarationIndex(key, version).variables.get(name);
}

/** The names of the evented variables of a service, in declaration order. */
export function eventedVariableNames(key: IgdServiceKey, version: IgdVersion = 1): string[] {
  return serviceDeclaration(key, version).stateVariables.filter((v) => v.sendEvents).map((v) => v.name);
}

/**
 * The version a control request speaks, from the service type it names: that of any version
 * up to the one served (a client that read the IGD:1 description of an IGD:2 gateway sends
 * `…:1`, and is answered as IGD:1), or undefined when it names none of ours.
 */
export function requestedServiceVersion(key: IgdServiceKey, serviceType: string, served: IgdVersion): IgdVersion | undefined {
  const versions: readonly IgdVersion[] = served === 2 ? [2, 1] : [1];
  return versions.find((v) => serviceDeclaration(key, v).serviceType === serviceType);
}

/** The service whose path (SCPD, control or event) is `path`, if any. */
export function serviceKeyByPath(kind: 'scpdPath' | 'controlPath' | 'eventSubPath', path: string): IgdServiceKey | undefined {
  return IGD_SERVICE_KEYS.find((k) => IGD_SERVICES[k][kind] === path);
}
