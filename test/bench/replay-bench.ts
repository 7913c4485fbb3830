/**
 * `npm run bench:replay` (issue 13, acceptance 5): replay of 100,000 frames through the
 * real router and NAT table, in frames per second, two ways in one run:
 *   - the replay alone: captures already in memory, what the gateway sends counted by
 *     a tap that keeps nothing (no file read or write, no copy of the output);
 *   - the whole command: `replayFiles` reads the config and both pcap files, replays,
 *     and writes both output pcaps (with their copies and fsync).
 * The frames are made here: 250 LAN hosts, each with 2 UDP and 2 TCP flows to 50 servers
 * (64-byte payloads), the hosts' and the WAN gateway's ARP first, then alternating bursts
 * of 32 frames out of the LAN and 32 replies from the WAN. Two stampings: "batched"
 * (a burst shares one stamp, as the daemon stamps a received batch: batches of 32) and
 * "per frame" (every frame its own stamp, as tcpdump gives: batches of one).
 * It also counts garbage collections during the timed replays (the hot loop allocates
 * nothing per frame, so there should be next to none). Target: >= 1 M frames/s.
 *
 *   node test/dist/bench/replay-bench.js [--frames N] [--rounds R] [--keep]
 *
 * `--keep` leaves the generated captures and config in the temporary folder (printed) to try `openigd replay` on.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ARP_OPERATION, BROADCAST_MAC, ETHERTYPE, emitArp, emitEthernet, emitIpv4, emitTcp, emitUdp } from '@openigd/nat-table';
import { PcapWriter, Replay, parseConfig, readPcapFile, replayFiles, type FrameTap, type PcapFrames } from '@openigd/gateway';
import { runBench } from './lib/bench-main.js';

const HOSTS = 250;
const FLOWS_PER_HOST = 4;
const SERVERS = 50;
const BURST = 32;
const PAYLOAD = 64;
const T0 = 1_733_420_000_000;

const LAN_MAC = Uint8Array.of(2, 0, 0, 0, 0, 1);
const WAN_MAC = Uint8Array.of(2, 0, 0, 0, 0, 2);
const GW_MAC = Uint8Array.of(2, 0, 0, 0, 0, 0xbb);
const ZERO_MAC = new Uint8Array(6);
const LAN_ADDR = 0xc0a80101; // 192.168.1.1
const WAN_ADDR = 0xcb007102; // 203.0.113.2
const WAN_GW = 0xcb007101; // 203.0.113.1
const CONFIG = `
lan:   { tap: oi-lan0, address: 192.168.1.1/24, mac: "02:00:00:00:00:01" }
wan:   { tap: oi-wan0, address: 203.0.113.2/24, gateway: 203.0.113.1, mac: "02:00:00:00:00:02" }
local: { tap: oi-local0 }
nat:   { preset: rfc, capacity: 65536 }
state: /nonexistent/replay-bench
`;

const hostMac = (h: number): Uint8Array => Uint8Array.of(2, 0x10, 0, 0, h >> 8, h & 0xff);
const hostAddr = (h: number): number => 0xc0a80102 + h; // 192.168.1.2 ...
const serverAddr = (f: number): number => 0xc6336400 + 1 + (f % SERVERS); // 198.51.100.x
/** Internal ports are distinct across hosts, so the NAT (port preservation) keeps them: replies go to the same port. */
const intPort = (f: number): number => 10_000 + f;

/** Writes one frame at `stampMs`. */
type Put = (frame: Uint8Array, length: number, stampMs: number) => void;

function arp(buf: Uint8Array, op: number, srcMac: Uint8Array, srcAddr: number, dstMac: Uint8Array, targetMac: Uint8Array, targetAddr: number): number {
  buf.fill(0, 0, 60);
  emitEthernet({ dst: dstMac, src: srcMac, etherType: ETHERTYPE.arp }, buf, 0);
  emitArp({ operation: op, senderMac: srcMac, senderAddr: srcAddr, targetMac, targetAddr }, buf, 14);
  return 60;
}

/** Frame `k` of flow `f`, out of the LAN (`outbound`) or its reply from the WAN. */
function flowFrame(buf: Uint8Array, payload: Uint8Array, f: number, k: number, outbound: boolean): number {
  const h = Math.floor(f / FLOWS_PER_HOST);
  const tcp = f % FLOWS_PER_HOST >= 2;
  const [src, dst] = outbound ? [hostAddr(h), serverAddr(f)] : [serverAddr(f), WAN_ADDR];
  const [sport, dport] = outbound ? [intPort(f), tcp ? 443 : 53] : [tcp ? 443 : 53, intPort(f)];
  emitEthernet(outbound ? { dst: LAN_MAC, src: hostMac(h), etherType: ETHERTYPE.ipv4 } : { dst: WAN_MAC, src: GW_MAC, etherType: ETHERTYPE.ipv4 }, buf, 0);
  const l4 = (tcp ? 20 : 8) + PAYLOAD;
  emitIpv4({ srcAddr: src, dstAddr: dst, protocol: tcp ? 6 : 17, payloadLength: l4, ttl: 64, identification: k & 0xffff }, buf, 14);
  if (tcp) emitTcp({ srcPort: sport, dstPort: dport, seqNumber: 1000 + k * PAYLOAD, ackNumber: 1, flags: k === 0 ? 0x02 : 0x18, window: 65535, payloadLength: PAYLOAD }, payload, src, dst, buf, 34);
  else emitUdp({ srcPort: sport, dstPort: dport, payloadLength: PAYLOAD }, payload, src, dst, buf, 34);
  return 14 + 20 + l4;
}

/** The two captures' frames, `total` in all; `batched` gives a burst one stamp. */
function makeCaptures(total: number, batched: boolean, lan: Put, wan: Put): void {
  const buf = new Uint8Array(2048);
  const payload = Uint8Array.from({ length: PAYLOAD }, (_, i) => i);
  let t = T0;
  let n = 0;
  for (let h = 0; h < HOSTS && n < total; h++, n++) lan(buf, arp(buf, ARP_OPERATION.request, hostMac(h), hostAddr(h), BROADCAST_MAC, ZERO_MAC, LAN_ADDR), t += 0.001);
  wan(buf, arp(buf, ARP_OPERATION.request, GW_MAC, WAN_GW, BROADCAST_MAC, ZERO_MAC, WAN_ADDR), t += 0.001);
  n++;
  const flows = HOSTS * FLOWS_PER_HOST;
  for (let burst = 0; n < total; burst++) {
    const outbound = burst % 2 === 0;
    const put = outbound ? lan : wan;
    t += batched ? 0.02 : 0;
    for (let i = 0; i < BURST && n < total; i++, n++) {
      const seq = Math.floor(burst / 2) * BURST + i;
      const f = seq % flows;
      put(buf, flowFrame(buf, payload, f, Math.floor(seq / flows), outbound), batched ? t : (t += 0.001));
    }
  }
}

/** A tap that counts what it is given and keeps nothing. */
class CountingTap implements FrameTap {
  frames = 0;
  bytes = 0;
  write(_buf: Uint8Array, _offset: number, length: number): void {
    this.frames++;
    this.bytes += length;
  }
  flush(): void {}
}

function copyFrames(f: PcapFrames): PcapFrames {
  return { ...f, buffer: f.buffer.slice() };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number): string => `${(n / 1e6).toFixed(2)} M`;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { frames: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '7' }, keep: { type: 'boolean', default: false } } });
  const total = Number(values.frames);
  const rounds = Number(values.rounds);
  console.log(`replay-bench: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ${total.toLocaleString()} frames, ${rounds} rounds each (median)`);
  const config = parseConfig(CONFIG);
  const dir = await mkdtemp(join(tmpdir(), 'oi-replay-bench-'));
  let gcs = 0;
  const obs = new PerformanceObserver((list) => { gcs += list.getEntries().length; });
  obs.observe({ entryTypes: ['gc'] });
  try {
    await writeFile(join(dir, 'gw.yaml'), CONFIG);
    console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} (the machine is shared: per CPU-second is the figure contention moves least)`);
    console.log('| stamping | batches | frames out | replay alone (frames/s) | replay alone (frames per CPU-second) | GCs in the timed replays | whole command, files in and out (frames/s) |');
    console.log('|---|---|---|---|---|---|---|');
    let worst = Infinity;
    for (const batched of [true, false]) {
      const paths = { lan: join(dir, 'lan.pcap'), wan: join(dir, 'wan.pcap') };
      const lanW = new PcapWriter(paths.lan, 262_144);
      const wanW = new PcapWriter(paths.wan, 262_144);
      makeCaptures(total, batched, (b, len, t) => lanW.write(b, 0, len, t), (b, len, t) => wanW.write(b, 0, len, t));
      lanW.close();
      wanW.close();
      const lan = await readPcapFile(paths.lan);
      const wan = await readPcapFile(paths.wan);
      const frames = lan.count + wan.count;

      const alone: number[] = [];
      const aloneCpu: number[] = [];
      let out = 0;
      let batches = 0;
      gcs = 0;
      let gcsTimed = 0;
      for (let r = 0; r < rounds + 2; r++) {
        // Outside the timing: a fresh gateway and fresh copies (the replay rewrites frames in place).
        const [l, w] = [copyFrames(lan), copyFrames(wan)];
        const taps = { lan: new CountingTap(), wan: new CountingTap() };
        const replay = new Replay(config, taps);
        const before = gcs;
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        replay.run(l, w);
        const ms = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        // The observer hears of collections asynchronously: let it run before reading.
        await new Promise((resolve) => setImmediate(resolve));
        if (r < 2) continue; // warm-up
        gcsTimed += gcs - before;
        alone.push(frames / (ms / 1000));
        aloneCpu.push(frames / ((cpu.user + cpu.system) / 1e6));
        out = taps.lan.frames + taps.wan.frames;
        batches = replay.summary().batches;
      }

      const whole: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now();
        await replayFiles({ config: join(dir, 'gw.yaml'), ...paths, outLan: join(dir, 'out-lan.pcap'), outWan: join(dir, 'out-wan.pcap') });
        whole.push(frames / ((performance.now() - t0) / 1000));
      }
      const a = median(alone);
      worst = Math.min(worst, a);
      console.log(`| ${batched ? `batched (${BURST} per stamp)` : 'per frame'} | ${batches.toLocaleString()} | ${out.toLocaleString()} of ${frames.toLocaleString()} | ${fmt(a)} | ${fmt(median(aloneCpu))} | ${gcsTimed} in ${rounds} | ${fmt(median(whole))} |`);
    }
    console.log(`target >= 1 M frames/s for the replay alone: ${worst >= 1e6 ? 'met' : 'NOT met'} (slowest stamping ${fmt(worst)})`);
    return 0;
  } finally {
    obs.disconnect();
    if (values.keep) console.log(`captures of the last stamping kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

await runBench('replay-bench', main);
