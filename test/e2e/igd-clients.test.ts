/**
 * Issue 4, acceptance 2, 3 and 4, in the lab with real kernels:
 *  2. the exact sequence Windows' NAT traversal (IUPnPNAT, as Wine's hnetcfg reimplements
 *     it) sends from a LAN host: M-SEARCH `upnp:rootdevice`, the description, then SOAP
 *     with a `SOAP-ENV` envelope and a quoted SOAPACTION — GetExternalIPAddress; adds with
 *     `NewRemoteHost` empty and lease 0; a re-list from index 0 until 713 after every
 *     change; disable/enable and description edits as re-adds; a new internal client as
 *     delete + add; removal — checking every field of every answer, and that a disabled
 *     mapping forwards nothing;
 *  3. a UDP mapping to the LAN broadcast address: one datagram reaches both LAN hosts;
 *  4. a mapping with a remote host: only that host gets through, over UDP and TCP.
 *
 * Negative forwarding checks never rest on a timeout alone: the gateway's own drop
 * counter shows the datagram arrived and was dropped, and a later datagram that must get
 * through is then the first thing the listener sees.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUp, labDown, type LabRecord } from '@openigd/gateway';
import { uniquePrefix, sh, must, background, Cleanup, isRoot, until, type Background } from '../lib/ns.js';
import { status } from '../lib/admin.js';
import { escapeXml, unescapeXml } from '@openigd/conformance';

const DIR = '/run/openigd-lab';
const TOOLS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'e2e', 'tools');
const WIRE = join(TOOLS, 'igd-wire.py');
const PROBE = join(TOOLS, 'port-probe.py');
const WAN_IP_CONNECTION = 'urn:schemas-upnp-org:service:WANIPConnection:1';
const CONTROL_NS = 'urn:schemas-upnp-org:control-1-0';
const skip = !isRoot() ? 'needs root for namespaces and TAP devices' : false;

/** GetGenericPortMappingEntry's out arguments, in the order the SCPD lists them. */
const ENTRY_FIELDS = ['NewRemoteHost', 'NewExternalPort', 'NewProtocol', 'NewInternalPort', 'NewInternalClient',
  'NewEnabled', 'NewPortMappingDescription', 'NewLeaseDuration'] as const;
type Entry = Record<(typeof ENTRY_FIELDS)[number], string>;

interface SoapReply { status: number; headers: string; body: string }

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The children of the first element with local name `local`: [local name, text] in document order. */
function children(xml: string, local: string): [string, string][] {
  const open = new RegExp(`<(?:[\\w.-]+:)?${local}(?:\\s[^>]*)?>`).exec(xml);
  assert.ok(open, `no <${local}> in ${xml}`);
  const rest = xml.slice(open.index + open[0].length);
  const close = new RegExp(`</(?:[\\w.-]+:)?${local}\\s*>`).exec(rest);
  assert.ok(close, `no </${local}> in ${xml}`);
  const inner = rest.slice(0, close.index);
  const out: [string, string][] = [];
  for (const m of inner.matchAll(/<(?:[\w.-]+:)?([\w.-]+)(?:\s[^>]*)?(?:\/>|>([^<]*)<\/(?:[\w.-]+:)?\1\s*>)/g)) {
    out.push([m[1]!, unescapeXml(m[2] ?? '')]);
  }
  return out;
}

/** One SSDP answer: its status line and headers (names upper-cased). */
function parseSsdp(text: string): { statusLine: string; headers: Map<string, string> } {
  const [statusLine, ...lines] = text.split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines) {
    if (line === '') break;
    const i = line.indexOf(':');
    assert.ok(i > 0, `header line ${JSON.stringify(line)}`);
    const name = line.slice(0, i).trim().toUpperCase();
    assert.ok(!headers.has(name), `header ${name} twice`);
    headers.set(name, line.slice(i + 1).trim());
  }
  return { statusLine: statusLine!, headers };
}

describe('IGD clients: Windows NAT traversal, a broadcast internal client, a remote host (issue 4 acceptance 2–4)', { skip }, () => {
  const cleanup = new Cleanup();
  let lab: LabRecord;
  let h1 = '', h2 = '', inet = '';
  let h1Addr = '', h2Addr = '';
  let location = '';
  let rootUuid = '';
  let controlUrl = '';
  after(() => cleanup.run());
  before(async () => {
    const prefix = uniquePrefix('w');
    cleanup.add(() => labDown(prefix, DIR));
    lab = await labUp({ prefix, dir: DIR });
    ({ h1, h2, inet } = lab.namespaces);
    h1Addr = lab.hostAddresses.h1!;
    h2Addr = lab.hostAddresses.h2!;
  });

  /**
   * A SOAP request as Windows sends it (Wine dlls/hnetcfg/port.c, request_service()):
   * `SOAP-ENV` envelope, the action in an `m:` prefix, arguments unqualified and in the
   * SCPD's order, `SOAPAction` quoted, `Content-Type: text/xml`. Values are XML-escaped
   * (Wine writes them raw: the same bytes for the plain values Windows sends).
   */
  async function soap(action: string, args: readonly (readonly [string, string])[] = []): Promise<SoapReply> {
    const body = '<?xml version="1.0"?>\r\n'
      + '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" '
      + 'SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">\r\n'
      + '  <SOAP-ENV:Body>\r\n'
      + `    <m:${action} xmlns:m="${WAN_IP_CONNECTION}">\r\n`
      + args.map(([k, v]) => `      <${k}>${escapeXml(v)}</${k}>\r\n`).join('')
      + `    </m:${action}>\r\n`
      + '  </SOAP-ENV:Body>\r\n'
      + '</SOAP-ENV:Envelope>\r\n';
    const out = await must(h1, 'curl', ['-s', '-i', '-m', '5', '-A', 'hnetcfg', '-X', 'POST',
      '-H', `SOAPAction: "${WAN_IP_CONNECTION}#${action}"`, '-H', 'Content-Type: text/xml',
      '--data-binary', body, controlUrl], 10_000);
    const split = out.indexOf('\r\n\r\n');
    assert.ok(split > 0, `HTTP answer to ${action}: ${out}`);
    const headers = out.slice(0, split);
    const m = /^HTTP\/1\.[01] (\d{3}) /.exec(headers);
    assert.ok(m, `status line of the answer to ${action}: ${headers}`);
    return { status: Number(m[1]), headers, body: out.slice(split + 4) };
  }

  /** Asserts a successful answer: 200, `<x:ACTIONResponse xmlns:x="WANIPConnection:1">` with exactly `outNames` in order; returns the values. */
  function expectOk(r: SoapReply, action: string, outNames: readonly string[]): Record<string, string> {
    assert.equal(r.status, 200, `${action}: HTTP ${r.status} ${r.body}`);
    assert.match(r.headers, /^content-type: text\/xml/im);
    assert.match(r.body, /<(?:[\w.-]+:)?Envelope\s[^>]*xmlns(?::[\w.-]+)?="http:\/\/schemas\.xmlsoap\.org\/soap\/envelope\/"/);
    const open = new RegExp(`<(?:[\\w.-]+:)?${action}Response\\s[^>]*xmlns(?::[\\w.-]+)?="${escapeRe(WAN_IP_CONNECTION)}"[^>]*?(/?)>`).exec(r.body);
    assert.ok(open, `${action}Response in the service's namespace: ${r.body}`);
    const got = open[1] === '/' ? [] : children(r.body, `${action}Response`);
    assert.deepEqual(got.map(([k]) => k), [...outNames], `${action}'s out arguments, in order`);
    return Object.fromEntries(got);
  }

  /** Asserts a UPnP fault: HTTP 500, Fault / Client / UPnPError / detail → UPnPError(control-1-0) → code, description. */
  function expectFault(r: SoapReply, action: string, code: number, description: string): void {
    assert.equal(r.status, 500, `${action}: expected fault ${code}, got HTTP ${r.status} ${r.body}`);
    assert.match(r.headers, /^content-type: text\/xml/im);
    const f = Object.fromEntries(children(r.body, 'Fault'));
    assert.match(f.faultcode ?? '', /^(?:[\w.-]+:)?Client$/, r.body);
    assert.equal(f.faultstring, 'UPnPError', r.body);
    assert.match(r.body, new RegExp(`<(?:[\\w.-]+:)?UPnPError\\s[^>]*xmlns(?::[\\w.-]+)?="${escapeRe(CONTROL_NS)}"`), r.body);
    assert.deepEqual(children(r.body, 'UPnPError'), [['errorCode', String(code)], ['errorDescription', description]], r.body);
  }

  const call = async (action: string, args: readonly (readonly [string, string])[], outNames: readonly string[]) =>
    expectOk(await soap(action, args), action, outNames);
  const fault = async (action: string, args: readonly (readonly [string, string])[], code: number, description: string) =>
    expectFault(await soap(action, args), action, code, description);

  /** Windows' update_mapping_list(): GetGenericPortMappingEntry from index 0 until 713. */
  async function relist(): Promise<Entry[]> {
    const entries: Entry[] = [];
    for (let index = 0; index < 32; index++) {
      const r = await soap('GetGenericPortMappingEntry', [['NewPortMappingIndex', String(index)]]);
      if (r.status !== 200) {
        expectFault(r, 'GetGenericPortMappingEntry', 713, 'SpecifiedArrayIndexInvalid');
        return entries;
      }
      entries.push(expectOk(r, 'GetGenericPortMappingEntry', ENTRY_FIELDS) as Entry);
    }
    assert.fail('GetGenericPortMappingEntry never answered 713');
  }

  /** Re-lists and compares every field of every entry with `expected` (order of the table is the gateway's). */
  async function expectTable(expected: Entry[], what: string): Promise<void> {
    const key = (e: Entry) => `${e.NewProtocol} ${e.NewExternalPort} ${e.NewRemoteHost}`;
    const sorted = (l: Entry[]) => [...l].sort((a, b) => key(a).localeCompare(key(b)));
    assert.deepEqual(sorted(await relist()), sorted(expected), what);
  }

  const entry = (protocol: string, externalPort: number, client: string, internalPort: number, enabled: boolean,
    description: string, remoteHost = ''): Entry => ({
    NewRemoteHost: remoteHost, NewExternalPort: String(externalPort), NewProtocol: protocol, NewInternalPort: String(internalPort),
    NewInternalClient: client, NewEnabled: enabled ? '1' : '0', NewPortMappingDescription: description, NewLeaseDuration: '0',
  });

  /** Wine's add_port_mapping(): every argument, NewRemoteHost empty unless given, lease 0. */
  const addArgs = (e: Entry) => ENTRY_FIELDS.map((k) => [k, e[k]] as const);
  const add = (e: Entry) => call('AddPortMapping', addArgs(e), []);
  /** Wine's remove_port_mapping(): the three key arguments. */
  const keyArgs = (protocol: string, externalPort: number, remoteHost = '') =>
    [['NewRemoteHost', remoteHost], ['NewExternalPort', String(externalPort)], ['NewProtocol', protocol]] as const;

  /** A UDP listener in `ns` that takes one datagram and answers nothing; ready once it has bound. */
  async function listen(ns: string, port: number): Promise<Background> {
    const l = background(ns, 'python3', [WIRE, 'udp-listen', String(port), '15', '1']);
    cleanup.add(() => l.stop());
    await until(`listener on ${ns} :${port}`, async () => l.output().includes('ready') || l.child.exitCode !== null, 10_000, 20);
    assert.ok(l.output().includes('ready'), l.output());
    return l;
  }
  const exited = (l: Background) => new Promise<void>((r) => {
    if (l.child.exitCode !== null || l.child.signalCode !== null) return r();
    l.child.once('exit', () => r());
  });
  const sendUdp = (payload: string, port: number, source?: string) =>
    must(inet, 'python3', [WIRE, 'udp-send', lab.wanAddress, String(port), payload, ...(source ? [source] : [])]);
  const natDrops = async (): Promise<Record<string, number>> =>
    ((await status(lab.adminSocket)).nat as { drops: Record<string, number> }).drops;

  /** Sends one datagram that the gateway must drop, and waits until one of the `reasons` counters shows it did. */
  async function sendDropped(reasons: readonly string[], payload: string, port: number, source?: string): Promise<void> {
    const count = async () => { const d = await natDrops(); return reasons.reduce((n, r) => n + (d[r] ?? 0), 0); };
    const before = await count();
    await sendUdp(payload, port, source);
    await until(`the gateway to count a drop (${reasons.join(' or ')})`, async () => (await count()) > before, 10_000, 50);
  }

  test('Windows: M-SEARCH upnp:rootdevice (MX 2) gets one unicast answer from the gateway', async () => {
    const out = await must(h1, 'python3', [WIRE, 'msearch', 'upnp:rootdevice', '2', '3.5'], 15_000);
    const answers = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { from: string; port: number; text: string });
    assert.equal(answers.length, 1, `one answer for upnp:rootdevice: ${out}`);
    const a = answers[0]!;
    assert.equal(a.from, lab.lanAddress);
    const { statusLine, headers } = parseSsdp(a.text);
    assert.equal(statusLine, 'HTTP/1.1 200 OK');
    assert.equal(headers.get('ST'), 'upnp:rootdevice');
    const usn = /^uuid:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})::upnp:rootdevice$/.exec(headers.get('USN') ?? '');
    assert.ok(usn, `USN ${headers.get('USN')}`);
    assert.equal(headers.get('LOCATION'), 'http://192.168.1.1:5000/rootDesc.xml');
    const maxAge = /^max-age\s*=\s*(\d+)$/.exec(headers.get('CACHE-CONTROL') ?? '');
    assert.ok(maxAge && Number(maxAge[1]) >= 1800, `CACHE-CONTROL ${headers.get('CACHE-CONTROL')}`);
    assert.match(headers.get('SERVER') ?? '', /^\S+\/\S+ UPnP\/1\.[01] \S+\/\S+$/);
    assert.equal(headers.get('EXT'), '');
    assert.match(headers.get('BOOTID.UPNP.ORG') ?? '', /^\d+$/);
    // Wine's parse_search_response() splits on spaces: `LOCATION: <url>` with one space.
    assert.match(a.text, /\r\nLOCATION: http:\/\/\S+\r\n/i);
    location = headers.get('LOCATION')!;
    rootUuid = usn[1]!;
  });

  test('Windows: the description at LOCATION names a WANIPConnection:1 control URL', async () => {
    assert.ok(location, 'the M-SEARCH test found the description');
    const xml = await must(h1, 'curl', ['-s', '-f', '-m', '5', '-A', 'hnetcfg', '-H', 'Accept: text/xml', location]);
    // The root device comes first, and its UDN is the uuid the search answer carried.
    const root = /<deviceType>([^<]+)<\/deviceType>[\s\S]*?<UDN>([^<]+)<\/UDN>/.exec(xml);
    assert.ok(root, xml);
    assert.equal(root[1], 'urn:schemas-upnp-org:device:InternetGatewayDevice:1');
    assert.equal(root[2], `uuid:${rootUuid}`);
    // Wine's parse_desc_xml(): the first <service> whose serviceType starts with
    // WANIPConnection: and its controlURL, resolved against the description's location.
    const services = [...xml.matchAll(/<service>([\s\S]*?)<\/service>/g)].map((m) => m[1]!);
    const ip = services.filter((s) => s.includes('<serviceType>urn:schemas-upnp-org:service:WANIPConnection:'));
    assert.equal(ip.length, 1, 'one WANIPConnection service');
    assert.match(ip[0]!, /<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1<\/serviceType>/);
    assert.match(ip[0]!, /<serviceId>urn:upnp-org:serviceId:WANIPConn1<\/serviceId>/);
    const ctl = /<controlURL>([^<]+)<\/controlURL>/.exec(ip[0]!);
    assert.ok(ctl, ip[0]);
    controlUrl = new URL(ctl[1]!, location).href;
    assert.match(controlUrl, /^http:\/\/192\.168\.1\.1:5000\//);
  });

  test('Windows: GetExternalIPAddress, add, re-list until 713 after every change, disable/enable, edit, move, remove', async () => {
    assert.ok(controlUrl, 'the description test found the control URL');
    const ext = await call('GetExternalIPAddress', [], ['NewExternalIPAddress']);
    assert.equal(ext.NewExternalIPAddress, lab.wanAddress);
    await expectTable([], 'an empty table: 713 at index 0');

    // A game's pair of mappings, as IStaticPortMappingCollection::Add sends them.
    const udp = entry('UDP', 40000, h1Addr, 41000, true, 'OpenIGD test (UDP)');
    const tcp = entry('TCP', 40000, h1Addr, 41000, true, 'OpenIGD test (TCP)');
    await add(udp);
    await expectTable([udp], 'after adding UDP 40000');
    await add(tcp);
    await expectTable([udp, tcp], 'after adding TCP 40000');
    assert.deepEqual(await call('GetSpecificPortMappingEntry', keyArgs('UDP', 40000), ENTRY_FIELDS.slice(3)), {
      NewInternalPort: '41000', NewInternalClient: h1Addr, NewEnabled: '1', NewPortMappingDescription: 'OpenIGD test (UDP)', NewLeaseDuration: '0',
    });

    // IStaticPortMapping::Enable(FALSE): the same add with NewEnabled 0. Still listed, forwards nothing.
    const listener = await listen(h1, 41000);
    const disabled = { ...udp, NewEnabled: '0' };
    await add(disabled);
    await expectTable([disabled, tcp], 'after disabling UDP 40000');
    await sendDropped(['mapping-disabled'], 'while-disabled', 40000);
    // Enable(TRUE): forwards again; the first datagram h1 sees is the one sent after it.
    await add(udp);
    await expectTable([udp, tcp], 'after enabling UDP 40000 again');
    await sendUdp('while-enabled', 40000);
    await exited(listener);
    assert.match(listener.output(), new RegExp(`^got ${escapeRe(lab.wanGateway)}:\\d+ while-enabled$`, 'm'));
    assert.doesNotMatch(listener.output(), /while-disabled/);

    // EditDescription: a re-add with the new description; nothing else changes.
    const renamed = { ...udp, NewPortMappingDescription: 'Tom & Jerry <2>' };
    await add(renamed);
    await expectTable([renamed, tcp], 'after editing the description');

    // EditInternalClient: an add for another client is a conflict (718), so Windows deletes and adds.
    const moved = { ...renamed, NewInternalClient: h2Addr };
    await fault('AddPortMapping', addArgs(moved), 718, 'ConflictInMappingEntry');
    await expectTable([renamed, tcp], 'a refused add changes nothing');
    await call('DeletePortMapping', keyArgs('UDP', 40000), []);
    await expectTable([tcp], 'after deleting UDP 40000');
    await add(moved);
    await expectTable([moved, tcp], 'after re-adding UDP 40000 for h2');
    const onH2 = await listen(h2, 41000);
    await sendUdp('to-h2', 40000);
    await exited(onH2);
    assert.match(onH2.output(), new RegExp(`^got ${escapeRe(lab.wanGateway)}:\\d+ to-h2$`, 'm'));

    // Remove: each delete is followed by a re-list; afterwards the entries are gone.
    await call('DeletePortMapping', keyArgs('UDP', 40000), []);
    await expectTable([tcp], 'after removing UDP 40000');
    await call('DeletePortMapping', keyArgs('TCP', 40000), []);
    await expectTable([], 'after removing TCP 40000');
    await fault('GetSpecificPortMappingEntry', keyArgs('UDP', 40000), 714, 'NoSuchEntryInArray');
    await fault('GetSpecificPortMappingEntry', keyArgs('TCP', 40000), 714, 'NoSuchEntryInArray');
    await fault('DeletePortMapping', keyArgs('UDP', 40000), 714, 'NoSuchEntryInArray');
    await expectTable([], 'a refused delete changes nothing');
  });

  test('a UDP mapping to the LAN broadcast address: one datagram reaches both LAN hosts', async () => {
    assert.ok(controlUrl, 'the description test found the control URL');
    const broadcast = entry('UDP', 40100, '192.168.1.255', 41100, true, 'to every LAN host');
    await add(broadcast);
    await expectTable([broadcast], 'the broadcast mapping is listed as such');
    const [onH1, onH2] = await Promise.all([listen(h1, 41100), listen(h2, 41100)]);
    await sendUdp('to-everyone', 40100);
    await Promise.all([exited(onH1), exited(onH2)]);
    const seen = new RegExp(`^got ${escapeRe(lab.wanGateway)}:\\d+ to-everyone$`, 'm');
    assert.match(onH1.output(), seen, `h1: ${onH1.output()}`);
    assert.match(onH2.output(), seen, `h2: ${onH2.output()}`);
    await call('DeletePortMapping', keyArgs('UDP', 40100), []);
    await expectTable([], 'after removing the broadcast mapping');
  });

  test('a mapping with a remote host lets only that host through (UDP and TCP)', async () => {
    assert.ok(controlUrl, 'the description test found the control URL');
    const [allowed, other] = [lab.servers[0]!, lab.servers[1]!];
    const udp = entry('UDP', 40200, h1Addr, 41200, true, 'only from .10', allowed);
    const tcp = entry('TCP', 40200, h1Addr, 41200, true, 'only from .10', allowed);
    await add(udp);
    await add(tcp);
    await expectTable([udp, tcp], 'remote-host mappings list their remote host');
    // The remote host is part of the key in every action.
    await fault('GetSpecificPortMappingEntry', keyArgs('UDP', 40200), 714, 'NoSuchEntryInArray');
    assert.equal((await call('GetSpecificPortMappingEntry', keyArgs('UDP', 40200, allowed), ENTRY_FIELDS.slice(3))).NewInternalClient, h1Addr);

    const listener = await listen(h1, 41200);
    await sendDropped(['no-mapping', 'filtered'], `from-${other}`, 40200, other);
    await sendUdp(`from-${allowed}`, 40200, allowed);
    await exited(listener);
    assert.match(listener.output(), new RegExp(`^got ${escapeRe(allowed)}:\\d+ from-${escapeRe(allowed)}$`, 'm'));
    assert.doesNotMatch(listener.output(), new RegExp(escapeRe(`from-${other}`)));

    // TCP: a one-shot listener; a connection from the other host would be the one it took.
    const tcpListener = background(h1, 'python3', [PROBE, 'listen', 'tcp', '41200', '10']);
    cleanup.add(() => tcpListener.stop());
    await until('the TCP listener', async () => (await sh(h1, 'ss', ['-Hltn', 'sport = :41200'])).stdout.includes('41200'), 10_000, 50);
    const refused = await sh(inet, 'python3', [PROBE, 'send', 'tcp', lab.wanAddress, '40200', '1.5', other]);
    assert.notEqual(refused.code, 0, `TCP from ${other} must not get through: ${refused.stdout}`);
    const through = await sh(inet, 'python3', [PROBE, 'send', 'tcp', lab.wanAddress, '40200', '5', allowed]);
    assert.equal(through.code, 0, `TCP from ${allowed}: ${through.stdout}${through.stderr}`);
    assert.match(through.stdout, /reply pong/);
    await exited(tcpListener);
    assert.match(tcpListener.output(), new RegExp(`^got tcp from ${escapeRe(allowed)}:\\d+ ping$`, 'm'));

    await call('DeletePortMapping', keyArgs('UDP', 40200, allowed), []);
    await call('DeletePortMapping', keyArgs('TCP', 40200, allowed), []);
    await expectTable([], 'after removing the remote-host mappings');
  });
});
