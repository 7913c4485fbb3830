/**
 * A Link is one port of the router: it reads frames in batches and writes batches.
 * One JavaScript call per batch, not per frame. The received batch's buffer is the
 * link's own and is reused as soon as `onBatch` returns, so a router forwards (writes)
 * or copies what it keeps before returning.
 */

export interface RxBatch {
  /** Frame i is `buf[i * slotSize, i * slotSize + lengths[i])`. */
  readonly buf: Uint8Array;
  readonly slotSize: number;
  readonly lengths: Int32Array;
  readonly count: number;
}

export interface LinkCounters {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Frames the link could not write (device full, link down). */
  txDrops: number;
}

export interface Link {
  readonly name: string;
  readonly counters: LinkCounters;
  /** Starts delivering received batches. */
  start(onBatch: (rx: RxBatch) => void): void;
  /** Writes `buf[offsets[i], offsets[i] + lengths[i])` for i < count; returns how many went out. */
  writeBatch(buf: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number): number;
  close(): Promise<void>;
}

export function newCounters(): LinkCounters {
  return { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, txDrops: 0 };
}

/** Frames per read batch and bytes per slot (a 1500-byte MTU frame plus headroom). */
export const BATCH_SLOTS = 64;
export const SLOT_SIZE = 2048;
