/**
 * Every check passes against a correct IGD test double (IGD:1 and IGD:2) and each check is
 * able to fail: against a double that gets exactly that check's subject wrong, that check
 * and no other fails (the others pass or are skipped). Table-driven over ALL_CHECKS, so a
 * new check without a breaking case in the double fails this test.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_CHECKS } from './checks/all.js';
import { runChecks, type RunReport } from './runner.js';
import { exitStatus, junitReport, textReport } from './report.js';
import { startFakeIgd } from './test-support/fake-igd.js';
import { parseXml } from './xml.js';
import { agentAddress, startProbeAgent } from './probe-agent.js';

/** At most this many runs (each with its own double) at once. */
const PARALLEL = 80;

/**
 * The short lease the lease checks wait out: 3 s, not the CLI's 2, since the lease check
 * wants NewLeaseDuration >= 1 when it reads the entry back, and with dozens of runs in one
 * process that read can come more than a second after the add.
 */
const SHORT_LEASE_S = 3;

/** One WAN-side probe agent for every run (on loopback, as the double's external address is). */
const agent = await startProbeAgent({ address: '127.0.0.1', port: 0 });
after(() => agent.close());
/**
 * Each run gets ports of its own (runs go in parallel): a range for its mappings, on which
 * the data-plane checks listen, and the port its double sends NOTIFYs to.
 */
let runs = 0;

async function runAgainst(version: 1 | 2, breaks: readonly string[] = [], only?: readonly string[]): Promise<{ report: RunReport; left: number }> {
  const n = runs++ % 120;
  // Below the ephemeral range, so that no socket bound to port 0 takes it.
  const notifyTo = 19_000 + n;
  const fake = await startFakeIgd({ version, breaks, notifyTo });
  const first = 20_000 + n * 100;
  try {
    const report = await runChecks({
      url: fake.url, ports: { first, last: first + 99 }, ssdpTarget: fake.ssdp, pmpTarget: fake.pmp, shortLeaseSeconds: SHORT_LEASE_S, timeoutMs: 3000,
      wanProbe: agentAddress(agent), notifyListen: { address: '127.0.0.1', port: notifyTo }, notifyWaitSeconds: 2, ...(only ? { only } : {}),
    });
    return { report, left: fake.mappingCount() };
  } finally {
    await fake.close();
  }
}

const failed = (r: RunReport) => r.results.filter((x) => x.status === 'fail').map((x) => `${x.check.id}: ${x.detail}`);

for (const version of [1, 2] as const) {
  test(`a correct IGD:${version} double passes every check and is left without mappings`, async () => {
    const { report, left } = await runAgainst(version);
    assert.deepEqual(failed(report), []);
    const skipped = report.results.filter((x) => x.status === 'skip').map((x) => x.check.id).sort();
    const expected = ALL_CHECKS.filter((c) => c.info.versions && !c.info.versions.includes(version)).map((c) => c.info.id).sort();
    assert.deepEqual(skipped, expected);
    assert.equal(left, 0, 'the run removes every mapping it made');
    assert.deepEqual(report.cleanup.left, []);
    assert.equal(exitStatus(report), 0);
  });
}

test('each check fails against a double that breaks exactly its subject, and no other check fails', async () => {
  const cases = ALL_CHECKS.map((c) => ({ id: c.info.id, version: c.info.versions?.[0] ?? 1 }));
  const outcomes: { id: string; failures: string[]; status: string }[] = [];
  for (let i = 0; i < cases.length; i += PARALLEL) {
    outcomes.push(...await Promise.all(cases.slice(i, i + PARALLEL).map(async (c) => {
      const { report } = await runAgainst(c.version, [c.id]);
      return { id: c.id, failures: failed(report), status: report.results.find((x) => x.check.id === c.id)?.status ?? 'absent' };
    })));
  }
  const wrong = outcomes.filter((o) => o.status !== 'fail' || o.failures.length !== 1);
  assert.deepEqual(wrong, [], 'cases where the broken check did not fail alone');
});

test('a must failure gives exit status 1; the JUnit report is well-formed and names the failure', async () => {
  const { report } = await runAgainst(1, ['soap.fault-714'], ['soap.fault-714']);
  assert.equal(exitStatus(report), 1);
  const junit = junitReport(report);
  const p = parseXml(junit);
  assert.ok(p.ok, 'JUnit XML parses');
  assert.match(junit, /<failure message="WANIPConnection:1 §2\.4\.15, §2\.4\.17: DeletePortMapping of an unmapped port: expected UPnPError 714, got HTTP 200/);
  assert.match(textReport(report), /^FAIL {2}soap\.fault-714 +must/m);
});

test('a should failure alone keeps exit status 0', async () => {
  const { report } = await runAgainst(1, ['soap.enabled'], ['soap.']);
  assert.deepEqual(failed(report).map((f) => f.split(':')[0]), ['soap.enabled']);
  assert.equal(exitStatus(report), 0);
});
