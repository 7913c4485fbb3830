import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveNatConfig, DEFAULT_TIMEOUTS, PRESET_NAMES, type NatConfigInput, type NatConfigResult } from './config.js';

function fieldOf(r: NatConfigResult): string {
  assert.equal(r.ok, false, 'expected a rejection');
  return r.ok ? '' : r.field;
}

test('presets resolve to the documented behaviours', () => {
  const want = {
    'full-cone': ['endpoint-independent', 'endpoint-independent', 'preserve', true],
    'restricted-cone': ['endpoint-independent', 'address-dependent', 'preserve', true],
    'port-restricted-cone': ['endpoint-independent', 'address-and-port-dependent', 'preserve', true],
    symmetric: ['address-and-port-dependent', 'address-and-port-dependent', 'random', false],
    rfc: ['endpoint-independent', 'address-dependent', 'preserve', true],
  } as const;
  assert.deepEqual(Object.keys(want).sort(), [...PRESET_NAMES].sort());
  for (const [name, [mapping, filtering, portAllocation, hairpinning]] of Object.entries(want)) {
    for (const r of [resolveNatConfig(name as keyof typeof want), resolveNatConfig({ preset: name })]) {
      assert.ok(r.ok, name);
      assert.deepEqual(
        [r.config.mapping, r.config.filtering, r.config.portAllocation, r.config.hairpinning],
        [mapping, filtering, portAllocation, hairpinning], name);
    }
  }
});

test('the default is the rfc preset with the default timeouts, range and capacity', () => {
  const r = resolveNatConfig();
  assert.ok(r.ok);
  assert.equal(r.config.mapping, 'endpoint-independent');
  assert.equal(r.config.filtering, 'address-dependent');
  assert.deepEqual(r.config.timeouts, { udpMs: 300_000, tcpEstablishedMs: 7_440_000, tcpTransitoryMs: 240_000, icmpMs: 60_000 });
  assert.deepEqual(r.config.timeouts, DEFAULT_TIMEOUTS);
  assert.deepEqual(r.config.portRange, { min: 1024, max: 65535 });
  assert.equal(r.config.capacity, 65_536);
  assert.equal(r.config.maxFlowsPerClient, 0, 'no per-client limit');
  assert.equal(r.config.random, Math.random);
});

test('overrides win over the preset, one field at a time', () => {
  const rnd = () => 0.5;
  const r = resolveNatConfig({
    preset: 'symmetric', filtering: 'endpoint-independent', hairpinning: true, portAllocation: 'sequential',
    portRange: { min: 2000, max: 2999 }, timeouts: { icmpMs: 30_000 }, capacity: 100, random: rnd,
  });
  assert.ok(r.ok);
  assert.equal(r.config.mapping, 'address-and-port-dependent');
  assert.equal(r.config.filtering, 'endpoint-independent');
  assert.equal(r.config.hairpinning, true);
  assert.equal(r.config.portAllocation, 'sequential');
  assert.deepEqual(r.config.portRange, { min: 2000, max: 2999 });
  assert.deepEqual(r.config.timeouts, { ...DEFAULT_TIMEOUTS, icmpMs: 30_000 });
  assert.equal(r.config.capacity, 100);
  assert.equal(r.config.random, rnd);
});

test('bad values are rejected with the field named, never thrown', () => {
  assert.deepEqual(resolveNatConfig({ preset: 'cone' }),
    { ok: false, field: 'preset', problem: 'must be one of full-cone, restricted-cone, port-restricted-cone, symmetric, rfc' });
  const cases: [unknown, string][] = [
    ['cone', 'preset'],
    [{ preset: 5 }, 'preset'],
    [{ mapping: 'x' }, 'mapping'],
    [{ filtering: 'endpoint-dependent' }, 'filtering'],
    [{ portAllocation: 'spread' }, 'portAllocation'],
    [{ portRange: { min: 500, max: 600 } }, 'portRange.min'],
    [{ portRange: { min: 2000, max: 70000 } }, 'portRange.max'],
    [{ portRange: { min: 2000.5, max: 3000 } }, 'portRange.min'],
    [{ portRange: { min: 6000, max: 5000 } }, 'portRange'],
    [{ portRange: 5 }, 'portRange'],
    [{ timeouts: { udpMs: -1 } }, 'timeouts.udpMs'],
    [{ timeouts: { tcpEstablishedMs: 'long' } }, 'timeouts.tcpEstablishedMs'],
    [{ timeouts: { tcpTransitoryMs: Number.NaN } }, 'timeouts.tcpTransitoryMs'],
    [{ timeouts: { icmpMs: 0 } }, 'timeouts.icmpMs'],
    [{ timeouts: { udp: 1000 } }, 'timeouts.udp'],
    [{ timeouts: [] }, 'timeouts'],
    [{ capacity: 0 }, 'capacity'],
    [{ capacity: 1.5 }, 'capacity'],
    [{ capacity: 2 ** 30 }, 'capacity'],
    [{ maxFlowsPerClient: -1 }, 'maxFlowsPerClient'],
    [{ maxFlowsPerClient: 2.5 }, 'maxFlowsPerClient'],
    [{ hairpinning: 'yes' }, 'hairpinning'],
    [{ random: 4 }, 'random'],
    [{ filter: 'endpoint-independent' }, 'filter'],
    [null, ''],
    [42, ''],
    [[], ''],
  ];
  for (const [input, field] of cases) {
    let r: NatConfigResult | undefined;
    assert.doesNotThrow(() => { r = resolveNatConfig(input as NatConfigInput); }, JSON.stringify(input));
    assert.equal(fieldOf(r!), field, JSON.stringify(input));
    assert.ok(!r!.ok && r!.problem.length > 0);
  }
});
