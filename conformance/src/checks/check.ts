import type { RunContext } from '../context.js';
import type { CheckInfo, Trace } from '../registry.js';

/** One check: what it is, and its body (returns to pass; throws CheckFailed/CheckSkipped). */
export interface Check {
  readonly info: CheckInfo;
  run(ctx: RunContext, t: Trace): Promise<void>;
}
