/** The forwarding benchmark's command line: defaults, order, and reasons for bad input. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBenchOptions } from './bench-options.js';

test('defaults: every path, 5 s, no JSON', () => {
  assert.deepEqual(parseBenchOptions([]), { ok: true, options: { jsonPath: null, seconds: 5, paths: ['kernel', 'slirp4netns', 'slirp4netns-65520', 'pasta', 'openigd', 'openigd-offload'] } });
});

test('--json, --seconds and --paths (run in the fixed order)', () => {
  const r = parseBenchOptions(['--json', '/tmp/x.json', '--seconds', '3', '--paths', 'openigd-offload,openigd, kernel']);
  assert.deepEqual(r, { ok: true, options: { jsonPath: '/tmp/x.json', seconds: 3, paths: ['kernel', 'openigd', 'openigd-offload'] } });
});

test('bad input is a reason, not an exception', () => {
  const bad = [['--seconds', '0'], ['--seconds', '11'], ['--seconds', '2.5'], ['--seconds', 'x'], ['--paths', 'kernel,vpp'],
    ['--paths', ','], ['--json'], ['--json', ''], ['--frobnicate'], ['positional']];
  for (const argv of bad) {
    const r = parseBenchOptions(argv);
    assert.equal(r.ok, false, argv.join(' '));
    assert.ok(!r.ok && r.reason.length > 0);
  }
});
