/**
 * A TAP device as a Link, through our N-API addon (gateway/native/tap.c). The fd is
 * non-blocking and watched with uv_poll; each wakeup drains up to `batchFrames` frames
 * into one preallocated buffer (one slot per frame) and makes one JavaScript call.
 *
 * With `vnetHdr` (the default) every frame on the fd carries a 12-byte virtio-net header:
 * on receive it is decoded into the batch's metadata and the frame handed up starts
 * after it; on transmit it is built from the metadata (all zero for a plain frame), so a
 * forwarded GSO super-frame or partial checksum continues out of this TAP. With
 * `offloads` the kernel may also send us super-frames (TSO/USO) and partial checksums;
 * without `vnetHdr`, frames written with such metadata are segmented and checksummed
 * here in software. With `offloads` (and `coalesceUdp`, the default), runs of small UDP
 * datagrams of one flow are written as one USO super-frame that the kernel segments
 * again (udp-coalesce.ts): one syscall for the run instead of one per datagram.
 *
 * It must not throw on a bad frame (dropped and counted), keep the caller's batch after
 * `writeBatch`, or leave the fd in the event loop after `close`.
 */
import { createRequire } from 'node:module';
import { FrameFlag, createFrameBatch, isGso, type FrameBatch } from './frame-batch.js';
import { GsoSegmenter } from './gso.js';
import { BATCH_SLOTS, LinkError, completeInSoftware, newCounters, type Link, type LinkState } from './link.js';
import { UdpCoalescer } from './udp-coalesce.js';
import { VNET_HDR_BYTES, VirtioGso, VnetHdrStatus, decodeVnetHdr, encodeVnetHdr } from './vnet-header.js';
import { ip } from '../exec.js';

/** The addon's functions, as gateway/native/tap.c defines them. */
export interface TapAddon {
  openTap(name: string, options?: { vnetHdr?: boolean; multiQueue?: boolean; offloads?: boolean; blocking?: boolean }):
    { fd: number; name: string; mtu: number; offloads: number };
  startReader(fd: number, buffer: Uint8Array, lengths: Int32Array, callback: (count: number, error?: string) => void, yieldAfterBatch?: boolean): number;
  stopReader(readerId: number): void;
  writeBatch(fd: number, buffer: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number, vnetHdrs?: Uint8Array | null): number;
  closeTap(fd: number): void;
  kernelState(fd: number): LinkState;
  readonly VNET_HDR_BYTES: number;
}

let addon: TapAddon | null = null;

/** Loads the addon that `npm ci` builds with node-gyp; a LinkError says how when it is missing. */
export function loadTapAddon(): TapAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  try {
    addon = require('../../build/Release/openigd_tap.node') as TapAddon;
  } catch (cause) {
    throw new LinkError('ERR_OPENIGD_TAP_ADDON',
      'the TAP addon gateway/build/Release/openigd_tap.node is not built: run `npm ci`, or `npm run install -w @openigd/gateway`',
      { cause });
  }
  return addon;
}

export interface TapLinkOptions {
  /** Frames carry a virtio-net header (default true). */
  readonly vnetHdr?: boolean;
  /** Ask the kernel for TSO/USO super-frames and partial checksums (needs vnetHdr; default false). */
  readonly offloads?: boolean;
  /** Open with IFF_MULTI_QUEUE (each TapLink is then one queue of the device). */
  readonly multiQueue?: boolean;
  /** Frames per received batch (default 64). */
  readonly batchFrames?: number;
  /** Sets the kernel side's MTU; otherwise the link reports the MTU the device had when opened. */
  readonly mtu?: number;
  /** Moves the kernel side into this existing network namespace. */
  readonly netns?: string;
  /** MAC of the kernel side (aa:bb:cc:dd:ee:ff). */
  readonly kernelMac?: string;
  /** Addresses (a.b.c.d/n) to put on the kernel side, in its namespace. */
  readonly kernelAddresses?: readonly string[];
  /** Brings the kernel side up (default true). */
  readonly up?: boolean;
  /**
   * With `offloads`, writes runs of UDP datagrams of one flow as one USO super-frame
   * that the kernel segments (default true); see udp-coalesce.ts.
   */
  readonly coalesceUdp?: boolean;
  /**
   * After each received batch has been handled, give the CPU to any task waiting for it
   * on this core (sched_yield) before reading the next (default true). Forwarding a
   * batch wakes the processes it was for; on a host where the gateway shares cores with
   * them (the lab, a container), a receiver woken on the gateway's core otherwise waits
   * out the gateway's time slice while its socket buffer overflows, so the gateway does
   * work that is thrown away. Alone on its core the call returns at once.
   */
  readonly yieldAfterBatch?: boolean;
}

/** Frames the TS side stages per addon write call. */
const TX_CHUNK = 256;
const ETHERNET_HEADER_BYTES = 14;
/** A slot big enough for a 64 KiB IP super-frame: header + Ethernet + VLAN + 65535, rounded. */
const GSO_SLOT_BYTES = 65_568;

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export class TapLink implements Link {
  readonly counters = newCounters();
  readonly offloads: boolean;
  readonly maxBatchFrames: number;
  /** Bytes per receive slot. */
  readonly slotBytes: number;
  private readonly vnetHdr: boolean;
  private readonly hdrBytes: number;
  private readonly rxBuffer: Uint8Array;
  private readonly readLengths: Int32Array;
  private readonly rx: FrameBatch;
  private readonly txOffsets = new Int32Array(TX_CHUNK);
  private readonly txLengths = new Int32Array(TX_CHUNK);
  private readonly txHdrs: Uint8Array;
  private readonly segmenter: GsoSegmenter | null;
  /** Merges runs of UDP datagrams into USO super-frames on write (offloads on); null when off or refused. */
  private coalescer: UdpCoalescer | null;
  private readonly yieldAfterBatch: boolean;
  private readonly superOffsets = new Int32Array(1);
  private readonly superLengths = new Int32Array(1);
  private readonly superHdr = new Uint8Array(VNET_HDR_BYTES);
  private readerId = 0;
  private started = false;
  private closed = false;

  private constructor(
    private readonly tap: TapAddon,
    readonly name: string,
    /** The TAP's file descriptor (owned by the link; closed by `close`). */
    readonly fd: number,
    readonly mtu: number,
    options: TapLinkOptions,
  ) {
    this.vnetHdr = options.vnetHdr ?? true;
    this.offloads = this.vnetHdr && (options.offloads ?? false);
    this.hdrBytes = this.vnetHdr ? VNET_HDR_BYTES : 0;
    this.maxBatchFrames = Math.max(1, Math.floor(options.batchFrames ?? BATCH_SLOTS));
    this.slotBytes = this.offloads ? GSO_SLOT_BYTES : roundUp(this.hdrBytes + ETHERNET_HEADER_BYTES + 4 + Math.max(mtu, 1500), 512);
    this.rxBuffer = new Uint8Array(this.maxBatchFrames * this.slotBytes);
    this.readLengths = new Int32Array(this.maxBatchFrames);
    this.rx = createFrameBatch(this.maxBatchFrames, this.rxBuffer);
    this.txHdrs = new Uint8Array(this.vnetHdr ? TX_CHUNK * VNET_HDR_BYTES : 0);
    this.segmenter = this.vnetHdr ? null : new GsoSegmenter();
    this.coalescer = this.offloads && (options.coalesceUdp ?? true) ? new UdpCoalescer() : null;
    this.yieldAfterBatch = options.yieldAfterBatch ?? true;
  }

  /**
   * Creates the TAP `name` (or attaches to it, if it exists and is free), then, as the
   * options ask, moves its kernel side into a namespace and configures it there.
   * Throws a LinkError whose `code` is the errno name: ENOENT (no /dev/net/tun), EPERM
   * (not root), EBUSY (attached elsewhere), EINVAL (bad name or mismatched flags).
   */
  static async open(name: string, options: TapLinkOptions = {}): Promise<TapLink> {
    const tap = loadTapAddon();
    const vnetHdr = options.vnetHdr ?? true;
    let opened: ReturnType<TapAddon['openTap']>;
    try {
      opened = tap.openTap(name, { vnetHdr, offloads: vnetHdr && (options.offloads ?? false), multiQueue: options.multiQueue ?? false });
    } catch (cause) {
      const code = typeof (cause as { code?: unknown }).code === 'string' ? (cause as { code: string }).code : 'ERR_OPENIGD_TAP';
      throw new LinkError(code, `cannot open TAP ${name}: ${(cause as Error).message}`, { cause });
    }
    const link = new TapLink(tap, opened.name, opened.fd, options.mtu ?? (opened.mtu > 0 ? opened.mtu : 1500), options);
    try {
      const ns = options.netns;
      if (ns) await ip(undefined, 'link', 'set', 'dev', opened.name, 'netns', ns);
      if (options.kernelMac) await ip(ns, 'link', 'set', 'dev', opened.name, 'address', options.kernelMac);
      if (options.mtu) await ip(ns, 'link', 'set', 'dev', opened.name, 'mtu', String(options.mtu));
      for (const addr of options.kernelAddresses ?? []) await ip(ns, 'addr', 'add', addr, 'dev', opened.name);
      if (options.up ?? true) await ip(ns, 'link', 'set', 'dev', opened.name, 'up');
    } catch (cause) {
      link.close();
      throw new LinkError('ERR_OPENIGD_TAP_SETUP', `cannot set up TAP ${opened.name}: ${(cause as Error).message}`, { cause });
    }
    return link;
  }

  start(onBatch: (batch: FrameBatch) => void, onError?: (error: LinkError) => void): void {
    if (this.closed || this.started) return;
    this.started = true;
    const { rx, readLengths, slotBytes, hdrBytes, vnetHdr, rxBuffer, counters: c } = this;
    const maxFrame = slotBytes - hdrBytes;
    this.readerId = this.tap.startReader(this.fd, rxBuffer, readLengths, (count: number, error?: string) => {
      let n = 0;
      for (let i = 0; i < count; i++) {
        const got = readLengths[i]!;
        const slot = i * slotBytes;
        const frameLength = got - hdrBytes;
        // tun reports the full length of a frame it had to truncate to fit the slot.
        if (frameLength < ETHERNET_HEADER_BYTES || frameLength > maxFrame) {
          c.rxDrops++;
          continue;
        }
        if (vnetHdr) {
          if (decodeVnetHdr(rxBuffer, slot, frameLength, rx, n) !== VnetHdrStatus.ok) {
            c.rxDrops++;
            continue;
          }
          if (isGso(rx.flags[n]!)) c.rxGsoFrames++;
        } else {
          rx.flags[n] = 0;
        }
        rx.offsets[n] = slot + hdrBytes;
        rx.lengths[n] = frameLength;
        c.rxBytes += frameLength;
        n++;
      }
      rx.count = n;
      if (n > 0) {
        c.rxFrames += n;
        c.rxBatches++;
        onBatch(rx);
      }
      if (error !== undefined) {
        this.readerId = 0;
        onError?.(new LinkError(error, `TAP ${this.name}: reading stopped (${error})`));
      }
    }, this.yieldAfterBatch);
  }

  writeBatch(batch: FrameBatch): number {
    const n = batch.count;
    if (n <= 0) return 0;
    const c = this.counters;
    c.txBatches++;
    if (this.closed) {
      c.txDrops += n;
      return 0;
    }
    const buf = batch.buffer;
    const hdrs = this.vnetHdr ? this.txHdrs : null;
    let sent = 0;
    let staged = 0;
    for (let i = 0; i < n; i++) {
      const off = batch.offsets[i]!;
      const len = batch.lengths[i]!;
      if (!(off >= 0 && len >= ETHERNET_HEADER_BYTES && off + len <= buf.length)) {
        c.txDrops++;
        continue;
      }
      const flags = batch.flags[i]!;
      if (hdrs && this.coalescer) {
        const run = this.coalescer.coalesce(batch, i);
        if (run >= 2) {
          // Frames staged before the run go first: the order on the wire is kept.
          sent += this.flush(buf, staged, hdrs);
          staged = 0;
          const got = this.writeSuperFrame();
          if (got >= 0) {
            sent += got;
            i += run - 1;
            continue;
          }
          // Refused: coalescing is now off, and this frame and the rest go one by one.
        }
      }
      if (!hdrs && flags !== 0) {
        if (isGso(flags)) {
          sent += this.flush(buf, staged, null);
          staged = 0;
          sent += this.writeSegmented(batch, i);
          continue;
        }
        if ((flags & FrameFlag.csumPartial) && !completeInSoftware(batch, i, c)) continue;
      }
      this.txOffsets[staged] = off;
      this.txLengths[staged] = len;
      if (hdrs) encodeVnetHdr(batch, i, hdrs, staged * VNET_HDR_BYTES);
      if (++staged === TX_CHUNK) {
        sent += this.flush(buf, staged, hdrs);
        staged = 0;
      }
    }
    return sent + this.flush(buf, staged, hdrs);
  }

  /** The state of the TAP's kernel side (in whatever namespace it is): see `Link.kernelState`. */
  kernelState(): LinkState {
    return this.closed ? 'gone' : this.tap.kernelState(this.fd);
  }

  /** Stops reading, then closes the fd; a non-persistent TAP disappears with it. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.readerId) this.tap.stopReader(this.readerId);
    this.readerId = 0;
    this.tap.closeTap(this.fd);
  }

  /**
   * Writes the super-frame the coalescer just built. Returns how many datagrams went out
   * (all of them, or 0 when the device queue was full: counted as drops like any frame
   * that did not fit), or -1 when the kernel refused it (no USO on TAPs): coalescing is
   * then turned off for this link and nothing is counted.
   */
  private writeSuperFrame(): number {
    const co = this.coalescer!;
    const c = this.counters;
    const h = this.superHdr;
    h.fill(0);
    h[0] = FrameFlag.csumPartial;
    h[1] = VirtioGso.udpL4;
    h[2] = UdpCoalescer.hdrLen;
    h[4] = co.gsoSize & 0xff;
    h[5] = co.gsoSize >> 8;
    h[6] = UdpCoalescer.csumStart;
    h[8] = UdpCoalescer.csumOffset;
    this.superOffsets[0] = 0;
    this.superLengths[0] = co.length;
    const written = this.tap.writeBatch(this.fd, co.buffer, this.superOffsets, this.superLengths, 1, h);
    if (written === 1) {
      c.txFrames += co.segments;
      c.txBytes += co.frameBytes;
      c.txCoalesced++;
      return co.segments;
    }
    if (this.superLengths[0]! < 0) {
      this.coalescer = null;
      return -1;
    }
    c.txDrops += co.segments;
    return 0;
  }

  /** Writes a software-segmented super-frame; 1 when every segment went out. */
  private writeSegmented(batch: FrameBatch, i: number): number {
    const c = this.counters;
    const segments = this.segmenter!.segment(batch, i);
    if (segments <= 0) {
      c.txDrops++;
      return 0;
    }
    c.txSoftwareGso++;
    const out = this.segmenter!.out;
    for (let s = 0; s < segments; s++) {
      this.txOffsets[s] = out.offsets[s]!;
      this.txLengths[s] = out.lengths[s]!;
    }
    return this.flush(out.buffer, segments, null) === segments ? 1 : 0;
  }

  /** Hands `count` staged frames of `buf` to the addon; counts what went; returns how many. */
  private flush(buf: Uint8Array, count: number, hdrs: Uint8Array | null): number {
    if (count === 0) return 0;
    const c = this.counters;
    const lengths = this.txLengths;
    const written = this.tap.writeBatch(this.fd, buf, this.txOffsets, lengths, count, hdrs);
    // The addon marks a frame the kernel refused with -errno and stops at EAGAIN: the
    // written frames are the first `written` entries still positive.
    let w = 0;
    for (let j = 0; j < count && w < written; j++) {
      const len = lengths[j]!;
      if (len > 0) {
        c.txBytes += len;
        w++;
      }
    }
    c.txFrames += written;
    c.txDrops += count - written;
    return written;
  }
}
