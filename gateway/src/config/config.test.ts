import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, ConfigError, readAdminToken } from './config.js';

const good = `
lan:   { tap: oi-lan0, netns: lab-lan, address: 192.168.1.1/24,
         dhcp: { range: 192.168.1.100-192.168.1.199 } }
wan:   { tap: oi-wan0, netns: lab-wan, address: 203.0.113.2/24, gateway: 203.0.113.1 }
local: { tap: oi-local0 }
nat:   { preset: rfc }
state: /var/lib/openigd
admin: { socket: /run/openigd/admin.sock }
capture: { dir: /var/lib/openigd/pcap }
`;

function problem(text: string): string {
  try {
    parseConfig(text, 'x.yaml');
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('config was accepted');
}

test('the issue example parses with defaults filled in', () => {
  const c = parseConfig(good);
  assert.equal(c.lan.address.address, '192.168.1.1');
  assert.equal(c.lan.address.prefixLength, 24);
  assert.deepEqual(c.lan.dhcp, { rangeStart: '192.168.1.100', rangeEnd: '192.168.1.199', leaseSeconds: 86400, dns: ['192.168.1.1'] });
  assert.deepEqual(c.wan.address, { address: '203.0.113.2', prefixLength: 24 });
  assert.equal(c.wan.gateway, '203.0.113.1');
  assert.equal(c.igd.enabled, true);
  assert.equal(c.capture?.dir, '/var/lib/openigd/pcap');
  assert.equal(parseConfig(good.replace('203.0.113.2/24, gateway: 203.0.113.1', 'dhcp')).wan.address, 'dhcp');
});

test('errors name the field and the problem', () => {
  assert.equal(problem(good.replace('state: /var/lib/openigd\n', '')), 'state: is required');
  assert.equal(problem(good.replace('address: 192.168.1.1/24', 'address: 192.168.1.1')), 'lan.address: has the wrong form (expected a.b.c.d/n)');
  assert.equal(problem(good.replace('address: 192.168.1.1/24', 'address: 192.168.1.300/24')), 'lan.address: 192.168.1.300 is not an IPv4 address');
  assert.equal(problem(good.replace('preset: rfc', 'preset: cone')), 'nat.preset: must be one of full-cone, restricted-cone, port-restricted-cone, symmetric, rfc');
  assert.equal(problem(good.replace('local: { tap: oi-local0 }', 'local: { tap: oi-local0, colour: red }')), 'local.colour: is not a known key');
  assert.equal(problem(good.replace('192.168.1.100-192.168.1.199', '192.168.2.100-192.168.2.199')), 'lan.dhcp.range: must lie inside the LAN 192.168.1.1/24');
  assert.equal(problem(good.replace('gateway: 203.0.113.1', 'gateway: 198.51.100.1')), 'wan.gateway: must lie inside the WAN 203.0.113.2/24');
  assert.equal(problem(good.replace('tap: oi-local0', 'tap: oi-lan0')), 'local.tap: lan.tap, wan.tap and local.tap must be three different names');
  assert.equal(problem(good.replace('address: 203.0.113.2/24', 'address: 192.168.1.2/24').replace('gateway: 203.0.113.1', 'gateway: 192.168.1.3')), 'wan.address: overlaps the LAN subnet');
  assert.equal(problem(good.replace('tap: oi-lan0', 'tap: oi-lan0-with-a-very-long-name')).startsWith('lan.tap: has the wrong form'), true);
});

test('broken YAML and non-mappings are a clear error, never a throw of another kind', () => {
  assert.match(problem('lan: [unclosed'), /^x\.yaml line \d+: YAML: /);
  assert.match(problem('lan: 1\nlan: 2\n'), /YAML/);
  assert.equal(problem('- a\n- b\n'), '(top level): must be a mapping of keys (lan, wan, local, state, ...)');
  assert.equal(problem(''), '(top level): must be a mapping of keys (lan, wan, local, state, ...)');
  // Found by the config fuzz property (config.fuzz.ts): aliases that cannot be resolved
  // threw the yaml package's ReferenceError instead of a ConfigError.
  assert.equal(problem('*a'), 'x.yaml: YAML: Unresolved alias (the anchor must be set before the alias): a');
  const laughs = ['a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]'].join('\n');
  assert.equal(problem(laughs), 'x.yaml: YAML: Excessive alias count indicates a resource exhaustion attack');
  // Also found by fuzzing: a mapping, a list or binary data as a key (or an alias of one)
  // became a string and a process warning.
  assert.equal(problem('? [a]\n: 1\n'), 'x.yaml line 1: a key must be plain text, not a mapping, a list or binary data');
  assert.equal(problem('lan: 1\n{a: 1}: x\n'), 'x.yaml line 2: a key must be plain text, not a mapping, a list or binary data');
  assert.equal(problem('a: &a [x]\n*a : 2\n'), 'x.yaml line 2: a key must be plain text, not a mapping, a list or binary data');
  assert.equal(problem('lan: 1\n!!binary aGk=: 2\n'), 'x.yaml line 2: a key must be plain text, not a mapping, a list or binary data');
  for (let i = 0; i < 300; i++) {
    let s = '';
    for (let j = 0; j < (i % 80); j++) s += String.fromCharCode(32 + ((i * 7919 + j * 104729) % 95));
    try {
      parseConfig(s + '\n' + good.slice(i % good.length), 'x.yaml');
    } catch (e) {
      assert.ok(e instanceof ConfigError, `input ${i}: ${String(e)}`);
      assert.doesNotMatch(e.message, /\n/, 'one line');
    }
  }
});

test('igd.rules in miniupnpd syntax: parsed in order; a bad rule names its index', () => {
  const c = parseConfig(`${good}igd:\n  rules:\n    - allow 1024-65535 192.168.1.0/24 1024-65535\n    - deny 0-65535 0.0.0.0/0 0-65535\n    - allow 8080 192.168.1.100 80\n  defaultAction: deny\n`);
  assert.deepEqual(c.igd.rules, [
    { action: 'allow', externalPorts: { minimum: 1024, maximum: 65535 }, clients: '192.168.1.0/24', internalPorts: { minimum: 1024, maximum: 65535 } },
    { action: 'deny', externalPorts: { minimum: 0, maximum: 65535 }, clients: '0.0.0.0/0', internalPorts: { minimum: 0, maximum: 65535 } },
    { action: 'allow', externalPorts: { minimum: 8080, maximum: 8080 }, clients: '192.168.1.100/32', internalPorts: { minimum: 80, maximum: 80 } },
  ]);
  assert.equal(c.igd.defaultAction, 'deny');
  assert.deepEqual(parseConfig(good).igd.rules, []);
  assert.equal(parseConfig(good).igd.defaultAction, 'allow');
  const bad = (rule: string) => problem(`${good}igd: { rules: ["${rule}"] }\n`);
  assert.equal(bad('permit 1-2 10.0.0.0/8 1-2'), 'igd.rules[0]: "permit 1-2 10.0.0.0/8 1-2" is not "allow|deny EXT-PORTS ADDRESS[/LEN] INT-PORTS"');
  assert.equal(bad('allow 2000-1000 10.0.0.0/8 1-2'), 'igd.rules[0]: external ports 2000-1000 are not a range within 0-65535');
  assert.equal(bad('allow 1-2 10.0.0.300/8 1-2'), 'igd.rules[0]: 10.0.0.300 is not an IPv4 address');
  assert.equal(bad('allow 1-2 10.0.0.0/40 1-2'), 'igd.rules[0]: /40 is not a prefix length');
  assert.equal(bad('allow 1-2 10.0.0.0/8 1-70000'), 'igd.rules[0]: internal ports 1-70000 are not a range within 0-65535');
});

test('igd.version: 1 by default, 2 when asked, nothing else', () => {
  assert.equal(parseConfig(good).igd.version, 1);
  assert.equal(parseConfig(`${good}igd: { version: 2 }\n`).igd.version, 2);
  assert.match(problem(`${good}igd: { version: 3 }\n`), /^igd\.version: /);
  assert.match(problem(`${good}igd: { version: "2" }\n`), /^igd\.version: /);
});

test('natpmp on by default, off when asked; igd.maxMappingsPerClient optional and bounded', () => {
  assert.equal(parseConfig(good).natpmp.enabled, true);
  assert.equal(parseConfig(`${good}natpmp: { enabled: false }\n`).natpmp.enabled, false);
  assert.equal(problem(`${good}natpmp: { port: 5351 }\n`).startsWith('natpmp'), true);
  assert.deepEqual(parseConfig(good).pcp, { enabled: true, allowThirdParty: false });
  assert.deepEqual(parseConfig(`${good}pcp: { allowThirdParty: true }\n`).pcp, { enabled: true, allowThirdParty: true });
  assert.equal(problem(`${good}pcp: { thirdParty: yes }\n`).startsWith('pcp'), true);
  assert.equal(parseConfig(good).igd.maxMappingsPerClient, undefined);
  assert.equal(parseConfig(`${good}igd: { maxMappingsPerClient: 32 }\n`).igd.maxMappingsPerClient, 32);
  assert.equal(problem(`${good}igd: { maxMappingsPerClient: 0 }\n`).startsWith('igd.maxMappingsPerClient'), true);
});

test('admin.listen: loopback with a token; wildcard, LAN and WAN addresses refused in one line naming the field', () => {
  const admin = (extra: string) => good.replace('admin: { socket: /run/openigd/admin.sock }', `admin: { socket: /run/openigd/admin.sock, ${extra} }`);
  const token = 'token: abcdefghijklmnop0123';
  assert.deepEqual(parseConfig(admin(`listen: 127.0.0.1:9108, ${token}`)).admin,
    { socket: '/run/openigd/admin.sock', listen: { host: '127.0.0.1', port: 9108 }, token: 'abcdefghijklmnop0123' });
  assert.deepEqual(parseConfig(admin('listen: 127.0.0.1:9108, tokenFile: /etc/openigd/token')).admin?.tokenFile, '/etc/openigd/token');
  assert.equal(problem(admin(`listen: 0.0.0.0:9108, ${token}`)), 'admin.listen: 0.0.0.0 would listen on every address, the LAN\'s too: use 127.0.0.1');
  assert.equal(problem(admin(`listen: 192.168.1.1:9108, ${token}`)),
    'admin.listen: 192.168.1.1 is in the LAN 192.168.1.1/24, whose hosts would reach it: use 127.0.0.1');
  assert.equal(problem(admin(`listen: 203.0.113.2:9108, ${token}`)),
    'admin.listen: 203.0.113.2 is in the WAN 203.0.113.2/24: the admin API never listens on the WAN');
  assert.equal(problem(admin('listen: 127.0.0.1:9108')), 'admin.token: admin.listen needs a bearer token: admin.token or admin.tokenFile');
  assert.equal(problem(admin(`listen: 127.0.0.1:9108, ${token}, tokenFile: /t`)), 'admin.token: give admin.token or admin.tokenFile, not both');
  assert.equal(problem(admin(token)), 'admin.listen: is required with admin.token or admin.tokenFile (the Unix socket needs no token)');
  assert.equal(problem(admin(`listen: 127.0.0.1:99999, ${token}`)), 'admin.listen: port 99999 is not 1-65535');
  assert.equal(problem(admin(`listen: localhost:9108, ${token}`)), 'admin.listen: has the wrong form (expected a.b.c.d:port, e.g. 127.0.0.1:9108)');
  assert.equal(problem(admin('listen: 127.0.0.1:9108, token: short')), 'admin.token: has the wrong form (expected 16-256 printable characters without spaces)');
});

test('admin.tokenFile is read at start: its first line, or one clear error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'oi-token-'));
  try {
    const listen = { host: '127.0.0.1', port: 9108 };
    const file = join(dir, 'token');
    await writeFile(file, 'abcdefghijklmnop0123\n', { mode: 0o600 });
    assert.equal(await readAdminToken({ socket: '/s', listen, tokenFile: file }), 'abcdefghijklmnop0123');
    assert.equal(await readAdminToken({ socket: '/s', listen, token: 'inline-token-0123456' }), 'inline-token-0123456');
    assert.equal(await readAdminToken({ socket: '/s' }), null);
    await assert.rejects(readAdminToken({ socket: '/s', listen, tokenFile: join(dir, 'none') }), { message: `admin.tokenFile: ${join(dir, 'none')} cannot be read (ENOENT)` });
    await writeFile(file, 'short\n');
    await assert.rejects(readAdminToken({ socket: '/s', listen, tokenFile: file }), { message: `admin.tokenFile: ${file} must hold a token of 16-256 printable characters without spaces` });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
