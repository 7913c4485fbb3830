/**
 * Offline replay: captured frames through the real router and NAT table, built from a
 * gateway config as the daemon builds them, on the capture's own clock. What the router
 * returns for the LAN and the WAN goes to two FrameTaps (pcap writers), stamped with
 * that clock; what it sends the local port (the gateway's own services, which a replay
 * does not run) is counted.
 *
 * How the inputs are fed:
 *  - The LAN and WAN captures are merged by stamp (on a tie the LAN goes first).
 *  - Consecutive frames of one port with the same stamp form one batch (at most 64),
 *    as the daemon stamps every frame of a received batch with one clock read; a
 *    capture from tcpdump gives batches of one.
 *  - Frames sent by the gateway itself (Ethernet source = its MAC on that port) are
 *    skipped and counted: a daemon capture records both directions of a port.
 *  - The daemon's one-second timer (NAT expiry, reassembly timeouts, ARP retries) runs
 *    at first stamp + 1 s, + 2 s, ...; a quiet gap is crossed with a few ticks, then
 *    one at its end (nothing observable happens in between).
 *  - A frame longer than its port's MTU (a GSO super-frame of a capture taken with
 *    offloads on) is handed to the router as the super-frame it was.
 *  - ARP is replayed like any frame: the router answers requests for its addresses and
 *    learns neighbours from requests and replies in the capture, and frames that wait
 *    for a neighbour go out when its reply comes, as they did live. A capture that
 *    starts after the live gateway learnt a neighbour makes the replay ask for it.
 *
 * Not replayed: the DHCP server (requests are dropped as `dhcp-disabled`), a WAN by
 * DHCP (the config needs a static `wan.address`), port mappings (UPnP, NAT-PMP, PCP),
 * and the local port's own traffic. The frames are rewritten in place in the capture's
 * buffer, as in a receive buffer: keep a copy to use them again.
 */
import { NatTable } from '@openigd/nat-table';
import { ConfigError, type GatewayConfig } from '../config/config.js';
import { planOf, routerAddresses } from '../gateway.js';
import { FrameFlag, createFrameBatch, type FrameBatch } from '../link/index.js';
import { PORT, Router, type RouterCounters, type RouterOutput } from '../router/router.js';
import type { FrameTap } from '../router/forwarder.js';
import { ManualClock } from '../clock.js';
import type { PcapFrames } from '../capture/pcap-reader.js';
import { seededRandom } from './seeded-random.js';

const TICK_MS = 1000;
/** Ticks run one by one across a gap up to this many; ARP gives up after 3 tries. */
const GAP_TICKS = 5;
const BATCH_FRAMES = 64;

export interface ReplayOptions {
  /** Seed of the NAT's port choice when `portAllocation` is random (default 1). */
  readonly seed?: number;
}

export interface ReplaySummary {
  readonly input: { readonly lan: number; readonly wan: number };
  /** Frames of the inputs the gateway had sent itself, not fed back. */
  readonly skippedOwn: { readonly lan: number; readonly wan: number };
  readonly batches: number;
  readonly ticks: number;
  /** Frames the router sent out of each port. */
  readonly output: { readonly lan: number; readonly wan: number; readonly local: number };
  readonly router: RouterCounters;
}

/** True when the frame at `buf[off..]` has Ethernet source `mac`. */
function sentBy(buf: Uint8Array, off: number, len: number, mac: Uint8Array): boolean {
  if (len < 14) return false;
  for (let k = 0; k < 6; k++) if (buf[off + 6 + k] !== mac[k]) return false;
  return true;
}

/**
 * Marks frame `n` of `batch` as the GSO super-frame it was when it is an IPv4 TCP or UDP
 * packet longer than `mtu` (a capture with offloads on records super-frames whole).
 */
function markSuperFrame(batch: FrameBatch, n: number, buf: Uint8Array, off: number, len: number, mtu: number): void {
  batch.flags[n] = 0;
  if (len <= 14 + mtu || buf[off + 12] !== 0x08 || buf[off + 13] !== 0x00) return;
  const ihl = (buf[off + 14]! & 0x0f) * 4;
  const proto = buf[off + 23];
  const l4 = proto === 6 ? ((buf[off + 14 + ihl + 12]! >> 4) * 4) : proto === 17 ? 8 : 0;
  if (l4 === 0) return;
  batch.flags[n] = proto === 6 ? FrameFlag.gsoTcp4 : FrameFlag.gsoUdpL4;
  batch.hdrLen[n] = 14 + ihl + l4;
  batch.gsoSize[n] = mtu - ihl - l4;
}

export class Replay {
  readonly router: Router;
  readonly table: NatTable;
  private readonly clock = new ManualClock();
  /** Where the LAN's and the WAN's output go; the local port's is only counted. */
  private readonly taps: readonly [FrameTap, FrameTap];
  private readonly output = [0, 0, 0];
  private readonly batch = createFrameBatch(BATCH_FRAMES);
  private readonly macs: readonly [Uint8Array, Uint8Array];
  private readonly mtus: readonly [number, number];
  private nextTickMs = -1;
  private readonly input = [0, 0];
  private readonly skippedOwn = [0, 0];
  private batches = 0;
  private ticks = 0;

  constructor(config: GatewayConfig, outputs: { readonly lan: FrameTap; readonly wan: FrameTap }, options: ReplayOptions = {}) {
    const plan = planOf(config);
    if (!plan.wanStatic) throw new ConfigError('wan.address', 'replay needs a static address (a WAN by DHCP is not replayed)');
    const addrs = routerAddresses(config, plan);
    this.table = new NatTable({ ...plan.nat, random: seededRandom(options.seed ?? 1) });
    this.table.setExternalAddress(addrs.wanAddr);
    this.taps = [outputs.lan, outputs.wan];
    this.macs = [addrs.lanMac, addrs.wanMac];
    this.mtus = [config.lan.mtu, config.wan.mtu];
    this.router = new Router(addrs, this.table, this.clock);
  }

  /** Feeds both captures through the router, merged by stamp; may be called again with later captures. */
  run(lan: PcapFrames, wan: PcapFrames): void {
    let i = 0;
    let j = 0;
    while (i < lan.count || j < wan.count) {
      if (j >= wan.count || (i < lan.count && lan.timesMs[i]! <= wan.timesMs[j]!)) i = this.feed(PORT.lan, lan, i);
      else j = this.feed(PORT.wan, wan, j);
    }
  }

  /** Hands the router one batch of `src` starting at frame `k`; returns the index after it. */
  private feed(port: 0 | 1, src: PcapFrames, k: number): number {
    // The stamp is read from the array where it is needed, never passed as an argument:
    // a double passed to a call is boxed, and this runs once per batch.
    const t = src.timesMs[k]!;
    this.tickUntil(src.timesMs, k);
    this.clock.setFrom(src.timesMs, k);
    const batch = this.batch;
    const buf = src.buffer;
    const mac = this.macs[port];
    const mtu = this.mtus[port];
    batch.buffer = buf;
    batch.count = 0;
    while (k < src.count && src.timesMs[k] === t && batch.count < BATCH_FRAMES) {
      const off = src.offsets[k]!;
      const len = src.lengths[k]!;
      k++;
      this.input[port]!++;
      if (sentBy(buf, off, len, mac)) {
        this.skippedOwn[port]!++;
        continue;
      }
      const n = batch.count++;
      batch.offsets[n] = off;
      batch.lengths[n] = len;
      markSuperFrame(batch, n, buf, off, len, mtu);
    }
    if (batch.count > 0) {
      this.batches++;
      this.record(this.router.handle(port, batch));
    }
    return k;
  }

  /**
   * Counts what the router sent and writes the LAN's and the WAN's to their taps (forwarded
   * frames first, as the daemon writes them). Runs once per batch, so it touches only ports
   * that sent something.
   */
  private record(out: RouterOutput): void {
    for (let p = 0; p < 3; p++) {
      const forwarded = out.forwarded[p]!;
      const generated = out.generated[p]!;
      const n = forwarded.count + generated.count;
      if (n === 0) continue;
      this.output[p]! += n;
      if (p === PORT.local) continue;
      const tap = this.taps[p]!;
      if (forwarded.count > 0) this.write(tap, forwarded);
      if (generated.count > 0) this.write(tap, generated);
    }
  }

  /**
   * Hands every frame of `batch` to `tap`, stamped with the clock's time. The stamp is read
   * here rather than passed in: a double passed to a call is boxed, and this runs per batch.
   */
  private write(tap: FrameTap, batch: FrameBatch): void {
    const nowMs = this.clock.now();
    for (let i = 0; i < batch.count; i++) {
      tap.write(batch.buffer, batch.offsets[i]!, batch.lengths[i]!, nowMs, batch.flags[i]!, batch.csumStart[i]!, batch.csumOffset[i]!);
    }
  }

  /** Runs the daemon's one-second timer up to the stamp `times[k]` (the first call starts it). */
  private tickUntil(times: Float64Array, k: number): void {
    const t = times[k]!;
    if (this.nextTickMs < 0) this.nextTickMs = t + TICK_MS;
    let run = 0;
    while (this.nextTickMs <= t) {
      if (run === GAP_TICKS) {
        // The rest of a quiet gap: one tick at its last second does what the others would.
        this.nextTickMs += Math.floor((t - this.nextTickMs) / TICK_MS) * TICK_MS;
      }
      this.tick(this.nextTickMs);
      this.nextTickMs += TICK_MS;
      run++;
    }
  }

  private tick(ms: number): void {
    this.clock.set(ms);
    this.table.expire(ms);
    this.record(this.router.tick());
    this.ticks++;
  }

  summary(): ReplaySummary {
    return {
      input: { lan: this.input[0]!, wan: this.input[1]! },
      skippedOwn: { lan: this.skippedOwn[0]!, wan: this.skippedOwn[1]! },
      batches: this.batches,
      ticks: this.ticks,
      output: { lan: this.output[0]!, wan: this.output[1]!, local: this.output[2]! },
      router: this.router.status(),
    };
  }
}
