/**
 * The Forwarder, the router's I/O, on three in-memory link pairs and a manual clock: it
 * writes exactly what the router returns (the forwarded frames from the receive buffer,
 * the made ones from the router's), captures received frames as they arrive and sent
 * ones as they are written, writes a WAN DHCP message at once or with its batch, and
 * reports a link whose reception stopped. What the router decides is router.test.ts's.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { BROADCAST_MAC, ETHERTYPE, NatTable, emitEthernet, emitIpv4, emitUdp, resolveNatConfig } from '@openigd/nat-table';
import { createFrameBatch, newCounters, pushFrame, LinkError, type FrameBatch, type Link } from '../link/index.js';
import { MemoryLink, buildArp, buildUdp, parseIpv4, parseMac } from '../testing/index.js';
import { DHCP_MESSAGE_TYPE, DHCP_OPTION, addrOption, dhcpBufferLength, emitDhcp, type DhcpMessage } from '../dhcp/dhcp-message.js';
import { ManualClock } from '../clock.js';
import { PORT, Router, type PortId, type RouterAddresses, type RouterOutput } from './router.js';
import { Forwarder, type FrameTap } from './forwarder.js';

const LAN_ADDR = parseIpv4('192.168.1.1');
const LAN_MAC = parseMac('02:00:00:00:01:01');
const WAN_ADDR = parseIpv4('198.51.100.2');
const WAN_GW = parseIpv4('198.51.100.1');
const WAN_MAC = parseMac('02:00:00:00:02:02');
const GW_MAC = parseMac('02:00:00:00:02:01');
const HOST = parseIpv4('192.168.1.10');
const HOST_MAC = parseMac('02:00:00:00:00:10');
const REMOTE = parseIpv4('203.0.113.7');
const T0 = 1_733_420_000_000.25;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const frameBytes = (n: number, build: (b: Uint8Array) => number): Uint8Array => {
  const b = new Uint8Array(n);
  return b.subarray(0, build(b));
};
const whoHas = (mac: Uint8Array, addr: number, target: number): Uint8Array =>
  frameBytes(60, (b) => buildArp(b, 0, 1, mac, addr, new Uint8Array(6), target));
const udpOut = (seq: number): Uint8Array =>
  frameBytes(200, (b) => buildUdp(b, 0, { srcMac: HOST_MAC, dstMac: LAN_MAC, srcIp: HOST, dstIp: REMOTE, srcPort: 40000, dstPort: 53 }, seq, 16, false));
const framesOf = (batch: FrameBatch): string[] =>
  Array.from({ length: batch.count }, (_, i) => hex(batch.buffer.subarray(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!)));

/** One write the forwarder made: the port, the batch object and its frames as written. */
interface Write { readonly port: PortId; readonly batch: FrameBatch; readonly frames: string[] }
/** What one call of the router returned, copied when it returned. */
interface Returned { readonly rx: FrameBatch | null; readonly writes: Write[] }

function setup(t: TestContext) {
  const cfg = resolveNatConfig({});
  assert.ok(cfg.ok);
  const table = new NatTable(cfg.config);
  table.setExternalAddress(WAN_ADDR);
  const addrs: RouterAddresses = {
    lanAddr: LAN_ADDR, lanPrefixLength: 24, lanMac: LAN_MAC, wanAddr: WAN_ADDR, wanPrefixLength: 24, wanGateway: WAN_GW, wanMac: WAN_MAC,
    localMac: parseMac('02:00:00:00:03:01'), localKernelMac: parseMac('02:00:00:00:03:02'), lanMtu: 1500, wanMtu: 1500,
  };
  const clock = new ManualClock(T0);
  const router = new Router(addrs, table, clock);
  const pairs = (['lan', 'wan', 'local'] as const).map((name) => MemoryLink.pair(name, `${name}-far`));
  const links = [pairs[0]![0], pairs[1]![0], pairs[2]![0]] as const;
  const far = pairs.map((p) => p[1]);
  t.after(() => pairs.flat().forEach((l) => l.close()));

  // What the router returned, call by call, and what the forwarder wrote, write by write.
  const returned: Returned[] = [];
  const written: Write[] = [];
  const snapshot = (rx: FrameBatch | null, out: RouterOutput | null): void => {
    if (!out) return;
    const writes: Write[] = [];
    for (const port of [PORT.lan, PORT.wan, PORT.local]) {
      for (const batch of [out.forwarded[port], out.generated[port]]) if (batch.count > 0) writes.push({ port, batch, frames: framesOf(batch) });
    }
    returned.push({ rx, writes });
  };
  const handle = router.handle.bind(router);
  router.handle = (port, rx) => {
    const out = handle(port, rx);
    snapshot(rx, out);
    return out;
  };
  const sendWanDhcp = router.sendWanDhcp.bind(router);
  router.sendWanDhcp = (m, to) => {
    const out = sendWanDhcp(m, to);
    snapshot(null, out);
    return out;
  };
  links.forEach((link, port) => {
    const write = link.writeBatch.bind(link);
    link.writeBatch = (batch) => {
      written.push({ port: port as PortId, batch, frames: framesOf(batch) });
      return write(batch);
    };
  });
  const received: string[][] = [[], [], []];
  far.forEach((end, port) => end.start((b) => received[port]!.push(...framesOf(b))));

  const forwarder = new Forwarder(router, links, clock);
  forwarder.start();
  return {
    router, forwarder, clock, links, returned, written, received,
    /** Sends `frames` as one batch from the far end of `port`. */
    send(port: PortId, ...frames: Uint8Array[]): void {
      const batch = createFrameBatch(frames.length, new Uint8Array(frames.reduce((n, f) => n + f.length, 0)));
      let o = 0;
      for (const f of frames) {
        batch.buffer.set(f, o);
        pushFrame(batch, o, f.length);
        o += f.length;
      }
      assert.equal(far[port]!.writeBatch(batch), frames.length);
    },
    /** Waits for the links to deliver what is in flight (a few event-loop turns). */
    async settle(): Promise<void> {
      for (let i = 0; i < 8; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    },
  };
}

/** A tap that keeps a copy of every frame with its stamp, and counts its flushes. */
class RecordingTap implements FrameTap {
  readonly frames: { hex: string; nowMs: number }[] = [];
  flushes = 0;
  write(buf: Uint8Array, offset: number, length: number, nowMs: number): void {
    this.frames.push({ hex: hex(buf.subarray(offset, offset + length)), nowMs });
  }

  flush(): void {
    this.flushes++;
  }
}

describe('Forwarder', () => {
  it('writes exactly what the router returns: forwarded frames from the receive buffer, made ones from the router\'s, port by port', async (t) => {
    const f = setup(t);
    f.send(PORT.wan, whoHas(GW_MAC, WAN_GW, WAN_ADDR));
    await f.settle();
    f.send(PORT.lan, whoHas(HOST_MAC, HOST, LAN_ADDR), udpOut(1), udpOut(2));
    await f.settle();
    assert.equal(f.returned.length, 2, 'one router call per received batch');
    const expected = f.returned.flatMap((r) => r.writes);
    assert.deepEqual(f.written, expected, 'every batch the router returned, written once, in order, and nothing else');
    // The second batch: the ARP reply made for the LAN, the two datagrams forwarded in place to the WAN.
    const [arpReply, forwarded] = f.returned[1]!.writes;
    assert.equal(arpReply!.port, PORT.lan);
    assert.equal(forwarded!.port, PORT.wan);
    assert.equal(forwarded!.frames.length, 2);
    assert.equal(forwarded!.batch.buffer, f.returned[1]!.rx!.buffer, 'written from the buffer the link received into');
    assert.deepEqual(f.received[PORT.wan], [...f.returned[0]!.writes[0]!.frames, ...forwarded!.frames], 'the far ends got what was written');
    assert.deepEqual(f.received[PORT.lan], arpReply!.frames);
    assert.equal(f.links[PORT.wan].counters.txBatches, 2, 'one writeBatch per port and kind');
  });

  it('captures received frames as they arrive (before the router rewrites them) and sent ones as written, one stamp per batch, one flush per port', async (t) => {
    const f = setup(t);
    const lanTap = new RecordingTap();
    const wanTap = new RecordingTap();
    f.forwarder.setTaps([lanTap, wanTap, null]);
    f.send(PORT.wan, whoHas(GW_MAC, WAN_GW, WAN_ADDR));
    await f.settle();
    f.clock.set(T0 + 1.5);
    const question = udpOut(7);
    f.send(PORT.lan, whoHas(HOST_MAC, HOST, LAN_ADDR), question);
    await f.settle();
    assert.equal(f.returned[0]!.writes.length, 1, 'the first batch made only the ARP reply');
    const [toGw] = f.returned[0]!.writes;
    const [toHost, out] = f.returned[1]!.writes;
    assert.notEqual(out!.frames[0], hex(question), 'the router rewrote the datagram');
    assert.deepEqual(lanTap.frames, [
      { hex: hex(whoHas(HOST_MAC, HOST, LAN_ADDR)), nowMs: T0 + 1.5 },
      { hex: hex(question), nowMs: T0 + 1.5 },
      { hex: toHost!.frames[0]!, nowMs: T0 + 1.5 },
    ]);
    assert.deepEqual(wanTap.frames, [
      { hex: hex(whoHas(GW_MAC, WAN_GW, WAN_ADDR)), nowMs: T0 },
      { hex: toGw!.frames[0]!, nowMs: T0 },
      { hex: out!.frames[0]!, nowMs: T0 + 1.5 },
    ]);
    assert.deepEqual([lanTap.flushes, wanTap.flushes], [2, 2], 'each tap flushed once per batch');
    f.forwarder.setTaps([null, null, null]);
    f.send(PORT.lan, udpOut(8));
    await f.settle();
    assert.equal(lanTap.frames.length + wanTap.frames.length, 6, 'no capture once the taps are taken back');
  });

  it('writes a WAN DHCP message at once between batches, and with the batch when the client answers inside one', async (t) => {
    const f = setup(t);
    const message = (messageType: DhcpMessage['messageType']): DhcpMessage => ({
      op: 1, xid: 0x5eed, secs: 0, flags: 0x8000, ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: 0, chaddr: WAN_MAC, messageType,
      options: new Map([[DHCP_OPTION.serverId, addrOption(WAN_GW)]]),
    });
    f.forwarder.sendWanDhcp(message(DHCP_MESSAGE_TYPE.discover), 'broadcast');
    assert.equal(f.written.length, 1, 'written before sendWanDhcp returned');
    assert.deepEqual(f.written, f.returned[0]!.writes);
    assert.equal(f.written[0]!.port, PORT.wan);

    // The client answers the OFFER it hears inside the router's batch: the REQUEST leaves with that batch.
    f.router.setWanDhcpClient((m) => {
      assert.equal(m.messageType, DHCP_MESSAGE_TYPE.offer);
      f.forwarder.sendWanDhcp(message(DHCP_MESSAGE_TYPE.request), 'broadcast');
    });
    f.send(PORT.wan, offerFrame());
    await f.settle();
    assert.equal(f.returned.length, 2);
    const inBatch = f.returned[1]!;
    assert.ok(inBatch.rx, 'the REQUEST came with the batch\'s output, not on its own');
    assert.equal(inBatch.writes.length, 1);
    assert.deepEqual(f.written, f.returned.flatMap((r) => r.writes), 'written once each');
    assert.equal(f.received[PORT.wan].length, 2, 'the DISCOVER and the REQUEST');
  });

  it('writes the ARP retries of tick', async (t) => {
    const f = setup(t);
    f.send(PORT.lan, whoHas(HOST_MAC, HOST, LAN_ADDR), udpOut(3));
    await f.settle();
    assert.equal(f.received[PORT.wan].length, 1, 'the ARP request for the WAN gateway');
    f.clock.set(T0 + 1000);
    f.forwarder.tick();
    assert.equal(f.written.length, 3, 'the LAN\'s ARP reply, the first request, the retry');
    await f.settle();
    assert.deepEqual(f.received[PORT.wan][1], f.received[PORT.wan][0]);
  });

  it('reports a link whose reception stopped, with its port', (t) => {
    const f = setup(t);
    const failing: Link = {
      name: 'gone', mtu: 1500, offloads: false, maxBatchFrames: 64, counters: newCounters(),
      start: (_onBatch, onError) => onError?.(new LinkError('ENODEV', 'the TAP was removed')),
      writeBatch: () => 0, close: () => {},
    };
    const errors: [PortId, string][] = [];
    new Forwarder(f.router, [f.links[0], failing, f.links[2]], f.clock).start((port, e) => errors.push([port, e.code]));
    assert.deepEqual(errors, [[PORT.wan, 'ENODEV']]);
  });

  it('status: the router\'s counters with each link\'s, named by its device, in the order /status shows them', async (t) => {
    const f = setup(t);
    f.send(PORT.lan, whoHas(HOST_MAC, HOST, LAN_ADDR));
    await f.settle();
    const s = f.forwarder.status();
    assert.deepEqual(Object.keys(s), ['stats', 'drops', 'links', 'neighbours', 'nat', 'fragments']);
    assert.deepEqual(Object.keys(s.links), ['lan', 'wan', 'local']);
    assert.equal(s.links.lan.name, 'lan');
    assert.equal(s.links.lan.rxFrames, 1);
    assert.equal(s.links.lan.txFrames, 1);
    assert.equal(s.stats.arpReplies, 1);
    const { links: _links, ...counters } = s;
    assert.deepEqual(counters, f.router.status());
  });
});

/** A DHCP OFFER from the WAN gateway, broadcast at Ethernet and IP. */
function offerFrame(): Uint8Array {
  const m: DhcpMessage = {
    op: 2, xid: 0x5eed, secs: 0, flags: 0x8000, ciaddr: 0, yiaddr: WAN_ADDR, siaddr: WAN_GW, giaddr: 0, chaddr: WAN_MAC,
    messageType: DHCP_MESSAGE_TYPE.offer, options: new Map([[DHCP_OPTION.serverId, addrOption(WAN_GW)]]),
  };
  const payload = new Uint8Array(dhcpBufferLength(m));
  emitDhcp(m, payload, 0);
  const f = new Uint8Array(14 + 20 + 8 + payload.length);
  emitEthernet({ dst: BROADCAST_MAC, src: GW_MAC, etherType: ETHERTYPE.ipv4 }, f, 0);
  emitIpv4({ srcAddr: WAN_GW, dstAddr: 0xffffffff, protocol: 17, payloadLength: 8 + payload.length, ttl: 64 }, f, 14);
  emitUdp({ srcPort: 67, dstPort: 68, payloadLength: payload.length }, payload, WAN_GW, 0xffffffff, f, 34);
  return f;
}
