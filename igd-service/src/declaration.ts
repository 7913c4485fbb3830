/**
 * The one table of the IGD:1 services we offer (U2, U3, U5–U10, U15, U16): for each
 * service its type, id, URL paths, actions (in and out arguments in spec order, each
 * naming its related state variable) and state variables (data type, allowed values or
 * range, whether evented). The SCPD XML (scpd.ts), argument validation (action-arguments.ts),
 * the SOAP dispatch (actions.ts) and the evented variables (evented-state.ts, gena.ts) are
 * all derived from it, so they can never disagree; the type helpers at the bottom make the
 * action handlers and event sources exhaustive at compile time.
 *
 * Facts: UPnP InternetGatewayDevice:1, WANIPConnection:1, WANCommonInterfaceConfig:1,
 * Layer3Forwarding:1 (UPnP Forum specifications). Must not: hold behaviour or
 * state; it is data.
 */

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

/** The three services, keyed by the name the code uses for them. */
export const IGD_SERVICES = {
  wanIpConnection: {
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
  },
  wanCommonInterfaceConfig: {
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
  },
  layer3Forwarding: {
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
  },
} as const satisfies Record<string, ServiceDeclaration>;

// ---- types derived from the table ------------------------------------------------------

type Services = typeof IGD_SERVICES;

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

/** The service declared at a key (typed loosely, for generic code such as the SCPD builder). */
export function serviceDeclaration(key: IgdServiceKey): ServiceDeclaration {
  return IGD_SERVICES[key];
}

/** The action of a service by name, or undefined when the service declares none of that name. */
export function findActionDeclaration(key: IgdServiceKey, actionName: string): ActionDeclaration | undefined {
  return serviceDeclaration(key).actions.find((a) => a.name === actionName);
}

/** A state variable of a service by name. */
export function findStateVariable(key: IgdServiceKey, name: string): StateVariableDeclaration | undefined {
  return serviceDeclaration(key).stateVariables.find((v) => v.name === name);
}

/** The names of the evented variables of a service, in declaration order. */
export function eventedVariableNames(key: IgdServiceKey): string[] {
  return serviceDeclaration(key).stateVariables.filter((v) => v.sendEvents).map((v) => v.name);
}

/** The service whose path (SCPD, control or event) is `path`, if any. */
export function serviceKeyByPath(kind: 'scpdPath' | 'controlPath' | 'eventSubPath', path: string): IgdServiceKey | undefined {
  return IGD_SERVICE_KEYS.find((k) => IGD_SERVICES[k][kind] === path);
}
