/**
 * Fuzz properties of the config loader (YAML text → schema → checks), run by the suite
 * (test/fuzz) and by `npm run fuzz`. Whatever the text, `parseConfig` returns a config or
 * throws a `ConfigError` with a one-line message: never another error, nor a process
 * warning. Texts are YAML made of the tokens that matter (anchors, aliases, tags, flow
 * and block collections, the config's own keys) and a valid config with one field
 * deleted, replaced by any JSON value, or joined by an unknown key: checked as data, or
 * written as JSON or as YAML. An accepted config holds what the checks promise
 * (addresses parse, prefix lengths in range, three taps).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError, checkConfig, parseConfig, parseDottedQuad, type GatewayConfig } from './config.js';

const VALID = {
  lan: { tap: 'oi-lan0', address: '192.168.1.1/24', dhcp: { range: '192.168.1.100-192.168.1.199', leaseSeconds: 3600, dns: ['192.168.1.1'] } },
  wan: { tap: 'oi-wan0', address: '203.0.113.2/24', gateway: '203.0.113.1', mtu: 1500 },
  local: { tap: 'oi-local0' },
  nat: { preset: 'rfc', portRange: { min: 1024, max: 65535 }, timeouts: { udpMs: 30000 } },
  state: '/var/lib/openigd',
  admin: { socket: '/run/openigd/admin.sock', listen: '127.0.0.1:9108' },
  igd: { enabled: true, version: 2, rules: ['allow 1024-65535 192.168.1.0/24 1024-65535'] },
  natpmp: { enabled: true },
  pcp: { enabled: true, allowThirdParty: false },
  log: { level: 'info' },
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path (keys and array indices) inside `v`, parents before children. */
function paths(v: Json, at: readonly (string | number)[] = []): (readonly (string | number)[])[] {
  if (v === null || typeof v !== 'object') return [];
  const keys: (string | number)[] = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  return keys.flatMap((k) => [[...at, k], ...paths((v as Record<string | number, Json>)[k]!, [...at, k])]);
}
const PATHS = paths(VALID as unknown as Json);

type Edit = { kind: 'delete' } | { kind: 'replace'; value: Json } | { kind: 'add'; key: string; value: Json };

function edited(path: readonly (string | number)[], edit: Edit): Json {
  const copy = structuredClone(VALID) as unknown as Json;
  let parent = copy as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
  const last = path.at(-1)!;
  if (edit.kind === 'delete') delete parent[last];
  else if (edit.kind === 'replace') parent[last] = edit.value;
  else if (typeof parent[last] === 'object' && parent[last] !== null && !Array.isArray(parent[last])) (parent[last] as Record<string, Json>)[edit.key] = edit.value;
  return copy;
}

/** The only outcomes allowed: a config that holds its promises, or one ConfigError line. */
function checkOutcome(load: () => GatewayConfig): void {
  let config: GatewayConfig;
  // A process warning on the way (the yaml package warns of keys it turns into strings)
  // would reach the daemon's stderr outside its log: that counts as a failure too.
  const warnings: string[] = [];
  const emitWarning = process.emitWarning;
  process.emitWarning = ((w: string | Error) => { warnings.push(String(w)); }) as typeof process.emitWarning;
  try {
    config = load();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}, not a ConfigError`);
    assert.ok(!e.message.includes('\n'), `a one-line message: ${JSON.stringify(e.message)}`);
    return;
  } finally {
    process.emitWarning = emitWarning;
    assert.deepEqual(warnings, [], 'no process warning');
  }
  for (const c of [config.lan.address, ...(typeof config.wan.address === 'object' ? [config.wan.address] : [])]) {
    assert.notEqual(parseDottedQuad(c.address), null);
    assert.ok(c.prefixLength >= 1 && c.prefixLength <= 30);
  }
  assert.equal(new Set([config.lan.tap, config.wan.tap, config.local.tap]).size, 3);
}

const TOKENS = [
  'lan', 'wan', 'local', 'state', 'nat', 'igd', 'admin', 'tap', 'address', 'dhcp', 'range', 'rules', ': ', ':', '- ', '-', ', ',
  '\n', '\n  ', '\n    ', '{', '}', '[', ']', '"', "'", '&a ', '*a', '&b ', '*b', '!!str ', '!!int ', '!!binary ', '!!set ', '!!omap ',
  '!tag ', '? ', '#', '|', '>', '---\n', '...\n', '%YAML 1.2\n', '<<: ', '1.2.3.4/24', '192.168.1.1/24', '203.0.113.2/24', 'oi-lan0',
  'oi-wan0', '65535', '-1', '1e999', '0x10', '.inf', '.nan', '~', 'null', 'true', '__proto__', 'constructor', '\\u', '\t', '\r', '\u0000',
];

export const FUZZ = {
  'config: YAML-like text': () => fc.property(
    fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TOKENS) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) }), { maxLength: 40 }),
    (parts) => checkOutcome(() => parseConfig(parts.join(''), 'fuzz.yaml'))),
  'config: a valid config edited, as data, JSON or YAML': () => fc.property(
    fc.constantFrom(...PATHS),
    fc.oneof(
      fc.constant<Edit>({ kind: 'delete' }),
      fc.jsonValue({ maxDepth: 2 }).map((value): Edit => ({ kind: 'replace', value: value as Json })),
      fc.tuple(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 1 })).map(([key, value]): Edit => ({ kind: 'add', key, value: value as Json }))),
    fc.constantFrom('data', 'data', 'json', 'yaml'),
    (path, edit, form) => {
      const data = edited(path, edit);
      // Half the cases go to the checks directly: the text forms cost a YAML parse each.
      if (form === 'data') checkOutcome(() => checkConfig(data));
      else checkOutcome(() => parseConfig(form === 'json' ? JSON.stringify(data) : stringify(data), 'fuzz.yaml'));
    }),
};
