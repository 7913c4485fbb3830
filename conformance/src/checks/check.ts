import type { RunContext } from '../context.js';
import type { CheckInfo, Trace } from '../registry.js';

/** One check: what it is, and its body (returns to pass; throws CheckFailed/CheckSkipped). */
export interface Check {
  readonly info: CheckInfo;
  run(ctx: RunContext, t: Trace): Promise<void>;
  /** Starts what must go on alongside the other checks (once the description is known). */
  prepare?(ctx: RunContext, signal?: AbortSignal): void;
}
