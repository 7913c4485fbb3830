/** Byte-exact tests of the Ethernet view: deconstruct, construct, parse, emit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EthernetFrame, ETHERTYPE, emitEthernet, ethernetBufferLen, parseEthernet, BROADCAST_MAC } from './ethernet.js';
import { macToString, parseMac } from './addr.js';
import { FIXTURE, embed, hex, toHex } from './test-fixtures.js';

test('deconstruct an untagged frame', () => {
  const buf = hex(FIXTURE.udp);
  const eth = new EthernetFrame();
  assert.equal(eth.attach(buf, 0, buf.length), 'ok');
  assert.equal(macToString(eth.dst()), '02:00:00:00:00:01');
  assert.equal(macToString(eth.src()), '02:00:00:00:00:02');
  assert.equal(eth.etherType, ETHERTYPE.ipv4);
  assert.equal(eth.vlanId, -1);
  assert.equal(eth.headerLength, 14);
  assert.equal(eth.payloadOffset, 14);
  assert.equal(eth.payloadLength, buf.length - 14);
  assert.equal(toHex(eth.payload()), FIXTURE.udp.slice(28));
  assert.equal(eth.isBroadcast(), false);
  assert.equal(eth.isGroup(), false);
  assert.equal(eth.dstEquals(parseMac('02:00:00:00:00:01')!), true);
  assert.equal(eth.dstEquals(parseMac('02:00:00:00:00:02')!), false);
});

test('deconstruct an 802.1Q-tagged frame: the tag is skipped, its VLAN id kept', () => {
  const buf = hex(FIXTURE.vlanUdp);
  const eth = new EthernetFrame();
  assert.equal(eth.attach(buf, 0, buf.length), 'ok');
  assert.equal(eth.vlanId, 100);
  assert.equal(eth.etherType, ETHERTYPE.ipv4);
  assert.equal(eth.payloadOffset, 18);
  assert.equal(toHex(eth.payload()), FIXTURE.udp.slice(28));
  // The same view, reused for an untagged frame, forgets the tag.
  const plain = hex(FIXTURE.udp);
  assert.equal(eth.attach(plain, 0, plain.length), 'ok');
  assert.equal(eth.vlanId, -1);
  assert.equal(eth.payloadOffset, 14);
});

test('double tags and short frames are refused with a reason', () => {
  const eth = new EthernetFrame();
  const inner = hex(FIXTURE.vlanUdp); inner[16] = 0x81; inner[17] = 0x00;
  assert.equal(eth.attach(inner, 0, inner.length), 'vlan-unsupported');
  const qinq = hex(FIXTURE.vlanUdp); qinq[12] = 0x88; qinq[13] = 0xa8;
  assert.equal(eth.attach(qinq, 0, qinq.length), 'vlan-unsupported');
  const qinqInner = hex(FIXTURE.vlanUdp); qinqInner[16] = 0x88; qinqInner[17] = 0xa8;
  assert.equal(eth.attach(qinqInner, 0, qinqInner.length), 'vlan-unsupported');
  const tagged = hex(FIXTURE.vlanUdp);
  assert.equal(eth.attach(tagged, 0, 17), 'truncated');
  assert.equal(eth.attach(tagged, 0, 13), 'truncated');
  assert.equal(eth.attach(tagged, 10, tagged.length), 'truncated');
});

test('a view respects the byteOffset of a subarray and writes MACs in place', () => {
  const frame = hex(FIXTURE.udp);
  const { buf, offset } = embed(frame, 7);
  const eth = new EthernetFrame();
  assert.equal(eth.attach(buf, offset, frame.length), 'ok');
  assert.equal(macToString(eth.src()), '02:00:00:00:00:02');
  assert.equal(eth.payload().byteOffset, buf.byteOffset + offset + 14);
  assert.equal(eth.payload().buffer, buf.buffer, 'payload is a view, not a copy');
  eth.setDst(BROADCAST_MAC);
  eth.setSrc(parseMac('02:00:00:00:00:09')!);
  assert.equal(eth.isBroadcast(), true);
  assert.equal(eth.isGroup(), true);
  assert.equal(toHex(buf.subarray(offset, offset + 12)), 'ffffffffffff020000000009');
  assert.equal(buf[offset - 1], 0xa5, 'nothing before the frame is touched');
});

test('parse then emit reproduces the header bytes, tagged and untagged', () => {
  for (const h of [FIXTURE.udp, FIXTURE.vlanUdp]) {
    const buf = hex(h);
    const eth = new EthernetFrame();
    assert.equal(eth.attach(buf, 0, buf.length), 'ok');
    const repr = parseEthernet(eth);
    const out = new Uint8Array(ethernetBufferLen(repr));
    assert.equal(emitEthernet(repr, out, 0), eth.headerLength);
    assert.equal(toHex(out), h.slice(0, eth.headerLength * 2));
  }
  const out = new Uint8Array(14);
  const repr = { dst: parseMac('02:00:00:00:00:01')!, src: parseMac('02:00:00:00:00:02')!, etherType: ETHERTYPE.ipv4 };
  assert.equal(emitEthernet(repr, out, 0), 14);
  assert.equal(toHex(out), FIXTURE.udp.slice(0, 28));
  assert.equal(emitEthernet(repr, new Uint8Array(13), 0), 0, 'no room: nothing written, 0 returned');
  assert.equal(emitEthernet({ ...repr, vlanId: 100 }, new Uint8Array(17), 0), 0);
});
