/**
 * What a check is (an id, the spec section it comes from, a severity, a one-line title)
 * and what it came to (pass, fail or skipped, why, and the exchanges that show it). A
 * check's body records what it sent and what came back on a `Trace`, and ends by
 * returning (pass) or throwing `CheckFailed` / `CheckSkipped`.
 */

/** must: the spec's MUST/REQUIRED; should: its SHOULD/RECOMMENDED; interop: what real clients trip on. */
export type Severity = 'must' | 'should' | 'interop';

export type CheckGroup = 'description' | 'soap' | 'igd2' | 'gena' | 'http' | 'ssdp' | 'natpmp' | 'pcp' | 'dataplane';

export interface CheckInfo {
  readonly id: string;
  readonly group: CheckGroup;
  readonly severity: Severity;
  /** E.g. 'UDA 1.0 §2.1', 'WANIPConnection:1 §2.4.16', 'RFC 6887 §11.1'. */
  readonly section: string;
  readonly title: string;
  /** Which IGD versions it applies to (default both). */
  readonly versions?: readonly (1 | 2)[];
}

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface Exchange {
  readonly sent: string;
  readonly received: string;
}

export interface CheckResult {
  readonly check: CheckInfo;
  readonly status: CheckStatus;
  /** Why it failed or was skipped; what was seen when it passed. */
  readonly detail: string;
  readonly exchanges: readonly Exchange[];
  readonly ms: number;
}

export class CheckFailed extends Error {}
export class CheckSkipped extends Error {}

/** Ends the check as failed. */
export function fail(reason: string): never {
  throw new CheckFailed(reason);
}

/** Ends the check as skipped (not applicable, or a prerequisite is missing). */
export function skip(reason: string): never {
  throw new CheckSkipped(reason);
}

/** Fails with `reason` unless `condition`. */
export function expect(condition: unknown, reason: string): asserts condition {
  if (!condition) fail(reason);
}

/** Longest text kept of one side of an exchange. */
const EXCHANGE_CHARS = 1500;

/** The exchanges of one check, in order. */
export class Trace {
  readonly exchanges: Exchange[] = [];
  /** What passed, for the report. */
  note = '';
  record(sent: string, received: string): void {
    const cut = (t: string) => (t.length > EXCHANGE_CHARS ? `${t.slice(0, EXCHANGE_CHARS)}… (${t.length} chars)` : t);
    this.exchanges.push({ sent: cut(sent), received: cut(received) });
  }
}
