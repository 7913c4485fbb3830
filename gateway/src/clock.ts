/**
 * The gateway's one clock, in milliseconds. Everything that times out (NAT flows,
 * fragment reassembly, ARP neighbours and retries, DHCP leases, the ICMP rate limit)
 * and every capture stamp reads it, through the `Clock` the daemon injects.
 */
export interface Clock {
  /** Milliseconds; never goes backwards. */
  now(): number;
}

/**
 * The daemon's clock: monotonic (`performance.now()`) but counted from the Unix epoch as
 * it was when the process started, so capture stamps and lease times read as dates.
 * Setting the wall clock back or forward while the daemon runs moves nothing here:
 * nothing expires early and nothing lives forever.
 */
export function monotonicClock(): Clock {
  const origin = performance.timeOrigin;
  return { now: () => origin + performance.now() };
}

/**
 * A clock that moves only when told: the replay sets it to each captured frame's stamp,
 * and tests move it by hand. It refuses to go backwards (a capture out of order keeps
 * the latest time), so what it gives is monotonic like the daemon's.
 */
export class ManualClock implements Clock {
  /** The time, in a typed array: `setFrom` copies a stamp in without boxing the double. */
  private readonly ms = new Float64Array(1);

  constructor(ms = 0) {
    this.ms[0] = ms;
  }

  now(): number {
    return this.ms[0]!;
  }

  /** Moves to `ms`, or stays where it is when `ms` is earlier. */
  set(ms: number): void {
    if (ms > this.ms[0]!) this.ms[0] = ms;
  }

  /** `set(times[i])`, for a replay's loop over stamps (a double passed as an argument is boxed). */
  setFrom(times: Float64Array, i: number): void {
    if (times[i]! > this.ms[0]!) this.ms[0] = times[i]!;
  }

  advance(ms: number): void {
    if (ms > 0) this.ms[0]! += ms;
  }
}
