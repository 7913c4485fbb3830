/**
 * The SCPDs, parsed back with saxes, against the declaration and against what the
 * dispatcher accepts: every action, argument and state variable present and consistent,
 * every action handled, every evented variable sourced (issue 4 acceptance 6).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseActionArguments } from './action-arguments.js';
import { IGD_ACTION_HANDLERS } from './actions.js';
import { IGD_SERVICE_KEYS, UPNP_SERVICE_NAMESPACE, eventedVariableNames, serviceDeclaration } from './declaration.js';
import type { IgdServiceKey } from './declaration.js';
import { EVENTED_SOURCES } from './evented-state.js';
import { buildScpd } from './scpd.js';
import { child, childrenNamed, parseXml, path } from './testing/index.js';
import type { XmlNode } from './testing/index.js';

interface ScpdVariable {
  name: string;
  dataType: string;
  sendEvents: string;
  allowed: string[] | undefined;
  range: { minimum: number; maximum: number } | undefined;
}

interface ScpdAction {
  name: string;
  args: Array<{ name: string; direction: string; related: string }>;
}

function readScpd(xml: string): { actions: ScpdAction[]; variables: ScpdVariable[]; root: XmlNode } {
  const root = parseXml(xml);
  const actions = childrenNamed(child(root, 'actionList'), 'action').map((a) => ({
    name: child(a, 'name').text,
    args: childrenNamed(a, 'argumentList').flatMap((list) => childrenNamed(list, 'argument')).map((arg) => ({
      name: child(arg, 'name').text,
      direction: child(arg, 'direction').text,
      related: child(arg, 'relatedStateVariable').text,
    })),
  }));
  const variables = childrenNamed(child(root, 'serviceStateTable'), 'stateVariable').map((v) => {
    const list = childrenNamed(v, 'allowedValueList')[0];
    const range = childrenNamed(v, 'allowedValueRange')[0];
    return {
      name: child(v, 'name').text,
      dataType: child(v, 'dataType').text,
      sendEvents: v.attributes.sendEvents,
      allowed: list ? childrenNamed(list, 'allowedValue').map((x) => x.text) : undefined,
      range: range ? { minimum: Number(child(range, 'minimum').text), maximum: Number(child(range, 'maximum').text) } : undefined,
    };
  });
  return { actions, variables, root };
}

/** A value the SCPD says is valid for a variable (the first allowed value, the range minimum, …). */
function sampleValue(v: ScpdVariable, argName: string): string {
  if (v.allowed) return v.allowed[0];
  if (v.range) return String(v.range.minimum);
  if (v.dataType === 'ui2' || v.dataType === 'ui4') return '1';
  if (v.dataType === 'boolean') return '1';
  // Strings without a list: an address where the argument names one, text elsewhere.
  return /RemoteHost|InternalClient/.test(argName) ? '192.168.1.10' : 'some text';
}

for (const version of [1, 2] as const) for (const service of IGD_SERVICE_KEYS) {
  const declaration = serviceDeclaration(service, version);
  const scpd = readScpd(buildScpd(service, version));
  const name = `IGD:${version} ${service}`;

  test(`${name}: the SCPD root, spec version and namespace`, () => {
    assert.equal(scpd.root.name, 'scpd');
    assert.equal(scpd.root.uri, UPNP_SERVICE_NAMESPACE);
    assert.equal(path(scpd.root, 'specVersion', 'major').text, '1');
    assert.equal(path(scpd.root, 'specVersion', 'minor').text, version === 1 ? '0' : '1');
  });

  test(`${name}: every declared action with its arguments in spec order, and nothing else`, () => {
    assert.deepEqual(scpd.actions.map((a) => a.name), declaration.actions.map((a) => a.name));
    for (const action of declaration.actions) {
      const found = scpd.actions.find((a) => a.name === action.name);
      assert.ok(found);
      assert.deepEqual(found.args, [
        ...action.inArgs.map((a) => ({ name: a.name, direction: 'in', related: a.relatedStateVariable })),
        ...action.outArgs.map((a) => ({ name: a.name, direction: 'out', related: a.relatedStateVariable })),
      ]);
    }
  });

  test(`${name}: every state variable with type, events, allowed values and range`, () => {
    assert.deepEqual(scpd.variables.map((v) => v.name), declaration.stateVariables.map((v) => v.name));
    for (const v of declaration.stateVariables) {
      const found = scpd.variables.find((x) => x.name === v.name);
      assert.ok(found);
      assert.equal(found.dataType, v.dataType);
      assert.equal(found.sendEvents, v.sendEvents ? 'yes' : 'no');
      assert.deepEqual(found.allowed, v.allowedValues ? [...v.allowedValues] : undefined);
      assert.deepEqual(found.range, v.range ? { minimum: v.range.minimum, maximum: v.range.maximum } : undefined);
    }
  });

  test(`${name}: every relatedStateVariable exists and names are unique`, () => {
    const names = new Set(scpd.variables.map((v) => v.name));
    assert.equal(names.size, scpd.variables.length);
    assert.equal(new Set(scpd.actions.map((a) => a.name)).size, scpd.actions.length);
    for (const action of scpd.actions) {
      for (const arg of action.args) assert.ok(names.has(arg.related), `${action.name}.${arg.name} → ${arg.related}`);
    }
  });

  test(`${name}: the dispatcher has a handler for every action of the SCPD, and IGD:2's for exactly them`, () => {
    const handled = Object.keys(IGD_ACTION_HANDLERS[service]).sort();
    const published = scpd.actions.map((a) => a.name).sort();
    if (version === 2) assert.deepEqual(handled, published);
    else for (const action of published) assert.ok(handled.includes(action), action);
    assert.equal(parseActionArguments(service, 'NoSuchAction', new Map(), [], version).ok, false);
  });

  test(`${name}: the dispatcher accepts what the SCPD allows and refuses what it does not`, () => {
    for (const action of scpd.actions) {
      const ins = action.args.filter((a) => a.direction === 'in');
      const valid = new Map(ins.map((a) => [a.name, sampleValue(scpd.variables.find((v) => v.name === a.related)!, a.name)]));
      const accepted = parseActionArguments(service, action.name, valid, [], version);
      assert.equal(accepted.ok, true, `${action.name} with ${JSON.stringify([...valid])}`);

      const extra = new Map(valid).set('NewUndeclared', '1');
      assert.deepEqual(pick(parseActionArguments(service, action.name, extra, [], version)), 'invalid-args');

      for (const arg of ins) {
        const missing = new Map(valid);
        missing.delete(arg.name);
        assert.deepEqual(pick(parseActionArguments(service, action.name, missing, [], version)), 'invalid-args', `${action.name} without ${arg.name}`);
        const variable = scpd.variables.find((v) => v.name === arg.related)!;
        const clamped = declaration.stateVariables.find((v) => v.name === variable.name)?.clampToMaximum === true;
        for (const bad of invalidValues(variable, clamped)) {
          const wrong = new Map(valid).set(arg.name, bad);
          assert.equal(pick(parseActionArguments(service, action.name, wrong, [], version)), 'invalid-args', `${action.name}.${arg.name} = ${bad}`);
        }
      }
    }
  });

  test(`${name}: evented variables in the SCPD are exactly those with an event source`, () => {
    const evented = scpd.variables.filter((v) => v.sendEvents === 'yes').map((v) => v.name);
    assert.deepEqual(evented, eventedVariableNames(service, version));
    const sources = Object.keys(EVENTED_SOURCES[service as IgdServiceKey]).sort();
    if (version === 2) assert.deepEqual(sources, [...evented].sort());
    else for (const v of evented) assert.ok(sources.includes(v), v);
  });
}

function pick(result: { ok: boolean; reason?: string }): string {
  return result.ok ? 'ok' : result.reason ?? '';
}

/** Values the SCPD's type, list or range excludes (a clamped range takes values above it). */
function invalidValues(v: ScpdVariable, clamped: boolean): string[] {
  const out: string[] = [];
  if (v.dataType === 'ui2') out.push('65536', '-1', 'x', '');
  if (v.dataType === 'ui4') out.push('4294967296', '-1', '1.5', '');
  if (v.dataType === 'boolean') out.push('2', 'maybe', '');
  if (v.allowed) out.push('NotInTheList');
  if (v.range) out.push(String(v.range.minimum - 1));
  if (v.range && !clamped) out.push(String(v.range.maximum + 1));
  return out;
}

test('the SCPD XML is well-formed and escaped', () => {
  for (const service of IGD_SERVICE_KEYS) for (const version of [1, 2] as const) {
    const xml = buildScpd(service, version);
    assert.match(xml, /^<\?xml version="1\.0"\?>/);
    assert.doesNotThrow(() => parseXml(xml));
  }
});
