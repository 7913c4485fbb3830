/** The command line: --wan-probe and --notify-wait are read and checked. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConformanceArgs } from './cli.js';

const URL = ['--url', 'http://192.168.1.1:5000/rootDesc.xml'];

test('--wan-probe and --notify-wait reach the options; without them the run has neither', () => {
  const o = parseConformanceArgs([...URL, '--wan-probe', '198.51.100.10:7788', '--notify-wait', '12']).options!;
  assert.deepEqual(o.wanProbe, { address: '198.51.100.10', port: 7788 });
  assert.equal(o.notifyWaitSeconds, 12);
  const plain = parseConformanceArgs(URL).options!;
  assert.equal(plain.wanProbe, undefined);
  assert.equal(plain.notifyWaitSeconds, undefined);
});

test('bad --wan-probe and --notify-wait values are refused with the flag named', () => {
  assert.throws(() => parseConformanceArgs([...URL, '--wan-probe', 'agent:7788']), /--wan-probe must be IPv4:PORT/);
  assert.throws(() => parseConformanceArgs([...URL, '--wan-probe', '198.51.100.10:70000']), /--wan-probe must be IPv4:PORT/);
  assert.throws(() => parseConformanceArgs([...URL, '--notify-wait', '0']), /--notify-wait must be 1-1800 seconds/);
  assert.throws(() => parseConformanceArgs([...URL, '--notify-wait', '2.5']), /--notify-wait must be 1-1800 seconds/);
});
