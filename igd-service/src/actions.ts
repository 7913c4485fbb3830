/**
 * The action handlers of the three services, `(args, context) → result | failure`, one per
 * declared action (the table's type makes a missing handler a compile error), and the
 * dispatcher that turns a parsed SOAP request into out arguments or a failure reason:
 *
 *   service type of the body ≠ the control URL's → invalid-action (401); of an older
 *                                                  version than served → that version's table
 *   action not declared (in that version)        → invalid-action (401)
 *   arguments (action-arguments.ts)              → invalid-args (402)
 *   handler                                      → out values, formatted in declared order
 *
 * How an always-on IP_Routed gateway answers the connection actions (a LAN client cannot
 * change how the WAN is connected; miniupnpd answers 606 to all three, we keep the harmless
 * ones successful):
 *   SetConnectionType  IP_Routed (what it is) → success, nothing changes; Unconfigured or
 *                      IP_Bridged → 606; any other value → 402.
 *   RequestConnection  Connected → success (already up); Disconnected → 501 (the WAN is not
 *                      ours to bring up).
 *   ForceTermination   606: a LAN client may not take the WAN down.
 * A request in IGD:2 follows its lease rule (igd2.ts); its three new actions live there too.
 * Must not: touch HTTP or XML, or pick an error code (faults.ts does).
 */
import { formatUpnpValue, parseActionArguments } from './action-arguments.js';
import { findActionDeclaration, findStateVariable, requestedServiceVersion } from './declaration.js';
import type { IgdActionInput, IgdActionName, IgdActionOutput, IgdServiceKey, IgdVersion, UpnpValue } from './declaration.js';
import type { ActionFailure } from './faults.js';
import { actionFailure } from './faults.js';
import type { Igd, PortMappingLookup } from './igd.js';
import { addAnyPortMapping, deletePortMappingRange, igd2LeaseSeconds, listPortMappings } from './igd2.js';
import type { PortMappingRequest } from './mapping-rules.js';
import type { SoapOutArgument, SoapRequest } from './soap.js';

export interface ActionContext {
  readonly igd: Igd;
  /** The requester's IPv4 address (the HTTP peer), for the access policy. */
  readonly clientAddress: string;
  /** The IGD version the request speaks (its service type's). Default 1. */
  readonly version?: IgdVersion;
}

export type ActionResult<O> = { readonly ok: true; readonly out: O } | ActionFailure;

export type IgdActionHandler<K extends IgdServiceKey, A extends IgdActionName<K>> = (
  args: IgdActionInput<K, A>,
  context: ActionContext,
) => ActionResult<IgdActionOutput<K, A>> | Promise<ActionResult<IgdActionOutput<K, A>>>;

export type IgdActionHandlers = {
  readonly [K in IgdServiceKey]: { readonly [A in IgdActionName<K>]: IgdActionHandler<K, A> };
};

const UI4_MODULUS = 2 ** 32;

/** A counter as a ui4: wrapped modulo 2^32 (WANCommonInterfaceConfig:1 totals roll over). */
export function wrapUi4(value: number): number {
  if (!Number.isFinite(value) || value < 0) return 0;
  return Math.floor(value) % UI4_MODULUS;
}

function ok<O>(out: O): { ok: true; out: O } {
  return { ok: true, out };
}

function lastConnectionError(igd: Igd): 'ERROR_NONE' | 'ERROR_NO_CARRIER' | 'ERROR_IP_CONFIGURATION' {
  if (igd.connectionStatus() === 'Connected') return 'ERROR_NONE';
  return igd.linkUp() ? 'ERROR_IP_CONFIGURATION' : 'ERROR_NO_CARRIER';
}

function entryOut(found: Extract<PortMappingLookup, { ok: true }>) {
  return {
    NewInternalPort: found.mapping.internalPort,
    NewInternalClient: found.mapping.internalClient,
    NewEnabled: found.mapping.enabled,
    NewPortMappingDescription: found.mapping.description,
    NewLeaseDuration: found.remainingLeaseSeconds,
  };
}

type MappingEntryArgs = IgdActionInput<'wanIpConnection', 'AddPortMapping'>;

/** The mapping an AddPortMapping / AddAnyPortMapping asks for, with the lease rule of `version`. */
function mappingRequest(args: MappingEntryArgs, version: IgdVersion): PortMappingRequest {
  return {
    remoteHost: args.NewRemoteHost,
    externalPort: args.NewExternalPort,
    protocol: args.NewProtocol,
    internalPort: args.NewInternalPort,
    internalClient: args.NewInternalClient,
    enabled: args.NewEnabled,
    description: args.NewPortMappingDescription,
    leaseSeconds: version === 2 ? igd2LeaseSeconds(args.NewLeaseDuration) : args.NewLeaseDuration,
  };
}

function rangeSelection(args: IgdActionInput<'wanIpConnection', 'DeletePortMappingRange'>) {
  return { startPort: args.NewStartPort, endPort: args.NewEndPort, protocol: args.NewProtocol, manage: args.NewManage };
}

/** The handlers, by service and action. */
export const IGD_ACTION_HANDLERS: IgdActionHandlers = {
  wanIpConnection: {
    SetConnectionType: (args) => {
      const type = args.NewConnectionType;
      if (type === 'IP_Routed') return ok({});
      if (type === 'Unconfigured' || type === 'IP_Bridged') {
        return actionFailure('not-authorized', `an always-on IP_Routed gateway does not become ${type}`);
      }
      return actionFailure('invalid-args', `${JSON.stringify(type)} is not a connection type`);
    },
    GetConnectionTypeInfo: () => ok({ NewConnectionType: 'IP_Routed', NewPossibleConnectionTypes: 'IP_Routed' }),
    RequestConnection: (_args, { igd }) => (igd.connectionStatus() === 'Connected'
      ? ok({})
      : actionFailure('action-failed', 'the WAN is down and not ours to bring up')),
    ForceTermination: () => actionFailure('not-authorized', 'a LAN client may not terminate the WAN connection'),
    GetStatusInfo: (_args, { igd }) => ok({
      NewConnectionStatus: igd.connectionStatus(),
      NewLastConnectionError: lastConnectionError(igd),
      NewUptime: wrapUi4(igd.uptimeSeconds()),
    }),
    GetNATRSIPStatus: () => ok({ NewRSIPAvailable: false, NewNATEnabled: true }),
    GetGenericPortMappingEntry: async (args, { igd }) => {
      const found = await igd.getGenericPortMapping(args.NewPortMappingIndex);
      if (!found.ok) return found;
      return ok({
        NewRemoteHost: found.mapping.remoteHost,
        NewExternalPort: found.mapping.externalPort,
        NewProtocol: found.mapping.protocol,
        ...entryOut(found),
      });
    },
    GetSpecificPortMappingEntry: async (args, { igd }) => {
      const found = await igd.getSpecificPortMapping({
        remoteHost: args.NewRemoteHost, externalPort: args.NewExternalPort, protocol: args.NewProtocol,
      });
      return found.ok ? ok(entryOut(found)) : found;
    },
    AddPortMapping: async (args, { igd, clientAddress, version = 1 }) => {
      const added = await igd.addPortMapping(mappingRequest(args, version), clientAddress);
      return added.ok ? ok({}) : added;
    },
    DeletePortMapping: async (args, { igd, clientAddress }) => {
      const deleted = await igd.deletePortMapping({
        remoteHost: args.NewRemoteHost, externalPort: args.NewExternalPort, protocol: args.NewProtocol,
      }, clientAddress);
      return deleted.ok ? ok({}) : deleted;
    },
    GetExternalIPAddress: (_args, { igd }) => ok({ NewExternalIPAddress: igd.externalAddress() }),
    // WANIPConnection:2 only (its table alone declares them).
    AddAnyPortMapping: async (args, { igd, clientAddress }) => {
      const added = await addAnyPortMapping(igd, mappingRequest(args, 2), clientAddress);
      return added.ok ? ok({ NewReservedPort: added.reservedPort }) : added;
    },
    DeletePortMappingRange: async (args, { igd, clientAddress }) => {
      const deleted = await deletePortMappingRange(igd, rangeSelection(args), clientAddress);
      return deleted.ok ? ok({}) : deleted;
    },
    GetListOfPortMappings: async (args, { igd, clientAddress }) => {
      const listed = await listPortMappings(igd, rangeSelection(args), args.NewNumberOfPorts, clientAddress);
      return listed.ok ? ok({ NewPortListing: listed.listing }) : listed;
    },
  },
  wanCommonInterfaceConfig: {
    GetCommonLinkProperties: (_args, { igd }) => {
      const link = igd.linkProperties();
      return ok({
        NewWANAccessType: link.accessType,
        NewLayer1UpstreamMaxBitRate: Math.min(wrapUi4(link.upstreamBitsPerSecond), UI4_MODULUS - 1),
        NewLayer1DownstreamMaxBitRate: Math.min(wrapUi4(link.downstreamBitsPerSecond), UI4_MODULUS - 1),
        NewPhysicalLinkStatus: igd.linkUp() ? 'Up' : 'Down',
      });
    },
    GetTotalBytesSent: (_args, { igd }) => ok({ NewTotalBytesSent: wrapUi4(igd.counters().bytesSent) }),
    GetTotalBytesReceived: (_args, { igd }) => ok({ NewTotalBytesReceived: wrapUi4(igd.counters().bytesReceived) }),
    GetTotalPacketsSent: (_args, { igd }) => ok({ NewTotalPacketsSent: wrapUi4(igd.counters().packetsSent) }),
    GetTotalPacketsReceived: (_args, { igd }) => ok({ NewTotalPacketsReceived: wrapUi4(igd.counters().packetsReceived) }),
  },
  layer3Forwarding: {
    // Layer3Forwarding:1: 720 when the UDN is not a device of ours, 721 when the service id is
    // not a connection service of that device. Ours is the only connection service: setting it is a no-op.
    SetDefaultConnectionService: (args, { igd }) => {
      const wanted = args.NewDefaultConnectionService.trim();
      const ours = igd.defaultConnectionService();
      const comma = ours.indexOf(',');
      if (wanted === ours) return ok({});
      if (!wanted.startsWith(ours.slice(0, comma + 1))) return actionFailure('invalid-device-uuid', `${wanted} names another device`);
      return actionFailure('invalid-service-id', `${wanted} names another service`);
    },
    GetDefaultConnectionService: (_args, { igd }) => ok({ NewDefaultConnectionService: igd.defaultConnectionService() }),
  },
};

export type ActionDispatchResult = { readonly ok: true; readonly outArgs: SoapOutArgument[] } | ActionFailure;

type LooseHandler = (args: Readonly<Record<string, UpnpValue>>, context: ActionContext) =>
  ActionResult<Readonly<Record<string, UpnpValue>>> | Promise<ActionResult<Readonly<Record<string, UpnpValue>>>>;

/**
 * Runs one action of a service: validates the raw arguments against the declaration of
 * `context.version`, calls the handler, and formats its out arguments in declared order.
 * Never throws for bad input; an exception from a handler (a bug or an unexpected I/O
 * error) becomes action-failed.
 */
export async function dispatchAction(
  service: IgdServiceKey,
  actionName: string,
  rawArgs: ReadonlyMap<string, string>,
  badArgs: readonly string[],
  context: ActionContext,
): Promise<ActionDispatchResult> {
  const version = context.version ?? 1;
  const parsed = parseActionArguments(service, actionName, rawArgs, badArgs, version);
  if (!parsed.ok) return parsed;
  const handlers = IGD_ACTION_HANDLERS[service] as unknown as Readonly<Record<string, LooseHandler>>;
  const handler = Object.hasOwn(handlers, actionName) ? handlers[actionName] : undefined;
  const declaration = findActionDeclaration(service, actionName, version);
  if (!handler || !declaration) return actionFailure('invalid-action', `no handler for ${service}#${actionName}`);
  let result: ActionResult<Readonly<Record<string, UpnpValue>>>;
  try {
    result = await handler(parsed.args, context);
  } catch (e) {
    return actionFailure('action-failed', `${actionName} threw: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!result.ok) return result;
  const outArgs: SoapOutArgument[] = [];
  for (const arg of declaration.outArgs) {
    const value = result.out[arg.name];
    if (value === undefined) return actionFailure('action-failed', `${actionName} gave no ${arg.name}`);
    const xmlDocument = findStateVariable(service, arg.relatedStateVariable, version)?.xmlDocument === true;
    outArgs.push(xmlDocument ? [arg.name, formatUpnpValue(value), 'cdata'] : [arg.name, formatUpnpValue(value)]);
  }
  return { ok: true, outArgs };
}

/**
 * Dispatches a parsed SOAP request that arrived at `service`'s control URL of a gateway
 * serving `served`: in the version its service type names (requestedServiceVersion).
 */
export function dispatchSoapRequest(
  service: IgdServiceKey, request: SoapRequest, context: ActionContext, served: IgdVersion = 1,
): Promise<ActionDispatchResult> {
  const version = requestedServiceVersion(service, request.serviceType, served);
  if (version === undefined) {
    return Promise.resolve(actionFailure('invalid-action', `${request.serviceType} is not served at this control URL`));
  }
  return dispatchAction(service, request.actionName, request.args, request.badArgs, { ...context, version });
}
