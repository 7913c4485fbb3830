/**
 * A timing wheel of flow slots, so that expiry costs what is due, not what is live.
 *
 * Each flow slot is filed in the bucket of the second its timer ends (buckets of
 * `TICK_MS`, `SLOTS` of them: a horizon of about 68 minutes; a later time is filed at
 * the horizon and filed again when reached). Refreshing a flow's timer does not move
 * it: when its bucket comes due, `sweep` hands it to the owner, who removes it or files
 * it again at its new time ("lazy" refiling). A timer that gets shorter (a TCP flow
 * that closes) must be filed again at once: `scheduleIfSooner`.
 *
 * So one sweep visits the flows whose filed second has come, and at most `budget` of
 * them (empty buckets passed count too); what is left waits for the next sweep. A
 * million idle flows cost nothing per second; a flow that stays busy is visited once
 * per timeout. The lists are intrusive (typed arrays indexed by flow slot): no
 * allocation after construction.
 */
const TICK_MS = 1000;
const SLOTS = 4096;
const MASK = SLOTS - 1;
const EMPTY = -1;
/** `filedTick` of a slot in no bucket: later than any real tick, so anything is sooner. */
const UNFILED = 0x7fffffff;

export class ExpiryWheel {
  private readonly head = new Int32Array(SLOTS).fill(EMPTY);
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly filedTick: Int32Array;
  /** The next tick `sweep` looks at; nothing is filed before it. */
  private current = 0;
  private filed = 0;

  constructor(capacity: number) {
    this.next = new Int32Array(capacity);
    this.prev = new Int32Array(capacity);
    this.filedTick = new Int32Array(capacity).fill(UNFILED);
  }

  /** Bytes held by the wheel's arrays. */
  get storageBytes(): number {
    return this.head.byteLength + this.next.byteLength + this.prev.byteLength + this.filedTick.byteLength;
  }

  /** Files slot `f` (again) to be handed back once `atMs` has come. */
  schedule(f: number, atMs: number): void {
    this.cancel(f);
    const tick = Math.min(Math.max(Math.floor(atMs / TICK_MS), this.current), this.current + SLOTS - 1);
    this.link(f, tick);
  }

  /** Files slot `f` at `atMs` when that is sooner than where it is filed, or it is not filed. */
  scheduleIfSooner(f: number, atMs: number): void {
    if (Math.floor(atMs / TICK_MS) < this.filedTick[f]!) this.schedule(f, atMs);
  }

  /** Takes slot `f` out of the wheel (nothing happens if it is not in it). */
  cancel(f: number): void {
    const tick = this.filedTick[f]!;
    if (tick === UNFILED) return;
    const p = this.prev[f]!, n = this.next[f]!;
    if (p !== EMPTY) this.next[p] = n;
    else this.head[tick & MASK] = n;
    if (n !== EMPTY) this.prev[n] = p;
    this.filedTick[f] = UNFILED;
    this.filed--;
  }

  /**
   * Hands every slot filed at or before `nowMs`'s second to `visit`, which must either
   * leave it out (it was removed: `cancel` is then a no-op) or `schedule` it again; at
   * most `budget` visits. A slot of the current second whose time is still ahead is
   * handed over too: the owner files it again where it is. After a jump of the clock
   * past the whole horizon every filed slot is handed over once (budget or not).
   * Returns the visits made.
   */
  sweep(nowMs: number, budget: number, visit: (f: number) => void): number {
    const nowTick = Math.floor(nowMs / TICK_MS);
    if (this.filed === 0 || nowTick - this.current >= SLOTS) return this.sweepAll(nowTick, visit);
    let visits = 0;
    for (;;) {
      const slot = this.current & MASK;
      let f = this.head[slot]!;
      this.head[slot] = EMPTY;
      while (f !== EMPTY) {
        const n = this.next[f]!;
        this.filedTick[f] = UNFILED;
        this.filed--;
        if (visits < budget) {
          visits++;
          visit(f);
        } else {
          this.link(f, this.current);
        }
        f = n;
      }
      if (visits >= budget || this.current >= nowTick) return visits;
      this.current++;
      visits++;
    }
  }

  /** Moves the wheel to `nowTick` and hands over every filed slot once. */
  private sweepAll(nowTick: number, visit: (f: number) => void): number {
    // Unhook every list first: slots visited here may be filed again into any bucket.
    let all = EMPTY;
    for (let s = 0; s < SLOTS; s++) {
      let f = this.head[s]!;
      this.head[s] = EMPTY;
      while (f !== EMPTY) {
        const n = this.next[f]!;
        this.filedTick[f] = UNFILED;
        this.next[f] = all;
        all = f;
        f = n;
      }
    }
    this.filed = 0;
    this.current = Math.max(this.current, nowTick);
    let visits = 0;
    while (all !== EMPTY) {
      const n = this.next[all]!;
      visit(all);
      visits++;
      all = n;
    }
    return visits;
  }

  private link(f: number, tick: number): void {
    const slot = tick & MASK;
    const h = this.head[slot]!;
    this.next[f] = h;
    this.prev[f] = EMPTY;
    if (h !== EMPTY) this.prev[h] = f;
    this.head[slot] = f;
    this.filedTick[f] = tick;
    this.filed++;
  }
}
