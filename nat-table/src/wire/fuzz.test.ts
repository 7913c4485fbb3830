/**
 * The wire views' fuzz checks that are not properties of the shared set (views.fuzz.ts,
 * run by test/fuzz and `npm run fuzz`): the random-bytes property reaches past the first
 * checks, ranges that are not whole indices are refused, and emitters given random Reprs
 * and small buffers never throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { emitEthernet } from './ethernet.js';
import { emitArp } from './arp.js';
import { emitIpv4 } from './ipv4.js';
import { emitUdp, emitUdpHeader } from './udp.js';
import { emitTcp } from './tcp.js';
import { IcmpPacket, emitEchoReply, emitIcmp, emitIcmpError } from './icmp.js';
import { FIXTURE, hex } from './test-fixtures.js';
import { FUZZ, SUBJECTS, reached, rng } from './views.fuzz.js';

test('the random-bytes property reaches past the first checks: most views say ok on shaped input', () => {
  const before = reached.ok;
  fc.assert(FUZZ['wire views: random and shaped bytes'](), { numRuns: 500, seed: 14 });
  assert.ok(reached.ok - before > 1000, `deep paths were reached (${reached.ok - before} ok attaches in 500 cases)`);
});

test('ranges that are not whole indices inside the buffer are refused, not read', () => {
  const buf = hex(FIXTURE.udp);
  const bad: Array<[number, number]> = [[-1, 20], [0, -1], [NaN, 20], [0, NaN], [1.5, 20], [0, 20.5], [Infinity, 1],
    [0, Infinity], [40, 20], [0, buf.length + 1], [buf.length, 1], [2 ** 53, 1]];
  for (const s of SUBJECTS) {
    for (const mode of s.modes) {
      for (const [o, l] of bad) assert.equal(s.attach(buf, o, l, mode), 'truncated', `${s.name} ${mode} (${o}, ${l})`);
      assert.equal(s.attach(new Uint8Array(0), 0, 0, mode), 'truncated');
    }
  }
});

test('emitters given random Reprs and small or misplaced buffers return 0 or a length, never throw', () => {
  const r = rng(7);
  const mac = Uint8Array.of(2, 0, 0, 0, 0, 1);
  const echo = new IcmpPacket();
  const echoBytes = hex(FIXTURE.echo);
  assert.equal(echo.attach(echoBytes, 34, 16), 'ok');
  for (let i = 0; i < 3000; i++) {
    const buf = new Uint8Array(r() % 120);
    const off = (r() % 140) - 10;
    const pl = (r() % 200) - 20;
    const payload = new Uint8Array(r() % 100);
    const results = [
      emitEthernet({ dst: mac, src: mac.subarray(0, r() % 7), etherType: r() & 0xffff, ...(i & 1 ? { vlanId: r() & 0xffff } : {}) }, buf, off),
      emitArp({ operation: 1, senderMac: mac, senderAddr: r(), targetMac: mac, targetAddr: r() }, buf, off),
      emitIpv4({ srcAddr: r(), dstAddr: r(), protocol: r() & 0xff, payloadLength: pl, ttl: 64 }, buf, off),
      emitUdpHeader({ srcPort: r() & 0xffff, dstPort: 1, payloadLength: pl }, buf, off),
      emitUdp({ srcPort: 1, dstPort: 2, payloadLength: pl }, payload, r(), r(), buf, off),
      emitTcp({ srcPort: 1, dstPort: 2, seqNumber: r(), ackNumber: r(), flags: 2, window: 9, payloadLength: pl,
        options: new Uint8Array(r() % 48) }, payload, r(), r(), buf, off),
      emitIcmp({ type: 8, code: 0, rest: r(), data: payload }, buf, off),
      emitEchoReply(echo, buf, off),
      emitIcmpError({ type: 3, code: 1, srcAddr: r(), offending: payload, offendingOffset: (r() % 40) - 5, offendingLength: pl }, buf, off),
    ];
    for (const n of results) assert.ok(Number.isInteger(n) && n >= 0 && (n === 0 || off + n <= buf.length), `emitted ${n}`);
  }
});
