/**
 * The replay's output port: a Link that receives nothing and hands every frame the
 * router writes to a FrameTap (a PcapWriter, or a counter in the bench), stamped with
 * the replay's clock. Frames are not kept: the tap copies what it records.
 */
import { newCounters, type FrameBatch, type Link } from '../link/index.js';
import type { FrameTap } from '../router/router.js';
import type { Clock } from '../clock.js';

export class SinkLink implements Link {
  readonly counters = newCounters();
  readonly offloads = true;
  readonly maxBatchFrames = 64;

  /** `tap` null: frames are only counted (the local port, whose kernel side a replay lacks). */
  constructor(readonly name: string, readonly mtu: number, private readonly clock: Clock, private readonly tap: FrameTap | null) {}

  start(): void {
    // A replay feeds the router itself: nothing is ever received here.
  }

  writeBatch(batch: FrameBatch): number {
    const c = this.counters;
    const n = batch.count;
    if (n <= 0) return 0;
    c.txBatches++;
    const tap = this.tap;
    const nowMs = this.clock.now();
    for (let i = 0; i < n; i++) {
      const len = batch.lengths[i]!;
      c.txFrames++;
      c.txBytes += len;
      tap?.write(batch.buffer, batch.offsets[i]!, len, nowMs, batch.flags[i]!, batch.csumStart[i]!, batch.csumOffset[i]!);
    }
    return n;
  }

  close(): void {
    // Nothing to release: the tap belongs to the caller.
  }
}
