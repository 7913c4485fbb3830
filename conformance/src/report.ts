/**
 * The three forms of a run's report: readable text (one line per check, the exchanges of
 * failures below), JSON (everything), and JUnit XML (one testcase per check: a failure
 * element for a failed check, skipped for a skipped one). And the exit status: 1 when a
 * must check failed.
 */
import type { RunReport } from './runner.js';
import type { CheckResult } from './registry.js';

const MARK = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' } as const;

export interface Totals { pass: number; fail: number; skip: number; mustFailures: number }

export function totals(r: RunReport): Totals {
  const t: Totals = { pass: 0, fail: 0, skip: 0, mustFailures: 0 };
  for (const x of r.results) {
    t[x.status]++;
    if (x.status === 'fail' && x.check.severity === 'must') t.mustFailures++;
  }
  return t;
}

/** 0 when no must check failed, 1 otherwise. */
export function exitStatus(r: RunReport): number {
  return totals(r).mustFailures > 0 ? 1 : 0;
}

function indent(text: string, by: string): string {
  return text.split(/\r?\n/).map((l) => `${by}${l}`).join('\n');
}

/** The readable report; `verbose` shows the exchanges of every check, not only of failures. */
export function textReport(r: RunReport, verbose = false): string {
  const lines: string[] = [`openigd conformance: ${r.target} (InternetGatewayDevice:${r.version})`, ''];
  const width = Math.max(...r.results.map((x) => x.check.id.length), 10);
  for (const x of r.results) {
    lines.push(`${MARK[x.status]}  ${x.check.id.padEnd(width)}  ${x.check.severity.padEnd(7)} ${x.check.section}`);
    lines.push(`      ${x.check.title}`);
    if (x.detail) lines.push(`      ${x.status === 'pass' ? '' : '→ '}${x.detail.split('\n')[0]}`);
    if (x.status === 'fail' || verbose) {
      for (const e of x.exchanges.slice(-4)) {
        lines.push(indent(`sent: ${e.sent}`, '        '));
        lines.push(indent(`got:  ${e.received}`, '        '));
      }
    }
  }
  const t = totals(r);
  lines.push('');
  lines.push(`${t.pass} passed, ${t.fail} failed (${t.mustFailures} must), ${t.skip} skipped in ${(r.ms / 1000).toFixed(1)} s`);
  lines.push(r.cleanup.left.length ? `cleanup: could NOT remove ${r.cleanup.left.join('; ')}` : `cleanup: every mapping this run made is removed (${r.cleanup.exchanges.length} requests)`);
  if (r.interrupted) lines.push('interrupted: the remaining checks were skipped');
  return `${lines.join('\n')}\n`;
}

export function jsonReport(r: RunReport): string {
  return `${JSON.stringify({ ...r, totals: totals(r) }, null, 2)}\n`;
}

function xmlEscape(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '?')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function exchangesText(x: CheckResult): string {
  return x.exchanges.map((e) => `sent: ${e.sent}\ngot:  ${e.received}`).join('\n');
}

export function junitReport(r: RunReport): string {
  const t = totals(r);
  const cases = r.results.map((x) => {
    const name = `${x.check.id} [${x.check.severity}] ${x.check.title}`;
    const head = `    <testcase classname="conformance.${xmlEscape(x.check.group)}" name="${xmlEscape(name)}" time="${(x.ms / 1000).toFixed(3)}">`;
    if (x.status === 'pass') return `${head}</testcase>`;
    if (x.status === 'skip') return `${head}\n      <skipped message="${xmlEscape(x.detail)}"/>\n    </testcase>`;
    return `${head}\n      <failure message="${xmlEscape(`${x.check.section}: ${x.detail}`)}" type="${x.check.severity}">${xmlEscape(exchangesText(x))}</failure>\n    </testcase>`;
  });
  return '<?xml version="1.0" encoding="UTF-8"?>\n'
    + `<testsuites name="openigd conformance" tests="${r.results.length}" failures="${t.fail}" skipped="${t.skip}" time="${(r.ms / 1000).toFixed(3)}">\n`
    + `  <testsuite name="${xmlEscape(r.target)}" tests="${r.results.length}" failures="${t.fail}" skipped="${t.skip}" timestamp="${r.startedAt}">\n`
    + `${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`;
}
