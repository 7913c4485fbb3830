/**
 * The replay on small captures made here: the frames that come out (byte for byte,
 * against frames built from scratch), frames of the gateway's own skipped, ARP as the
 * router does it, the timer, and determinism (the same input gives the same bytes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARP_OPERATION, BROADCAST_MAC, ETHERTYPE, emitArp, emitEthernet, emitIpv4, emitUdp, parseIpv4 } from '@openigd/nat-table';
import { PcapWriter } from '../capture/pcap-writer.js';
import { readPcapFile } from '../capture/pcap-reader.js';
import { parseReplayArgs, replayFiles, ReplayUsageError, type ReplayFilesResult } from './replay-command.js';

const mac = (s: string): Uint8Array => Uint8Array.from(s.split(':'), (h) => parseInt(h, 16));
const ip = (s: string): number => parseIpv4(s)!;
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const LAN_MAC = mac('02:00:00:00:00:01');
const WAN_MAC = mac('02:00:00:00:00:02');
const HOST_MAC = mac('02:00:00:00:00:aa');
const GW_MAC = mac('02:00:00:00:00:bb');
const LAN_ADDR = ip('192.168.1.1');
const HOST = ip('192.168.1.100');
const WAN_ADDR = ip('203.0.113.2');
const WAN_GW = ip('203.0.113.1');
const REMOTE = ip('198.51.100.10');
const ZERO_MAC = new Uint8Array(6);

const config = (natLine: string): string => `
lan:   { tap: oi-lan0, address: 192.168.1.1/24, mac: "02:00:00:00:00:01" }
wan:   { tap: oi-wan0, address: 203.0.113.2/24, gateway: 203.0.113.1, mac: "02:00:00:00:00:02" }
local: { tap: oi-local0 }
nat:   { ${natLine} }
state: /nonexistent/replay-test
`;

function arpFrame(op: number, srcMac: Uint8Array, srcAddr: number, dstMac: Uint8Array, targetMac: Uint8Array, targetAddr: number): Uint8Array {
  const f = new Uint8Array(60);
  emitEthernet({ dst: dstMac, src: srcMac, etherType: ETHERTYPE.arp }, f, 0);
  emitArp({ operation: op, senderMac: srcMac, senderAddr: srcAddr, targetMac, targetAddr }, f, 14);
  return f;
}

function udpFrame(dstMac: Uint8Array, srcMac: Uint8Array, src: number, dst: number, sport: number, dport: number, ttl: number, payload: string): Uint8Array {
  const data = new TextEncoder().encode(payload);
  const f = new Uint8Array(14 + 20 + 8 + data.length);
  emitEthernet({ dst: dstMac, src: srcMac, etherType: ETHERTYPE.ipv4 }, f, 0);
  emitIpv4({ srcAddr: src, dstAddr: dst, protocol: 17, payloadLength: 8 + data.length, ttl, identification: 0x1234 }, f, 14);
  emitUdp({ srcPort: sport, dstPort: dport, payloadLength: data.length }, data, src, dst, f, 34);
  return f;
}

interface Stamped { readonly ms: number; readonly frame: Uint8Array }

function writeCapture(path: string, frames: readonly Stamped[]): void {
  const w = new PcapWriter(path);
  for (const { ms, frame } of frames) w.write(frame, 0, frame.length, ms);
  w.close();
}

const T0 = 1_733_420_000_000;
/** A host asks for the gateway, sends a datagram out; the WAN gateway answers the router's ARP, then the server replies. */
const LAN_IN: Stamped[] = [
  { ms: T0, frame: arpFrame(ARP_OPERATION.request, HOST_MAC, HOST, BROADCAST_MAC, ZERO_MAC, LAN_ADDR) },
  // What the live gateway answered, recorded in the same capture: skipped as input.
  { ms: T0, frame: arpFrame(ARP_OPERATION.reply, LAN_MAC, LAN_ADDR, HOST_MAC, HOST_MAC, HOST) },
  { ms: T0 + 1.5, frame: udpFrame(LAN_MAC, HOST_MAC, HOST, REMOTE, 40000, 53, 64, 'question') },
];
const WAN_IN: Stamped[] = [
  { ms: T0 + 2.25, frame: arpFrame(ARP_OPERATION.reply, GW_MAC, WAN_GW, WAN_MAC, WAN_MAC, WAN_ADDR) },
  { ms: T0 + 3, frame: udpFrame(WAN_MAC, GW_MAC, REMOTE, WAN_ADDR, 53, 40000, 60, 'answer') },
  // Ten seconds later a stray datagram to a port nobody opened: dropped, and the timer ran meanwhile.
  { ms: T0 + 10_003, frame: udpFrame(WAN_MAC, GW_MAC, REMOTE, WAN_ADDR, 53, 40999, 60, 'stray') },
];

async function withReplay(natLine: string, fn: (run: (seed?: number) => Promise<{ r: ReplayFilesResult; lan: Uint8Array; wan: Uint8Array }>) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'oi-replay-'));
  try {
    await writeFile(join(dir, 'gw.yaml'), config(natLine));
    writeCapture(join(dir, 'lan.pcap'), LAN_IN);
    writeCapture(join(dir, 'wan.pcap'), WAN_IN);
    let n = 0;
    await fn(async (seed) => {
      n++;
      const files = { config: join(dir, 'gw.yaml'), lan: join(dir, 'lan.pcap'), wan: join(dir, 'wan.pcap'), outLan: join(dir, `out-lan-${n}.pcap`), outWan: join(dir, `out-wan-${n}.pcap`) };
      const r = await replayFiles(seed === undefined ? files : { ...files, seed });
      return { r, lan: await readFile(files.outLan), wan: await readFile(files.outWan) };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function framesOf(bytes: Uint8Array, dir: string): Promise<{ hex: string[]; ms: number[] }> {
  const path = join(dir, 'read.pcap');
  await writeFile(path, bytes);
  const f = await readPcapFile(path);
  return {
    hex: Array.from({ length: f.count }, (_, i) => toHex(f.buffer.subarray(f.offsets[i]!, f.offsets[i]! + f.lengths[i]!))),
    ms: Array.from(f.timesMs, (t) => Math.round((t - T0) * 1000) / 1000),
  };
}

test('what the gateway would have sent: ARP answered and asked, the datagram translated both ways, own frames skipped', () => withReplay('preset: rfc', async (run) => {
  const { r, lan, wan } = await run();
  const dir = await mkdtemp(join(tmpdir(), 'oi-replay-read-'));
  try {
    const outLan = await framesOf(lan, dir);
    const outWan = await framesOf(wan, dir);
    // Built from scratch (checksums computed whole), to compare with the router's in-place rewrite.
    assert.deepEqual(outLan.hex, [
      toHex(arpFrame(ARP_OPERATION.reply, LAN_MAC, LAN_ADDR, HOST_MAC, HOST_MAC, HOST)),
      toHex(udpFrame(HOST_MAC, LAN_MAC, REMOTE, HOST, 53, 40000, 59, 'answer')),
    ]);
    assert.deepEqual(outLan.ms, [0, 3], 'stamped with the input frame that caused them');
    assert.deepEqual(outWan.hex, [
      toHex(arpFrame(ARP_OPERATION.request, WAN_MAC, WAN_ADDR, BROADCAST_MAC, ZERO_MAC, WAN_GW)),
      toHex(udpFrame(GW_MAC, WAN_MAC, WAN_ADDR, REMOTE, 40000, 53, 63, 'question')),
    ]);
    assert.deepEqual(outWan.ms, [1.5, 2.25], 'the held datagram leaves when the ARP reply comes');
    assert.deepEqual(r.input, { lan: 3, wan: 3 });
    assert.deepEqual(r.skippedOwn, { lan: 1, wan: 0 });
    assert.deepEqual(r.output, { lan: 2, wan: 2, local: 0 });
    assert.equal(r.ticks, 6, 'the timer across the ten quiet seconds: five ticks one by one, then one at the last second');
    assert.deepEqual(r.router.drops, { 'nat-no-mapping': 1 }, 'the stray datagram, and nothing else');
    assert.deepEqual(r.truncatedBytes, { lan: 0, wan: 0 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}));

test('deterministic: the same captures and seed give byte-identical outputs, with random ports too', () => withReplay('preset: symmetric', async (run) => {
  const a = await run(7);
  const b = await run(7);
  assert.equal(toHex(a.lan), toHex(b.lan));
  assert.equal(toHex(a.wan), toHex(b.wan));
  assert.ok(a.wan.length > 24 && a.lan.length > 24, 'something came out');
  const c = await run(8);
  assert.notEqual(toHex(c.wan), toHex(a.wan), 'another seed draws another external port');
}));

test('the command line: every file is required, the seed is checked', () => {
  assert.throws(() => parseReplayArgs(['--config', 'x']), (e: unknown) => e instanceof ReplayUsageError && /needs --lan/.test(e.message));
  assert.throws(() => parseReplayArgs(['--bogus']), ReplayUsageError);
  const all = ['--config', 'c', '--lan', 'l', '--wan', 'w', '--out-lan', 'ol', '--out-wan', 'ow'];
  assert.deepEqual(parseReplayArgs(all), { config: 'c', lan: 'l', wan: 'w', outLan: 'ol', outWan: 'ow' });
  assert.equal(parseReplayArgs([...all, '--seed', '42']).seed, 42);
  assert.throws(() => parseReplayArgs([...all, '--seed', '1.5']), /--seed must be an integer/);
});

test('a WAN by DHCP cannot be replayed: a clear config error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'oi-replay-dhcp-'));
  try {
    await writeFile(join(dir, 'gw.yaml'), config('preset: rfc').replace('address: 203.0.113.2/24, gateway: 203.0.113.1', 'address: dhcp'));
    writeCapture(join(dir, 'lan.pcap'), LAN_IN);
    await assert.rejects(replayFiles({ config: join(dir, 'gw.yaml'), lan: join(dir, 'lan.pcap'), wan: join(dir, 'lan.pcap'), outLan: join(dir, 'a'), outWan: join(dir, 'b') }),
      /wan\.address: replay needs a static address/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
