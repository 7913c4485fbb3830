/**
 * The router's I/O: the daemon's three links (LAN, WAN, local) and the captures around a
 * Router that only decides. The Forwarder reads each link, hands every received batch to
 * `router.handle`, and writes what it returns, one `writeBatch` per port for the frames
 * forwarded from the receive buffer (in place, no copy) and one for the frames the router
 * made. The timer's `tick` and the WAN DHCP client's messages go through here too, so
 * every frame the router sends is written, and captured, in one place.
 *
 * Captures (`setTaps`, one FrameTap per port or null): a received batch is tapped as it
 * arrives, before the router rewrites its frames in place; what goes out is tapped as it
 * is written; each tap is flushed once per batch. Received and sent frames of one batch
 * carry one stamp, read from the clock once per batch (only while a capture runs).
 */
import type { FrameBatch, Link, LinkCounters, LinkError } from '../link/index.js';
import type { DhcpMessage } from '../dhcp/dhcp-message.js';
import type { Clock } from '../clock.js';
import type { PortId, Router, RouterCounters, RouterOutput } from './router.js';

/** Something that records frames (pcap capture); called per frame, flushed per batch. */
export interface FrameTap {
  /**
   * Records `buf[offset, offset + length)` seen at `nowMs` (the gateway's clock). `flags`,
   * `csumStart`, `csumOffset` are the frame's offload metadata (see FrameBatch): a
   * frame with `FrameFlag.csumPartial` carries a partial L4 checksum that the tap may
   * complete in its own copy. The tap only reads `buf`: the frame is forwarded as it is.
   */
  write(buf: Uint8Array, offset: number, length: number, nowMs: number, flags: number, csumStart: number, csumOffset: number): void;
  flush(): void;
}

/** One tap per port (LAN, WAN, local); null: that port is not captured. */
export type FrameTaps = readonly [FrameTap | null, FrameTap | null, FrameTap | null];

/** One link's counters, named by its device. */
export type LinkStatus = { readonly name: string } & Readonly<LinkCounters>;

/** The router's snapshot with its links' counters: what the admin API's `/status` and the metrics read. */
export interface RouterStatus extends RouterCounters {
  readonly links: { readonly lan: LinkStatus; readonly wan: LinkStatus; readonly local: LinkStatus };
}

/** Hands frames `0 .. count - 1` of `batch`, with their offload metadata, to a capture. */
function tapBatch(tap: FrameTap, batch: FrameBatch, nowMs: number): void {
  for (let i = 0; i < batch.count; i++) {
    tap.write(batch.buffer, batch.offsets[i]!, batch.lengths[i]!, nowMs, batch.flags[i]!, batch.csumStart[i]!, batch.csumOffset[i]!);
  }
}

const NO_TAPS: FrameTaps = [null, null, null];

export class Forwarder {
  private taps: FrameTaps = NO_TAPS;
  private tapping = false;

  /** `clock`: the stamps of captured frames (the router's clock). */
  constructor(private readonly router: Router, private readonly links: readonly [Link, Link, Link], private readonly clock: Clock) {}

  /** Replaces the captures, between batches: captures start and stop at run time. */
  setTaps(taps: FrameTaps): void {
    this.taps = taps;
    this.tapping = taps.some((t) => t !== null);
  }

  /** Starts reading all three links; `onError` hears of a port whose reception stopped (its device is gone). */
  start(onError?: (port: PortId, error: LinkError) => void): void {
    this.links.forEach((link, port) => link.start((rx) => this.onBatch(port as PortId, rx), (e) => onError?.(port as PortId, e)));
  }

  /** The router's periodic work (reassembly timeouts, ARP retries), and what it sends. */
  tick(): void {
    const nowMs = this.tapping ? this.clock.now() : 0;
    this.write(this.router.tick(), nowMs);
  }

  /**
   * Sends a WAN DHCP client message (see `Router.sendWanDhcp`): between batches it is
   * written at once; while a batch is handled it leaves with that batch's output.
   */
  sendWanDhcp(message: DhcpMessage, to: number | 'broadcast'): void {
    const nowMs = this.tapping ? this.clock.now() : 0;
    const out = this.router.sendWanDhcp(message, to);
    if (out) this.write(out, nowMs);
  }

  /**
   * Writes frames made beside the router (the userspace TCP endpoint's, service-tcp.ts) out
   * of `port`, captured like the router's own. The batch is the caller's; it is written now.
   */
  transmit(port: PortId, batch: FrameBatch): void {
    const tap = this.taps[port];
    this.send(port, batch, tap ? this.clock.now() : 0);
    tap?.flush();
  }

  /** The router's counters with the links': copies, in the order `/status` shows them. */
  status(): RouterStatus {
    const r = this.router.status();
    const link = (i: 0 | 1 | 2): LinkStatus => ({ name: this.links[i].name, ...this.links[i].counters });
    return { stats: r.stats, drops: r.drops, links: { lan: link(0), wan: link(1), local: link(2) }, neighbours: r.neighbours, nat: r.nat, fragments: r.fragments };
  }

  private onBatch(port: PortId, rx: FrameBatch): void {
    const nowMs = this.tapping ? this.clock.now() : 0;
    const tap = this.taps[port];
    if (tap) tapBatch(tap, rx, nowMs);
    this.write(this.router.handle(port, rx), nowMs);
  }

  /** Writes the router's output, port by port (forwarded frames first), and captures it at `nowMs`. */
  private write(out: RouterOutput, nowMs: number): void {
    for (let p = 0; p < 3; p++) {
      if (out.forwarded[p]!.count > 0) this.send(p, out.forwarded[p]!, nowMs);
      if (out.generated[p]!.count > 0) this.send(p, out.generated[p]!, nowMs);
      this.taps[p]?.flush();
    }
  }

  /** Writes `batch` out of port `port`, captured (not flushed) at `nowMs` when that port has a tap. */
  private send(port: number, batch: FrameBatch, nowMs: number): void {
    const tap = this.taps[port];
    if (tap) tapBatch(tap, batch, nowMs);
    this.links[port]!.writeBatch(batch);
  }
}
