/**
 * The contract every Link keeps, as a node:test suite run against a factory: the
 * in-memory pair (memory-link.test.ts) and real TAPs with a kernel in a namespace
 * (tap-link.test.ts). The link under test is driven by a FakeHost (our side); the
 * factory supplies the peer on the other side of the wire (the kernel, or a FakeHost on
 * the other end of a memory pair) through `ContractPeer`.
 *
 * Every test builds its own fixture and closes it in `finally`; every wait is bounded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFrameBatch, pushFrame } from '../link/frame-batch.js';
import { FakeHost, buildUdp, formatMac, waitUntil } from './fake-host.js';
import type { Link } from '../link/link.js';

/** The other side of the wire, as the contract needs it. */
export interface ContractPeer {
  readonly mac: Uint8Array;
  readonly ip: number;
  /** Makes the peer know the link's MAC for the link's address without asking by ARP. */
  addStaticNeighbour(): Promise<void>;
  /**
   * Sends `count` UDP datagrams of `payloadBytes` (each starting with its 32-bit sequence
   * number, 0..count-1) to the link's address and `port`; resolves once they are sent.
   */
  sendUdp(port: number, count: number, payloadBytes: number): Promise<void>;
  /** Starts listening on `port`; resolves when listening, with the payloads still to come. */
  receiveUdp(port: number, count: number, timeoutMs: number): Promise<{ done: Promise<Uint8Array[]> }>;
  /** Sends `count` datagrams from `port` to the link's `port`; resolves with the replies received. */
  udpEcho(port: number, count: number, payloadBytes: number, timeoutMs: number): Promise<number>;
  /** The MAC the peer holds for the link's address (aa:bb:...), or null. */
  neighbourMac(): Promise<string | null>;
  /** Whether the peer still sees the link (the device exists, the other end is open). */
  linkPresent(): Promise<boolean>;
}

export interface ContractFixture {
  readonly link: Link;
  /** The identity our FakeHost uses on the link. */
  readonly linkMac: Uint8Array;
  readonly linkIp: number;
  readonly peer: ContractPeer;
  /** True when the peer's UDP arrives with partial checksums (offloads on). */
  readonly expectPartialRx: boolean;
  /** Removes everything the fixture made; safe to call twice. */
  close(): Promise<void>;
}

export type ContractFactory = () => Promise<ContractFixture>;

function seqOf(payload: Uint8Array): number {
  return ((payload[0]! << 24) | (payload[1]! << 16) | (payload[2]! << 8) | payload[3]!) >>> 0;
}

function payloadIntact(payload: Uint8Array, length: number): boolean {
  if (payload.length !== length) return false;
  const seq = seqOf(payload);
  for (let k = 4; k < length; k++) if (payload[k] !== ((seq + k) & 0xff)) return false;
  return true;
}

async function withFixture(factory: ContractFactory, body: (fx: ContractFixture) => Promise<void>): Promise<void> {
  const fx = await factory();
  try {
    await body(fx);
  } finally {
    await fx.close();
  }
}

/**
 * Registers the contract tests under `describe(title)`. `skip` (a reason) skips them all,
 * e.g. when the machine has no /dev/net/tun or we are not root.
 */
export function runLinkContract(title: string, factory: ContractFactory, skip?: string): void {
  describe(title, { skip: skip ?? false }, () => {
    it('delivers frames that queued before start, in batches, as plain Ethernet frames', async () => {
      await withFixture(factory, async (fx) => {
        const port = 7001;
        const total = 120;
        const payloadBytes = 64;
        await fx.peer.addStaticNeighbour();
        await fx.peer.sendUdp(port, total, payloadBytes);
        const host = new FakeHost(fx.link, fx.linkMac, fx.linkIp);
        host.start();
        assert.ok(await waitUntil(() => host.udpTo(port).length >= total, 5000), `received ${host.udpTo(port).length} of ${total}`);
        const got = host.udpTo(port);
        assert.deepEqual(new Set(got.map((d) => seqOf(d.payload))), new Set(Array.from({ length: total }, (_, i) => i)));
        for (const d of got) {
          assert.ok(payloadIntact(d.payload, payloadBytes), 'payload intact');
          assert.ok(d.checksumOk, 'checksums valid (a partial one once completed)');
          assert.equal(d.srcIp, fx.peer.ip);
        }
        assert.equal(got.some((d) => d.partial), fx.expectPartialRx, 'partial checksums exactly when offloads are on');
        assert.ok(host.batchSizes.some((n) => n > 1), `frames came in batches: ${host.batchSizes.join(',')}`);
        assert.ok(host.batchSizes.every((n) => n >= 1 && n <= fx.link.maxBatchFrames));
        const c = fx.link.counters;
        assert.ok(c.rxFrames >= total);
        assert.ok(c.rxBatches < c.rxFrames);
        assert.ok(c.rxBytes >= total * (14 + 20 + 8 + payloadBytes));
        assert.equal(c.rxDrops, 0);
      });
    });

    it('answers ARP so the peer learns our MAC, then receives its datagrams', async () => {
      await withFixture(factory, async (fx) => {
        const port = 7002;
        const host = new FakeHost(fx.link, fx.linkMac, fx.linkIp);
        host.start();
        await fx.peer.sendUdp(port, 3, 32);
        assert.ok(await waitUntil(() => host.udpTo(port).length >= 3, 5000), `received ${host.udpTo(port).length} of 3`);
        assert.ok(host.arpRepliesSent >= 1, 'the peer asked by ARP and we replied');
        assert.equal(await fx.peer.neighbourMac(), formatMac(fx.linkMac));
        assert.ok(fx.link.counters.txFrames >= 1);
      });
    });

    it('writes a batch of frames from one buffer, each reaching the peer', async () => {
      await withFixture(factory, async (fx) => {
        const port = 7003;
        const total = 40;
        const listener = await fx.peer.receiveUdp(port, total, 5000);
        const host = new FakeHost(fx.link, fx.linkMac, fx.linkIp);
        host.start();
        const before = { ...fx.link.counters };
        const written = host.sendUdp(fx.peer.mac, fx.peer.ip, 40000, port, total, 100, 'alternate');
        assert.equal(written, total);
        const c = fx.link.counters;
        assert.equal(c.txFrames - before.txFrames, total);
        assert.equal(c.txBytes - before.txBytes, total * (14 + 20 + 8 + 100));
        assert.equal(c.txBatches - before.txBatches, 1);
        assert.equal(c.txDrops, 0);
        const payloads = await listener.done;
        assert.equal(payloads.length, total, 'every frame reached the peer, partial checksums completed');
        assert.deepEqual(new Set(payloads.map(seqOf)), new Set(Array.from({ length: total }, (_, i) => i)));
        assert.ok(payloads.every((p) => payloadIntact(p, 100)));
      });
    });

    it('writes received frames back from the receive buffer, offload metadata carried through', async () => {
      await withFixture(factory, async (fx) => {
        const port = 7004;
        const host = new FakeHost(fx.link, fx.linkMac, fx.linkIp);
        host.echoPort = port;
        host.start();
        const replies = await fx.peer.udpEcho(port, 30, 200, 5000);
        assert.equal(replies, 30);
        assert.equal(host.echoed, 30);
        assert.equal(host.udpTo(port).some((d) => d.partial), fx.expectPartialRx);
      });
    });

    it('drops and counts frames outside the buffer or too short, never throws', async () => {
      await withFixture(factory, async (fx) => {
        const batch = createFrameBatch(8, new Uint8Array(4096));
        const len = buildUdp(batch.buffer, 1024, {
          srcMac: fx.linkMac, dstMac: fx.peer.mac, srcIp: fx.linkIp, dstIp: fx.peer.ip, srcPort: 9, dstPort: 9,
        }, 0, 16, false);
        pushFrame(batch, -1, 60);
        pushFrame(batch, 4090, 60);
        pushFrame(batch, 1024, len);
        pushFrame(batch, 0, 5);
        pushFrame(batch, 0, Number.NaN);
        const drops = fx.link.counters.txDrops;
        assert.equal(fx.link.writeBatch(batch), 1);
        assert.equal(fx.link.counters.txDrops - drops, 4);
        batch.count = 0;
        assert.equal(fx.link.writeBatch(batch), 0);
      });
    });

    it('close releases the link: the peer no longer sees it, writes are dropped, close twice is harmless', async () => {
      await withFixture(factory, async (fx) => {
        const host = new FakeHost(fx.link, fx.linkMac, fx.linkIp);
        host.start();
        assert.equal(await fx.peer.linkPresent(), true);
        fx.link.close();
        fx.link.close();
        assert.ok(await waitUntil(async () => !(await fx.peer.linkPresent()), 3000), 'link gone from the peer');
        const batch = createFrameBatch(1, new Uint8Array(128));
        pushFrame(batch, 0, buildUdp(batch.buffer, 0, {
          srcMac: fx.linkMac, dstMac: fx.peer.mac, srcIp: fx.linkIp, dstIp: fx.peer.ip, srcPort: 9, dstPort: 9,
        }, 0, 16, false));
        const drops = fx.link.counters.txDrops;
        assert.equal(fx.link.writeBatch(batch), 0);
        assert.equal(fx.link.counters.txDrops - drops, 1);
        fx.link.start(() => assert.fail('no batch after close'));
      });
    });
  });
}
