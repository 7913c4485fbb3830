/**
 * A Link is one port of the router: it delivers received frames in batches and writes
 * batches, one JavaScript call per batch, never one per frame. A frame crossing this
 * interface is a plain Ethernet frame; offloads (the virtio-net header, GSO super-frames,
 * partial checksums) are the link's business and show up only as per-frame metadata
 * in the FrameBatch. The TAP link and the in-memory link pair implement it; one contract
 * test suite (link-contract.ts) holds both to it.
 *
 * What a Link must not do: throw on a bad frame (it drops and counts it), keep a batch
 * it was asked to write after `writeBatch` returns, or deliver a batch after `close`.
 */
import type { FrameBatch } from './frame-batch.js';
import { completeChecksum } from './vnet-header.js';

/** Counters of one link; plain numbers updated in place (read them, do not replace them). */
export interface LinkCounters {
  /** Frames delivered to `onBatch`, and their Ethernet bytes (super-frames count once). */
  rxFrames: number;
  rxBytes: number;
  /** Calls of `onBatch`. */
  rxBatches: number;
  /** Frames received but not delivered: truncated, runt, or with a header that does not fit. */
  rxDrops: number;
  /** GSO super-frames among the delivered frames. */
  rxGsoFrames: number;
  /** Frames handed to the device or peer, and their Ethernet bytes (segments count each). */
  txFrames: number;
  txBytes: number;
  /** Calls of `writeBatch` that had frames. */
  txBatches: number;
  /** Frames asked for but not written: out of the buffer, queue full, refused, link closed. */
  txDrops: number;
  /** Super-frames this link segmented in software because its device has no GSO. */
  txSoftwareGso: number;
  /** Partial checksums this link completed in software because its device has no offload. */
  txSoftwareCsum: number;
  /** Super-frames this link wrote in place of runs of UDP datagrams (their datagrams count in txFrames). */
  txCoalesced: number;
}

/**
 * For a device without checksum offload: completes frame `i`'s partial checksum in place
 * and counts it (`txSoftwareCsum`); false, counted as a drop, when its range is bad.
 */
export function completeInSoftware(batch: FrameBatch, i: number, c: LinkCounters): boolean {
  if (!completeChecksum(batch.buffer, batch.offsets[i]!, batch.lengths[i]!, batch.csumStart[i]!, batch.csumOffset[i]!)) {
    c.txDrops++;
    return false;
  }
  c.txSoftwareCsum++;
  return true;
}

export function newCounters(): LinkCounters {
  return {
    rxFrames: 0, rxBytes: 0, rxBatches: 0, rxDrops: 0, rxGsoFrames: 0,
    txFrames: 0, txBytes: 0, txBatches: 0, txDrops: 0, txSoftwareGso: 0, txSoftwareCsum: 0, txCoalesced: 0,
  };
}

export interface Link {
  readonly name: string;
  /** The MTU of the link's wire: the largest IPv4 packet a plain frame may carry. */
  readonly mtu: number;
  /**
   * True when received frames may be GSO super-frames or carry partial checksums (see
   * `FrameFlag`). Whatever this says, `writeBatch` accepts such frames: a link whose
   * device cannot take them segments and completes checksums in software.
   */
  readonly offloads: boolean;
  /** Largest number of frames in one received batch. */
  readonly maxBatchFrames: number;
  readonly counters: LinkCounters;
  /**
   * Starts delivering received frames, one call per batch. The batch (buffer and arrays)
   * is the link's and is reused once `onBatch` returns: forward or copy frames before
   * returning. `onError` hears of a failure that stopped reception (the device went
   * away); it is not called for dropped frames. Calling `start` twice, or after `close`,
   * does nothing.
   */
  start(onBatch: (batch: FrameBatch) => void, onError?: (error: LinkError) => void): void;
  /**
   * Writes frames `0 .. batch.count - 1` of `batch` with their offload metadata; returns
   * how many went out (the rest are counted in `txDrops`). The batch belongs to the
   * caller and is not kept, but a partial checksum may be completed in place in its
   * buffer when this link's device has no checksum offload.
   */
  writeBatch(batch: FrameBatch): number;
  /** Stops reception and releases the device; idempotent. */
  close(): void;
  /**
   * The state of the wire's far end, where the link can tell (a TAP's kernel side: set up
   * or down, or deleted); links that cannot tell leave it out and count as up.
   */
  kernelState?(): LinkState;
}

/** `up`: frames can cross; `down`: the far end is administratively or operationally down; `gone`: deleted. */
export type LinkState = 'up' | 'down' | 'gone';

/** An operational failure of a link, with a stable `code` (an errno name or ERR_OPENIGD_*). */
export class LinkError extends Error {
  constructor(readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LinkError';
  }
}

/** Frames per received batch of the TAP link: one wakeup drains at most this many. */
export const BATCH_SLOTS = 64;
/** Bytes that hold one standard frame (MTU 1500 + Ethernet and VLAN headers), rounded up. */
export const SLOT_SIZE = 2048;
