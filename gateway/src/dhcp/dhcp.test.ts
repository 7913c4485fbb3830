import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDhcp, emitDhcp, dhcpBufferLength, DHCP_MESSAGE_TYPE, DHCP_OPTION, optionAddress, addrOption, type DhcpMessage } from './dhcp-message.js';
import { DhcpServer, type DhcpLease } from './dhcp-server.js';

const ip = (s: string): number => s.split('.').reduce((a, p) => a * 256 + Number(p), 0);
const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!.map((h) => parseInt(h, 16)));
const MAC_A = hex('020000000a01');
const MAC_B = hex('020000000b02');

// A DISCOVER as busybox udhcpc sends it: xid 0x3903f326, broadcast flag clear,
// options 53=1, 61 client id, 57 max size 576, 55 parameter list.
const DISCOVER_HEX =
  '01010600' + '3903f326' + '0000' + '0000' + '00000000'.repeat(4) + '020000000a01' + '00'.repeat(10) +
  '00'.repeat(64) + '00'.repeat(128) + '63825363' +
  '350101' + '3d0701020000000a01' + '39020240' + '3704010306 0f'.replace(' ', '') + 'ff';

test('parses a DISCOVER byte by byte', () => {
  const m = parseDhcp(hex(DISCOVER_HEX));
  assert.ok(typeof m === 'object');
  assert.equal(m.op, 1);
  assert.equal(m.xid, 0x3903f326);
  assert.equal(m.flags, 0);
  assert.deepEqual([...m.chaddr], [...MAC_A]);
  assert.equal(m.messageType, DHCP_MESSAGE_TYPE.discover);
  assert.deepEqual([...m.options.get(DHCP_OPTION.parameterList)!], [1, 3, 6, 15]);
  assert.deepEqual([...m.options.get(61)!], [1, 2, 0, 0, 0, 0x0a, 1]);
});

test('emit then parse round-trips, with the exact fixed layout', () => {
  const m = parseDhcp(hex(DISCOVER_HEX)) as DhcpMessage;
  const buf = new Uint8Array(dhcpBufferLength(m) + 10);
  const n = emitDhcp(m, buf, 10);
  assert.equal(n, 300);
  const out = buf.subarray(10, 10 + n);
  assert.deepEqual([...out.subarray(0, 240)], [...hex(DISCOVER_HEX).subarray(0, 240)]);
  assert.deepEqual(parseDhcp(out), m);
});

test('an option longer than 255 bytes goes out as pieces of 255 and parses back whole (RFC 3396)', () => {
  // Found by the DHCP fuzz property (dhcp-message.fuzz.ts): a 256-byte value was written
  // with length byte 0 (256 & 0xff) and the rest read as options.
  const m = parseDhcp(hex(DISCOVER_HEX)) as DhcpMessage;
  const long = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  m.options = new Map([[DHCP_OPTION.messageType, Uint8Array.of(1)], [DHCP_OPTION.domainName, long]]);
  const buf = new Uint8Array(dhcpBufferLength(m));
  assert.equal(emitDhcp(m, buf), 548);
  // 53/1/1, then 15/255/0..254, then 15/45/255,0..43, then end.
  assert.deepEqual([...buf.subarray(240, 246)], [53, 1, 1, 15, 255, 0]);
  assert.deepEqual([...buf.subarray(243 + 257, 243 + 257 + 4)], [15, 45, 255, 0]);
  assert.deepEqual([...buf.subarray(243 + 257 + 47)], [255]);
  assert.deepEqual(parseDhcp(buf), m);
});

test('malformed messages return a reason, never throw', () => {
  assert.equal(parseDhcp(new Uint8Array(10)), 'truncated');
  const bad = hex(DISCOVER_HEX); bad[236] = 0;
  assert.equal(parseDhcp(bad), 'bad-cookie');
  const noType = hex(DISCOVER_HEX); noType[240] = 0; noType[241] = 0; noType[242] = 0;
  assert.equal(parseDhcp(noType), 'no-message-type');
  const longOpt = hex(DISCOVER_HEX).subarray(0, 246); // option 61 cut short
  assert.equal(parseDhcp(longOpt), 'bad-option');
  let seed = 7;
  for (let i = 0; i < 3000; i++) {
    const b = hex(DISCOVER_HEX);
    for (let j = 0; j < 8; j++) { seed = (seed * 1103515245 + 12345) >>> 0; b[seed % b.length] = seed >>> 24; }
    const r = parseDhcp(b.subarray(0, 200 + (seed % 120)));
    assert.ok(typeof r === 'string' || typeof r === 'object');
  }
});

function server(restored: DhcpLease[] = [], saved: DhcpLease[][] = []): DhcpServer {
  return new DhcpServer({
    serverAddr: ip('192.168.1.1'), prefixLength: 24, rangeStart: ip('192.168.1.100'), rangeEnd: ip('192.168.1.102'),
    leaseSeconds: 3600, dns: [ip('192.168.1.1')],
  }, { save: (l) => saved.push([...l]) }, restored);
}

function msg(type: number, mac: Uint8Array, opts: [number, Uint8Array][] = [], ciaddr = 0): DhcpMessage {
  return { op: 1, xid: 42, secs: 0, flags: 0, ciaddr, yiaddr: 0, siaddr: 0, giaddr: 0, chaddr: mac,
    messageType: type as DhcpMessage['messageType'], options: new Map(opts) };
}

test('DISCOVER/OFFER/REQUEST/ACK gives an address with router, mask and DNS', () => {
  const saved: DhcpLease[][] = [];
  const s = server([], saved);
  const offer = s.handle(msg(DHCP_MESSAGE_TYPE.discover, MAC_A), 0)!;
  assert.equal(offer.messageType, DHCP_MESSAGE_TYPE.offer);
  assert.equal(offer.yiaddr, ip('192.168.1.100'));
  assert.equal(optionAddress(offer, DHCP_OPTION.router), ip('192.168.1.1'));
  assert.equal(optionAddress(offer, DHCP_OPTION.subnetMask), ip('255.255.255.0'));
  assert.equal(optionAddress(offer, DHCP_OPTION.dnsServers), ip('192.168.1.1'));
  assert.equal(optionAddress(offer, DHCP_OPTION.serverId), ip('192.168.1.1'));
  // A second client is offered another address while the first offer is held.
  assert.equal(s.handle(msg(DHCP_MESSAGE_TYPE.discover, MAC_B), 1)!.yiaddr, ip('192.168.1.101'));
  const ack = s.handle(msg(DHCP_MESSAGE_TYPE.request, MAC_A, [
    [DHCP_OPTION.requestedAddress, addrOption(offer.yiaddr)], [DHCP_OPTION.serverId, addrOption(ip('192.168.1.1'))]]), 2)!;
  assert.equal(ack.messageType, DHCP_MESSAGE_TYPE.ack);
  assert.equal(ack.yiaddr, ip('192.168.1.100'));
  assert.equal(saved.at(-1)!.length, 1);
  assert.equal(saved.at(-1)![0]!.mac, '02:00:00:00:0a:01');
  // The same client asking again gets the same address.
  assert.equal(s.handle(msg(DHCP_MESSAGE_TYPE.discover, MAC_A), 3)!.yiaddr, ip('192.168.1.100'));
});

test('the host name a client sends with its REQUEST is kept with the lease, when it is a plain name', () => {
  const saved: DhcpLease[][] = [];
  const s = server([], saved);
  const name = (text: string): [number, Uint8Array] => [DHCP_OPTION.hostName, new TextEncoder().encode(text)];
  const ask = (mac: Uint8Array, addr: string, opts: [number, Uint8Array][]) =>
    s.handle(msg(DHCP_MESSAGE_TYPE.request, mac, [[DHCP_OPTION.requestedAddress, addrOption(ip(addr))], ...opts]), 0)!.messageType;
  assert.equal(ask(MAC_A, '192.168.1.100', [name('laptop-1.home')]), DHCP_MESSAGE_TYPE.ack);
  assert.equal(ask(MAC_B, '192.168.1.101', [name('<script>')]), DHCP_MESSAGE_TYPE.ack);
  assert.deepEqual(s.leases().map((l) => [l.mac, l.hostName]), [['02:00:00:00:0a:01', 'laptop-1.home'], ['02:00:00:00:0b:02', undefined]]);
  assert.equal(saved.at(-1)![0]!.hostName, 'laptop-1.home', 'stored with the lease');
  // A renewal without the option drops the old name; one too long is not kept.
  assert.equal(ask(MAC_A, '192.168.1.100', [name('x'.repeat(64))]), DHCP_MESSAGE_TYPE.ack);
  assert.equal(s.leases().find((l) => l.mac === '02:00:00:00:0a:01')?.hostName, undefined);
});

test('REQUEST for an address held by another client is NAKed; unknown server id is ignored', () => {
  const s = server();
  s.handle(msg(DHCP_MESSAGE_TYPE.request, MAC_A, [[DHCP_OPTION.requestedAddress, addrOption(ip('192.168.1.100'))]]), 0);
  const nak = s.handle(msg(DHCP_MESSAGE_TYPE.request, MAC_B, [[DHCP_OPTION.requestedAddress, addrOption(ip('192.168.1.100'))]]), 1)!;
  assert.equal(nak.messageType, DHCP_MESSAGE_TYPE.nak);
  const outOfRange = s.handle(msg(DHCP_MESSAGE_TYPE.request, MAC_B, [[DHCP_OPTION.requestedAddress, addrOption(ip('10.0.0.5'))]]), 1)!;
  assert.equal(outOfRange.messageType, DHCP_MESSAGE_TYPE.nak);
  assert.equal(s.handle(msg(DHCP_MESSAGE_TYPE.request, MAC_B, [
    [DHCP_OPTION.requestedAddress, addrOption(ip('192.168.1.101'))], [DHCP_OPTION.serverId, addrOption(ip('192.168.1.9'))]]), 1), null);
});

test('RELEASE frees, the range exhausts, leases expire and survive a restart', () => {
  const saved: DhcpLease[][] = [];
  const s = server([], saved);
  const macs = [1, 2, 3, 4].map((i) => hex(`02000000000${i}`));
  for (const [i, mac] of macs.slice(0, 3).entries()) {
    const r = s.handle(msg(DHCP_MESSAGE_TYPE.request, mac, [[DHCP_OPTION.requestedAddress, addrOption(ip('192.168.1.100') + i)]]), 0)!;
    assert.equal(r.messageType, DHCP_MESSAGE_TYPE.ack);
  }
  assert.equal(s.handle(msg(DHCP_MESSAGE_TYPE.discover, macs[3]!), 0), null);
  assert.equal(s.counters.exhausted, 1);
  s.handle(msg(DHCP_MESSAGE_TYPE.release, macs[0]!, [], ip('192.168.1.100')), 1);
  assert.equal(s.handle(msg(DHCP_MESSAGE_TYPE.discover, macs[3]!), 2)!.yiaddr, ip('192.168.1.100'));
  const restarted = server(saved.at(-1)!);
  assert.equal(restarted.leases().length, 2);
  assert.equal(restarted.handle(msg(DHCP_MESSAGE_TYPE.discover, macs[1]!), 3)!.yiaddr, ip('192.168.1.101'));
  assert.equal(restarted.expire(3600_000 + 1), 2);
  assert.equal(restarted.leases().length, 0);
});

test('a flood of DISCOVERs from made-up MACs: bounded offers, offers not taken up are reclaimed, bound leases never', () => {
  const s = server();
  const bound = hex('020000000a0a');
  assert.equal(s.handle(msg(DHCP_MESSAGE_TYPE.request, bound, [[DHCP_OPTION.requestedAddress, addrOption(ip('192.168.1.100'))]]), 0)!.messageType, DHCP_MESSAGE_TYPE.ack);
  let offers = 0;
  for (let i = 0; i < 1000; i++) {
    const mac = hex(`02ff${(0x1000000 + i).toString(16).slice(1)}00`);
    if (s.handle(msg(DHCP_MESSAGE_TYPE.discover, mac), 1000 + i)) offers++;
  }
  // 1000 DISCOVERs in one second: the burst (40) and what the bucket earns in that second (20).
  assert.ok(offers <= 40 + 20, `${offers} offers`);
  assert.equal(s.counters.rateLimited, 1000 - offers);
  assert.ok(s.counters.offersReclaimed > 0, 'the range (3 addresses) was full: old offers went to new clients');
  assert.ok(s.leases().length <= 3, 'never more leases than the range');
  assert.ok(s.leases().some((l) => l.mac === '02:00:00:00:0a:0a' && !l.offered), 'the bound lease stays');
  // Its renewal is answered at once: it holds a lease, so no token is needed.
  const renew = s.handle(msg(DHCP_MESSAGE_TYPE.request, bound, [[DHCP_OPTION.requestedAddress, addrOption(ip('192.168.1.100'))]]), 2500)!;
  assert.equal(renew.messageType, DHCP_MESSAGE_TYPE.ack);
});
