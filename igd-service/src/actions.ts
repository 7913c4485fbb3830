/**
 * The action handlers of the three services, `(args, context) → result | failure`, one per
 * declared action (the table's type makes a missing handler a compile error), and the
 * dispatcher that turns a parsed SOAP request into out arguments or a failure reason:
 *
 *   service type of the body ≠ the control URL's → invalid-action (401)
 *   action not declared                          → invalid-action (401)
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
 * Must not: touch HTTP or XML, or pick an error code (faults.ts does).
 */
import { formatUpnpValue, parseActionArguments } from './action-arguments.js';
import { IGD_SERVICES, findActionDeclaration } from './declaration.js';
import type { IgdActionInput, IgdActionName, IgdActionOutput, IgdServiceKey, UpnpValue } from './declaration.js';
import type { ActionFailure } from './faults.js';
import { actionFailure } from './faults.js';
import type { Igd, PortMappingLookup } from './igd.js';
import type { SoapRequest } from './soap.js';

export interface ActionContext {
  readonly igd: Igd;
  /** The requester's IPv4 address (the HTTP peer), for the access policy. */
  readonly clientAddress: string;
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
    AddPortMapping: async (args, { igd, clientAddress }) => {
      const added = await igd.addPortMapping({
        remoteHost: args.NewRemoteHost,
        externalPort: args.NewExternalPort,
        protocol: args.NewProtocol,
        internalPort: args.NewInternalPort,
        internalClient: args.NewInternalClient,
        enabled: args.NewEnabled,
        description: args.NewPortMappingDescription,
        leaseSeconds: args.NewLeaseDuration,
      }, clientAddress);
      return added.ok ? ok({}) : added;
    },
    DeletePortMapping: async (args, { igd, clientAddress }) => {
      const deleted = await igd.deletePortMapping({
        remoteHost: args.NewRemoteHost, externalPort: args.NewExternalPort, protocol: args.NewProtocol,
      }, clientAddress);
      return deleted.ok ? ok({}) : deleted;
    },
    GetExternalIPAddress: (_args, { igd }) => ok({ NewExternalIPAddress: igd.externalAddress() }),
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

export type ActionDispatchResult = { readonly ok: true; readonly outArgs: Array<readonly [string, string]> } | ActionFailure;

type LooseHandler = (args: Readonly<Record<string, UpnpValue>>, context: ActionContext) =>
  ActionResult<Readonly<Record<string, UpnpValue>>> | Promise<ActionResult<Readonly<Record<string, UpnpValue>>>>;

/**
 * Runs one action of a service: validates the raw arguments against the declaration, calls
 * the handler, and formats its out arguments in declared order. Never throws for bad input;
 * an exception from a handler (a bug or an unexpected I/O error) becomes action-failed.
 */
export async function dispatchAction(
  service: IgdServiceKey,
  actionName: string,
  rawArgs: ReadonlyMap<string, string>,
  badArgs: readonly string[],
  context: ActionContext,
): Promise<ActionDispatchResult> {
  const parsed = parseActionArguments(service, actionName, rawArgs, badArgs);
  if (!parsed.ok) return parsed;
  const handlers = IGD_ACTION_HANDLERS[service] as unknown as Readonly<Record<string, LooseHandler>>;
  const handler = Object.hasOwn(handlers, actionName) ? handlers[actionName] : undefined;
  const declaration = findActionDeclaration(service, actionName);
  if (!handler || !declaration) return actionFailure('invalid-action', `no handler for ${service}#${actionName}`);
  let result: ActionResult<Readonly<Record<string, UpnpValue>>>;
  try {
    result = await handler(parsed.args, context);
  } catch (e) {
    return actionFailure('action-failed', `${actionName} threw: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!result.ok) return result;
  const outArgs: Array<readonly [string, string]> = [];
  for (const arg of declaration.outArgs) {
    const value = result.out[arg.name];
    if (value === undefined) return actionFailure('action-failed', `${actionName} gave no ${arg.name}`);
    outArgs.push([arg.name, formatUpnpValue(value)]);
  }
  return { ok: true, outArgs };
}

/** Dispatches a parsed SOAP request that arrived at `service`'s control URL. */
export function dispatchSoapRequest(service: IgdServiceKey, request: SoapRequest, context: ActionContext): Promise<ActionDispatchResult> {
  if (request.serviceType !== IGD_SERVICES[service].serviceType) {
    return Promise.resolve(actionFailure('invalid-action', `${request.serviceType} is not served at this control URL`));
  }
  return dispatchAction(service, request.actionName, request.args, request.badArgs, context);
}
