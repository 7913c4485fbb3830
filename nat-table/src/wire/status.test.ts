/** Tests of the reason list and the range check every attach relies on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WIRE_REASONS, isRange, type WireStatus } from './status.js';
import type { EthernetStatus } from './ethernet.js';
import type { ArpStatus } from './arp.js';
import type { Ipv4Status } from './ipv4.js';
import type { UdpStatus } from './udp.js';
import type { TcpStatus } from './tcp.js';
import type { IcmpStatus } from './icmp.js';

/** Compiles only if every view's status is a WireStatus. */
type Each = EthernetStatus | ArpStatus | Ipv4Status | UdpStatus | TcpStatus | IcmpStatus;
const covered = (s: Each): WireStatus => s;

test('the reason list has no duplicates and no "ok"', () => {
  assert.equal(new Set(WIRE_REASONS).size, WIRE_REASONS.length);
  assert.equal((WIRE_REASONS as readonly string[]).includes('ok'), false);
  assert.equal(covered('ok'), 'ok');
});

test('isRange accepts whole in-bounds ranges only', () => {
  const b = new Uint8Array(10).subarray(2);
  assert.equal(isRange(b, 0, 8), true);
  assert.equal(isRange(b, 8, 0), true);
  assert.equal(isRange(b, 0, 9), false);
  assert.equal(isRange(b, 9, 0), false);
  for (const [o, l] of [[-1, 1], [0, -1], [NaN, 1], [1, NaN], [0.5, 1], [1, 0.5], [Infinity, 0], [0, Infinity]]) {
    assert.equal(isRange(b, o!, l!), false, `${o}, ${l}`);
  }
});
