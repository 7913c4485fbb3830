/**
 * Issue 14, faults and limits, in the lab with real clients (upnpc, natpmpc, our PCP client):
 *  - the state directory fills up (a small tmpfs) or turns read-only: the change that cannot
 *    be made durable is refused (UPnP 501, NAT-PMP 4 Out of resources, PCP NO_RESOURCES),
 *    nothing already stored is lost across a restart, and changes work again once the
 *    directory takes writes again;
 *  - the WAN link goes down and up: ConnectionStatus and PhysicalLinkStatus are evented, the
 *    daemon keeps running, mappings stay and forward again;
 *  - the flow table fills (a small `nat.capacity`) and one client reaches
 *    `nat.maxFlowsPerClient`: new flows are refused and counted, the sender hears ICMP
 *    destination unreachable, code 13 (RFC 5508 REQ-8 / RFC 4787's guidance), existing flows
 *    still pass;
 *  - the wall clock set forward and back in the daemon alone (libfaketime, the host's clock
 *    untouched): no lease ends early, none lives on;
 *  - a TAP removed under the daemon: one clear log line and an exit with status 1, no spin.
 * Floods are in faults-flood.test.ts.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { labUp, labDown, labRestartDaemon, type LabRecord } from '@openigd/gateway';
import { uniquePrefix, sh, must, background, Cleanup, isRoot, until } from '../lib/ns.js';
import { admin, status } from '../lib/admin.js';
import { PORT_PROBE, parseUpnpcList, probeMapping } from '../lib/lab-probe.js';
import { PCP, decodeClientResponse, encodeClientRequest, type ClientRequest } from '@openigd/conformance';

const DIR = '/run/openigd-lab';
const HERE = dirname(fileURLToPath(import.meta.url));
const TOOL = join(HERE, '..', '..', 'e2e', 'tools', 'faults-tool.py');
const ASK = join(HERE, '..', 'lib', 'pcp-ask.js');
const CLI = join(dirname(createRequire(import.meta.url).resolve('@openigd/gateway')), 'cli.js');
const GW = '192.168.1.1';
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const CONTROL = `http://${GW}:5000/ctl/IPConn`;
/** Flow table of the lab: small, so that two hosts can fill it. */
const CAPACITY = 48;
const PER_CLIENT = 32;
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

interface Mapping { protocol: string; externalPort: number; internalClient: string; origin: string }

describe('faults: a full or read-only state directory, the WAN link down, a full flow table, a TAP removed (issue 14)', { skip }, () => {
  const cleanup = new Cleanup();
  let lab: LabRecord;
  let h1 = '';
  let state = '';
  after(() => cleanup.run());
  before(async () => {
    const prefix = uniquePrefix('f');
    cleanup.add(() => labDown(prefix, DIR));
    lab = await labUp({ prefix, dir: DIR, nat: { preset: 'rfc', capacity: CAPACITY, maxFlowsPerClient: PER_CLIENT } });
    h1 = lab.hostAddresses.h1!;
    state = join(lab.dir, 'state');
  });

  const mappings = async (): Promise<Mapping[]> => (await admin(lab.adminSocket, 'GET', '/mappings')).json as Mapping[];
  const upnpc = (...args: string[]) => sh(lab.namespaces.h1, 'upnpc', ['-i', ...args], 30_000);
  const natpmpc = (...args: string[]) => sh(lab.namespaces.h1, 'natpmpc', ['-g', GW, ...args], 30_000);
  /** Raw SOAP adds from h1 (TCP, port → h1:port), up to the first refusal: the lines of faults-tool.py. */
  const adds = async (first: number, count: number): Promise<string[]> =>
    (await must(lab.namespaces.h1, 'python3', [TOOL, 'adds', CONTROL, h1, String(first), String(count)], 60_000)).trim().split('\n');
  const okPorts = (lines: readonly string[]): number[] => lines.filter((l) => l.startsWith('ok ')).map((l) => Number(l.split(' ')[1]));
  async function pcpMap(externalPort: number): Promise<number> {
    const req: ClientRequest = {
      opcode: 'map', lifetime: 3600, clientIp: h1,
      map: { nonce: Uint8Array.from(Buffer.alloc(12, externalPort & 0xff)), protocol: 6, internalPort: externalPort, externalPort, externalIp: '' },
    };
    const out = await must(lab.namespaces.h1, process.execPath, [ASK, GW, encodeClientRequest(req).toString('hex')], 30_000);
    const hex = /^answer ([0-9a-f]+)$/m.exec(out)?.[1];
    assert.ok(hex, out);
    return decodeClientResponse(Buffer.from(hex, 'hex')).result;
  }

  /** Stops the daemon, moves the state onto a tmpfs of `size` at the same path, starts it again. */
  async function stateOnTmpfs(size: string): Promise<void> {
    process.kill(lab.daemonPid, 'SIGTERM');
    await until('the daemon to stop', async () => !alive(lab.daemonPid), 10_000, 50);
    const saved = `${state}.saved`;
    await must(null, 'cp', ['-a', state, saved]);
    await must(null, 'mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'oi-faults-state', state]);
    cleanup.add(() => sh(null, 'umount', ['-l', state]));
    await must(null, 'sh', ['-c', `cp -a '${saved}'/. '${state}'/ && rm -rf '${saved}'`]);
    lab = await labRestartDaemon(lab.prefix, DIR, 'SIGTERM');
  }

  /** Fills the tmpfs to the last byte (dd stops at ENOSPC). */
  const fill = () => sh(null, 'dd', ['if=/dev/zero', `of=${join(state, 'filler')}`, 'bs=4096'], 30_000);

  test('a full state directory: the add that cannot be stored is refused (501, NAT-PMP 4, PCP NO_RESOURCES); nothing stored is lost; adds work again with room', async () => {
    const before = okPorts(await adds(21000, 5));
    assert.deepEqual(before, [21000, 21001, 21002, 21003, 21004]);
    await stateOnTmpfs('1m');
    await fill();
    // A journal record is ~300 bytes and tmpfs gives whole pages: the page the journal
    // ends in may still take a few records; after at most a page's worth one must fail.
    const lines = await adds(21100, 40);
    const refused = lines.at(-1)!;
    assert.match(refused, /^fault \d+ 501 /, lines.join('\n'));
    const acceptedWhileFull = okPorts(lines);
    // Nothing half-made: the refused port is in no table, the accepted ones are.
    const listed = new Set((await mappings()).map((m) => m.externalPort));
    assert.ok(!listed.has(Number(refused.split(' ')[1])), 'the refused add is not listed');
    for (const p of [...before, ...acceptedWhileFull]) assert.ok(listed.has(p), `port ${p} listed`);

    const np = await natpmpc('-a', '21300', '21300', 'tcp', '3600');
    assert.notEqual(np.code, 0, np.stdout);
    assert.match(np.stdout + np.stderr, /-53|out of resources/i, 'NAT-PMP result 4, Out of resources (RFC 6886 §3.5)');
    assert.equal(await pcpMap(21301), PCP.result.NO_RESOURCES, 'PCP NO_RESOURCES (RFC 6887 §7.4)');
    const ua = await upnpc('-a', h1, '21302', '21302', 'TCP');
    assert.match(ua.stdout + ua.stderr, /501/, 'upnpc hears ActionFailed');

    // Room again: the next add is stored, without a restart.
    await must(null, 'rm', ['-f', join(state, 'filler')]);
    const again = await adds(21400, 3);
    assert.deepEqual(okPorts(again), [21400, 21401, 21402], again.join('\n'));
    assert.equal((await natpmpc('-a', '21410', '21410', 'tcp', '3600')).code, 0);
    assert.equal(await pcpMap(21411), PCP.result.SUCCESS);

    // Everything answered with success is there after a restart, and nothing refused.
    lab = await labRestartDaemon(lab.prefix, DIR, 'SIGTERM');
    const kept = new Set(parseUpnpcList((await upnpc('-l')).stdout).map((m) => m.externalPort));
    for (const p of [...before, ...acceptedWhileFull, 21400, 21401, 21402, 21410, 21411]) assert.ok(kept.has(p), `port ${p} kept after the restart`);
    for (const p of [Number(refused.split(' ')[1]), 21300, 21301, 21302]) assert.ok(!kept.has(p), `refused port ${p} not stored`);
  });

  test('a read-only state directory: the gateway starts with what is stored, adds are refused (501, 4, NO_RESOURCES), and work again once writable', async () => {
    const stored = (await mappings()).map((m) => m.externalPort).sort();
    assert.ok(stored.length >= 10);
    // A file open for writing keeps a mount from turning read-only (the kernel says busy),
    // so the daemon stops first; a disk that fails under a running daemon is the test above.
    process.kill(lab.daemonPid, 'SIGTERM');
    await until('the daemon to stop', async () => !alive(lab.daemonPid), 10_000, 50);
    await must(null, 'mount', ['-o', 'remount,ro', state]);
    let readOnly = true;
    // Read-only is a flag of each mount as well as of the file system: the daemon's mount
    // namespace (`ip netns exec` makes one) copied the read-only mount, so both turn back.
    const writable = async () => {
      if (!readOnly) return;
      readOnly = false;
      await must(null, 'mount', ['-o', 'remount,rw', state]);
      if (alive(lab.daemonPid)) await must(null, 'nsenter', ['-t', String(lab.daemonPid), '-m', 'mount', '-o', 'remount,rw', state]);
    };
    cleanup.add(writable);
    lab = await labRestartDaemon(lab.prefix, DIR, 'SIGTERM');
    assert.deepEqual((await mappings()).map((m) => m.externalPort).sort(), stored, 'every stored mapping loaded');
    const lines = await adds(21500, 1);
    assert.match(lines[0]!, /^fault 21500 501 /, lines.join('\n'));
    const np = await natpmpc('-a', '21501', '21501', 'tcp', '3600');
    assert.match(np.stdout + np.stderr, /-53|out of resources/i, np.stdout);
    assert.equal(await pcpMap(21502), PCP.result.NO_RESOURCES);
    const log = await readFile(join(lab.dir, 'openigd.log'), 'utf8');
    assert.match(log, /state directory not writable/);

    await writable();
    assert.deepEqual(okPorts(await adds(21510, 2)), [21510, 21511]);
    lab = await labRestartDaemon(lab.prefix, DIR, 'SIGTERM');
    const kept = (await mappings()).map((m) => m.externalPort);
    assert.deepEqual(kept.sort(), [...stored, 21510, 21511].sort());
  });

  test('the WAN link down and up: ConnectionStatus and PhysicalLinkStatus evented, the daemon runs on, mappings kept, traffic resumes', async () => {
    const inet = lab.namespaces.inet;
    const events = background(lab.namespaces.h1, 'python3', [PORT_PROBE, 'events', '48100', '60']);
    cleanup.add(() => events.stop());
    await events.listening('tcp', 48100);
    for (const path of ['/evt/IPConn', '/evt/CmnIfCfg']) {
      const sub = await must(lab.namespaces.h1, 'curl', ['-s', '-i', '-m', '5', '-X', 'SUBSCRIBE', '-H', `CALLBACK: <http://${h1}:48100${path}>`,
        '-H', 'NT: upnp:event', '-H', 'TIMEOUT: Second-300', `http://${GW}:5000${path}`]);
      assert.match(sub, /^HTTP\/1\.1 200/, sub);
    }
    await until('the initial events', async () => /ConnectionStatus>Connected</.test(events.output()) && /PhysicalLinkStatus>Up</.test(events.output()), 10_000);
    const before = (await mappings()).length;
    await probeMapping(lab, cleanup, 'tcp', lab.wanAddress, 21000, 21000, { expect: true });

    await must(inet, 'ip', ['link', 'set', 'oi-wan0', 'down']);
    await until('ConnectionStatus Disconnected and PhysicalLinkStatus Down', async () =>
      /ConnectionStatus>Disconnected</.test(events.output()) && /PhysicalLinkStatus>Down</.test(events.output()), 10_000);
    assert.ok(alive(lab.daemonPid), 'the daemon runs on');
    assert.match((await upnpc('-s')).stdout, /Status : Disconnected/);
    assert.equal((await mappings()).length, before, 'every mapping kept');

    await must(inet, 'ip', ['link', 'set', 'oi-wan0', 'up']);
    await until('ConnectionStatus Connected again', async () =>
      events.output().split('\n').filter((l) => /ConnectionStatus>Connected</.test(l)).length >= 2, 10_000);
    assert.match((await upnpc('-s')).stdout, /Status : Connected/);
    await probeMapping(lab, cleanup, 'tcp', lab.wanAddress, 21000, 21000, { expect: true });
    await must(lab.namespaces.h1, 'ping', ['-c', '1', '-W', '2', lab.servers[0]!]);
    const log = await readFile(join(lab.dir, 'openigd.log'), 'utf8');
    assert.match(log, /"msg":"wan link down/);
    assert.match(log, /"msg":"wan link up"/);
    await events.stop();
  });

  test('the wall clock set forward and back (libfaketime, the daemon only): leases follow the monotonic clock', { skip: existsSync(FAKETIME_LIB) ? false : 'no libfaketime (apt-get install faketime)' }, async () => {
    // libfaketime in the daemon alone moves its wall clock (CLOCK_REALTIME) by what the file
    // says, re-read every second; FAKETIME_DONT_FAKE_MONOTONIC leaves performance.now() true.
    // The host's clock is never touched.
    const offsetFile = join(lab.dir, 'faketime');
    await writeFile(offsetFile, '+0\n');
    const env = { LD_PRELOAD: FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE: offsetFile, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
    Object.assign(process.env, env);
    try {
      lab = await labRestartDaemon(lab.prefix, DIR, 'SIGTERM');
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
    }
    /** The daemon's wall clock, from its HTTP Date header, minus ours, in days. */
    const skewDays = async (): Promise<number> => {
      const head = await must(lab.namespaces.h1, 'curl', ['-s', '-I', '-m', '5', `http://${GW}:5000/rootDesc.xml`]);
      const date = /^date: (.+)$/im.exec(head)?.[1];
      assert.ok(date, head);
      return Math.round((Date.parse(date) - Date.now()) / 86_400_000);
    };
    const listed = async (port: number): Promise<boolean> => (await mappings()).some((m) => m.externalPort === port);
    assert.match((await upnpc('-a', h1, '23001', '23001', 'TCP', '3600')).stdout, /is redirected/);
    const t0 = Date.now();
    assert.match((await upnpc('-a', h1, '23002', '23002', 'TCP', '12')).stdout, /is redirected/);

    await writeFile(offsetFile, '+2d\n');
    await until('the daemon\'s clock two days ahead', async () => (await skewDays()) === 2, 10_000, 200);
    await new Promise((r) => setTimeout(r, 2500)); // two expiry ticks on the jumped clock
    assert.ok(await listed(23001) && await listed(23002), 'a jump forward ends no lease early');

    await writeFile(offsetFile, '-2d\n');
    await until('the daemon\'s clock two days behind', async () => (await skewDays()) === -2, 10_000, 200);
    await until('the 12 s lease to end on time', async () => !(await listed(23002)), 30_000, 250);
    const endedAfterMs = Date.now() - t0;
    // On the jumped-back wall clock it would have lived two more days; the slack is upnpc's
    // own time before t0 aside, the 1 s expiry tick and this poll.
    assert.ok(endedAfterMs < 12_000 + 8000, `ended ${endedAfterMs} ms after it was made: a jump back keeps nothing alive`);
    assert.ok(await listed(23001), 'the hour-long lease stays');
    console.log(`# wall clock +2 days then -2 days in the daemon: the 12 s lease ended after ${endedAfterMs} ms, the 1 h lease stayed`);
    await writeFile(offsetFile, '+0\n');
  });

  test('the flow table full and one host at nat.maxFlowsPerClient: new flows refused, counted, ICMP 3/13 to the sender; existing flows pass', async () => {
    const server = lab.servers[0]!;
    const echo = background(lab.namespaces.inet, 'python3', [TOOL, 'echo-udp', server, '7000', '60']);
    cleanup.add(() => echo.stop());
    await echo.listening('udp', 7000);
    interface Flow { internal: string }
    const flowsOf = async (host: string): Promise<number> =>
      ((await admin(lab.adminSocket, 'GET', '/flows?limit=1000')).json as { flows: Flow[] }).flows.filter((f) => f.internal.startsWith(`${host}:`)).length;
    const natDrops = async () => {
      const s = await status(lab.adminSocket);
      return { client: s.drops['nat-client-flow-limit'] ?? 0, full: s.drops['nat-table-full'] ?? 0, icmp: s.stats.icmpSent ?? 0 };
    };
    const flows = async (ns: string, count: number, first: number) => {
      const out = await must(ns, 'python3', [TOOL, 'udp-flows', server, '7000', String(count), String(first)], 30_000);
      const m = /flows ok (\d+) refused (\d+) silent (\d+)/.exec(out);
      assert.ok(m, out);
      okPorts = (/^ok ports ([\d,]*)$/m.exec(out)?.[1] ?? '').split(',').filter(Boolean);
      return { ok: Number(m[1]), refused: Number(m[2]), silent: Number(m[3]) };
    };
    // Which of a run's flows got in: frames of different flows may cross the LAN bridge
    // (GRO) in another order than sent, so not necessarily the first ones.
    let okPorts: string[] = [];

    const h1Before = await flowsOf(h1);
    const d0 = await natDrops();
    const a = await flows(lab.namespaces.h1, 40, 41000);
    const h1Kept = Number(okPorts[0]);
    assert.deepEqual(a, { ok: PER_CLIENT - h1Before, refused: 40 - (PER_CLIENT - h1Before), silent: 0 });
    assert.equal(await flowsOf(h1), PER_CLIENT, 'h1 holds its share, no more');
    const d1 = await natDrops();
    assert.equal(d1.client - d0.client, a.refused, 'each refusal counted as nat-client-flow-limit');
    assert.ok(d1.icmp - d0.icmp >= a.refused, 'an ICMP error for each');

    const room = CAPACITY - ((await status(lab.adminSocket)).nat as { flows: number }).flows;
    assert.ok(room > 0 && room < 40, `room for ${room}`);
    const b = await flows(lab.namespaces.h2, 40, 42000);
    const h2Kept = Number(okPorts[0]);
    assert.deepEqual(b, { ok: room, refused: 40 - room, silent: 0 });
    const d2 = await natDrops();
    assert.equal(d2.full - d1.full, b.refused, 'each refusal counted as nat-table-full');
    assert.equal(((await status(lab.adminSocket)).nat as { flows: number }).flows, CAPACITY);

    // The flows made before the table filled still pass, both ways.
    assert.deepEqual(await flows(lab.namespaces.h1, 1, h1Kept), { ok: 1, refused: 0, silent: 0 });
    assert.deepEqual(await flows(lab.namespaces.h2, 1, h2Kept), { ok: 1, refused: 0, silent: 0 });
    console.log(`# flow table ${CAPACITY}, ${PER_CLIENT} per client: h1 ${a.ok} made, ${a.refused} refused; h2 ${b.ok} made, ${b.refused} refused`);
    await echo.stop();
  });

  test('a TAP removed under the daemon: one clear log line, exit status 1, no spin', async () => {
    // Run by this test (not the lab) so that its exit status can be read.
    process.kill(lab.daemonPid, 'SIGTERM');
    await until('the lab daemon to stop', async () => !alive(lab.daemonPid), 10_000, 50);
    const daemon = background(lab.namespaces.gw, process.execPath, [CLI, 'run', '--config', lab.configPath]);
    cleanup.add(() => daemon.stop());
    await until('the TAPs', async () => (await sh(lab.namespaces.inet, 'ip', ['-o', 'link', 'show', 'oi-wan0'])).code === 0, 15_000, 50);
    await until('the daemon to run', async () => daemon.output().includes('"msg":"openigd running"'), 15_000, 50);
    const pid = daemon.child.pid!;
    const cpuTicks = async (): Promise<number | null> => {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
      if (stat === null) return null;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[11]) + Number(fields[12]);
    };
    const t0 = Date.now();
    const ticks0 = (await cpuTicks())!;
    await must(lab.namespaces.inet, 'ip', ['link', 'del', 'oi-wan0']);
    let lastTicks = ticks0;
    await until('the daemon to exit', async () => {
      const t = await cpuTicks();
      if (t !== null) lastTicks = t;
      return daemon.child.exitCode !== null || daemon.child.signalCode !== null;
    }, 10_000, 20);
    const elapsedMs = Date.now() - t0;
    await daemon.stop();
    assert.equal(daemon.child.exitCode, 1, daemon.output().slice(-2000));
    const gone = daemon.output().split('\n').filter((l) => l.includes('"msg":"link gone'));
    assert.equal(gone.length, 1, daemon.output().slice(-2000));
    assert.match(gone[0]!, /"tap":"oi-wan0"/);
    assert.match(gone[0]!, /"port":"wan"/);
    // Clock ticks are 10 ms: a spinning loop would burn ~100 per second until the exit.
    const cpuMs = (lastTicks - ticks0) * 10;
    console.log(`# TAP deleted: exit 1 after ${elapsedMs} ms, ${cpuMs} ms CPU meanwhile`);
    assert.ok(elapsedMs < 5000, `exited within 5 s (${elapsedMs} ms)`);
    assert.ok(cpuMs <= Math.max(200, elapsedMs / 4), `no spin: ${cpuMs} ms CPU in ${elapsedMs} ms`);
  });
});

/** Whether process `pid` still exists (a zombie child counts until it is reaped). */
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`);

