/**
 * An in-memory link pair: frames written on one end arrive at the other on the next
 * turn of the event loop, in batches of up to BATCH_SLOTS. Lets the whole router run
 * in tests without a kernel, through the same interface as the TAP link.
 */
import { BATCH_SLOTS, SLOT_SIZE, newCounters, type Link, type RxBatch } from './link.js';

export class MemoryLink implements Link {
  readonly counters = newCounters();
  peer: MemoryLink | null = null;
  private onBatch: ((rx: RxBatch) => void) | null = null;
  private readonly queue: Uint8Array[] = [];
  private scheduled = false;
  private closed = false;
  private readonly rxBuf = new Uint8Array(BATCH_SLOTS * SLOT_SIZE);
  private readonly rxLengths = new Int32Array(BATCH_SLOTS);
  /** Bound on frames waiting, like a device queue; beyond it frames are dropped. */
  private readonly maxQueue = 4096;

  constructor(readonly name: string) {}

  static pair(a: string, b: string): [MemoryLink, MemoryLink] {
    const x = new MemoryLink(a);
    const y = new MemoryLink(b);
    x.peer = y;
    y.peer = x;
    return [x, y];
  }

  start(onBatch: (rx: RxBatch) => void): void {
    this.onBatch = onBatch;
    this.schedule();
  }

  writeBatch(buf: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number): number {
    const peer = this.peer;
    let n = 0;
    for (let i = 0; i < count; i++) {
      const o = offsets[i]!, l = lengths[i]!;
      if (this.closed || !peer || peer.closed || l <= 0 || l > SLOT_SIZE || o < 0 || o + l > buf.length || peer.queue.length >= peer.maxQueue) {
        this.counters.txDrops++;
        continue;
      }
      peer.queue.push(buf.slice(o, o + l));
      this.counters.txFrames++;
      this.counters.txBytes += l;
      n++;
    }
    peer?.schedule();
    return n;
  }

  /** Test helper: inject one frame as if it arrived from the wire. */
  inject(frame: Uint8Array): void {
    this.queue.push(frame.slice());
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || !this.onBatch || this.queue.length === 0 || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.closed || !this.onBatch) return;
      const count = Math.min(BATCH_SLOTS, this.queue.length);
      for (let i = 0; i < count; i++) {
        const f = this.queue.shift()!;
        this.rxBuf.set(f, i * SLOT_SIZE);
        this.rxLengths[i] = f.length;
        this.counters.rxFrames++;
        this.counters.rxBytes += f.length;
      }
      this.onBatch({ buf: this.rxBuf, slotSize: SLOT_SIZE, lengths: this.rxLengths, count });
      this.schedule();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
  }
}
