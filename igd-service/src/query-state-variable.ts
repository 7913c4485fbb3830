/**
 * QueryStateVariable (UDA 1.0 §3.3, deprecated in UDA 1.1 but still sent by Perl's Net::UPnP
 * and other old control points): `urn:schemas-upnp-org:control-1-0#QueryStateVariable` with
 * one argument, varName, answered with one out argument, `return`, in that namespace.
 *
 * A variable has a value to return when it is evented (the value GENA sends) or when an
 * action without in arguments reports it (GetStatusInfo's NewUptime, …): the value is the
 * one that action answers, so the two can never disagree. The variables that describe one
 * port mapping (RemoteHost, InternalClient, …) and the argument types have no value of their
 * own: like any name the service does not declare, they are 404 Invalid Var.
 * Must not: build XML, or compute a value another way than the actions and events do.
 */
import { dispatchAction } from './actions.js';
import type { ActionContext } from './actions.js';
import { UPNP_CONTROL_NAMESPACE, findStateVariable, serviceDeclaration } from './declaration.js';
import type { IgdServiceKey } from './declaration.js';
import type { ActionFailure } from './faults.js';
import { actionFailure } from './faults.js';
import type { SoapRequest } from './soap.js';

export const QUERY_STATE_VARIABLE = 'QueryStateVariable';

/** True for a request of the UPnP control namespace's QueryStateVariable. */
export function isQueryStateVariable(request: SoapRequest): boolean {
  return request.serviceType === UPNP_CONTROL_NAMESPACE && request.actionName === QUERY_STATE_VARIABLE;
}

/** The value of the variable a QueryStateVariable names, in `context.version`'s table of `service`. */
export async function queryStateVariable(
  service: IgdServiceKey, request: SoapRequest, context: ActionContext,
): Promise<{ readonly ok: true; readonly value: string } | ActionFailure> {
  const name = request.args.get('varName');
  if (name === undefined || request.args.size !== 1 || request.badArgs.length > 0) {
    return actionFailure('invalid-args', 'QueryStateVariable takes exactly one varName');
  }
  const version = context.version ?? 1;
  const variable = findStateVariable(service, name, version);
  if (!variable) return actionFailure('invalid-var', `${service} has no state variable ${JSON.stringify(name)}`);
  if (variable.sendEvents) {
    const evented = context.igd.eventedState(service).find(([n]) => n === name);
    if (evented) return { ok: true, value: evented[1] };
  }
  const getter = serviceDeclaration(service, version).actions
    .find((a) => a.inArgs.length === 0 && a.outArgs.some((arg) => arg.relatedStateVariable === name));
  if (!getter) return actionFailure('invalid-var', `${name} describes one port mapping or an argument; it has no value of its own`);
  const answered = await dispatchAction(service, getter.name, new Map(), [], context);
  if (!answered.ok) return answered;
  const argName = getter.outArgs.find((arg) => arg.relatedStateVariable === name)!.name;
  const value = answered.outArgs.find(([n]) => n === argName);
  return value ? { ok: true, value: value[1] } : actionFailure('action-failed', `${getter.name} gave no ${argName}`);
}
