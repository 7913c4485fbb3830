/**
 * An in-memory link pair: a wire with a queue at each end. Frames written on one end are
 * copied (with their offload metadata) into the other end's queue and delivered there
 * from a later turn of the event loop (setImmediate), at most `batchFrames` per
 * `onBatch` call, one batch per turn. It lets the whole router run in tests without a
 * kernel, through the same Link interface and contract as the TAP link.
 *
 * The queue is a ring of preallocated batches; nothing is allocated per frame. When
 * the receiving queue is full, or either end is closed, written frames are dropped and
 * counted in the writer's `txDrops`, as a device queue would drop them.
 * With `offloads: false` the pair behaves like TAPs without IFF_VNET_HDR: the writer
 * segments super-frames and completes partial checksums in software, and every frame
 * arrives plain.
 *
 * It must not deliver a frame in the same turn it was written (no re-entrancy into the
 * router), nor after `close`.
 */
import { FrameFlag, createFrameBatch, isGso, type FrameBatch } from '../link/frame-batch.js';
import { GsoSegmenter } from '../link/gso.js';
import { LinkError, completeInSoftware, newCounters, type Link } from '../link/link.js';

export interface MemoryLinkOptions {
  /** MTU reported by both ends (default 1500). */
  readonly mtu?: number;
  /** Whether frames keep their GSO/partial-checksum metadata across the wire (default true). */
  readonly offloads?: boolean;
  /** Most frames per delivered batch (default 64). */
  readonly batchFrames?: number;
  /** Bytes of one queued batch's buffer (default 256 KiB; a frame larger than this is dropped). */
  readonly batchBytes?: number;
  /** Batches each end's queue holds (default 16). */
  readonly queueBatches?: number;
}

const MIN_FRAME_BYTES = 14;

export class MemoryLink implements Link {
  readonly counters = newCounters();
  readonly mtu: number;
  readonly offloads: boolean;
  readonly maxBatchFrames: number;
  private peer: MemoryLink | null = null;
  private onBatch: ((batch: FrameBatch) => void) | null = null;
  private closed = false;
  private scheduled = false;
  /** Receive queue: ring of batches; `fill` is being written, `next` is delivered next. */
  private readonly ring: FrameBatch[];
  private readonly used: Int32Array;
  private fill = 0;
  private next = 0;
  private readonly segmenter: GsoSegmenter | null;

  private constructor(readonly name: string, options: MemoryLinkOptions) {
    this.mtu = options.mtu ?? 1500;
    this.offloads = options.offloads ?? true;
    this.maxBatchFrames = options.batchFrames ?? 64;
    const batchBytes = options.batchBytes ?? 256 * 1024;
    const queueBatches = Math.max(2, options.queueBatches ?? 16);
    this.ring = Array.from({ length: queueBatches }, () => createFrameBatch(this.maxBatchFrames, new Uint8Array(batchBytes)));
    this.used = new Int32Array(queueBatches);
    this.segmenter = this.offloads ? null : new GsoSegmenter();
  }

  /** Two connected ends. */
  static pair(nameA: string, nameB: string, options: MemoryLinkOptions = {}): [MemoryLink, MemoryLink] {
    const a = new MemoryLink(nameA, options);
    const b = new MemoryLink(nameB, options);
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  /** True while both ends are open. */
  get connected(): boolean {
    return !this.closed && this.peer !== null && !this.peer.closed;
  }

  start(onBatch: (batch: FrameBatch) => void, _onError?: (error: LinkError) => void): void {
    if (this.closed || this.onBatch) return;
    this.onBatch = onBatch;
    this.schedule();
  }

  writeBatch(batch: FrameBatch): number {
    const n = batch.count;
    if (n <= 0) return 0;
    const c = this.counters;
    c.txBatches++;
    const peer = this.connected ? this.peer : null;
    const buf = batch.buffer;
    let sent = 0;
    for (let i = 0; i < n; i++) {
      const off = batch.offsets[i]!;
      const len = batch.lengths[i]!;
      if (!peer || !(off >= 0 && len >= MIN_FRAME_BYTES && off + len <= buf.length)) {
        c.txDrops++;
        continue;
      }
      const flags = batch.flags[i]!;
      if (this.segmenter && flags !== 0) {
        if (isGso(flags)) {
          const segments = this.segmenter.segment(batch, i);
          if (segments <= 0) {
            c.txDrops++;
            continue;
          }
          c.txSoftwareGso++;
          const out = this.segmenter.out;
          let ok = 0;
          for (let s = 0; s < out.count; s++) ok += this.send(peer, out, s, false);
          if (ok === segments) sent++;
          continue;
        }
        if ((flags & FrameFlag.csumPartial) && !completeInSoftware(batch, i, c)) continue;
      }
      sent += this.send(peer, batch, i, this.offloads);
    }
    return sent;
  }

  /** Test helper: queues one plain frame at this end as if it came off the wire. */
  inject(frame: Uint8Array): boolean {
    if (this.closed || frame.length < MIN_FRAME_BYTES) return false;
    const ok = this.enqueue(frame, 0, frame.length, null, 0);
    if (ok) this.schedule();
    return ok;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onBatch = null;
    for (const b of this.ring) b.count = 0;
    this.used.fill(0);
  }

  /** Copies frame i of `from` into the peer's queue; 1 when it went, 0 when dropped. */
  private send(peer: MemoryLink, from: FrameBatch, i: number, keepMeta: boolean): number {
    const c = this.counters;
    const len = from.lengths[i]!;
    if (!peer.enqueue(from.buffer, from.offsets[i]!, len, keepMeta ? from : null, i)) {
      c.txDrops++;
      return 0;
    }
    c.txFrames++;
    c.txBytes += len;
    peer.schedule();
    return 1;
  }

  private enqueue(src: Uint8Array, off: number, len: number, meta: FrameBatch | null, i: number): boolean {
    const ring = this.ring;
    let b = ring[this.fill]!;
    if (b.count >= b.offsets.length || this.used[this.fill]! + len > b.buffer.length) {
      const after = (this.fill + 1) % ring.length;
      if (after === this.next || ring[after]!.count > 0 || len > ring[after]!.buffer.length) return false;
      this.fill = after;
      b = ring[after]!;
    }
    const at = this.used[this.fill]!;
    b.buffer.set(src.subarray(off, off + len), at);
    const n = b.count;
    b.offsets[n] = at;
    b.lengths[n] = len;
    b.flags[n] = meta ? meta.flags[i]! : 0;
    b.gsoSize[n] = meta ? meta.gsoSize[i]! : 0;
    b.hdrLen[n] = meta ? meta.hdrLen[i]! : 0;
    b.csumStart[n] = meta ? meta.csumStart[i]! : 0;
    b.csumOffset[n] = meta ? meta.csumOffset[i]! : 0;
    b.count = n + 1;
    this.used[this.fill] = at + len;
    return true;
  }

  private schedule(): void {
    if (this.scheduled || this.closed || !this.onBatch || this.ring[this.next]!.count === 0) return;
    this.scheduled = true;
    setImmediate(() => this.deliver());
  }

  /** Delivers the oldest queued batch; writes made meanwhile go to a later batch. */
  private deliver(): void {
    this.scheduled = false;
    const onBatch = this.onBatch;
    if (this.closed || !onBatch) return;
    const ring = this.ring;
    const k = this.next;
    const b = ring[k]!;
    if (b.count === 0) return;
    if (this.fill === k) this.fill = (k + 1) % ring.length;
    const c = this.counters;
    c.rxBatches++;
    c.rxFrames += b.count;
    for (let i = 0; i < b.count; i++) {
      c.rxBytes += b.lengths[i]!;
      if (isGso(b.flags[i]!)) c.rxGsoFrames++;
    }
    try {
      onBatch(b);
    } finally {
      b.count = 0;
      this.used[k] = 0;
      this.next = (k + 1) % ring.length;
      this.schedule();
    }
  }
}
