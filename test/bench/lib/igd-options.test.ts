/** The IGD benchmark's command line: defaults, builds and rounds, and reasons for bad input. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { THIS_CHECKOUT } from './builds.js';
import { parseIgdOptions } from './igd-options.js';

test('defaults: both targets, 3000 mappings by 500, 4 clients, small-table figures 3 times, this checkout once', () => {
  assert.deepEqual(parseIgdOptions([]), {
    ok: true,
    options: {
      count: 3000, step: 500, clients: 4, targets: ['miniupnpd', 'openigd'], keepAlive: false, repeats: 3, jsonPath: null,
      builds: [{ name: 'this', dir: THIS_CHECKOUT }], rounds: 1,
    },
  });
});

test('the brief\'s A/B command line', () => {
  const r = parseIgdOptions(['--targets', 'openigd', '--build', 'base=/work/wt-ab-base', '--build', 'main=.', '--count', '600', '--step', '300', '--keep-alive', '--repeats', '1'], '/work/wt-bench-ab');
  assert.deepEqual(r, {
    ok: true,
    options: {
      count: 600, step: 300, clients: 4, targets: ['openigd'], keepAlive: true, repeats: 1, jsonPath: null,
      builds: [{ name: 'base', dir: '/work/wt-ab-base' }, { name: 'main', dir: '/work/wt-bench-ab' }], rounds: 3,
    },
  });
  const t = parseIgdOptions(['--targets', 'openigd, miniupnpd', '--rounds', '2']);
  assert.ok(t.ok && t.options.targets.join() === 'miniupnpd,openigd' && t.options.rounds === 2, 'targets in the fixed order');
});

test('bad input is a reason, not an exception', () => {
  const bad: [string[], RegExp][] = [
    [['--count', '0'], /--count/], [['--count', '40001'], /--count/], [['--step', '3001'], /--step/], [['--clients', '17'], /--clients/],
    [['--repeats', '0'], /--repeats/], [['--repeats', '11'], /--repeats/],
    [['--targets', 'upnpd'], /--targets/], [['--targets', ','], /--targets/], [['--json', ''], /--json/], [['--frobnicate'], /frobnicate/],
    [['--build', 'x'], /NAME=DIR/], [['--build', 'a=1', '--build', 'b=2', '--rounds', '1'], /--rounds/], [['--rounds', 'many'], /--rounds/],
  ];
  for (const [argv, reason] of bad) {
    const r = parseIgdOptions(argv);
    assert.equal(r.ok, false, argv.join(' '));
    assert.match(!r.ok ? r.reason : '', reason, argv.join(' '));
  }
});
