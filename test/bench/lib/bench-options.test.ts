/** The forwarding benchmark's command line: defaults, order, and reasons for bad input. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBenchOptions } from './bench-options.js';
import { THIS_CHECKOUT } from './builds.js';

const THIS = [{ name: 'this', dir: THIS_CHECKOUT }];

test('defaults: every path, 5 s, no JSON, this checkout once', () => {
  assert.deepEqual(parseBenchOptions([]), {
    ok: true,
    options: { jsonPath: null, seconds: 5, paths: ['kernel', 'slirp4netns', 'slirp4netns-65520', 'pasta', 'openigd', 'openigd-offload'], builds: THIS, rounds: 1 },
  });
});

test('--json, --seconds and --paths (run in the fixed order)', () => {
  const r = parseBenchOptions(['--json', '/tmp/x.json', '--seconds', '3', '--paths', 'openigd-offload,openigd, kernel']);
  assert.deepEqual(r, { ok: true, options: { jsonPath: '/tmp/x.json', seconds: 3, paths: ['kernel', 'openigd', 'openigd-offload'], builds: THIS, rounds: 1 } });
});

test('--build (repeatable, relative to the working directory) and --rounds', () => {
  const r = parseBenchOptions(['--paths', 'openigd', '--build', 'base=/work/wt-ab-base', '--build', 'main=.', '--rounds', '2'], '/work/wt-bench-ab');
  assert.deepEqual(r, {
    ok: true,
    options: { jsonPath: null, seconds: 5, paths: ['openigd'], builds: [{ name: 'base', dir: '/work/wt-ab-base' }, { name: 'main', dir: '/work/wt-bench-ab' }], rounds: 2 },
  });
  const dflt = parseBenchOptions(['--build', 'a=x', '--build', 'b=y'], '/');
  assert.ok(dflt.ok && dflt.options.rounds === 3, 'several builds: 3 rounds');
});

test('bad input is a reason, not an exception', () => {
  const bad = [['--seconds', '0'], ['--seconds', '11'], ['--seconds', '2.5'], ['--seconds', 'x'], ['--paths', 'kernel,vpp'],
    ['--paths', ','], ['--json'], ['--json', ''], ['--frobnicate'], ['positional'], ['--build', 'nodir'], ['--build', 'a=x', '--build', 'a=y'],
    ['--build', 'a=x', '--build', 'b=y', '--rounds', '1'], ['--rounds', '0'], ['--build']];
  for (const argv of bad) {
    const r = parseBenchOptions(argv);
    assert.equal(r.ok, false, argv.join(' '));
    assert.ok(!r.ok && r.reason.length > 0);
  }
});
