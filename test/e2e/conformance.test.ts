/**
 * Issue 12: `openigd conformance` from a LAN host's namespace.
 *  - Against OpenIGD in the lab, IGD:1 and IGD:2 with NAT-PMP and PCP on: every must and
 *    should check passes, the exit status is 0, the JUnit file is written, and the run
 *    leaves the gateway's mapping table as it found it (empty). The data-plane checks run
 *    with the probe agent (`openigd conformance-probe`) in the internet namespace, and the
 *    NOTIFY checks listen in h1 for the gateway's announcements (every 8-10 s here). The
 *    IGD:2 gateway holds at most 60 mappings, so that the run fills its table (728).
 *  - Interrupted with SIGINT half-way, it stops, removes the mappings it made, and exits 130.
 *  - Against Debian's miniupnpd (2.3.1, NAT-PMP/PCP on, in namespaces of its own as the IGD
 *    benchmark runs it): exactly the known deviations below fail, each confirmed by hand
 *    with curl, bash and python (see the note); its mappings pass the data-plane
 *    checks (the probe agent in its internet namespace).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { labUp, labDown, type LabRecord } from '@openigd/gateway';
import { uniquePrefix, sh, must, Cleanup, isRoot, until, background } from '../lib/ns.js';
import { admin } from '../lib/admin.js';
import { MINIUPNPD_ADDRESSES, startMiniupnpd, type MiniupnpdHarness } from '../bench/lib/miniupnpd.js';

const DIR = '/run/openigd-lab';
const CLI = fileURLToPath(new URL('../../../gateway/dist/cli.js', import.meta.url));
const URL_OPENIGD = 'http://192.168.1.1:5000/rootDesc.xml';
/** The probe agent, on the lab's internet server address. */
const AGENT = { address: '198.51.100.10', port: 7788 };
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

/**
 * What miniupnpd 2.3.1 (Debian 12, the bench's configuration: IGD:1 description, secure
 * mode off, notify_interval 60) gets wrong, by check id, with what was seen by hand.
 */
const MINIUPNPD_DEVIATIONS = [
  'soap.fault-402', // UDA 1.0 §3.2.2: AddPortMapping without NewInternalClient answers 501 ActionFailed, not 402
  'soap.static-lease', // WANIPConnection:1 §2.2.15: a lease-0 (static) mapping is reported with NewLeaseDuration 604800
  'soap.fault-714', // WANIPConnection:1 §2.4.17: DeletePortMapping of a port never mapped answers 200
  'soap.enabled', // WANIPConnection:1 §2.2.10: NewEnabled 0 is ignored (reported 1, and the DNAT rule is installed)
  'soap.remote-host', // WANIPConnection:1 §2.4.15: GetSpecificPortMappingEntry with the wildcard finds a remote-host-only mapping
  'gena.bad-nt', // UDA 1.0 §4.1.1: SUBSCRIBE with NT upnp:bogus answers 200 with a SID, not 412
  'gena.sid-with-nt', // UDA 1.0 §4.1.2: a renewal carrying NT answers 200, not 400
  'http.bad-request', // RFC 9112 §3: "THIS IS NOT HTTP" is answered "NOT HTTP 501 Not Implemented", not an HTTP status line
  'ssdp.all', // UDA 1.0 §1.2.3: ssdp:all answers InternetGatewayDevice:2 / WANIPConnection:2 while the description is IGD:1
  'ssdp.max-age', // UDA 1.1 §1.2.2: CACHE-CONTROL max-age=120 (2 × notify_interval), under 1800
  'natpmp.unsupported-version', // RFC 6886 §3.5: a version-1 request gets no answer at all
].sort();

interface ToolRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs `openigd conformance ARGS` in namespace `ns`; `onStart` gets the child (to interrupt it). */
function conformance(ns: string, args: readonly string[], onStart?: (pid: number) => void): Promise<ToolRun> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, CLI, 'conformance', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code, signal) => { clearTimeout(killer); resolve({ code, signal, stdout, stderr }); });
    if (child.pid !== undefined) onStart?.(child.pid);
  });
}

interface JsonReport {
  ms: number;
  results: { check: { id: string; severity: string }; status: string; detail: string }[];
  cleanup: { left: string[] };
}

function failures(r: JsonReport): string[] {
  return r.results.filter((x) => x.status === 'fail').map((x) => x.check.id).sort();
}

for (const version of [1, 2] as const) {
  describe(`openigd conformance against OpenIGD, IGD:${version} with NAT-PMP and PCP`, { skip }, () => {
    const cleanup = new Cleanup();
    let lab: LabRecord;
    after(() => cleanup.run());
    before(async () => {
      const prefix = uniquePrefix(`cf${version}`);
      cleanup.add(() => labDown(prefix, DIR));
      // IGD:2: a table of 60 mappings, which the run's range of 100 ports fills (igd2.fault-728).
      lab = await labUp({ prefix, dir: DIR, extraConfig: `igd: { version: ${version}, notifyIntervalSeconds: 10${version === 2 ? ', maxMappings: 60' : ''} }` });
      const agent = background(lab.namespaces.inet, process.execPath, [CLI, 'conformance-probe', '--listen', `${AGENT.address}:${AGENT.port}`, '--max-seconds', '300']);
      cleanup.add(() => agent.stop());
      await agent.listening('tcp', AGENT.port, AGENT.address);
    });
    const mappings = async () => (await admin(lab.adminSocket, 'GET', '/mappings')).json as unknown[];

    test('every must and should check passes; the JUnit file is written; no mapping is left', async () => {
      const junit = `/tmp/${uniquePrefix('junit')}.xml`;
      cleanup.add(() => rm(junit, { force: true }));
      const run = await conformance(lab.namespaces.h1, ['--url', URL_OPENIGD, '--json', '--junit', junit, '--wan-probe', `${AGENT.address}:${AGENT.port}`, '--notify-wait', '12']);
      assert.equal(run.code, 0, run.stderr || run.stdout.slice(0, 2000));
      const report = JSON.parse(run.stdout) as JsonReport;
      assert.deepEqual(report.results.filter((x) => x.status === 'fail').map((x) => `${x.check.id}: ${x.detail}`), []);
      const skipped = report.results.filter((x) => x.status === 'skip').map((x) => x.check.id);
      // ssdp:byebye is sent only when the gateway stops, which this run does not see.
      assert.ok(skipped.every((id) => (version === 1 ? /^igd2\.|^ssdp\.lower-version$|^ssdp\.notify-byebye$/ : /^soap\.static-lease$|^ssdp\.notify-byebye$/).test(id)), `skipped: ${skipped.join(', ')}`);
      for (const id of ['dataplane.upnp-tcp', 'dataplane.upnp-udp', 'dataplane.natpmp-tcp', 'dataplane.natpmp-udp', 'dataplane.pcp-tcp', 'dataplane.pcp-udp', 'ssdp.notify-alive', 'ssdp.notify-set', ...(version === 2 ? ['igd2.fault-728'] : [])]) {
        assert.equal(report.results.find((x) => x.check.id === id)?.status, 'pass', id);
      }
      assert.ok(report.results.length >= 70, `${report.results.length} checks ran`);
      assert.deepEqual(report.cleanup.left, []);
      assert.deepEqual(await mappings(), []);
      const xml = await readFile(junit, 'utf8');
      assert.match(xml, new RegExp(`<testsuites name="openigd conformance" tests="${report.results.length}" failures="0"`));
      console.log(`IGD:${version}: ${report.results.length} checks in ${(report.ms / 1000).toFixed(1)} s`);
    });

    if (version === 1) {
      test('interrupted with SIGINT it removes the mappings it made and exits 130', async () => {
        let pid = 0;
        const running = conformance(lab.namespaces.h1, ['--url', URL_OPENIGD], (p) => { pid = p; });
        await until('the run has made a mapping', async () => (await mappings()).length > 0, 30_000, 50);
        process.kill(pid, 'SIGINT');
        const run = await running;
        assert.equal(run.code, 130, run.stderr);
        assert.match(run.stderr, /interrupted; removing the mappings this run made/);
        assert.match(run.stdout, /cleanup: every mapping this run made is removed/);
        assert.deepEqual(await mappings(), []);
      });
    }
  });
}

describe('openigd conformance against miniupnpd with NAT-PMP/PCP: its known deviations, each with its section', { skip }, () => {
  const cleanup = new Cleanup();
  let harness: MiniupnpdHarness | undefined;
  let why = '';
  after(() => cleanup.run());
  before(async () => {
    const s = await startMiniupnpd({ prefix: uniquePrefix('cfm'), natpmp: true }, cleanup);
    if (!s.ok) {
      why = s.reason;
      return;
    }
    harness = s.harness;
    // The probe agent on the internet server's address. The harness's router forwards
    // without masquerading, so the internet namespace needs the way back to the LAN for the
    // control connection; the probes themselves go to the router's WAN address, as any.
    await must(harness.namespaces.inet, 'ip', ['route', 'add', `${MINIUPNPD_ADDRESSES.client.replace(/\d+$/, '0')}/24`, 'via', MINIUPNPD_ADDRESSES.routerWan]);
    const agent = background(harness.namespaces.inet, process.execPath, [CLI, 'conformance-probe', '--listen', `${AGENT.address}:${AGENT.port}`, '--max-seconds', '300']);
    cleanup.add(() => agent.stop());
    await agent.listening('tcp', AGENT.port, AGENT.address);
  });

  test('exactly the known deviations fail, and the run leaves miniupnpd without mappings', async (t) => {
    if (!harness) {
      t.skip(why);
      return;
    }
    const run = await conformance(harness.clientNs, ['--url', harness.descriptionUrl, '--json', '--wan-probe', `${AGENT.address}:${AGENT.port}`]);
    assert.equal(run.code, 1, 'a must check fails: exit status 1');
    const report = JSON.parse(run.stdout) as JsonReport;
    // miniupnpd announces every 60 s, so the default 5 s window rarely hears it; when it does,
    // its alive set names the IGD:2 types of an IGD:1 description (UDA 1.0 §1.1.2; seen in
    // a 65 s run: NT urn:schemas-upnp-org:device:InternetGatewayDevice:2, no :1), as ssdp.all.
    const heard = report.results.find((x) => x.check.id === 'ssdp.notify-alive')?.status;
    assert.ok(heard === 'pass' || heard === 'skip', `ssdp.notify-alive: ${heard}`);
    const expected = heard === 'pass' ? [...MINIUPNPD_DEVIATIONS, 'ssdp.notify-set'].sort() : MINIUPNPD_DEVIATIONS;
    assert.deepEqual(failures(report), expected, run.stdout.slice(0, 4000));
    for (const x of report.results.filter((r) => r.status === 'fail')) assert.ok(x.detail.length > 0, `${x.check.id} says why`);
    // Its mappings forward: the data-plane checks pass against an IGD that is not ours.
    assert.deepEqual(report.results.filter((x) => x.check.id.startsWith('dataplane.')).map((x) => `${x.check.id} ${x.status}`),
      ['upnp-tcp', 'upnp-udp', 'natpmp-tcp', 'natpmp-udp', 'pcp-tcp', 'pcp-udp'].map((k) => `dataplane.${k} pass`));
    assert.deepEqual(report.cleanup.left, []);
    const rules = await sh(harness.namespaces.router, 'nft', ['list', 'ruleset'], 5_000);
    assert.doesNotMatch(rules.stdout, /dport 471\d\d/, 'no rule of the run is left');
  });
});
