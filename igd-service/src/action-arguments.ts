/**
 * Strict parsing of SOAP argument strings into values, and formatting of values into
 * argument strings, both driven by the declaration (declaration.ts): the related state
 * variable of each argument gives its data type, allowed values, range and syntax.
 *
 *   ui2 / ui4   decimal digits only (surrounding XML whitespace ignored), within the type
 *               and any declared range (above a `clampToMaximum` range: its maximum)
 *   boolean     0 / 1 / true / false / yes / no, any case (UDA 1.0 §2.3); answered 0 / 1
 *   string      allowed values (case-insensitive where declared, answered in the declared
 *               spelling); `ipv4` a dotted quad without leading zeros; `ipv4-or-empty` also ''
 *
 * A missing, duplicated, unknown or malformed argument is `invalid-args` (402). Must not:
 * throw on any input, or accept a value the SCPD we publish would not allow.
 */
import { findActionDeclaration, findStateVariable } from './declaration.js';
import type { IgdServiceKey, IgdVersion, StateVariableDeclaration, UpnpValue } from './declaration.js';
import { actionFailure } from './faults.js';
import { parseIpv4 } from './ipv4.js';
import type { ActionFailure } from './faults.js';

const UI2_MAX = 0xffff;
const UI4_MAX = 0xffff_ffff;
/** XML whitespace (S production), which SOAP toolkits may leave around values. */
const XML_SPACE = /^[ \t\r\n]+|[ \t\r\n]+$/g;
const DIGITS = /^[0-9]{1,10}$/;

export type UpnpValueParse = { ok: true; value: UpnpValue } | { ok: false; reason: string };

/** True when `text` is a dotted-quad IPv4 address (no leading zeros, each part ≤ 255). */
export function isDottedQuad(text: string): boolean {
  return parseIpv4(text) !== undefined;
}

/** Parses one argument string as a value of `variable`. Never throws. */
export function parseUpnpValue(variable: StateVariableDeclaration, raw: string): UpnpValueParse {
  switch (variable.dataType) {
    case 'ui2':
    case 'ui4': {
      const text = raw.replace(XML_SPACE, '');
      if (!DIGITS.test(text)) return { ok: false, reason: `${variable.name}: ${JSON.stringify(raw)} is not an unsigned integer` };
      const value = Number(text);
      const max = variable.dataType === 'ui2' ? UI2_MAX : UI4_MAX;
      if (value > max) return { ok: false, reason: `${variable.name}: ${value} exceeds ${variable.dataType}` };
      if (variable.range && variable.clampToMaximum && value > variable.range.maximum) return { ok: true, value: variable.range.maximum };
      if (variable.range && (value < variable.range.minimum || value > variable.range.maximum)) {
        return { ok: false, reason: `${variable.name}: ${value} outside ${variable.range.minimum}..${variable.range.maximum}` };
      }
      return { ok: true, value };
    }
    case 'boolean': {
      const text = raw.replace(XML_SPACE, '').toLowerCase();
      if (text === '1' || text === 'true' || text === 'yes') return { ok: true, value: true };
      if (text === '0' || text === 'false' || text === 'no') return { ok: true, value: false };
      return { ok: false, reason: `${variable.name}: ${JSON.stringify(raw)} is not a boolean` };
    }
    case 'string': {
      if (variable.allowedValues) {
        const text = raw.replace(XML_SPACE, '');
        const wanted = variable.allowedValuesIgnoreCase ? text.toUpperCase() : text;
        const match = variable.allowedValues.find((v) => (variable.allowedValuesIgnoreCase ? v.toUpperCase() : v) === wanted);
        if (match === undefined) return { ok: false, reason: `${variable.name}: ${JSON.stringify(raw)} is not an allowed value` };
        return { ok: true, value: match };
      }
      if (variable.format === 'ipv4' || variable.format === 'ipv4-or-empty') {
        const text = raw.replace(XML_SPACE, '');
        if (text === '' && variable.format === 'ipv4-or-empty') return { ok: true, value: '' };
        if (!isDottedQuad(text)) return { ok: false, reason: `${variable.name}: ${JSON.stringify(raw)} is not a dotted-quad address` };
        return { ok: true, value: text };
      }
      return { ok: true, value: raw };
    }
    default: {
      const unreachable: never = variable.dataType;
      return { ok: false, reason: `unknown data type ${String(unreachable)}` };
    }
  }
}

/** Formats a value for the wire: numbers in decimal, booleans as 1 / 0, strings as they are. */
export function formatUpnpValue(value: UpnpValue): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  return String(value);
}

export type ActionArgumentsParse =
  | { ok: true; args: Readonly<Record<string, UpnpValue>> }
  | ActionFailure<'invalid-action' | 'invalid-args'>;

/**
 * Parses the raw in arguments of an action (name → text, as collected from the SOAP body;
 * `duplicates` names any argument that appeared twice). Every declared in argument must be
 * present exactly once and valid; an undeclared one is refused. Unknown action (in `version`'s
 * table) → invalid-action.
 */
export function parseActionArguments(
  service: IgdServiceKey,
  actionName: string,
  raw: ReadonlyMap<string, string>,
  duplicates: readonly string[] = [],
  version: IgdVersion = 1,
): ActionArgumentsParse {
  const action = findActionDeclaration(service, actionName, version);
  if (!action) return actionFailure('invalid-action', `${service} declares no action ${actionName}`);
  if (duplicates.length > 0) return actionFailure('invalid-args', `argument ${duplicates[0]} given twice`);
  const args: Record<string, UpnpValue> = {};
  for (const arg of action.inArgs) {
    const text = raw.get(arg.name);
    if (text === undefined) return actionFailure('invalid-args', `missing argument ${arg.name}`);
    const variable = findStateVariable(service, arg.relatedStateVariable, version);
    if (!variable) return actionFailure('invalid-args', `argument ${arg.name} names no declared variable`);
    const parsed = parseUpnpValue(variable, text);
    if (!parsed.ok) return actionFailure('invalid-args', parsed.reason);
    args[arg.name] = parsed.value;
  }
  for (const name of raw.keys()) {
    if (!action.inArgs.some((a) => a.name === name)) return actionFailure('invalid-args', `undeclared argument ${name}`);
  }
  return { ok: true, args };
}
