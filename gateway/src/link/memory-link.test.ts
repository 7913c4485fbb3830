/**
 * The in-memory link pair: the link contract (offloads on and off), delivery in a later
 * turn, the bounded queue, and software offloads when the pair has none.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameFlag, createFrameBatch, pushFrame, type FrameBatch } from './frame-batch.js';
import { FakeHost, buildTcp4, buildUdp, checksumsValid, parseIpv4, parseMac, waitUntil, runLinkContract, MemoryLink, type TcpSpec, type ContractFixture } from '../testing/index.js';

const LINK_MAC = parseMac('02:00:00:00:00:02');
const PEER_MAC = parseMac('02:00:00:00:00:01');
const LINK_IP = parseIpv4('10.77.0.2');
const PEER_IP = parseIpv4('10.77.0.1');

function memoryFixture(offloads: boolean): () => Promise<ContractFixture> {
  return async () => {
    const [link, end] = MemoryLink.pair('mem-link', 'mem-peer', { offloads });
    const peerHost = new FakeHost(end, PEER_MAC, PEER_IP);
    peerHost.start();
    const resolveLink = async (): Promise<Uint8Array> => {
      const mac = await peerHost.resolve(LINK_IP, 3000);
      if (!mac) throw new Error('the peer could not resolve the link by ARP');
      return parseMac(mac);
    };
    const good = (port: number): Uint8Array[] => peerHost.udpTo(port).filter((d) => d.checksumOk).map((d) => d.payload);
    return {
      link,
      linkMac: LINK_MAC,
      linkIp: LINK_IP,
      expectPartialRx: offloads,
      peer: {
        mac: PEER_MAC,
        ip: PEER_IP,
        addStaticNeighbour: async () => {
          peerHost.neighbours.set(LINK_IP, '02:00:00:00:00:02');
        },
        sendUdp: async (port, count, payloadBytes) => {
          const mac = await resolveLink();
          for (let sent = 0; sent < count; sent += 64) {
            peerHost.sendUdp(mac, LINK_IP, 50000, port, Math.min(64, count - sent), payloadBytes, offloads ? 'all' : 'none', sent);
          }
        },
        receiveUdp: async (port, count, timeoutMs) => ({
          done: waitUntil(() => good(port).length >= count, timeoutMs).then(() => good(port)),
        }),
        udpEcho: async (port, count, payloadBytes, timeoutMs) => {
          const mac = await resolveLink();
          peerHost.sendUdp(mac, LINK_IP, port, port, count, payloadBytes, offloads ? 'all' : 'none');
          await waitUntil(() => good(port).length >= count, timeoutMs);
          return good(port).length;
        },
        neighbourMac: async () => peerHost.neighbours.get(LINK_IP) ?? null,
        linkPresent: async () => end.connected,
      },
      close: async () => {
        link.close();
        end.close();
      },
    };
  };
}

runLinkContract('link contract: memory pair, offloads on', memoryFixture(true));
runLinkContract('link contract: memory pair, offloads off', memoryFixture(false));

const TCP: TcpSpec = {
  srcMac: LINK_MAC, dstMac: PEER_MAC, srcIp: LINK_IP, dstIp: PEER_IP, srcPort: 40000, dstPort: 80,
  seq: 0xfffff000, ack: 1, flags: 0x10 | 0x08 | 0x80,
};

function superFrame(payloadBytes: number, mss: number): FrameBatch {
  const batch = createFrameBatch(1, new Uint8Array(70_000));
  const payload = Uint8Array.from({ length: payloadBytes }, (_, k) => (k * 7) & 0xff);
  pushFrame(batch, 0, buildTcp4(batch.buffer, 0, TCP, payload, true, 100));
  batch.flags[0] = FrameFlag.gsoTcp4 | FrameFlag.csumPartial;
  batch.gsoSize[0] = mss;
  batch.hdrLen[0] = 54;
  batch.csumStart[0] = 34;
  batch.csumOffset[0] = 16;
  return batch;
}

describe('memory link', () => {
  it('delivers in a later turn, never inside writeBatch', async () => {
    const [a, b] = MemoryLink.pair('a', 'b');
    try {
      const seen: number[] = [];
      b.start((batch) => seen.push(batch.count));
      const tx = createFrameBatch(4, new Uint8Array(256));
      pushFrame(tx, 0, 60);
      pushFrame(tx, 64, 60);
      assert.equal(a.writeBatch(tx), 2);
      assert.deepEqual(seen, []);
      assert.ok(await waitUntil(() => seen.length > 0, 1000));
      assert.deepEqual(seen, [2]);
    } finally {
      a.close();
      b.close();
    }
  });

  it('frames written during onBatch arrive in a later batch', async () => {
    const [a, b] = MemoryLink.pair('a', 'b');
    try {
      const tx = createFrameBatch(1, new Uint8Array(64));
      pushFrame(tx, 0, 60);
      let batches = 0;
      let echoes = 0;
      b.start((batch) => {
        batches++;
        b.writeBatch(batch);
      });
      a.start((batch) => {
        echoes += batch.count;
        if (echoes < 5) a.writeBatch(tx);
      });
      a.writeBatch(tx);
      assert.ok(await waitUntil(() => echoes >= 5, 2000));
      assert.equal(batches, 5);
    } finally {
      a.close();
      b.close();
    }
  });

  it('a full queue drops and counts instead of growing', async () => {
    const [a, b] = MemoryLink.pair('a', 'b', { batchFrames: 4, queueBatches: 2 });
    try {
      const tx = createFrameBatch(16, new Uint8Array(16 * 64));
      for (let i = 0; i < 16; i++) pushFrame(tx, i * 64, 60);
      assert.equal(a.writeBatch(tx), 8);
      assert.equal(a.counters.txDrops, 8);
      let got = 0;
      b.start((batch) => {
        got += batch.count;
      });
      assert.ok(await waitUntil(() => got === 8, 1000));
      assert.equal(b.counters.rxBatches, 2);
    } finally {
      a.close();
      b.close();
    }
  });

  it('a frame larger than a queued batch is dropped, not split', () => {
    const [a, b] = MemoryLink.pair('a', 'b', { batchBytes: 1024 });
    try {
      const tx = createFrameBatch(1, new Uint8Array(2000));
      pushFrame(tx, 0, 2000);
      assert.equal(a.writeBatch(tx), 0);
      assert.equal(a.counters.txDrops, 1);
    } finally {
      a.close();
      b.close();
    }
  });

  it('with offloads on, a GSO super-frame crosses whole with its metadata', async () => {
    const [a, b] = MemoryLink.pair('a', 'b', { offloads: true });
    try {
      const got: { len: number; flags: number; gsoSize: number }[] = [];
      b.start((batch) => {
        for (let i = 0; i < batch.count; i++) got.push({ len: batch.lengths[i]!, flags: batch.flags[i]!, gsoSize: batch.gsoSize[i]! });
      });
      const sf = superFrame(10_000, 1448);
      assert.equal(a.writeBatch(sf), 1);
      assert.ok(await waitUntil(() => got.length === 1, 1000));
      assert.deepEqual(got[0], { len: 54 + 10_000, flags: FrameFlag.gsoTcp4 | FrameFlag.csumPartial, gsoSize: 1448 });
      assert.equal(b.counters.rxGsoFrames, 1);
    } finally {
      a.close();
      b.close();
    }
  });

  it('with offloads off, a super-frame is segmented in software into valid segments', async () => {
    const [a, b] = MemoryLink.pair('a', 'b', { offloads: false });
    try {
      const frames: Uint8Array[] = [];
      const flags: number[] = [];
      b.start((batch) => {
        for (let i = 0; i < batch.count; i++) {
          frames.push(batch.buffer.slice(batch.offsets[i]!, batch.offsets[i]! + batch.lengths[i]!));
          flags.push(batch.flags[i]!);
        }
      });
      assert.equal(a.writeBatch(superFrame(10_000, 1448)), 1);
      assert.ok(await waitUntil(() => frames.length === 7, 1000));
      assert.equal(a.counters.txSoftwareGso, 1);
      assert.equal(a.counters.txFrames, 7);
      assert.ok(flags.every((f) => f === 0));
      assert.ok(frames.every((f) => checksumsValid(f, 0, f.length)));
      assert.ok(frames.slice(0, 6).every((f) => f.length === 54 + 1448));
      assert.equal(frames[6]!.length, 54 + 10_000 - 6 * 1448);
    } finally {
      a.close();
      b.close();
    }
  });

  it('with offloads off, a partial checksum is completed before the frame leaves', async () => {
    const [a, b] = MemoryLink.pair('a', 'b', { offloads: false });
    try {
      const tx = createFrameBatch(1, new Uint8Array(256));
      pushFrame(tx, 0, buildUdp(tx.buffer, 0, {
        srcMac: LINK_MAC, dstMac: PEER_MAC, srcIp: LINK_IP, dstIp: PEER_IP, srcPort: 1, dstPort: 2,
      }, 5, 50, true));
      tx.flags[0] = FrameFlag.csumPartial;
      tx.csumStart[0] = 34;
      tx.csumOffset[0] = 6;
      assert.equal(checksumsValid(tx.buffer, 0, tx.lengths[0]!), false);
      let ok = false;
      b.start((batch) => {
        ok = batch.flags[0] === 0 && checksumsValid(batch.buffer, batch.offsets[0]!, batch.lengths[0]!);
      });
      assert.equal(a.writeBatch(tx), 1);
      assert.ok(await waitUntil(() => ok, 1000));
      assert.equal(a.counters.txSoftwareCsum, 1);
    } finally {
      a.close();
      b.close();
    }
  });

  it('a closed end drops writes from its peer, and the peer sees it disconnected', () => {
    const [a, b] = MemoryLink.pair('a', 'b');
    b.close();
    assert.equal(a.connected, false);
    const tx = createFrameBatch(1, new Uint8Array(64));
    pushFrame(tx, 0, 60);
    assert.equal(a.writeBatch(tx), 0);
    assert.equal(a.counters.txDrops, 1);
    a.close();
  });
});
