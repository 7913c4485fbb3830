/**
 * A batch of Ethernet frames in one buffer, described by parallel typed arrays: where
 * each frame starts, how long it is, and its offload metadata (the content of the
 * virtio-net header that came with it, or that must go with it). Links deliver received
 * frames as a FrameBatch and write a FrameBatch; the router builds its output batches
 * in preallocated FrameBatches, pointing into the receive buffer (frames rewritten in
 * place) or into a scratch buffer of its own. Nothing here allocates per frame.
 *
 * It must not copy frame bytes: a batch only points into `buffer`.
 */

/**
 * Per-frame flags (`FrameBatch.flags[i]`). Low byte: the virtio-net header flags;
 * bits 8..15: the virtio GSO type. A plain frame has flags 0.
 */
export const FrameFlag = {
  /**
   * VIRTIO_NET_HDR_F_NEEDS_CSUM. The L4 checksum at `csumStart + csumOffset` (bytes
   * from the start of the Ethernet frame) is partial: it holds the folded one's
   * complement sum of the pseudo-header only, not complemented, and whoever finally
   * puts the frame on a wire sums [csumStart, end) into it. When rewriting such a frame,
   * an address change is added to that field as a sum (see `adjustPartialChecksum`) and
   * a port change leaves it alone (ports are covered when the checksum is completed).
   */
  csumPartial: 0x01,
  /**
   * VIRTIO_NET_HDR_F_DATA_VALID, on received frames: the kernel vouches that the
   * checksums were verified. Never sent on: a link writes no DATA_VALID.
   */
  csumValid: 0x02,
  /** A GSO super-frame (one header, `gsoSize` bytes of L4 payload per segment): TCP over IPv4. */
  gsoTcp4: 0x0100,
  /** Legacy UDP fragmentation offload (UFO); never produced by current kernels. */
  gsoUdp: 0x0300,
  /** GSO super-frame: TCP over IPv6. */
  gsoTcp6: 0x0400,
  /** GSO super-frame: UDP segmentation (each segment its own datagram), IPv4 or IPv6. */
  gsoUdpL4: 0x0500,
  /** The TCP super-frame carries ECN (CWR) that only its first segment keeps. */
  gsoEcn: 0x8000,
  /** Mask of the GSO type bits (without ECN): `(flags & gsoMask) !== 0` means a super-frame. */
  gsoMask: 0x7f00,
} as const;

/** True when frame i of a batch is a GSO super-frame. */
export function isGso(flags: number): boolean {
  return (flags & FrameFlag.gsoMask) !== 0;
}

/**
 * A batch of frames. `count` frames, frame i is `buffer[offsets[i], offsets[i] + lengths[i])`,
 * a plain Ethernet frame (no virtio-net header). The meta arrays say how the frame is
 * offloaded; they matter only where `flags[i]` says so:
 *  - `gsoSize[i]`: L4 payload bytes per segment of a GSO super-frame;
 *  - `hdrLen[i]`: the sender's hint of the header bytes (Ethernet + IP + L4) of a super-frame;
 *  - `csumStart[i]`, `csumOffset[i]`: where the partial checksum starts (from the start of
 *    the Ethernet frame) and where its field is (from csumStart) when `csumPartial`.
 * A received batch, its buffer and arrays belong to the link and are reused as soon as
 * the `onBatch` callback returns.
 */
export interface FrameBatch {
  buffer: Uint8Array;
  count: number;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  readonly flags: Int32Array;
  readonly gsoSize: Int32Array;
  readonly hdrLen: Int32Array;
  readonly csumStart: Int32Array;
  readonly csumOffset: Int32Array;
}

/** Number of Int32 arrays in a batch (offsets, lengths, flags, and four of metadata). */
const ARRAYS = 7;

/** A batch that can hold `capacity` frames, pointing into `buffer` (replaceable later). */
export function createFrameBatch(capacity: number, buffer: Uint8Array = new Uint8Array(0)): FrameBatch {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`createFrameBatch: capacity must be a positive integer, got ${capacity}`);
  const all = new Int32Array(capacity * ARRAYS);
  const part = (k: number): Int32Array => all.subarray(k * capacity, (k + 1) * capacity);
  return {
    buffer,
    count: 0,
    offsets: part(0),
    lengths: part(1),
    flags: part(2),
    gsoSize: part(3),
    hdrLen: part(4),
    csumStart: part(5),
    csumOffset: part(6),
  };
}

/** Appends a plain frame (flags 0). Returns false, changing nothing, when the batch is full. */
export function pushFrame(batch: FrameBatch, offset: number, length: number): boolean {
  const n = batch.count;
  if (n >= batch.offsets.length) return false;
  batch.offsets[n] = offset;
  batch.lengths[n] = length;
  batch.flags[n] = 0;
  batch.gsoSize[n] = 0;
  batch.hdrLen[n] = 0;
  batch.csumStart[n] = 0;
  batch.csumOffset[n] = 0;
  batch.count = n + 1;
  return true;
}

/**
 * Appends a frame that keeps the offload metadata of frame `index` of `from` (a frame
 * received and forwarded: its GSO and partial checksum continue out of the other link).
 * `offset`/`length` are the frame's place in `batch.buffer`. False when full.
 */
export function pushFrameFrom(batch: FrameBatch, offset: number, length: number, from: FrameBatch, index: number): boolean {
  const n = batch.count;
  if (n >= batch.offsets.length) return false;
  batch.offsets[n] = offset;
  batch.lengths[n] = length;
  batch.flags[n] = from.flags[index]!;
  batch.gsoSize[n] = from.gsoSize[index]!;
  batch.hdrLen[n] = from.hdrLen[index]!;
  batch.csumStart[n] = from.csumStart[index]!;
  batch.csumOffset[n] = from.csumOffset[index]!;
  batch.count = n + 1;
  return true;
}
