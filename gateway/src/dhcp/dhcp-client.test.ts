/**
 * The WAN DHCP client's state machine on a manual clock: DISCOVER → OFFER → REQUEST → ACK,
 * retransmission bounds, T1 renewal (unicast), T2 rebinding (broadcast), NAK and lease
 * loss, and messages that are not ours. The messages go through the byte codec both ways,
 * as they would on the wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DhcpClient, type DhcpClientLease } from './dhcp-client.js';
import {
  DHCP_MESSAGE_TYPE, DHCP_OPTION, addrOption, dhcpBufferLength, emitDhcp, optionAddress, parseDhcp, u32Option, type DhcpMessage,
} from './dhcp-message.js';
import { parseIpv4 } from '@openigd/nat-table';

const MAC = Uint8Array.from([0x02, 0, 0, 0, 0, 0x2a]);
const SERVER = parseIpv4('203.0.113.1')!;
const ADDR = parseIpv4('203.0.113.50')!;

function wire(m: DhcpMessage): DhcpMessage {
  const buf = new Uint8Array(dhcpBufferLength(m));
  emitDhcp(m, buf);
  const back = parseDhcp(buf);
  assert.equal(typeof back, 'object', `codec: ${String(back)}`);
  return back as DhcpMessage;
}

function reply(to: DhcpMessage, type: number, extra: [number, Uint8Array][] = [], yiaddr = ADDR): DhcpMessage {
  const options = new Map<number, Uint8Array>([
    [DHCP_OPTION.serverId, addrOption(SERVER)], [DHCP_OPTION.subnetMask, addrOption(0xffffff00)],
    [DHCP_OPTION.router, addrOption(SERVER)], [DHCP_OPTION.leaseTime, u32Option(600)], ...extra,
  ]);
  return wire({
    op: 2, xid: to.xid, secs: 0, flags: to.flags, ciaddr: 0, yiaddr: type === DHCP_MESSAGE_TYPE.nak ? 0 : yiaddr, siaddr: 0, giaddr: 0,
    chaddr: Uint8Array.from(to.chaddr), messageType: type as DhcpMessage['messageType'], options,
  });
}

function harness() {
  const sent: { m: DhcpMessage; to: number | 'broadcast' }[] = [];
  const leases: (DhcpClientLease | null)[] = [];
  let r = 0;
  const client = new DhcpClient({ mac: MAC, hostName: 'openigd', random: () => ((r = (r * 9301 + 49297) % 233280) / 233280) }, {
    send: (m, to) => sent.push({ m: wire(m), to }),
    lease: (l) => leases.push(l),
  });
  return { client, sent, leases, last: () => sent[sent.length - 1]! };
}

/** Runs DISCOVER/OFFER/REQUEST/ACK at time `t`; returns the harness bound. */
function bind(t = 0) {
  const h = harness();
  h.client.start(t);
  const discover = h.last();
  assert.equal(discover.m.messageType, DHCP_MESSAGE_TYPE.discover);
  h.client.receive(reply(discover.m, DHCP_MESSAGE_TYPE.offer), t + 10);
  const request = h.last();
  h.client.receive(reply(request.m, DHCP_MESSAGE_TYPE.ack), t + 20);
  return h;
}

test('DISCOVER, OFFER, REQUEST (requested address + server id, broadcast), ACK: bound with the lease', () => {
  const h = harness();
  h.client.start(0);
  const d = h.last();
  assert.equal(d.to, 'broadcast');
  assert.equal(d.m.op, 1);
  assert.equal(d.m.ciaddr, 0);
  assert.equal(d.m.flags, 0x8000, 'no address yet: the answer must be broadcast');
  assert.deepEqual([...d.m.chaddr], [...MAC]);
  assert.deepEqual([...d.m.options.get(DHCP_OPTION.clientId)!], [1, ...MAC]);
  assert.ok(d.m.options.get(DHCP_OPTION.parameterList)!.includes(DHCP_OPTION.router));
  assert.equal(h.client.state, 'selecting');

  h.client.receive(reply(d.m, DHCP_MESSAGE_TYPE.offer), 5);
  const req = h.last();
  assert.equal(req.m.messageType, DHCP_MESSAGE_TYPE.request);
  assert.equal(req.to, 'broadcast');
  assert.equal(req.m.xid, d.m.xid);
  assert.equal(optionAddress(req.m, DHCP_OPTION.requestedAddress), ADDR);
  assert.equal(optionAddress(req.m, DHCP_OPTION.serverId), SERVER);
  assert.equal(h.client.state, 'requesting');

  h.client.receive(reply(req.m, DHCP_MESSAGE_TYPE.ack, [[DHCP_OPTION.dnsServers, addrOption(0x08080808, 0x01010101)]]), 8);
  assert.equal(h.client.state, 'bound');
  assert.deepEqual(h.leases, [{ address: ADDR, prefixLength: 24, router: SERVER, server: SERVER, leaseSeconds: 600, dns: [0x08080808, 0x01010101] }]);
});

test('retransmission: DISCOVER again after 4 s ±1, doubling, capped at 64 s ±1', () => {
  const h = harness();
  h.client.start(0);
  const times: number[] = [0];
  for (let t = 0; t <= 400_000 && times.length < 9; t += 100) {
    const before = h.sent.length;
    h.client.tick(t);
    if (h.sent.length > before) times.push(t);
  }
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  const bases = [4000, 8000, 16000, 32000, 64000, 64000, 64000, 64000];
  gaps.forEach((g, i) => assert.ok(Math.abs(g - bases[i]!) <= 1100, `gap ${i}: ${g} ms, want ${bases[i]} ± 1 s`));
  assert.ok(h.sent.every((s) => s.m.messageType === DHCP_MESSAGE_TYPE.discover));
});

test('T1: a unicast REQUEST to the server with ciaddr and no server id; the ACK extends the lease silently', () => {
  const h = bind();
  h.client.tick(299_000);
  assert.equal(h.client.state, 'bound');
  const n = h.sent.length;
  h.client.tick(300_100);
  assert.equal(h.client.state, 'renewing');
  assert.equal(h.sent.length, n + 1);
  const r = h.last();
  assert.equal(r.to, SERVER);
  assert.equal(r.m.ciaddr, ADDR);
  assert.equal(r.m.flags, 0);
  assert.equal(r.m.options.has(DHCP_OPTION.serverId), false);
  assert.equal(r.m.options.has(DHCP_OPTION.requestedAddress), false);
  h.client.receive(reply(r.m, DHCP_MESSAGE_TYPE.ack), 300_110);
  assert.equal(h.client.state, 'bound');
  assert.equal(h.leases.length, 1, 'the same parameters are not reported again');
  // The new T1 counts from the renewal.
  h.client.tick(599_000);
  assert.equal(h.client.state, 'bound');
  h.client.tick(600_100);
  assert.equal(h.client.state, 'renewing');
});

test('no answer to renewals: REBINDING (broadcast) at T2, and at the lease end the address is lost and DISCOVER starts over', () => {
  const h = bind();
  for (let t = 300_000; t < 527_000; t += 1000) h.client.tick(t);
  assert.equal(h.client.state, 'rebinding');
  assert.equal(h.last().to, 'broadcast');
  assert.equal(h.last().m.ciaddr, ADDR);
  const renewals = h.sent.filter((s) => s.to === SERVER).length;
  assert.ok(renewals >= 2 && renewals <= 4, `unicast renewals between T1 and T2: ${renewals} (every max(60 s, half the time left))`);
  for (let t = 527_000; t <= 601_000; t += 1000) h.client.tick(t);
  assert.deepEqual(h.leases.at(-1), null);
  assert.equal(h.client.state, 'selecting');
  assert.equal(h.last().m.messageType, DHCP_MESSAGE_TYPE.discover);
});

test('a NAK while renewing loses the address and restarts after a pause', () => {
  const h = bind();
  h.client.tick(300_100);
  h.client.receive(reply(h.last().m, DHCP_MESSAGE_TYPE.nak), 300_105);
  assert.deepEqual(h.leases.at(-1), null);
  assert.equal(h.client.state, 'init');
  const n = h.sent.length;
  h.client.tick(300_600);
  assert.equal(h.sent.length, n);
  h.client.tick(301_200);
  assert.equal(h.last().m.messageType, DHCP_MESSAGE_TYPE.discover);
});

test('answers for another transaction or another MAC, requests, and ACKs without a lease time are ignored', () => {
  const h = harness();
  h.client.start(0);
  const d = h.last().m;
  const other = reply(d, DHCP_MESSAGE_TYPE.offer);
  h.client.receive({ ...other, xid: (other.xid + 1) >>> 0 }, 1);
  h.client.receive({ ...other, chaddr: Uint8Array.from([2, 0, 0, 0, 0, 1]) }, 1);
  h.client.receive({ ...other, op: 1 }, 1);
  h.client.receive(reply(d, DHCP_MESSAGE_TYPE.ack), 1);
  assert.equal(h.client.state, 'selecting');
  assert.equal(h.client.counters.ignored, 4);
  h.client.receive(other, 2);
  const noLease = reply(h.last().m, DHCP_MESSAGE_TYPE.ack);
  noLease.options.delete(DHCP_OPTION.leaseTime);
  h.client.receive(noLease, 3);
  assert.equal(h.client.state, 'requesting');
  assert.equal(h.leases.length, 0);
});

test('REQUESTING gives up after 4 tries and starts over with a new transaction', () => {
  const h = harness();
  h.client.start(0);
  const xid1 = h.last().m.xid;
  h.client.receive(reply(h.last().m, DHCP_MESSAGE_TYPE.offer), 1);
  for (let t = 1; t < 200_000 && h.client.state === 'requesting'; t += 100) h.client.tick(t);
  assert.equal(h.client.state, 'selecting');
  assert.equal(h.sent.filter((s) => s.m.messageType === DHCP_MESSAGE_TYPE.request).length, 4);
  assert.notEqual(h.last().m.xid, xid1);
});

test('RELEASE names the server and the address, unicast', () => {
  const h = bind();
  h.client.release();
  const r = h.last();
  assert.equal(r.m.messageType, DHCP_MESSAGE_TYPE.release);
  assert.equal(r.to, SERVER);
  assert.equal(r.m.ciaddr, ADDR);
  assert.equal(optionAddress(r.m, DHCP_OPTION.serverId), SERVER);
  assert.equal(h.client.lease, null);
});
