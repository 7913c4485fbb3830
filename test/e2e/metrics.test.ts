/**
 * Issue 13, metrics: `/metrics` of the admin listener in the lab, scraped over TCP
 * (`admin.listen: 127.0.0.1:9108` in the daemon's namespace) while real clients make
 * traffic — ping, curl, a UDP exchange, unsolicited datagrams from the internet,
 * `upnpc -a` and `natpmpc -a` — and checked by Prometheus's own `promtool check
 * metrics`. The counters must move as the traffic says. The listener needs the bearer
 * token (401 without) and no LAN or WAN host reaches it.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { labUp, labDown, type LabRecord } from '@openigd/gateway';
import { uniquePrefix, sh, must, background, Cleanup, isRoot, until } from '../lib/ns.js';

const DIR = '/run/openigd-lab';
const PORT = 9108;
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

const UDP_ECHO = "import socket,sys;s=socket.socket(2,2);s.bind((sys.argv[1],int(sys.argv[2])));s.settimeout(20);d,a=s.recvfrom(2048);s.sendto(d,a)";
const UDP_ASK = "import socket,sys;s=socket.socket(2,2);s.settimeout(3);s.sendto(b'hello',(sys.argv[1],int(sys.argv[2])));print(s.recvfrom(2048)[0].decode())";
const UDP_SEND = "import socket,sys;s=socket.socket(2,2);[s.sendto(b'x',(sys.argv[1],int(sys.argv[2]))) for _ in range(int(sys.argv[3]))]";

interface Sample { readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number }

/** The sample lines of a text exposition. */
function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample named `name` whose labels include `labels`; 0 when there is none. */
function value(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? 0;
}

describe('Prometheus metrics on the admin listener (issue 13)', { skip }, () => {
  const prefix = uniquePrefix('m');
  const cleanup = new Cleanup();
  const token = randomBytes(24).toString('hex');
  const tokenFile = join(DIR, `${prefix}-token`);
  let lab: LabRecord;
  let gw: string, h1: string, inet: string;

  /** curl in namespace `ns`: the HTTP status (0: no connection) and the body. */
  async function fetchIn(ns: string, url: string, authorization?: string): Promise<{ code: number; http: number; body: string }> {
    const r = await sh(ns, 'curl', ['-s', '-m', '3', ...(authorization ? ['-H', `Authorization: ${authorization}`] : []), '-w', '\n%{http_code}', url], 10_000);
    const split = r.stdout.lastIndexOf('\n');
    return { code: r.code, http: Number(r.stdout.slice(split + 1)) || 0, body: r.stdout.slice(0, split) };
  }
  const scrapeText = async (): Promise<string> => {
    const r = await fetchIn(gw, `http://127.0.0.1:${PORT}/metrics`, `Bearer ${token}`);
    assert.equal(r.http, 200, `scrape: curl ${r.code}, HTTP ${r.http}: ${r.body.slice(0, 200)}`);
    return r.body;
  };
  const scrape = async (): Promise<Sample[]> => parseSamples(await scrapeText());

  before(async () => {
    cleanup.add(() => sh(null, 'rm', ['-f', tokenFile]));
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    cleanup.add(() => labDown(prefix, DIR));
    lab = await labUp({ prefix, dir: DIR, adminConfig: `listen: 127.0.0.1:${PORT}, tokenFile: ${tokenFile}` });
    ({ gw, h1, inet } = lab.namespaces);
  });
  after(() => cleanup.run());

  test('under traffic the counters move as the traffic says, and promtool finds no problem', async () => {
    const h1Addr = lab.hostAddresses.h1!;
    const start = await scrape();

    // Outbound: ping, HTTP and a UDP exchange through the NAT.
    assert.match(await must(h1, 'ping', ['-c', '3', '-W', '2', lab.servers[0]!]), / 0% packet loss/);
    const http = background(inet, 'python3', ['-m', 'http.server', '-b', lab.servers[0]!, '8000']);
    cleanup.add(() => http.stop());
    await http.listening('tcp', 8000);
    assert.equal(await must(h1, 'curl', ['-s', '-m', '5', '-w', '%{http_code}', '-o', '/dev/null', `http://${lab.servers[0]}:8000/`]), '200');
    await http.stop();
    const echo = background(inet, 'python3', ['-c', UDP_ECHO, lab.servers[1]!, '9000']);
    cleanup.add(() => echo.stop());
    await echo.listening('udp', 9000);
    assert.equal((await must(h1, 'python3', ['-c', UDP_ASK, lab.servers[1]!, '9000'])).trim(), 'hello');
    await echo.stop();

    // Mappings: one through UPnP, one through NAT-PMP.
    assert.match(await must(h1, 'upnpc', ['-i', '-a', h1Addr, '8080', '18080', 'TCP'], 30_000), /is redirected to internal/);
    const pmp = await sh(h1, 'natpmpc', ['-g', lab.lanAddress, '-a', '19090', '9090', 'udp', '3600'], 30_000);
    assert.match(pmp.stdout, /Mapped public port 19090 protocol UDP to local port 9090/, pmp.stdout + pmp.stderr);

    const mid = await scrape();
    const grew = (name: string, labels: Record<string, string> = {}) => value(mid, name, labels) - value(start, name, labels);
    assert.ok(grew('openigd_router_frames_total', { event: 'forwarded_outbound' }) >= 3 + 3 + 1, 'ping, HTTP and UDP went out');
    assert.ok(grew('openigd_router_frames_total', { event: 'forwarded_inbound' }) >= 3 + 3 + 1, 'and their answers came in');
    assert.ok(grew('openigd_nat_flow_events_total', { event: 'created' }) >= 3, 'flows for ping, HTTP and UDP');
    assert.ok(grew('openigd_link_received_bytes_total', { port: 'lan' }) > 0 && grew('openigd_link_sent_bytes_total', { port: 'wan' }) > 0);
    assert.ok(value(mid, 'openigd_nat_flows') >= 1);
    assert.equal(grew('openigd_port_mappings_created_total', { origin: 'upnp' }), 1);
    assert.equal(grew('openigd_port_mappings_created_total', { origin: 'natpmp' }), 1);
    assert.equal(value(mid, 'openigd_port_mappings', { origin: 'upnp', protocol: 'tcp' }), 1);
    assert.equal(value(mid, 'openigd_port_mappings', { origin: 'natpmp', protocol: 'udp' }), 1);
    assert.equal(grew('openigd_soap_actions_total', { service: 'wanIpConnection', action: 'AddPortMapping', code: '0' }), 1);
    assert.ok(grew('openigd_natpmp_responses_total', { result: '0' }) >= 1);
    assert.ok(grew('openigd_store_commit_duration_seconds_count') >= 2, 'both mappings were committed');
    assert.ok(value(mid, 'openigd_dhcp_leases') === 2, 'h1 and h2 hold leases');

    // Unsolicited: datagrams from the internet to a WAN port nothing maps, each dropped and counted once.
    const unsolicited = 7;
    await must(inet, 'python3', ['-c', UDP_SEND, lab.wanAddress, '45678', String(unsolicited)]);
    const dropped = (s: readonly Sample[]) => value(s, 'openigd_router_drops_total', { reason: 'nat-no-mapping' });
    const end = await until('the drops counted', async () => {
      const s = await scrape();
      return dropped(s) - dropped(mid) >= unsolicited ? s : null;
    }, 5000);
    assert.equal(dropped(end) - dropped(mid), unsolicited, 'drops by reason grew by what was sent');
    assert.equal(value(end, 'openigd_nat_drops_total', { reason: 'no-mapping' }) - value(mid, 'openigd_nat_drops_total', { reason: 'no-mapping' }), unsolicited);

    // The process's own: event loop lag, heap, GC.
    for (const name of ['openigd_nodejs_eventloop_lag_seconds', 'openigd_nodejs_heap_size_used_bytes', 'openigd_process_resident_memory_bytes']) {
      assert.ok(end.some((s) => s.name === name), name);
    }
    // Prometheus's own linter on what a scrape returns.
    const text = await scrapeText();
    const file = join(lab.dir, 'metrics.txt');
    await writeFile(file, text);
    const check = await sh(null, 'sh', ['-c', `promtool check metrics < ${file}`]);
    assert.equal(check.code, 0, `promtool: ${check.stdout}${check.stderr}`);
    assert.equal((check.stdout + check.stderr).trim(), '', 'promtool has no remark');
  });

  test('on TCP: 401 without the token or with a wrong one, 200 with it; /status too', async () => {
    const url = `http://127.0.0.1:${PORT}`;
    for (const auth of [undefined, 'Bearer wrong-token-0123456789', `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`]) {
      const r = await fetchIn(gw, `${url}/metrics`, auth);
      assert.equal(r.http, 401, `${auth ?? 'no Authorization'}: ${r.body}`);
      assert.doesNotMatch(r.body, /openigd_/);
    }
    assert.equal((await fetchIn(gw, `${url}/status`)).http, 401);
    const ok = await fetchIn(gw, `${url}/status`, `Bearer ${token}`);
    assert.equal(ok.http, 200);
    assert.equal((JSON.parse(ok.body) as { wan: { address: string } }).wan.address, `${lab.wanAddress}/24`);
    assert.equal((await fetchIn(gw, `${url}/metrics`, `Bearer ${token}`)).http, 200);
  });

  test('no LAN host and no internet host reaches the admin listener, token or not', async () => {
    const auth = `Bearer ${token}`;
    for (const [ns, url] of [
      [h1, `http://${lab.lanAddress}:${PORT}/metrics`], [h1, `http://127.0.0.1:${PORT}/metrics`],
      [inet, `http://${lab.wanAddress}:${PORT}/metrics`],
    ] as const) {
      const r = await fetchIn(ns, url, auth);
      assert.equal(r.http, 0, `${ns} → ${url}: HTTP ${r.http}`);
      assert.notEqual(r.code, 0, `${ns} → ${url}: curl must fail to connect`);
    }
    // The LAN reaches the gateway's own services on that address: only the admin port is closed.
    assert.equal((await fetchIn(h1, `http://${lab.lanAddress}:5000/rootDesc.xml`)).http, 200);
  });
});
