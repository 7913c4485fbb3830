/**
 * Token buckets per source address (U-hardening: one LAN host must not starve the others):
 * each source may spend `burst` at once and earns `perSecond` back, on a monotonic clock.
 * The number of sources tracked is bounded: past `maxSources` the buckets that are full
 * again (idle sources) are forgotten first, then the oldest; a forgotten source starts
 * over with a full bucket, which costs at most one burst.
 *
 * Must not: read the wall clock, grow without bound, or throw on any source string.
 */

export interface SourceRate {
  /** Tokens earned per second. */
  readonly perSecond: number;
  /** Most tokens held, and the first burst a source may spend. */
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export class SourceBuckets {
  /** Requests refused because their source's bucket was empty. */
  refused = 0;
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly rate: SourceRate,
    private readonly maxSources = 1024,
    private readonly monotonicMs: () => number = () => performance.now(),
  ) {
    if (!(rate.perSecond > 0 && rate.burst >= 1)) throw new RangeError('a source rate needs perSecond > 0 and burst ≥ 1');
  }

  /** Takes one token of `source`'s bucket; false (and counted) when it has none. */
  take(source: string): boolean {
    const nowMs = this.monotonicMs();
    let b = this.buckets.get(source);
    if (b === undefined) {
      if (this.buckets.size >= this.maxSources) this.forget(nowMs);
      b = { tokens: this.rate.burst, atMs: nowMs };
      this.buckets.set(source, b);
    } else {
      b.tokens = this.refilled(b, nowMs);
      b.atMs = nowMs;
    }
    if (b.tokens < 1) {
      this.refused++;
      return false;
    }
    b.tokens -= 1;
    return true;
  }

  /** Sources tracked now (at most maxSources). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(b: Bucket, nowMs: number): number {
    return Math.min(this.rate.burst, b.tokens + (Math.max(0, nowMs - b.atMs) * this.rate.perSecond) / 1000);
  }

  /** Makes room: drops the buckets that are full again, or else the oldest one. */
  private forget(nowMs: number): void {
    for (const [source, b] of this.buckets) {
      if (this.refilled(b, nowMs) >= this.rate.burst) this.buckets.delete(source);
    }
    if (this.buckets.size >= this.maxSources) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
  }
}
