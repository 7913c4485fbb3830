/**
 * Issue 13, the CLI against the lab: every `openigd` subcommand run as a process (the
 * bin shim npm links), its `--json` parsed back and checked against what the lab did,
 * and against what real clients see: a mapping added with `openigd mappings add` is
 * listed by `upnpc -l` on a LAN host and carries curl's traffic from the internet until
 * it is disabled or removed; a ping and a curl show up in `openigd flows`; the LAN
 * hosts' DHCP leases in `openigd leases`; `openigd wan set` moves the WAN address.
 * Over the admin TCP listener too, with the token file, from the gateway's namespace.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUp, labDown, type LabRecord } from '@openigd/gateway';
import { uniquePrefix, sh, must, background, Cleanup, isRoot, until, type RunResult } from '../lib/ns.js';

const DIR = '/run/openigd-lab';
const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'gateway', 'bin', 'openigd.js');
const ADMIN_PORT = 9108;
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

interface Flow { protocol: string; internal: string; external: string; remote: string; tcpState?: string }
interface FlowPage { total: number; offset: number; flows: Flow[] }
interface CaptureStatus { running: boolean; dir: string; files: { port: string; path: string; frames: number }[] }
interface Mapping { protocol: string | number; externalPort: number; internalClient: string; internalPort: number; enabled: boolean; description?: string }

describe('the openigd CLI against the lab (issue 13)', { skip }, () => {
  const prefix = uniquePrefix('cl');
  const cleanup = new Cleanup();
  const token = randomBytes(24).toString('hex');
  const tokenFile = join(DIR, `${prefix}-token`);
  let lab: LabRecord;
  let gw: string, h1: string, h2: string, inet: string, h1Addr: string, server: string;

  /** `openigd ARGS --prefix P` from this (the host's) namespace. */
  const openigd = (...args: string[]): Promise<RunResult> => sh(null, process.execPath, [BIN, ...args, '--prefix', prefix], 30_000);
  /** The same, exit 0 required; the `--json` output parsed. */
  async function json<T>(...args: string[]): Promise<T> {
    const r = await openigd(...args, '--json');
    assert.equal(r.code, 0, `openigd ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }
  async function table(...args: string[]): Promise<string> {
    const r = await openigd(...args);
    assert.equal(r.code, 0, `openigd ${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, '');
    return r.stdout;
  }
  /** curl from the internet to the WAN address: the HTTP status, 0 when nothing answered. */
  const fromInternet = async (port: number): Promise<number> =>
    Number((await sh(inet, 'curl', ['-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', `http://${lab.wanAddress}:${port}/`], 10_000)).stdout) || 0;

  before(async () => {
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    cleanup.add(() => sh(null, 'rm', ['-f', tokenFile]));
    cleanup.add(() => labDown(prefix, DIR));
    lab = await labUp({
      prefix, dir: DIR, adminConfig: `listen: 127.0.0.1:${ADMIN_PORT}, tokenFile: ${tokenFile}`,
    });
    ({ gw, h1, h2, inet } = lab.namespaces);
    h1Addr = lab.hostAddresses.h1!;
    server = lab.servers[0]!;
  });
  after(() => cleanup.run());

  test('lab status: the record of this lab, as JSON and as fields', async () => {
    const rec = await json<LabRecord>('lab', 'status', '--dir', DIR);
    assert.deepEqual(rec.namespaces, lab.namespaces);
    assert.equal(rec.adminSocket, lab.adminSocket);
    assert.match(await table('lab', 'status', '--dir', DIR), new RegExp(`^admin socket +${lab.adminSocket}$`, 'm'));
  });

  test('status: the WAN and LAN addresses the lab set up, over the socket and over TCP with the token', async () => {
    const s = await json<{ wan: { address: string; gateway: string }; lan: { address: string } }>('status');
    assert.equal(s.wan.address, `${lab.wanAddress}/24`);
    assert.equal(s.wan.gateway, lab.wanGateway);
    assert.equal(s.lan.address, `${lab.lanAddress}/24`);
    assert.match(await table('status'), new RegExp(`^wan +${lab.wanAddress.replaceAll('.', '\\.')}/24 via ${lab.wanGateway.replaceAll('.', '\\.')}`, 'm'));
    // The TCP listener is on the gateway namespace's loopback: run the CLI there.
    const tcp = await sh(gw, process.execPath, [BIN, 'status', '--json', '--admin', `http://127.0.0.1:${ADMIN_PORT}`, '--token-file', tokenFile], 30_000);
    assert.equal(tcp.code, 0, tcp.stderr);
    assert.equal((JSON.parse(tcp.stdout) as { wan: { address: string } }).wan.address, `${lab.wanAddress}/24`);
  });

  test('flows: a ping and a curl from h1 are there, filtered by protocol, address, port and state', async () => {
    assert.match(await must(h1, 'ping', ['-c', '3', '-W', '2', server]), / 0% packet loss/);
    const icmp = await json<FlowPage>('flows', '--proto', 'icmp');
    assert.ok(icmp.flows.length >= 1 && icmp.total >= icmp.flows.length, JSON.stringify(icmp));
    assert.ok(icmp.flows.every((f) => f.protocol === 'icmp'));
    const ping = icmp.flows.find((f) => f.internal.startsWith(`${h1Addr}:`) && f.remote.startsWith(`${server}:`));
    assert.ok(ping, JSON.stringify(icmp.flows));
    assert.ok(ping.external.startsWith(`${lab.wanAddress}:`));
    assert.match(await table('flows', '--proto', 'icmp'), new RegExp(`^icmp +${h1Addr.replaceAll('.', '\\.')}:\\d+ +${lab.wanAddress.replaceAll('.', '\\.')}:\\d+ +${server.replaceAll('.', '\\.')}:`, 'm'));

    const http = background(inet, 'python3', ['-m', 'http.server', '-b', server, '8000']);
    cleanup.add(() => http.stop());
    await http.listening('tcp', 8000);
    assert.equal(await must(h1, 'curl', ['-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://${server}:8000/`]), '200');
    await http.stop();
    const tcp = await json<FlowPage>('flows', '--proto', 'tcp', '--addr', server, '--port', '8000');
    assert.ok(tcp.flows.length >= 1, JSON.stringify(tcp));
    assert.ok(tcp.flows.every((f) => f.protocol === 'tcp' && f.remote === `${server}:8000`), JSON.stringify(tcp.flows));
    const state = tcp.flows[0]!.tcpState!;
    assert.ok(state, 'a TCP flow has a state');
    const byState = await json<FlowPage>('flows', '--proto', 'tcp', '--state', state);
    assert.ok(byState.flows.length >= 1 && byState.flows.every((f) => f.tcpState === state), JSON.stringify(byState.flows));
    const limited = await json<FlowPage>('flows', '--limit', '1');
    assert.equal(limited.flows.length, 1);
    assert.ok(limited.total >= 2);
  });

  test('mappings add: upnpc -l on a LAN host lists it and the internet reaches h1 through it; disable, enable, rm follow', async () => {
    const web = background(h1, 'python3', ['-m', 'http.server', '-b', h1Addr, '8080']);
    cleanup.add(() => web.stop());
    await web.listening('tcp', 8080);
    assert.equal(await fromInternet(18080), 0, 'nothing forwards 18080 yet');

    const added = await openigd('mappings', 'add', 'tcp', '18080', `${h1Addr}:8080`, '--description', 'cli e2e', '--lease', '600');
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, `added TCP 18080 -> ${h1Addr}:8080\n`);
    const listed = await must(h2, 'upnpc', ['-i', '-l'], 30_000);
    assert.match(listed, new RegExp(`TCP +18080->${h1Addr.replaceAll('.', '\\.')}:8080 +'cli e2e'`), listed);
    assert.equal(await fromInternet(18080), 200);

    const mine = async (): Promise<Mapping | undefined> =>
      (await json<Mapping[]>('mappings')).find((m) => m.externalPort === 18080 && String(m.protocol).toUpperCase() === 'TCP');
    assert.deepEqual(await mine().then((m) => m && [m.internalClient, m.internalPort, m.enabled, m.description]), [h1Addr, 8080, true, 'cli e2e']);
    assert.match(await table('mappings'), new RegExp(`^TCP +18080 +${h1Addr.replaceAll('.', '\\.')}:8080 +\\* +yes +(9|10)m\\d\\ds +\\S+ +cli e2e$`, 'm'));

    assert.equal((await table('mappings', 'disable', 'tcp', '18080')), 'disabled TCP 18080\n');
    assert.equal((await mine())?.enabled, false);
    assert.equal(await fromInternet(18080), 0, 'a disabled mapping forwards nothing');
    assert.equal((await table('mappings', 'enable', 'tcp', '18080')), 'enabled TCP 18080\n');
    assert.equal((await mine())?.enabled, true);
    assert.equal(await fromInternet(18080), 200);

    assert.equal((await table('mappings', 'rm', 'tcp', '18080')), 'removed TCP 18080\n');
    assert.equal(await mine(), undefined);
    assert.doesNotMatch(await must(h2, 'upnpc', ['-i', '-l'], 30_000), /18080->/);
    assert.equal(await fromInternet(18080), 0);
    const again = await openigd('mappings', 'rm', 'tcp', '18080');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^openigd: .*\(DELETE \/mappings\/TCP\/18080: HTTP 404\)\n$/);
  });

  test('mappings: one made by upnpc -a on h1 is listed by openigd', async () => {
    await must(h1, 'upnpc', ['-i', '-e', 'from upnpc', '-a', h1Addr, '9090', '19090', 'UDP'], 30_000);
    const m = (await json<Mapping[]>('mappings')).find((x) => x.externalPort === 19090);
    assert.ok(m, 'listed');
    assert.deepEqual([String(m.protocol).toUpperCase(), m.internalClient, m.internalPort, m.description], ['UDP', h1Addr, 9090, 'from upnpc']);
  });

  test('leases: the two LAN hosts\' addresses from the gateway\'s DHCP', async () => {
    const leases = await json<{ address: string; mac: string; expiresInSeconds: number }[]>('leases');
    assert.ok(leases.every((l) => l.expiresInSeconds > 0), JSON.stringify(leases));
    assert.deepEqual(leases.map((l) => l.address).sort(), [lab.hostAddresses.h1, lab.hostAddresses.h2].sort());
    const text = await table('leases');
    for (const l of leases) assert.match(text, new RegExp(`^${l.address.replaceAll('.', '\\.')} +${l.mac} `, 'm'));
  });

  test('capture start and stop: a pcap file per port, frames counted while it runs, none after', async () => {
    assert.equal((await json<CaptureStatus>('capture')).running, false);
    const on = await json<CaptureStatus>('capture', 'start');
    assert.equal(on.running, true);
    assert.deepEqual(on.files.map((f) => f.port).sort(), ['lan', 'wan']);
    await must(h1, 'ping', ['-c', '2', '-W', '2', server]);
    const running = await json<CaptureStatus>('capture');
    assert.ok(running.files.every((f) => f.frames >= 2), JSON.stringify(running.files));
    assert.match(await table('capture'), /^capture running \(.+\)\nPORT +FRAMES +FILE\n/);
    const off = await json<CaptureStatus>('capture', 'stop');
    assert.equal(off.running, false);
    const sizes = async () => Promise.all(on.files.map(async (f) => (await stat(f.path)).size));
    const stopped = await sizes();
    assert.ok(stopped.every((n) => n > 24 + 2 * 98), `pcap sizes ${stopped.join(' ')}`);
    await must(h1, 'ping', ['-c', '2', '-W', '2', server]);
    assert.deepEqual(await sizes(), stopped, 'nothing written after stop');
  });

  test('wan set: the gateway takes the new address; status and the internet server see it', async () => {
    assert.equal(await table('wan', 'set', '203.0.113.7/24', lab.wanGateway), `wan 203.0.113.7/24 via ${lab.wanGateway}\n`);
    const s = await json<{ wan: { address: string } }>('status');
    assert.equal(s.wan.address, '203.0.113.7/24');
    const http = background(inet, 'python3', ['-m', 'http.server', '-b', server, '8001']);
    cleanup.add(() => http.stop());
    await http.listening('tcp', 8001);
    await until('curl through the new address', async () =>
      (await sh(h1, 'curl', ['-s', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', `http://${server}:8001/`])).stdout === '200', 15_000, 500);
    await until('the access log line from 203.0.113.7', async () => http.output().includes('203.0.113.7 - - '), 5_000);
  });
});
