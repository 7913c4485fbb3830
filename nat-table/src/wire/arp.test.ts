/** Byte-exact tests of the ARP view: a request and a reply, parse and emit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ArpPacket, ARP_OPERATION, arpBufferLen, arpReplyTo, emitArp, parseArp } from './arp.js';
import { EthernetFrame, ETHERTYPE } from './ethernet.js';
import { ipv4ToString, macToString, parseMac } from './addr.js';
import { FIXTURE, hex, toHex } from './test-fixtures.js';

function attach(h: string): { buf: Uint8Array; arp: ArpPacket } {
  const buf = hex(h);
  const eth = new EthernetFrame();
  assert.equal(eth.attach(buf, 0, buf.length), 'ok');
  assert.equal(eth.etherType, ETHERTYPE.arp);
  const arp = new ArpPacket();
  assert.equal(arp.attach(buf, eth.payloadOffset, eth.payloadLength), 'ok');
  return { buf, arp };
}

test('deconstruct a request', () => {
  const { arp } = attach(FIXTURE.arpRequest);
  assert.equal(arp.operation, ARP_OPERATION.request);
  assert.equal(macToString(arp.senderMac()), '02:00:00:00:00:02');
  assert.equal(ipv4ToString(arp.senderAddr), '192.168.1.100');
  assert.equal(macToString(arp.targetMac()), '00:00:00:00:00:00');
  assert.equal(ipv4ToString(arp.targetAddr), '192.168.1.1');
});

test('deconstruct a padded reply (padding ignored)', () => {
  const { arp } = attach(FIXTURE.arpReply);
  assert.equal(arp.operation, ARP_OPERATION.reply);
  assert.equal(macToString(arp.senderMac()), '02:00:00:00:00:0a');
  assert.equal(ipv4ToString(arp.senderAddr), '192.168.1.1');
  assert.equal(macToString(arp.targetMac()), '02:00:00:00:00:02');
  assert.equal(ipv4ToString(arp.targetAddr), '192.168.1.100');
});

test('parse then emit reproduces the request; the reply built from it is the reply fixture', () => {
  const { arp } = attach(FIXTURE.arpRequest);
  const req = parseArp(arp);
  const out = new Uint8Array(arpBufferLen(req));
  assert.equal(emitArp(req, out, 0), 28);
  assert.equal(toHex(out), FIXTURE.arpRequest.slice(28));
  const reply = arpReplyTo(req, parseMac('02:00:00:00:00:0a')!);
  const frame = new Uint8Array(60);
  frame.set(hex(FIXTURE.arpReply).subarray(0, 14));
  assert.equal(emitArp(reply, frame, 14), 28);
  assert.equal(toHex(frame), FIXTURE.arpReply);
  assert.equal(emitArp(reply, new Uint8Array(40), 14), 0, 'no room');
});

test('other hardware or protocol types are refused', () => {
  const arp = new ArpPacket();
  for (const [at, v] of [[14, 1], [15, 6], [16, 0x86], [18, 8], [19, 16]] as const) {
    const b = hex(FIXTURE.arpRequest);
    b[at] = v;
    assert.equal(arp.attach(b, 14, 28), 'unsupported-hardware', `byte ${at}`);
  }
  const b = hex(FIXTURE.arpRequest);
  assert.equal(arp.attach(b, 14, 27), 'truncated');
  assert.equal(arp.attach(b, 15, 28), 'truncated');
});
