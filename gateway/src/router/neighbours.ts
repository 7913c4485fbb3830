/**
 * A bounded ARP neighbour cache for one side of the router, with the frames waiting
 * for a resolution. Entries expire; the oldest is evicted when full. Waiting frames
 * are copied into a fixed pool (a few per address, a bound overall) and retried ARP
 * requests are the router's job (`due` says which addresses need one now).
 */

const ENTRY_TTL_MS = 300_000;
const RETRY_MS = 1000;
const MAX_TRIES = 3;

export interface Pending {
  readonly addr: number;
  readonly frames: Uint8Array[];
  tries: number;
  nextTryMs: number;
}

export class NeighbourCache {
  private readonly entries = new Map<number, { mac: Uint8Array; expiresMs: number }>();
  private readonly pending = new Map<number, Pending>();
  private pendingFrames = 0;
  dropped = 0;

  /**
   * At most `perAddress` frames wait for one address (a burst the LAN's GRO turned into
   * super-frames is held as its datagrams), `maxPendingFrames` in all: with frames of at
   * most 1518 bytes, about 1.5 MiB.
   */
  constructor(private readonly maxEntries = 4096, private readonly maxPendingFrames = 1024, private readonly perAddress = 64) {}

  /** The MAC for `addr`, or null. */
  lookup(addr: number, nowMs: number): Uint8Array | null {
    const e = this.entries.get(addr);
    if (!e) return null;
    if (e.expiresMs <= nowMs) {
      this.entries.delete(addr);
      return null;
    }
    return e.mac;
  }

  /** Learns `addr` → `mac`; returns the frames that were waiting for it (already addressed by the caller later). */
  learn(addr: number, mac: Uint8Array, nowMs: number): Uint8Array[] {
    const known = this.entries.get(addr);
    if (known && known.mac.every((b, i) => b === mac[i])) {
      known.expiresMs = nowMs + ENTRY_TTL_MS;
    } else {
      this.entries.delete(addr);
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(addr, { mac: mac.slice(0, 6), expiresMs: nowMs + ENTRY_TTL_MS });
    }
    const p = this.pending.get(addr);
    if (!p) return [];
    this.pending.delete(addr);
    this.pendingFrames -= p.frames.length;
    return p.frames;
  }

  /**
   * Keeps a copy of a frame until `addr` resolves. Returns true when an ARP request
   * should go out now (the first frame for this address).
   */
  hold(addr: number, frame: Uint8Array, nowMs: number): boolean {
    let p = this.pending.get(addr);
    const first = !p;
    if (!p) {
      p = { addr, frames: [], tries: 1, nextTryMs: nowMs + RETRY_MS };
      this.pending.set(addr, p);
    }
    if (p.frames.length >= this.perAddress || this.pendingFrames >= this.maxPendingFrames) {
      this.dropped++;
    } else {
      p.frames.push(frame.slice());
      this.pendingFrames++;
    }
    return first;
  }

  /** Addresses whose ARP request should be repeated now; gives up (dropping frames) after a few tries. */
  due(nowMs: number): number[] {
    const out: number[] = [];
    for (const p of this.pending.values()) {
      if (p.nextTryMs > nowMs) continue;
      if (p.tries >= MAX_TRIES) {
        this.pending.delete(p.addr);
        this.pendingFrames -= p.frames.length;
        this.dropped += p.frames.length;
        continue;
      }
      p.tries++;
      p.nextTryMs = nowMs + RETRY_MS;
      out.push(p.addr);
    }
    return out;
  }

  get size(): number {
    return this.entries.size;
  }

  forget(): void {
    this.entries.clear();
  }
}
