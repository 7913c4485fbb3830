/** Strict argument parsing from the declaration: numbers, booleans, protocols, addresses; never throws. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatUpnpValue, isDottedQuad, parseActionArguments, parseUpnpValue } from './action-arguments.js';
import { findStateVariable } from './declaration.js';
import type { StateVariableDeclaration } from './declaration.js';

function variable(name: string): StateVariableDeclaration {
  const v = findStateVariable('wanIpConnection', name);
  assert.ok(v, name);
  return v;
}

function value(name: string, raw: string): unknown {
  const r = parseUpnpValue(variable(name), raw);
  return r.ok ? r.value : 'invalid';
}

test('ui2: digits within 0..65535, XML whitespace tolerated, a declared range enforced', () => {
  assert.equal(value('ExternalPort', '0'), 0);
  assert.equal(value('ExternalPort', ' 8080\r\n'), 8080);
  assert.equal(value('ExternalPort', '65535'), 65535);
  assert.equal(value('ExternalPort', '065535'), 65535);
  for (const bad of ['65536', '70000', '-1', '+1', '1.0', '0x10', '1e3', '', ' ', '١٢']) {
    assert.equal(value('ExternalPort', bad), 'invalid', bad);
  }
  assert.equal(value('InternalPort', '0'), 'invalid');
  assert.equal(value('InternalPort', '1'), 1);
});

test('ui4: up to 4294967295', () => {
  assert.equal(value('PortMappingLeaseDuration', '4294967295'), 4294967295);
  assert.equal(value('PortMappingLeaseDuration', '4294967296'), 'invalid');
  assert.equal(value('PortMappingLeaseDuration', '99999999999'), 'invalid');
});

test('boolean: 0/1/true/false/yes/no in any case, answered 1/0', () => {
  for (const t of ['1', 'true', 'TRUE', 'yes', 'Yes']) assert.equal(value('PortMappingEnabled', t), true, t);
  for (const f of ['0', 'false', 'False', 'no', 'NO']) assert.equal(value('PortMappingEnabled', f), false, f);
  for (const bad of ['2', 'on', 'off', '', 'y']) assert.equal(value('PortMappingEnabled', bad), 'invalid', bad);
  assert.equal(formatUpnpValue(true), '1');
  assert.equal(formatUpnpValue(false), '0');
});

test('protocol: TCP or UDP in any case, answered upper-case', () => {
  assert.equal(value('PortMappingProtocol', 'tcp'), 'TCP');
  assert.equal(value('PortMappingProtocol', 'Udp'), 'UDP');
  for (const bad of ['XYZ', 'ICMP', '', 'TCP UDP', 'SCTP']) assert.equal(value('PortMappingProtocol', bad), 'invalid', bad);
});

test('addresses: InternalClient a dotted quad; RemoteHost also empty', () => {
  assert.equal(value('InternalClient', '192.168.1.10'), '192.168.1.10');
  assert.equal(value('InternalClient', '192.168.1.255'), '192.168.1.255');
  for (const bad of ['', '192.168.1', '192.168.1.256', '192.168.01.1', 'host.lan', '::1', '1.2.3.4.5', '1.2.3.-4']) {
    assert.equal(value('InternalClient', bad), 'invalid', bad);
  }
  assert.equal(value('RemoteHost', ''), '');
  assert.equal(value('RemoteHost', '198.51.100.7'), '198.51.100.7');
  assert.equal(value('RemoteHost', 'example.com'), 'invalid');
  assert.equal(isDottedQuad('0.0.0.0'), true);
  assert.equal(isDottedQuad('255.255.255.255'), true);
});

test('free text is kept exactly', () => {
  assert.equal(value('PortMappingDescription', '  eMule <TCP> & co  '), '  eMule <TCP> & co  ');
});

test('parseActionArguments: missing, duplicated, undeclared, unknown action', () => {
  const good = new Map([['NewRemoteHost', ''], ['NewExternalPort', '80'], ['NewProtocol', 'TCP']]);
  assert.deepEqual(parseActionArguments('wanIpConnection', 'DeletePortMapping', good),
    { ok: true, args: { NewRemoteHost: '', NewExternalPort: 80, NewProtocol: 'TCP' } });
  assert.equal(parseActionArguments('wanIpConnection', 'DeletePortMapping', good, ['NewExternalPort']).ok, false);
  const missing = new Map(good);
  missing.delete('NewProtocol');
  const r = parseActionArguments('wanIpConnection', 'DeletePortMapping', missing);
  assert.equal(r.ok ? 'ok' : r.reason, 'invalid-args');
  const unknown = parseActionArguments('wanIpConnection', 'AddAnyPortMapping', good);
  assert.equal(unknown.ok ? 'ok' : unknown.reason, 'invalid-action');
  const otherService = parseActionArguments('layer3Forwarding', 'DeletePortMapping', good);
  assert.equal(otherService.ok ? 'ok' : otherService.reason, 'invalid-action');
});

test('property: any string into any declared variable returns, never throws; valid ports round-trip', () => {
  const names = ['ExternalPort', 'InternalPort', 'PortMappingLeaseDuration', 'PortMappingEnabled', 'PortMappingProtocol',
    'InternalClient', 'RemoteHost', 'PortMappingDescription'];
  fc.assert(fc.property(fc.constantFrom(...names), fc.fullUnicodeString(), (name, raw) => {
    const r = parseUpnpValue(variable(name), raw);
    assert.equal(typeof r.ok, 'boolean');
  }));
  fc.assert(fc.property(fc.integer({ min: 0, max: 65535 }), (port) => {
    assert.equal(value('ExternalPort', formatUpnpValue(port)), port);
  }));
});
