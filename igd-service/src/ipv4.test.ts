import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv4, prefixMask } from './ipv4.js';

test('parseIpv4: dotted quads to unsigned numbers; anything else undefined', () => {
  assert.equal(parseIpv4('192.168.1.1'), 0xc0a80101);
  assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
  assert.equal(parseIpv4('0.0.0.0'), 0);
  for (const bad of ['256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.-4', ' 1.2.3.4', '1.2.3.4 ', 'a.b.c.d', '']) {
    assert.equal(parseIpv4(bad), undefined, bad);
  }
});

test('prefixMask: 0, 24 and 32', () => {
  assert.equal(prefixMask(0), 0);
  assert.equal(prefixMask(24), 0xffffff00);
  assert.equal(prefixMask(32), 0xffffffff);
});
